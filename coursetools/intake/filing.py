"""File one student's submission into submitted/<student>/<assignment>/, losing nothing.

- A replaced submission is moved whole to
  ``submitted/.history/<student>/<assignment>/<UTC time of the replacement>/`` first.
- An older submission never replaces a newer one (both times known): the newer is kept.
- The same submission collected again changes nothing.
- The new folder is written next to its place and renamed into it, so a failure leaves
  either the old or the new submission, never a half-written one.
- ``timestamp.txt`` (nbgrader's submission time, what its late penalty is computed from)
  is written when the LMS says when; ``.intake.json`` records where the submission came
  from (nbgrader ignores dot files: it never reaches autograded/ or feedback/).
"""

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nbgrader.utils import parse_utc

HISTORY = ".history"
INCOMING = ".incoming"
INTAKE_FILE = ".intake.json"
TIMESTAMP_FILE = "timestamp.txt"


@dataclass
class Filed:
    student: str
    outcome: str               # new | replaced | unchanged | kept-newer
    history: Path | None = None
    note: str = ""


def format_timestamp(when):
    """nbgrader's timestamp.txt text for an aware datetime: '2026-12-01 22:15:03.000000 UTC'."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def read_timestamp(folder):
    """The aware UTC time of a submission folder's timestamp.txt, or None."""
    path = Path(folder) / TIMESTAMP_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
        return parse_utc(text).replace(tzinfo=timezone.utc) if text else None
    except (OSError, ValueError, OverflowError):
        return None


def read_intake(folder):
    try:
        return json.loads((Path(folder) / INTAKE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def submission_time(plan, due):
    """(aware time or None, where it comes from, note) for a plan and the assignment's due
    date (naive UTC or None)."""
    if plan.submitted_at is not None:
        return plan.submitted_at, "lms", ""
    if plan.late:
        if due is None:
            return None, None, ("the LMS marks it late, but the assignment has no due date: "
                                "not counted late (set one with `make due`, then collect again)")
        when = due.replace(tzinfo=timezone.utc) + timedelta(seconds=1)
        return when, "late-marker", ("the LMS marks it late without a time: counted 1 s late "
                                     "(the first step of the late policy)")
    return None, None, ""


def file(course, plan, staged, extra_files, intake, when):
    """File ``staged`` ({release notebook name: file path}) and ``extra_files`` ({name:
    bytes}) for ``plan.student``; ``when``: aware submission time or None."""
    submitted = course.path("submitted")
    dest = submitted / plan.student / course.assignment
    content = {f"{nb}.ipynb": Path(path).read_bytes() for nb, path in staged.items()}
    content.update(extra_files)
    if when is not None and TIMESTAMP_FILE not in content:
        content[TIMESTAMP_FILE] = format_timestamp(when).encode()
    if dest.exists():
        old_time = read_timestamp(dest)
        if old_time and when and when < old_time:
            return Filed(plan.student, "kept-newer",
                         note=f"the submission already collected is newer ({format_timestamp(old_time)})")
        if _same(dest, content):
            return Filed(plan.student, "unchanged")
    incoming = submitted / INCOMING / uuid.uuid4().hex
    incoming.mkdir(parents=True)
    try:
        for name, data in content.items():
            (incoming / name).write_bytes(data)
        (incoming / INTAKE_FILE).write_text(json.dumps(intake, indent=1, sort_keys=True, default=str),
                                            encoding="utf-8")
        history = None
        if dest.exists():
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            history = submitted / HISTORY / plan.student / course.assignment / stamp
            history.parent.mkdir(parents=True, exist_ok=True)
            os.rename(dest, history)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(incoming, dest)
    finally:
        if incoming.exists():
            shutil.rmtree(incoming)
        try:
            (submitted / INCOMING).rmdir()
        except OSError:
            pass
    return Filed(plan.student, "replaced" if history else "new", history)


def _same(folder, content):
    """True when ``folder`` holds exactly the notebooks and timestamp of ``content``."""
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != INTAKE_FILE}
    wanted = {n for n in content}
    if {n for n in present if n.endswith(".ipynb") or n == TIMESTAMP_FILE} != \
            {n for n in wanted if n.endswith(".ipynb") or n == TIMESTAMP_FILE}:
        return False
    return all((folder / name).read_bytes() == data for name, data in content.items()
               if name.endswith(".ipynb") or name == TIMESTAMP_FILE)
