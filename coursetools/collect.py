"""`make collect`: submissions -> submitted/<student>/<assignment>/, one clear line per decision.

Two channels (coursetools/intake/ has one module per step):
- ``FROM=<zip, folder or notebook>``: an LMS download (``LMS=auto|canvas|moodle|blackboard|
  plain``), unpacked by us (never by nbgrader's zip_collect), its file names read the way
  that LMS writes them;
- no ``FROM``: the nbgrader exchange (``nbgrader collect``; ``EXCHANGE=<dir>``).
Both end in the same rules: the student comes from the roster (``ROSTER=``) or the LMS's
own id, the notebook must be this assignment's, the latest attempt wins, nothing is ever
overwritten (submitted/.history/), and whatever is not filed is listed with the reason.
One student's problem never stops the others.
"""

import shutil
from datetime import datetime, timezone
from pathlib import Path

from coursetools import deadlines, status
from coursetools.errors import CourseError
from coursetools.intake import attribution, exchange as exchange_channel, filing, lms, unpack
from coursetools.intake import roster as rosters
from coursetools.intake import settings as intake_settings
from coursetools.intake.lms import Attempt
from coursetools.intake.lms.blackboard import receipt_paths

EXCHANGE_EXTRAS = ("timestamp.txt", "submission_secret.txt")


