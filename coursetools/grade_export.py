"""`make export FORMAT=csv|canvas|moodle|gradescope`: grades in the LMS's own import format.

Every format lists every student (the roster's, plus anyone with a submission) and never
turns a missing grade into a 0: a student with no submission, or whose submission could
not be graded (or is not graded yet), gets an empty grade and, where the format allows a
column the LMS ignores, a status saying why.

- csv: grades.csv, every assignment of the gradebook, nbgrader's columns plus
  seconds_late and status;
- canvas: Canvas's gradebook import (Grades > Import): Student, ID, SIS User ID, SIS Login
  ID, Section, then the assignment's column '<name> (<Canvas assignment id>)' and a
  'Points Possible' row, as in Canvas's own export. Canvas matches students by ID or the SIS
  ids and leaves a grade unchanged when the cell is empty. No other column may be added:
  Canvas would create an assignment for it;
- moodle: Moodle's gradebook CSV import (Grades > Import > CSV file): First name, Last
  name, ID number, Email address, the grade, and a status column to map to "Ignore". Map
  from "Email address" to useremail (or "ID number" to useridnumber);
- gradescope: Gradescope's roster columns Name, SID, Email with Total Score, Max Points,
  Status and Lateness (H:M:S), as in Gradescope's own score export (its words: Graded,
  Missing, Ungraded).
"""

import csv

from traitlets import Dict
from traitlets.config import Configurable

from coursetools import status
from coursetools.course import Course
from coursetools.errors import CourseError
from coursetools.intake.filing import read_intake

FORMATS = ("csv", "canvas", "moodle", "gradescope")


class LmsExport(Configurable):
    """The grade column of each assignment in the LMS's gradebook."""

    canvas_columns = Dict(
        help="{assignment: Canvas gradebook column}, the column as Canvas's own gradebook "
             "export names it: '<assignment name> (<Canvas assignment id>)', e.g. "
             "{'spatial': 'Spatial operations (4711)'}. Without it the column is the "
             "assignment's name, and Canvas offers to create a new assignment.",
    ).tag(config=True)

    moodle_columns = Dict(
        help="{assignment: grade item name} for the Moodle CSV's grade column (any name: "
             "Moodle asks which grade item it maps to).",
    ).tag(config=True)


def number(value):
    """Points as an LMS reads them: '160', '84.5', '0.33' (never '1.2e+06')."""
    if value is None:
        return ""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def hms(seconds):
    """Gradescope's 'Lateness (H:M:S)': '09:31:00', hours past 24 as they are."""
    seconds = int(round(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def status_text(s):
    if s.state == "graded":
        late = s.seconds_late > 0
        if not late:
            return "graded"
        how = "late per the LMS, time unknown" if s.late_marker else f"late {status.duration(s.seconds_late)}"
        return f"graded, {how}, penalty {number(s.penalty)}"
    if s.state == "could not be graded":
        return f"could not be graded: {s.reason}"
    return s.state


def rows(course, roster):
    """[(standing, roster student or None, intake ids)] in roster order, then the others."""
    found = status.standings(course, roster)
    order = list(roster.ids()) if roster else []
    order += sorted(s for s in found if s not in set(order))
    result = []
    for student in order:
        s = found.get(student) or status.Standing(student, "no submission")
        intake = read_intake(course.path("submitted", student, course.assignment))
        result.append((s, roster.by_id.get(student) if roster else None, intake.get("ids", {})))
    return result


def _field(person, column, ids=None, key=None):
    value = person.get(column) if person else ""
    return value or ((ids or {}).get(key, "") if key else "")


def export(course, fmt="csv", roster=None, log=print):
    fmt = (fmt or "csv").strip().lower()
    if fmt not in FORMATS:
        raise CourseError(f"unknown FORMAT={fmt}: use {', '.join(FORMATS)}")
    course.require_gradebook_assignment()
    if fmt == "csv":
        return _csv(course, roster, log)
    settings = LmsExport(config=course.nbgrader_config())
    data = rows(course, roster)
    if not data:
        raise CourseError(f"no student to export for '{course.assignment}': collect and grade first")
    path = course.path(f"grades-{fmt}-{course.assignment}.csv")
    max_score = data[0][0].max_score
    writer = {"canvas": _canvas, "moodle": _moodle, "gradescope": _gradescope}[fmt]
    table, warnings = writer(course, settings, data, max_score)
    _write(path, table)
    _log_written(course, path, data, log)
    for line in warnings:
        log(f"  note: {line}")
    return path


def _write(path, table):
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table)
    tmp.replace(path)


def _log_written(course, path, data, log):
    counts = {}
    for s, _, _ in data:
        counts[s.state] = counts.get(s.state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    log(f"{course.relative(path)}: {len(data)} student(s): {parts}")
    for s, _, _ in data:
        if s.state != "graded":
            log(f"  {s.student}: {status_text(s)} (grade left empty)")


def _canvas(course, settings, data, max_score):
    column = settings.canvas_columns.get(course.assignment, "")
    warnings = []
    if not column:
        column = course.assignment
        warnings.append(f"Canvas will offer to create a new assignment '{column}': name its "
                        f"column in nbgrader_config.py, c.LmsExport.canvas_columns = "
                        f"{{'{course.assignment}': '<name> (<Canvas assignment id>)'}}")
    table = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column],
             ["    Points Possible", "", "", "", "", number(max_score)]]
    unmatched = []
    for s, person, ids in data:
        first, last = _field(person, "first_name"), _field(person, "last_name")
        name = f"{last}, {first}" if last and first else (last or first or ids.get("canvas_name", "")
                                                          or s.student)
        canvas_id = _field(person, "canvas_id", ids, "canvas_id")
        if not canvas_id and person is None and s.student.isdigit():
            canvas_id = s.student  # no roster: the student id is Canvas's user id
        sis, login = _field(person, "sis_user_id"), _field(person, "sis_login_id")
        if not (canvas_id or sis or login):
            unmatched.append(s.student)
        score = number(s.score) if s.state == "graded" else ""
        table.append([name, canvas_id, sis, login, _field(person, "section"), score])
    if unmatched:
        warnings.append(f"{len(unmatched)} student(s) without a Canvas ID or SIS id, which "
                        f"Canvas cannot match: {', '.join(unmatched)} (roster columns canvas_id, "
                        "sis_user_id, sis_login_id)")
    return table, warnings


