"""`make report` (coursetools/report.py) on small synthetic courses: no autograde, seconds.

Each course is a tmp folder with the course's nbgrader_config.py, a gradebook written with
nbgrader's API (scores set directly), a release notebook giving the cell order, and
submitted/ and autograded/ folders as `make collect` and `make grade` would leave them (with
the README.md file each of them has in the repository).
"""

import os
import re
import sys
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from conftest import REPO
from coursetools.course import Course
from coursetools.errors import CourseError
from coursetools.report import report

A = "hw"
DUE = datetime(2026, 11, 20, 12, 0)
# release order (the table must follow it); the gradebook gets them in reverse order
CELLS = [("setup", 0, "test"), ("A", 10, "test"), ("B", 5, "test"), ("C", 4, "answer")]


@pytest.fixture(scope="module", autouse=True)
def alembic_heads_once():
    """A new Gradebook runs `alembic heads` (by name: the venv's bin/ must be on PATH), several
    seconds on a busy machine; ask once, then give every new gradebook the same answer."""
    import nbgrader.api

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        version = nbgrader.api.get_alembic_version()
        mp.setattr(nbgrader.api, "get_alembic_version", lambda: version)
        yield


def notebook_file(path, cells=(), outputs=None):
    nb = new_notebook()
    for name in cells:
        cell = new_code_cell("pass", metadata={"nbgrader": {"grade_id": name}})
        cell.outputs = (outputs or {}).get(name, [])
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def make_course(root, students, cells=CELLS, folders=None, incidents=None, notebooks=("nb1",),
                assignment=A):
    """Every notebook gets ``cells``. students: {id: {"scores": {cell or "nb/cell": points} or
    None (submission never scored), "late": timedelta, "penalty": points in nb1}};
    folders: {id: "valid" | "broken"} in submitted/."""
    from nbgrader.api import Gradebook

    (root / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    for area in ("submitted", "autograded", "feedback"):  # as in a clone: a file, never a student
        (root / area).mkdir()
        (root / area / "README.md").write_text((REPO / area / "README.md").read_text())
    with Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id="cnn-spatial") as gb:
        gb.add_assignment(assignment, duedate=DUE)
        for nb in notebooks:
            gb.add_notebook(nb, assignment)
            for name, points, kind in reversed(cells):
                gb.add_grade_cell(name, nb, assignment, max_score=points, cell_type="code")
                if kind == "answer":
                    gb.add_solution_cell(name, nb, assignment)
                    gb.add_source_cell(name, nb, assignment, cell_type="code", source="pass")
        for student, spec in students.items():
            gb.add_student(student)
            when = DUE + spec.get("late", timedelta(hours=-1))
            gb.add_submission(assignment, student, timestamp=when)
            for key, points in (spec["scores"] or {}).items():
                nb, cell = key.split("/") if "/" in key else ("nb1", key)
                grade = gb.find_grade(cell, nb, assignment, student)
                grade.auto_score, grade.needs_manual_grade = points, False
            if "penalty" in spec:
                gb.find_submission_notebook("nb1", assignment, student).late_submission_penalty = spec["penalty"]
            gb.db.commit()
    for nb in notebooks:
        notebook_file(root / "release" / assignment / f"{nb}.ipynb", [c[0] for c in cells])
    for student, state in (folders or {}).items():
        for nb in notebooks:
            path = root / "submitted" / student / assignment / f"{nb}.ipynb"
            if state == "broken":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{ this is not json")
            else:
                notebook_file(path, [c[0] for c in cells])
    for student, cell in (incidents or {}).items():
        timeout = new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
        notebook_file(root / "autograded" / student / assignment / "nb1.ipynb", [cell], {cell: [timeout]})
    return Course(root, assignment)


def table_rows(md):
    """{first column: [other columns]} of every Markdown table row."""
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cols = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cols[0]] = cols[1:]
    return rows


def section(md, title):
    m = re.search(rf"^## {re.escape(title)}.*?$(.*?)(?=^## |\Z)", md, re.M | re.S)
    assert m, f"expected a section '## {title}' in the report, got:\n{md}"
    return m.group(1)


CLASS = {
    "alice": {"scores": {"setup": 0, "A": 10, "B": 5, "C": 4}},
    "bob": {"scores": {"setup": 0, "A": 10, "B": 3, "C": 2},
            "late": timedelta(days=1, hours=2, minutes=3), "penalty": 15.0},
    "carol": {"scores": {"setup": 0, "A": 0, "B": 0, "C": 0}},
    "frank": {"scores": None},  # nbgrader created the submission, then gave up on it
}
FOLDERS = {"alice": "valid", "bob": "valid", "carol": "valid", "dave": "broken",
           "erin": "valid", "frank": "valid"}


