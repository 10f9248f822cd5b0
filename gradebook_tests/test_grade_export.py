"""`make export FORMAT=...` and the student states behind it, on a synthetic gradebook (fast).

A class with every state a student can be in: graded on time, graded late with a
penalty, nbgrader gave up half-way (a submission row without scores), an unreadable
notebook never in the gradebook, a grading that failed after an earlier success (stale
scores), collected but not graded yet, and on the roster without a submission. Each
format is compared with a hand-written file in gradebook_tests/expected/; no student
without a grade may get a number.
"""

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from coursetools import grade_export, grading, status
from coursetools.errors import CourseError
from coursetools.intake.roster import load
from test_report import alembic_heads_once, make_course  # noqa: F401 - fixture used by pytest

EXPECTED = Path(__file__).parent / "expected"
CLASS = {
    "alice": {"scores": {"setup": 0, "A": 10, "B": 5, "C": 4}},
    "bob": {"scores": {"setup": 0, "A": 10, "B": 3, "C": 2},
            "late": timedelta(days=1, hours=2, minutes=3), "penalty": 3.0},
    "carol": {"scores": None},                     # nbgrader created the row, then gave up
    "erin": {"scores": {"A": 10, "B": 5}},         # graded once; the new grading failed
}
FOLDERS = {"alice": "valid", "bob": "valid", "carol": "valid", "dave": "broken", "erin": "valid",
           "frank": "valid"}
ROSTER = """id,first_name,last_name,email,canvas_id,sis_user_id,sis_login_id,section,moodle_idnumber,gradescope_sid
alice,Alice,Arden,alice@uni.example,2001,S01,aarden,Lab 1,S01,S01
bob,Bob,Brandt,bob@uni.example,2002,S02,bbrandt,Lab 1,S02,S02
carol,Carol,Chen,carol@uni.example,2003,S03,cchen,Lab 2,S03,S03
dave,Dave,Diaz,dave@uni.example,2004,S04,ddiaz,Lab 2,S04,S04
erin,Erin,Ek,erin@uni.example,2005,S05,eek,Lab 2,S05,S05
gina,Gina,Gold,gina@uni.example,2007,S07,ggold,Lab 1,S07,S07
"""


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    course = make_course(root, CLASS, folders=FOLDERS)
    status.record(course, graded=["alice", "bob"],
                  failed={"erin": "kernel died (see logs/autograde-hw.log)"})
    (root / "nbgrader_config.py").open("a").write(
        '\nc.LmsExport.canvas_columns = {"hw": "Homework 1 (4711)"}\n')
    (root / "roster.csv").write_text(ROSTER)
    return course, load(root / "roster.csv")


def test_every_state_is_derived(klass):
    course, roster = klass
    found = {s: (st.state, st.reason) for s, st in status.standings(course, roster).items()}
    assert found["alice"] == ("graded", "") and found["bob"] == ("graded", "")
    assert found["carol"][0] == "could not be graded" and found["carol"][1].startswith(
        "nbgrader started but did not finish grading it")
    assert found["dave"][0] == "could not be graded" and found["dave"][1].startswith(
        "nb1.ipynb is not a valid notebook (")
    assert found["erin"] == ("could not be graded", "kernel died (see logs/autograde-hw.log)")
    assert found["frank"] == ("not graded yet", "not graded: run `make grade`")
    assert found["gina"] == ("no submission", "")


@pytest.mark.parametrize("fmt, written", [
    ("csv", "grades.csv"), ("canvas", "grades-canvas-hw.csv"), ("moodle", "grades-moodle-hw.csv"),
    ("gradescope", "grades-gradescope-hw.csv")])
def test_export_matches_the_hand_written_file(klass, fmt, written):
    course, roster = klass
    lines = []
    path = grade_export.export(course, fmt, roster, log=lines.append)
    assert path == course.path(written)
    got = path.read_text(encoding="utf-8")
    assert got == (EXPECTED / f"export-{fmt}.csv").read_text(encoding="utf-8"), got
    for student in ("carol", "dave", "erin", "frank", "gina"):
        assert any(line.startswith(f"  {student}: ") and "(grade left empty)" in line for line in lines) \
            or fmt == "csv", lines


def test_no_student_without_a_grade_gets_a_number(klass):
    course, roster = klass
    for fmt, column in (("canvas", "Homework 1 (4711)"), ("moodle", "hw"), ("gradescope", "Total Score")):
        path = grade_export.export(course, fmt, roster, log=lambda *_: None)
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        for row in rows:
            name = " ".join(row.get(k, "") for k in ("Student", "First name", "Name")).strip()
            if any(x in name for x in ("Carol", "Dave", "Erin", "frank", "Gina")):
                assert row[column] == "", f"{fmt}: {name} got {row[column]!r}"


def test_summary_lists_every_student_without_a_grade(klass):
    course, roster = klass
    lines = []
    grading.summary(course, log=lines.append, roster=roster)
    text = "\n".join(lines)
    assert "== hw: 2 graded submission(s), 3 problem(s), 1 late" in text, text
    assert "   bob                          12 / 19    late 1 d 2 h, penalty 3 (before: 15)" in text, text
    assert "problem: erin: kernel died" in text and "problem: carol: nbgrader started" in text
    assert "problem: dave: nb1.ipynb is not a valid notebook" in text
    assert "not graded yet (collected since the last `make grade`): frank" in text
    assert "no submission (1 on the roster): gina" in text
    assert "late policy: 10 % of the points per started day late, at most 50 %" in text


def test_unknown_format_is_one_clear_error(klass):
    course, roster = klass
    with pytest.raises(CourseError, match="unknown FORMAT=xlsx: use csv, canvas, moodle, gradescope"):
        grade_export.export(course, "xlsx", roster)