def collect(course, source, lms_name="auto", roster_path="", exchange="", log=print):
    course.require_source()
    course.release_notebooks()  # fails clearly when the assignment is not released yet
    roster = rosters.find(course, roster_path)
    staging = course.path("downloaded", course.assignment, "staging")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        if source:
            return _from_download(course, Path(source).expanduser().resolve(), lms_name, roster,
                                  staging, log)
        return _from_exchange(course, exchange, roster, staging, log)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        for parent in (staging.parent, staging.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break


def _from_download(course, source, lms_name, roster, staging, log):
    settings = intake_settings.load(course)
    unpacked = unpack.unpack(source, staging / "files", settings)
    module, how = lms.choose(lms_name, unpacked)
    log(f"collect {course.assignment} from {source.name}: {how}")
    attempts, bad = module.parse(unpacked, settings)
    refusals = [(entry.path, why) for entry, why in bad]
    refusals += [(r.path, r.reason) for r in unpacked.refused]
    receipts = receipt_paths(unpacked) if module.NAME == "blackboard" else set()
    refusals += [(p, "not a notebook (.ipynb)") for p in sorted(unpacked.texts) if p not in receipts]
    plans, more = attribution.plan(attempts, roster, course, course.assignment)
    refusals += more
    channel = {"channel": "lms", "lms": module.NAME, "download": source.name}
    outcomes = _file_all(course, plans, channel, lambda plan: {}, log)
    _report(course, source.name, plans, outcomes, refusals, unpacked.skipped, roster, log)
    return outcomes


def _from_exchange(course, given, roster, staging, log):
    exchange, found, refusals = exchange_channel.collect(course, given, staging / "exchange", log)
    log(f"collect {course.assignment} from the nbgrader exchange {exchange}")
    attempts, notes = [], {}
    for user, (folder, source, records) in found.items():
        when = filing.read_timestamp(folder)
        others = [p.name for p in folder.iterdir()
                  if p.is_file() and not p.name.endswith(".ipynb") and p.name not in EXCHANGE_EXTRAS]
        said = []
        if len(records) > 1:
            times = ", ".join(filing.format_timestamp(t) for t, _ in records)
            said.append(f"{len(records)} submissions in the exchange ({times}): collected the latest")
        if others:
            said.append(f"{len(others)} other file(s) not collected (only notebooks are graded)")
        if said:
            notes[user] = "; ".join(said)
        for nb in sorted(folder.glob("*.ipynb")):
            entry = unpack.Entry(f"{source.name}/{nb.name}", nb, nb.stat().st_size)
            attempts.append(Attempt(entry=entry, lms="exchange", user=user, label=user,
                                    original_name=nb.name, submitted_at=when, attempt=(0,),
                                    ids={"hub_user": user}))
        if not any(folder.glob("*.ipynb")):
            refusals.append((user, "the submission holds no notebook"))
    plans, more = attribution.plan(attempts, roster, course, course.assignment)
    refusals += more
    for plan in plans.values():
        user = next(iter(plan.files.values())).user
        if user in notes:
            plan.notes.append(notes[user])

    def extras(plan):
        folder = found[next(iter(plan.files.values())).user][0]
        return {name: (folder / name).read_bytes() for name in EXCHANGE_EXTRAS
                if (folder / name).is_file()}

    channel = {"channel": "exchange", "lms": "exchange", "download": str(exchange)}
    outcomes = _file_all(course, plans, channel, extras, log)
    _report(course, "the exchange", plans, outcomes, refusals, 0, roster, log)
    return outcomes


def _file_all(course, plans, channel, extras, log):
    due = deadlines.due_date(course)
    outcomes = {}
    for student, plan in sorted(plans.items()):
        when, origin, note = filing.submission_time(plan, due)
        if note:
            plan.notes.append(note)
        if channel["channel"] == "exchange":
            origin = "nbgrader exchange"
        first = next(iter(plan.files.values()))
        intake = {**channel, "student": student, "lms_user": first.user, "label": plan.label,
                  "ids": {k: v for a in plan.files.values() for k, v in a.ids.items()},
                  "files": {nb: a.entry.path for nb, a in plan.files.items()},
                  "original_names": {nb: a.original_name for nb, a in plan.files.items()},
                  "submitted_at": when.isoformat() if when else None, "time_from": origin,
                  "late_marker": plan.late,
                  "superseded": [a.entry.path for a, _ in plan.superseded],
                  "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        staged = {nb: a.entry.staged for nb, a in plan.files.items()}
        outcomes[student] = filing.file(course, plan, staged, extras(plan), intake, when)
    status.collected(course, [s for s, o in outcomes.items() if o.outcome in ("new", "replaced")])
    return outcomes


def _report(course, what, plans, outcomes, refusals, skipped, roster, log):
    filed = sorted(s for s, o in outcomes.items() if o.outcome in ("new", "replaced"))
    log(f"collected {len(filed)} submission(s) of {course.assignment} into submitted/: "
        + (", ".join(filed) if filed else "none"))
    for student, outcome in sorted(outcomes.items()):
        plan = plans[student]
        files = ", ".join(f"{a.entry.path} -> {nb}.ipynb" for nb, a in plan.files.items())
        if outcome.outcome == "replaced":
            log(f"  {student}: replaced the earlier submission, which is kept in "
                f"{course.relative(outcome.history)}/ ({files})")
        elif outcome.outcome == "unchanged":
            log(f"  {student}: unchanged (this submission was collected before)")
        elif outcome.outcome == "kept-newer":
            log(f"  {student}: not replaced: {outcome.note} ({files})")
        else:
            who = "" if plan.label == student else f"{plan.label}: "
            log(f"  {student}: {who}{files}")
        for note in plan.notes:
            log(f"  {student}: {note}")
        for attempt, why in plan.superseded:
            log(f"  {student}: not filed (superseded): {attempt.entry.path}: {why}")
    for path, reason in refusals:
        log(f"  not collected: {path}: {reason}")
    if skipped:
        log(f"  skipped {skipped} macOS companion file(s) (__MACOSX/, .DS_Store, ._*)")
    if roster is not None:
        missing = [s for s in roster.ids() if s not in plans
                   and not course.path("submitted", s, course.assignment).is_dir()]
        if missing:
            log(f"  no submission yet from {len(missing)} roster student(s): {', '.join(missing[:20])}"
                + (" ..." if len(missing) > 20 else ""))
    if not outcomes:
        raise CourseError(f"no submission in {what} could be filed for a student of "
                          f"{course.assignment} (each file's reason is listed above)")