@pytest.fixture(scope="module")
def class_report(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("class"), CLASS, folders=FOLDERS,
                         incidents={"carol": "B", "alice": "train_visible"})
    lines = []
    md_path = report(course, log=lines.append)
    return course, md_path, md_path.read_text(encoding="utf-8"), lines


def test_pass_rate_of_every_cell_in_notebook_order(class_report):
    _, _, md, _ = class_report
    rows = table_rows(section(md, "Pass rate per graded cell"))
    expected = {  # cell: kind, max, graded, full, partial, zero, pass rate, mean
        "A": ["test", "10", "3", "2", "0", "1", "66.7 %", "6.67"],
        "B": ["test", "5", "3", "1", "1", "1", "33.3 %", "2.67"],
        "C": ["answer", "4", "3", "1", "1", "1", "33.3 %", "2"],
    }
    got = {k: v for k, v in rows.items() if k != "cell"}
    assert got == expected, f"expected per-cell rows {expected}, got {got}"
    order = [k for k in rows if k != "cell"]
    assert order == ["A", "B", "C"], f"expected the release notebook's order A, B, C, got {order}"
    assert "Skipped (0 points): setup." in md, f"expected the 0-point cell named as skipped, got:\n{md}"


def test_hardest_checks_come_first(class_report):
    _, _, md, _ = class_report
    items = re.findall(r"^- (.*)$", section(md, "Hardest checks"), re.M)
    names = [i.split(":")[0] for i in items]
    # B and C both pass 33.3 %; C's mean is the lower fraction of its points (2/4 < 2.67/5)
    assert names == ["C", "B", "A"], f"expected hardest checks C, B, A, got {names}"
    assert items[0] == "C: 33.3 % pass (1 of 3 full marks), mean 2 / 4", f"got {items[0]!r}"
    assert md.index("## Hardest checks") < md.index("## Pass rate"), "expected the hardest checks at the top"


def test_header_and_score_distribution(class_report):
    course, md_path, md, lines = class_report
    assert md_path == course.path("reports", f"class-{A}", "report.md"), f"got {md_path}"
    assert "3 graded submission(s), max score 19 points, generated " in md, f"got header:\n{md[:300]}"
    text = section(md, "Score distribution")
    # alice 19/19 = 100 %, bob 15/19 = 78.9 %, carol 0 %
    want = "mean 59.6 %, median 78.9 %, min 0.0 %, max 100.0 %"
    assert want in text, f"expected {want!r}, got {text!r}"
    folder = md_path.parent
    for name in ("score-distribution.png", "pass-rates.png"):
        head = (folder / name).read_bytes()[:8] if (folder / name).exists() else b"(missing)"
        assert head == b"\x89PNG\r\n\x1a\n", f"expected {name} to be a PNG, got first bytes {head!r}"
        assert f"]({name})" in md, f"expected report.md to show {name}"
        assert f'src="{name}"' in (folder / "report.html").read_text(), f"expected report.html to show {name}"
    assert len(lines) == 1 and "report.md" in lines[0] and "report.html" in lines[0], f"got log {lines}"


def test_late_submission_with_lateness_and_penalty(class_report):
    _, _, md, _ = class_report
    rows = table_rows(section(md, "Late submissions"))
    rows.pop("student", None)
    expected = {"bob": ["1 d 2 h", "2026-11-21 14:03", "15", "0 / 19"]}
    assert rows == expected, f"expected late rows {expected}, got {rows}"


def test_failed_submissions_with_reasons(class_report):
    _, _, md, _ = class_report
    items = dict(i.split(": ", 1) for i in re.findall(r"^- (.*)$", section(md, "Failed submissions"), re.M))
    assert sorted(items) == ["carol", "dave", "erin", "frank"], f"expected carol, dave, erin, frank, got {items}"
    assert items["dave"].startswith("nb1.ipynb is not a valid notebook ("), f"dave: got {items['dave']!r}"
    assert items["erin"] == "not graded: run `make grade`", f"erin: got {items['erin']!r}"
    assert items["frank"].startswith("nbgrader started but did not finish"), f"frank: got {items['frank']!r}"
    assert items["carol"] == "graded, lost points: B (timed out)", f"carol: got {items['carol']!r}"
    assert "frank" not in table_rows(section(md, "Pass rate per graded cell")), "frank must not count as graded"


def test_a_timeout_in_a_cell_without_points_is_slow_not_failed(class_report):
    """Load must not look like a problem: alice's visible cell timed out, no points changed."""
    _, _, md, _ = class_report
    assert "alice" not in section(md, "Failed submissions")
    items = re.findall(r"^- (.*)$", section(md, "Slow but complete"), re.M)
    assert items == ["alice: train_visible (timed out)"], f"got {items}"


