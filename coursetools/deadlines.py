"""`make due`: an assignment's due date, kept where nbgrader keeps it (the gradebook).

nbgrader compares each submission's time (``timestamp.txt``) with the assignment's
``duedate`` in the gradebook and gives a late submission's seconds to the late policy
(coursetools.late). A due date needs its time zone: ``2026-12-01 23:59 Europe/Berlin``,
``2026-12-01T23:59:00+01:00`` or ``2026-12-01 22:59 UTC``; the gradebook stores it in UTC.
"""

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coursetools.errors import CourseError

EXAMPLE = '"2026-12-01 23:59 Europe/Berlin"'
LOCAL = re.compile(r"^(?P<when>\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2})?)\s+(?P<zone>\S+)$")


def parse_due(text):
    """An aware datetime from the text of DUE=...; CourseError saying what is expected."""
    text = (text or "").strip()
    m = LOCAL.match(text)
    if m:
        try:
            zone = timezone.utc if m["zone"].upper() in ("UTC", "Z", "GMT") else ZoneInfo(m["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise CourseError(f"DUE={text!r}: unknown time zone {m['zone']!r} (a name such as "
                              f"Europe/Berlin, America/New_York or UTC); e.g. DUE={EXAMPLE}") from None
        try:
            when = datetime.fromisoformat(m["when"].replace(" ", "T"))
        except ValueError:
            raise CourseError(f"DUE={text!r}: {m['when']!r} is not a date and time; "
                              f"e.g. DUE={EXAMPLE}") from None
        return when.replace(tzinfo=zone)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CourseError(f"DUE={text!r} is not a date, time and time zone; e.g. DUE={EXAMPLE}"
                          " or DUE=2026-12-01T23:59+01:00") from None
    if when.tzinfo is None:
        raise CourseError(f"DUE={text!r} has no time zone: say which, e.g. DUE={EXAMPLE}")
    return when


def due_date(course):
    """The assignment's due date as nbgrader keeps it (naive UTC), or None."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            return gb.find_assignment(course.assignment).duedate
        except MissingEntry:
            return None


def show(when):
    return "none" if when is None else when.replace(tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def set_due(course, text, log=print):
    """DUE=<date time zone> sets, DUE=none clears, no DUE shows the assignment's due date."""
    from coursetools.late import describe_policy

    course.require_source()
    text = (text or "").strip()
    if not text:
        log(f"{course.assignment}: due {show(due_date(course))}; late policy: {describe_policy(course)}")
        log(f"set it with: make due ASSIGNMENT={course.assignment} DUE={EXAMPLE} (DUE=none clears it)")
        return
    when = None if text.lower() == "none" else parse_due(text)
    utc = None if when is None else when.astimezone(timezone.utc).replace(tzinfo=None)
    with course.course_gradebook() as gb:
        gb.update_or_create_assignment(course.assignment, duedate=utc)
    shown = "none" if when is None else f"{when:%Y-%m-%d %H:%M} {when.tzinfo} = {show(utc)}"
    log(f"{course.assignment}: due {shown} (in the gradebook; nbgrader computes lateness from it "
        f"at `make grade`); late policy: {describe_policy(course)}")
    graded = course.submitted_students()
    if graded:
        log(f"  {len(graded)} submission(s) already collected: `make grade` applies the new due date")
