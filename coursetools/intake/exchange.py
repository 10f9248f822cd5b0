"""The nbgrader exchange: `make publish`, `make collect` (no FROM), `make return-feedback`.

On a shared JupyterHub the exchange is one folder every user can reach
(``c.Exchange.root``, default here: the course's ``exchange/``; ``EXCHANGE=<dir>``
overrides). The instructor's side runs nbgrader's own commands with that root:
``release_assignment``, ``collect`` and ``release_feedback``; students use plain nbgrader
(``fetch_assignment``, ``submit``, ``fetch_feedback``; docs/student-jupyterhub.md).

Collecting goes through a staging folder: nbgrader collects the latest submission of each
student (with its timestamp.txt, so lateness is real) into
``downloaded/<assignment>/exchange/``, and the course's filing rules (right assignment,
roster, never overwrite) take it from there. A submission whose folder in the exchange is
owned by another user than the one it claims to be from (``nbgrader submit --student=alice``
run by mallory) is refused while ``ExchangeCollect.check_owner`` is on (nbgrader's default;
hubs where every user is the same Unix user, e.g. 'jovyan' in containers, turn it off).
"""

import os
import stat
from collections import defaultdict
from pathlib import Path

from coursetools.errors import CourseError
from coursetools.intake.filing import read_timestamp

try:
    import pwd
except ImportError:  # pragma: no cover - not on Windows
    pwd = None


def root(course, given):
    """The exchange folder: EXCHANGE=<dir> when given, else c.Exchange.root of the course."""
    if given:
        path = Path(given).expanduser()
        return path if path.is_absolute() else (Path.cwd() / path)
    from nbgrader.exchange.default.exchange import Exchange

    return Path(Exchange(config=course.nbgrader_config()).root)


def _options(exchange):
    return [f"--Exchange.root={exchange}"]


def publish(course, given, force=False, log=print):
    """nbgrader release_assignment: release/<assignment>/ -> <exchange>/<course>/outbound/."""
    course.release_notebooks()
    course.require_gradebook_assignment()
    exchange = root(course, given)
    if not exchange.exists():
        try:
            exchange.mkdir(parents=True)
            exchange.chmod(0o1777)  # every student writes here (nbgrader's documented set-up)
        except OSError as exc:
            raise CourseError(f"cannot create the exchange {exchange}: {exc.strerror or exc} "
                              "(EXCHANGE=<dir> or c.Exchange.root in nbgrader_config.py)") from None
        log(f"created the exchange {exchange} (mode 1777: every user may write, as nbgrader "
            "needs; on a shared hub create it once as its admin)")
    elif mode_note(exchange):
        log(mode_note(exchange))
    course_id = course.course_id()
    outbound = exchange / course_id / "outbound" / course.assignment
    if outbound.exists() and not force:
        raise CourseError(f"{course.assignment} is already published in {outbound}: students "
                          "who fetched it keep their copy; `make publish FORCE=1` replaces it")
    args = ["release_assignment", course.assignment, *_options(exchange)]
    if force:
        args.append("--force")
    course.nbgrader_checked(args, "publish", "nbgrader release_assignment")
    files = sorted(p.name for p in outbound.iterdir())
    log(f"published {course.assignment} to {outbound} ({', '.join(files)}): students run "
        f"`nbgrader fetch_assignment {course.assignment}` (docs/student-jupyterhub.md)")


def inbound_records(exchange, course_id, assignment):
    """{user: [(aware time, folder)]} of every submission of ``assignment`` in the exchange."""
    from datetime import timezone

    from nbgrader.utils import parse_utc

    inbound = exchange / course_id / "inbound"
    found = defaultdict(list)
    if not inbound.is_dir():
        return found
    for folder in inbound.iterdir():
        parts = folder.name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != assignment:
            continue
        try:
            when = parse_utc(parts[2]).replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            continue
        found[parts[0]].append((when, folder))
    for records in found.values():
        records.sort(key=lambda r: r[0])
    return found