def test_several_notebooks_name_the_notebook(tmp_path):
    cells = [("A", 2, "test")]
    course = make_course(tmp_path, {"alice": {"scores": {"nb1/A": 2, "nb2/A": 1}},
                                    "bob": {"scores": {"nb1/A": 2, "nb2/A": 0}}},
                         cells=cells, notebooks=("nb1", "nb2"))
    md = report(course, log=lambda _: None).read_text(encoding="utf-8")
    rows = table_rows(section(md, "Pass rate per graded cell"))
    rows.pop("cell", None)
    expected = {"nb1/A": ["test", "2", "2", "2", "0", "0", "100.0 %", "2"],
                "nb2/A": ["test", "2", "2", "0", "1", "1", "0.0 %", "0.5"]}
    assert rows == expected, f"expected rows {expected}, got {rows}"


def test_student_names_are_escaped(tmp_path):
    evil = "<script>x</script>"
    course = make_course(tmp_path, {evil: {"scores": {"A": 10}, "late": timedelta(minutes=5)},
                                    "alice": {"scores": {"A": 0}}})
    md_path = report(course, log=lambda _: None)
    page = (md_path.parent / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;x&lt;/script&gt;" in page, "expected the escaped name in report.html"
    assert "<script" not in page.lower(), f"expected no <script in report.html, got:\n{page}"
    assert "<script" not in md_path.read_text(encoding="utf-8"), "expected no raw <script in report.md"


@pytest.mark.parametrize("case", ["one student", "all zero", "all full", "only 0-point cells"])
def test_edge_cases_give_a_report_without_warnings(tmp_path, case):
    cells = [("setup", 0, "test")] if case == "only 0-point cells" else CELLS
    points = {"one student": [10], "all zero": [0, 0, 0], "all full": [1, 1],
              "only 0-point cells": [0, 0]}[case]
    students = {}
    for i, p in enumerate(points):
        scores = {name: (mx if p else 0) for name, mx, _ in cells}
        if case == "one student":
            scores["A"] = 5
        students[f"s{i}"] = {"scores": scores}
    course = make_course(tmp_path, students, cells=cells)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's division by zero, empty mean
        md = report(course, log=lambda _: None).read_text(encoding="utf-8")
    dist = section(md, "Score distribution")
    want = {"one student": "mean 73.7 %, median 73.7 %", "all zero": "mean 0.0 %, median 0.0 %, min 0.0 %",
            "all full": "mean 100.0 %, median 100.0 %", "only 0-point cells": "mean 0.0 %"}[case]
    assert want in dist, f"{case}: expected {want!r}, got {dist!r}"
    assert (course.path("reports", f"class-{A}", "score-distribution.png")).is_file(), f"{case}: no histogram"
    if case == "only 0-point cells":
        assert "no graded cell has points" in md, f"expected a note instead of hardest checks, got:\n{md}"
        assert not course.path("reports", f"class-{A}", "pass-rates.png").exists(), "no cell: no bar chart"


def test_nothing_graded_is_a_clear_error(tmp_path):
    course = make_course(tmp_path, {}, folders={"erin": "valid"})
    with pytest.raises(CourseError, match=r"nothing graded yet for 'hw': run `make grade` first"):
        report(course, log=lambda _: None)


def test_unknown_assignment_is_a_clear_error(tmp_path):
    make_course(tmp_path, {"alice": {"scores": {"A": 10}}})
    with pytest.raises(CourseError, match=r"the gradebook does not know 'other'"):
        report(Course(tmp_path, "other"), log=lambda _: None)


def test_the_summary_separates_lost_points_from_slow(class_report):
    from coursetools import grading

    course, _, _, _ = class_report
    lines = []
    grading.summary(course, log=lines.append)
    text = "\n".join(lines)
    assert "problem: carol: graded, lost points: B (timed out)" in text, text
    assert "note: alice: slow but complete (no points changed): train_visible (timed out)" in text, text
    assert "problem: alice" not in text


@pytest.mark.parametrize("ename, what", [("TimeBudget", "time budget"),
                                         ("KernelRestarted", "kernel restarted"),
                                         ("KernelStopped", "not run: kernel stopped"),
                                         ("CellTimeoutError", "timed out")])
def test_the_grading_executor_notes_are_incidents(tmp_path, ename, what):
    """SandboxedExecute marks cells TimeBudget / KernelRestarted / KernelStopped: the summary
    and the report must flag them (a sleeper stopped by the time budget went unflagged)."""
    from coursetools.grading import incidents

    (tmp_path / "nbgrader_config.py").write_text("")
    note = new_output("error", ename=ename, evalue="not run", traceback=[])
    notebook_file(tmp_path / "autograded" / "dave" / "a1" / "nb1.ipynb", ["B"], {"B": [note]})
    lost, slow = incidents(Course(tmp_path, "a1"), "dave")
    assert lost + slow == [f"B ({what})"]
