"""Is a gradebook healthy after grading? `check_gradebook` lists what is wrong with it.

Used after grading untrusted code: a submission that reached the gradebook file (or that
crashed nbgrader half-way) must not go unnoticed. The check only reads: a missing SQLite
file is reported, never created, and the gradebook is opened with the assignment's own
course id so that nbgrader's Gradebook does not add a course row.
"""

import sqlite3
from pathlib import Path
from urllib.parse import unquote

TOLERANCE = 1e-9


def check_gradebook(db_url, assignment, expected_students, max_score, enrolled=()):
    """Problems found in the gradebook at ``db_url`` (an empty list: healthy).

    Healthy means: (SQLite) the file passes ``PRAGMA integrity_check``; nbgrader's
    Gradebook opens it; ``assignment`` is there with its notebooks and grade cells; each of
    ``expected_students`` has a submission worth ``max_score`` with one grade per grade
    cell, every score between 0 and its maximum; and no other student is in it (but the
    ``enrolled`` ones: a roster imported with `make roster`, students without submissions).
    """
    expected = sorted(set(expected_students))
    path = _sqlite_path(db_url)
    if path is not None:
        problems = _check_sqlite_file(path)
        if problems:
            return problems
    try:
        return _check_contents(db_url, assignment, expected, float(max_score), set(enrolled))
    except Exception as exc:  # noqa: BLE001 - a gradebook that cannot be read is the finding
        return [f"the gradebook cannot be read: {type(exc).__name__}: {_first_line(exc)}"]


def _sqlite_path(db_url):
    """The file of a sqlite:/// URL, None for other databases (or an in-memory SQLite)."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    rest = unquote(db_url[len(prefix):].split("?", 1)[0])
    return None if rest in ("", ":memory:") else Path(rest)


def _check_sqlite_file(path):
    if not path.is_file():
        return [f"gradebook file {path} is missing"]
    if path.stat().st_size == 0:
        return [f"gradebook file {path} is empty"]
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [f"gradebook file {path} cannot be opened: {exc}"]
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            return [f"gradebook file {path} fails PRAGMA integrity_check: {'; '.join(map(str, rows[:3]))}"]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"assignment", "notebook", "grade_cells", "student", "submitted_assignment",
                   "grade"} - tables
        if missing:
            return [f"gradebook file {path} lacks the nbgrader table(s) {', '.join(sorted(missing))}"]
        broken = con.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            return [f"gradebook file {path}: {len(broken)} row(s) point to missing rows "
                    f"(PRAGMA foreign_key_check), first in table {broken[0][0]}"]
    except sqlite3.Error as exc:
        return [f"gradebook file {path} is not a readable SQLite database: {exc}"]
    finally:
        con.close()
    return []


def _course_id(db_url, assignment):
    """The course id stored with ``assignment`` (None if the assignment is not there)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as con:
            row = con.execute(text("SELECT course_id FROM assignment WHERE name = :name"),
                              {"name": assignment}).first()
    finally:
        engine.dispose()
    return None if row is None else row[0]


def _check_contents(db_url, assignment, expected, max_score, enrolled=frozenset()):
    from nbgrader.api import Gradebook, MissingEntry

    course_id = _course_id(db_url, assignment)
    if course_id is None:
        return [f"assignment '{assignment}' is not in the gradebook"]
    problems = []
    with Gradebook(db_url, course_id=course_id) as gb:
        a = gb.find_assignment(assignment)
        if not a.notebooks:
            return [f"assignment '{assignment}' has no notebooks"]
        cells = {}
        for nb in a.notebooks:
            if not nb.grade_cells:
                problems.append(f"notebook '{nb.name}' of '{assignment}' has no grade cells")
            cells[nb.name] = {c.name: float(c.max_score) for c in nb.grade_cells}
        total = sum(sum(c.values()) for c in cells.values())
        if abs(total - max_score) > TOLERANCE:
            problems.append(f"assignment '{assignment}' is worth {total:g} points, expected {max_score:g}")

        for student in expected:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                problems.append(f"student '{student}' has no submission of '{assignment}'")
                continue
            problems.extend(_check_submission(student, sub, cells, max_score))

        present = {s.id for s in gb.students}
        extra = sorted(present - set(expected) - set(enrolled))
        if extra:
            problems.append(f"unexpected student(s) in the gradebook: {', '.join(extra)}")
        submitted = {s.student.id for s in a.submissions}
        missing_rows = sorted(submitted - present)
        if missing_rows:
            problems.append(f"submission(s) of unknown student(s): {', '.join(missing_rows)}")
    return problems


def _check_submission(student, sub, cells, max_score):
    problems = []
    sub_max, score = float(sub.max_score), float(sub.score)
    if abs(sub_max - max_score) > TOLERANCE:
        problems.append(f"student '{student}': submission worth {sub_max:g} points, expected {max_score:g}")
    if not -TOLERANCE <= score <= sub_max + TOLERANCE:
        problems.append(f"student '{student}': score {score:g} outside [0, {sub_max:g}]")
    notebooks = {nb.name: nb for nb in sub.notebooks}
    for name in sorted(set(cells) - set(notebooks)):
        problems.append(f"student '{student}': notebook '{name}' was not graded")
    for name, nb in sorted(notebooks.items()):
        if name not in cells:
            problems.append(f"student '{student}': unknown notebook '{name}'")
            continue
        grades = {g.name: g for g in nb.grades}
        missing = sorted(set(cells[name]) - set(grades))
        if missing:
            problems.append(f"student '{student}', {name}: no grade for cell(s) {', '.join(missing)}")
        unknown, ungraded, outside = [], [], []
        for cell, grade in sorted(grades.items()):
            top = cells[name].get(cell)
            if top is None:
                unknown.append(cell)
                continue
            if grade.auto_score is None and grade.manual_score is None and top > 0:
                ungraded.append(cell)
            value = float(grade.score)
            if not -TOLERANCE <= value <= top + TOLERANCE:
                outside.append(f"{cell} {value:g} of {top:g}")
        for what, found in (("grades for unknown cell(s)", unknown),
                            ("cell(s) without a score", ungraded),
                            ("score(s) outside [0, max]", outside)):
            if found:
                problems.append(f"student '{student}', {name}: {what}: {', '.join(found)}")
    return problems


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "(no message)"
