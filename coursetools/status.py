"""Where each student of an assignment stands, the same for `make summary`, `report` and `export`.

- graded: nbgrader scored the submission (late penalty and lateness from the gradebook);
- could not be graded: the submission is unreadable, or nbgrader gave up on it; nbgrader
  leaves such a student in the gradebook with a score of 0, which must never be exported
  as a grade;
- not graded yet: collected (or collected again) since the last `make grade`;
- no submission: on the roster, nothing collected.

`make grade` records what happened to every student it graded, and `make collect` marks the
students it filed, in ``submitted/.grading/<assignment>.json`` (next to the submissions it
describes; `make clean` leaves it). Without that file (a course graded before it existed)
the state is read from the gradebook and the submitted/ folders alone.
"""

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone

STATUS_DIR = ".grading"
NOT_GRADED = "not graded: run `make grade`"


@dataclass
class Standing:
    student: str
    state: str                  # graded | could not be graded | not graded yet | no submission
    reason: str = ""
    raw: float | None = None    # sum of the cell scores
    penalty: float = 0.0        # nbgrader's late penalty
    max_score: float | None = None
    seconds_late: float = 0.0
    timestamp: datetime | None = None  # nbgrader's submission time (naive UTC)
    late_marker: bool = False          # late per the LMS, which gave no time

    @property
    def score(self):
        """The grade: raw score minus the late penalty (None when not graded)."""
        return None if self.raw is None else max(0.0, self.raw - self.penalty)


def _path(course):
    return course.path("submitted", STATUS_DIR, f"{course.assignment}.json")


def load(course):
    try:
        data = json.loads(_path(course).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(course, data):
    path = _path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record(course, graded=(), failed=None):
    """After grading: ``graded`` students were scored, ``failed`` {student: reason} not."""
    data = load(course)
    for student in graded:
        data[student] = {"state": "graded", "at": _now()}
    for student, reason in (failed or {}).items():
        data[student] = {"state": "failed", "reason": reason, "at": _now()}
    _save(course, data)


def collected(course, students):
    """After collecting: these students' submissions are new since their last grading."""
    if not students:
        return
    data = load(course)
    for student in students:
        data[student] = {"state": "collected", "at": _now()}
    _save(course, data)


def _gradebook_rows(course):
    """{student: dict(raw, scored, penalty, max, seconds_late, timestamp)} of the assignment."""
    from nbgrader.api import Grade, SubmittedAssignment, SubmittedNotebook

    rows = {}
    with course.gradebook() as gb:
        assignment = gb.find_assignment(course.assignment)
        max_score = float(assignment.max_score)
        for sub in assignment.submissions:
            rows[sub.student_id] = {
                "raw": 0.0, "scored": False, "max": max_score,
                "penalty": float(sub.late_submission_penalty or 0.0),
                "seconds_late": float(sub.total_seconds_late or 0.0), "timestamp": sub.timestamp}
        grades = (gb.db.query(SubmittedAssignment.student_id, Grade.score, Grade.auto_score,
                              Grade.manual_score)
                  .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                  .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                  .filter(SubmittedAssignment.assignment_id == assignment.id).all())
        for student, score, auto, manual in grades:
            if auto is not None or manual is not None:
                rows[student]["scored"] = True
                rows[student]["raw"] += float(score or 0.0)
    return rows, max_score


def standings(course, roster=None, notebooks=None):
    """{student: Standing} for every student on the roster, in submitted/ or in the gradebook."""
    from coursetools import grading
    from coursetools.intake.filing import read_intake

    course.require_gradebook_assignment()
    rows, max_score = _gradebook_rows(course)
    recorded = load(course)
    notebooks = notebooks or sorted(p.stem for p in course.release_dir.glob("*.ipynb"))
    folders = set(course.submitted_students())
    everyone = set(rows) | folders | set(roster.ids() if roster else [])
    result = {}
    for student in sorted(everyone):
        row = rows.get(student)
        entry = recorded.get(student, {})
        folder = course.path("submitted", student, course.assignment)
        marker = bool(read_intake(folder).get("late_marker")) if student in folders else False
        s = Standing(student, "no submission", max_score=max_score, late_marker=marker)
        if row:
            s.penalty, s.seconds_late, s.timestamp = row["penalty"], row["seconds_late"], row["timestamp"]
        if entry.get("state") == "failed":
            s.state, s.reason = "could not be graded", entry.get("reason", "")
        elif entry.get("state") == "collected" and student in folders:
            s.state, s.reason = "not graded yet", NOT_GRADED
        elif row and row["scored"]:
            s.state, s.raw = "graded", row["raw"]
        elif student in folders and (problem := grading.check_submission(course, student, notebooks)):
            s.state, s.reason = "could not be graded", problem
        elif row:
            s.state = "could not be graded"
            s.reason = (f"nbgrader started but did not finish grading it (see "
                        f"logs/autograde-{course.assignment}.log; run `make grade`)")
        elif student in folders:
            s.state, s.reason = "not graded yet", NOT_GRADED
        result[student] = s
    return result


def duration(seconds):
    """'2 d 3 h', '4 min 10 s', '2 s': the two largest units, rounded up."""
    import math

    left, parts = math.ceil(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            count, left = divmod(left, size)
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])