def owner(path):
    uid = path.lstat().st_uid
    if pwd is None:
        return str(uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_owner_enabled(course):
    config = course.nbgrader_config()
    for section in ("ExchangeCollect", "CollectApp"):
        if "check_owner" in config.get(section, {}):
            return bool(config[section]["check_owner"])
    return True


def collect(course, given, staging, log=print):
    """nbgrader collect into ``staging``; -> (exchange, {user: (folder in staging, inbound
    folder, all records)}, refusals [(what, why)])."""
    exchange = root(course, given)
    course_id = course.course_id()
    inbound = exchange / course_id / "inbound"
    if not inbound.is_dir():
        raise CourseError(f"nothing to collect: no nbgrader exchange at {exchange / course_id} "
                          f"(publish first: `make publish`), or give an LMS download: "
                          "make collect FROM=<folder or .zip>")
    records = inbound_records(exchange, course_id, course.assignment)
    if not records:
        raise CourseError(f"no submission of {course.assignment} in the exchange {inbound} yet")
    rel = os.path.relpath(staging, course.root)
    course.nbgrader_checked(
        ["collect", course.assignment, *_options(exchange),
         f"--CourseDirectory.submitted_directory={rel}"],
        "collect", "nbgrader collect")
    strict = check_owner_enabled(course)
    found, refusals = {}, []
    for user, mine in sorted(records.items()):
        folder = staging / user / course.assignment
        if not folder.is_dir():
            refusals.append((user, "in the exchange but not collected by nbgrader (see "
                             f"{course.relative(course.log_path('collect'))})"))
            continue
        when = read_timestamp(folder)
        source = next((f for t, f in mine if when and abs((t - when).total_seconds()) < 1e-3),
                      mine[-1][1])
        who = owner(source)
        if strict and who != user:
            refusals.append((user, f"the submission {source.name} is owned by '{who}', not by "
                             f"'{user}': refused (someone submitted in another's name?); set "
                             "c.ExchangeCollect.check_owner = False on hubs where all users "
                             "share one Unix account"))
            continue
        found[user] = (folder, source, mine)
    return exchange, found, refusals


def return_feedback(course, given, log=print):
    """nbgrader release_feedback for the students who submitted through the exchange."""
    exchange = root(course, given)
    course_id = course.course_id()
    if not (exchange / course_id).is_dir():
        raise CourseError(f"no nbgrader exchange at {exchange / course_id}: publish and collect "
                          "through it first (`make publish`, `make collect`)")
    base = course.path("feedback")
    pages = {p.parent.parent.name for p in base.glob(f"*/{course.assignment}/*.html")}
    if not pages:
        raise CourseError(f"no feedback for {course.assignment} yet: run `make feedback` first")
    via_exchange = sorted(s for s in pages
                          if (base / s / course.assignment / "submission_secret.txt").is_file())
    others = sorted(pages - set(via_exchange))
    if not via_exchange:
        raise CourseError(f"none of the {len(pages)} student(s) with feedback submitted "
                          f"{course.assignment} through the exchange: send feedback/<student>/"
                          f"{course.assignment}/*.html through your LMS instead")
    args = ["release_feedback", course.assignment, *_options(exchange)]
    if others:
        args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    course.nbgrader_checked(args, "return-feedback", "nbgrader release_feedback")
    log(f"returned feedback on {course.assignment} to {len(via_exchange)} student(s) through "
        f"the exchange: {', '.join(via_exchange)}; they run `nbgrader fetch_feedback "
        f"{course.assignment}`")
    if others:
        log(f"  not through the exchange (collected from an LMS download): {', '.join(others)}: "
            f"send feedback/<student>/{course.assignment}/*.html through your LMS")


def mode_note(path):
    """'' or a warning when the exchange is not writable by students (not mode 1777/777)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o003 != 0o003:
        return (f"note: {path} is mode {mode:o}: students cannot submit unless it is writable "
                "by them (chmod 1777, or a group they share with groupshared)")
    return ""