def _moodle(course, settings, data, max_score):
    column = settings.moodle_columns.get(course.assignment, course.assignment)
    table = [["First name", "Last name", "ID number", "Email address", column, "Status (ignore)"]]
    unmatched = []
    for s, person, ids in data:
        first, last = _field(person, "first_name"), _field(person, "last_name")
        if not (first or last):
            first = ids.get("moodle_name") or s.student
        idnumber, email = _field(person, "moodle_idnumber"), _field(person, "email")
        if not (idnumber or email):
            unmatched.append(s.student)
        score = number(s.score) if s.state == "graded" else ""
        table.append([first, last, idnumber, email, score, status_text(s)])
    warnings = [f"map 'Email address' to useremail (or 'ID number' to useridnumber) and "
                f"'Status (ignore)' to Ignore when Moodle asks; {number(max_score)} points "
                "(make the grade item's maximum match)"]
    if unmatched:
        warnings.append(f"{len(unmatched)} student(s) without email or ID number, which Moodle "
                        f"cannot match: {', '.join(unmatched)} (roster columns email, moodle_idnumber)")
    return table, warnings


GRADESCOPE_STATUS = {"graded": "Graded", "no submission": "Missing"}


def _gradescope(course, settings, data, max_score):
    table = [["Name", "SID", "Email", "Total Score", "Max Points", "Status", "Lateness (H:M:S)"]]
    for s, person, ids in data:
        name = (person.full_name if person else "") or next(
            (ids[k] for k in ("blackboard_name", "moodle_name", "canvas_name") if ids.get(k)), s.student)
        sid = _field(person, "gradescope_sid") or _field(person, "sis_user_id") or (
            s.student if person is None else "")
        score = number(s.score) if s.state == "graded" else ""
        status_word = GRADESCOPE_STATUS.get(s.state, "Ungraded")
        if s.state not in GRADESCOPE_STATUS:
            status_word += f" ({status_text(s)})"
        lateness = hms(s.seconds_late) if s.state == "graded" else ""
        table.append([name, sid, _field(person, "email"), score, number(max_score), status_word,
                      lateness])
    return table, []


CSV_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
               "email", "raw_score", "late_submission_penalty", "score", "max_score",
               "seconds_late", "status"]


def _csv(course, roster, log):
    with course.gradebook() as gb:
        assignments = [(a.name, a.duedate) for a in gb.assignments]
    table = [CSV_COLUMNS]
    for name, duedate in sorted(assignments, key=lambda a: (a[1] is None, a[1] or 0, a[0])):
        other = Course(course.root, name, log_dir=course.log_dir, settings=course.settings)
        for s, person, _ in rows(other, roster):
            graded = s.state == "graded"
            table.append([
                name, duedate or "", s.timestamp or "", s.student,
                _field(person, "last_name"), _field(person, "first_name"), _field(person, "email"),
                number(s.raw) if graded else "", number(s.penalty) if graded else "",
                number(s.score) if graded else "", number(s.max_score),
                number(s.seconds_late) if graded else "", status_text(s)])
    path = course.path("grades.csv")
    _write(path, table)
    problems = [r for r in table[1:] if not r[12].startswith("graded")]
    log(f"grades.csv: {len(table) - 1} row(s) (all assignments and students in the gradebook)"
        + (f"; {len(problems)} without a grade (score left empty, status says why)" if problems else ""))
    return path
