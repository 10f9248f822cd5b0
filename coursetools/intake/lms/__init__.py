"""What each LMS's "download all submissions" looks like, one module per LMS.

Every module has ``NAME``, ``TITLE``, ``PATTERN`` (shown when a file does not fit),
``matches(path) -> bool`` and ``parse(unpacked, settings) -> (attempts, refusals)``;
``detect`` picks the LMS whose naming most notebooks of a download follow.
"""

from dataclasses import dataclass, field
from datetime import datetime

from coursetools.errors import CourseError


@dataclass
class Attempt:
    """One notebook of a download, as its LMS attributes it."""

    entry: object               # unpack.Entry
    lms: str                    # canvas | moodle | blackboard | plain | exchange
    user: str                   # the LMS's key for the student (user id, username, full name)
    label: str                  # how messages name the student ("Jane Roe (34567)")
    original_name: str          # the file name the student uploaded
    submitted_at: datetime | None = None   # aware, when the LMS says when
    late: bool = False          # the LMS's own late marker (Canvas)
    attempt: tuple = ()         # orders one student's attempts: larger is later; () unknown
    within: tuple = ()          # orders the files of one attempt (Canvas: file id)
    ids: dict = field(default_factory=dict)  # LMS ids worth keeping (.intake.json, exports)


def parsers():
    from coursetools.intake.lms import blackboard, canvas, moodle, plain

    return {m.NAME: m for m in (canvas, moodle, blackboard, plain)}


def detect(unpacked):
    """(module, message) of the LMS whose file naming most notebooks follow (plain if none)."""
    found = parsers()
    paths = [e.path for e in unpacked.notebooks]
    if not paths:
        return found["plain"], "no notebook in the download"
    counts = {name: sum(1 for p in paths if m.matches(p)) for name, m in found.items()
              if name != "plain"}
    best = max(counts, key=lambda n: (counts[n], n == "canvas"))
    if counts[best] == 0:
        return found["plain"], (f"LMS=auto: no LMS naming recognised, read as plain file names "
                                f"({found['plain'].PATTERN})")
    module = found[best]
    return module, (f"LMS=auto: detected a {module.TITLE} download ({counts[best]} of {len(paths)} "
                    f"notebook(s) named {module.PATTERN}); say LMS={best} to skip the guess")


def choose(name, unpacked):
    """(module, message) for LMS=<name> (auto, canvas, moodle, blackboard, plain)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return detect(unpacked)
    found = parsers()
    if name not in found:
        raise CourseError(f"unknown LMS={name}: use auto, {', '.join(found)} "
                          "(or leave FROM= empty to collect from the nbgrader exchange)")
    return found[name], f"LMS={name}: reading {found[name].TITLE} file names ({found[name].PATTERN})"
