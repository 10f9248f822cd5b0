"""One realistic download per LMS through make due -> collect -> grade -> feedback -> export.

The downloads (gradebook_tests/lms_downloads.py) are named exactly as Canvas, Moodle and
Blackboard name theirs, with __MACOSX/ companions, nested folders, spaces and non-ASCII
names; each export is compared with a hand-written file in gradebook_tests/expected/.
"""

import re
from pathlib import Path

import pytest

from conftest import fresh_course, make
from lms_downloads import (BLACKBOARD_ROSTER, CANVAS_ROSTER, MOODLE_ROSTER, blackboard_download,
                           canvas_download, moodle_download, notebooks, read_json, set_config)

EXPECTED = Path(__file__).parent / "expected"
DUE = "DUE=2026-12-01 23:59 Europe/Berlin"


def run_term(root, download, roster, fmt, lms="auto", due=True):
    (root / "roster.csv").write_text(roster, encoding="utf-8")
    out = {}
    if due:
        out["due"] = make(root, "due", DUE)
    out["collect"] = make(root, "collect", f"FROM={download}", f"LMS={lms}")
    for step in ("grade", "feedback", "summary", "report"):
        out[step] = make(root, step)
    out["export"] = make(root, "export", f"FORMAT={fmt}")
    return out


def scored(text):
    """{student: 'score / max ...'} of the summary's table."""
    return {m[1]: m[2].strip() for m in re.finditer(r"^   (\S+)\s+(\d[\d.]* / \d+.*)$", text, re.M)}


@pytest.fixture(scope="module")
def canvas(released_course, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("canvas")
    root = fresh_course(released_course, tmp / "course")
    set_config(root, ['c.LmsExport.canvas_columns = {"spatial": "Spatial operations (4711)"}'])
    download = canvas_download(tmp / "submissions.zip", notebooks(root))
    return root, run_term(root, download, CANVAS_ROSTER, "canvas")


def test_canvas_late_marker_resubmission_and_roster(canvas):
    root, out = canvas
    text = out["collect"].stdout
    assert "LMS=auto: detected a Canvas download (4 of 4 notebook(s)" in text, text
    assert "collected 3 submission(s) of spatial into submitted/: jroe, jsmith, zmuller" in text
    assert "jsmith: not filed (superseded): smithjohn_1003_5003_spatial.ipynb: an earlier upload" in text
    assert "zmuller: the LMS marks it late without a time: counted 1 s late" in text
    assert "skipped 7 macOS companion file(s)" in text
    assert "no submission yet from 2 roster student(s): adoe, klee" in text
    assert read_json(root / "submitted" / "zmuller" / "spatial" / ".intake.json")["late_marker"] is True
    assert scored(out["grade"].stdout) == {
        "jroe": "160 / 160", "jsmith": "160 / 160",
        "zmuller": "84 / 160   late per the LMS (no time in the download), penalty 16 (before: 100)"}


def test_canvas_export_matches_canvas_import_format(canvas):
    root, out = canvas
    got = (root / "grades-canvas-spatial.csv").read_text(encoding="utf-8")
    assert got == (EXPECTED / "canvas-spatial.csv").read_text(encoding="utf-8")
    assert "adoe: no submission (grade left empty)" in out["export"].stdout


@pytest.fixture(scope="module")
def moodle(released_course, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("moodle")
    root = fresh_course(released_course, tmp / "course")
    set_config(root, ['c.LmsExport.moodle_columns = {"spatial": "Spatial operations"}'])
    download = moodle_download(tmp / "CNN-2026-Spatial operations-12345.zip", notebooks(root))
    return root, run_term(root, download, MOODLE_ROSTER, "moodle", lms="moodle", due=False)


def test_moodle_folders_and_names_matched_to_the_roster(moodle):
    root, out = moodle
    text = out["collect"].stdout
    assert "collected 3 submission(s) of spatial into submitted/: jroe, jsmith, zmuller" in text, text
    assert ("zmuller: Zoë Müller (Moodle participant 34568): Zoë Müller_34568_assignsubmission_file_/"
            "Übung 1/spatial.ipynb -> spatial.ipynb") in text
    assert "not collected: John Smith_34569_assignsubmission_onlinetext_/onlinetext.html: not a notebook" in text
    assert "not collected: Ann Doe_34570_assignsubmission_file_/Spatial notes.pdf: not a notebook" in text
    assert scored(out["grade"].stdout) == {"jroe": "160 / 160", "zmuller": "100 / 160", "jsmith": "0 / 160"}
    assert "no submission (1 on the roster): adoe" in out["summary"].stdout


def test_moodle_export_matches_moodle_import_format(moodle):
    root, _ = moodle
    got = (root / "grades-moodle-spatial.csv").read_text(encoding="utf-8")
    assert got == (EXPECTED / "moodle-spatial.csv").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def blackboard(released_course, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blackboard")
    root = fresh_course(released_course, tmp / "course")
    set_config(root, ['c.Intake.lms_timezone = "Europe/Berlin"'])
    download = blackboard_download(
        tmp / "gradebook_CNN-2026_Spatial operations_2026-12-02-10-15-00.zip", notebooks(root))
    return root, run_term(root, download, BLACKBOARD_ROSTER, "gradescope")


def test_blackboard_attempts_times_and_lateness(blackboard):
    root, out = blackboard
    text = out["collect"].stdout
    assert "LMS=auto: detected a Blackboard download (5 of 5 notebook(s)" in text, text
    assert ("jroe: not filed (superseded): Spatial operations_jroe_attempt_2026-11-30-10-00-00_"
            "spatial.ipynb: an earlier attempt") in text
    # 09:30 in Berlin (08:30 UTC) on Dec 2, due 23:59 Berlin on Dec 1: 9 h 31 min late
    assert (root / "submitted" / "zmuller" / "spatial" / "timestamp.txt").read_text() == \
        "2026-12-02 08:30:00.000000 UTC"
    assert scored(out["grade"].stdout) == {
        "jroe": "160 / 160", "jsmith": "0 / 160",
        "zmuller": "84 / 160   late 9 h 31 min, penalty 16 (before: 100)"}


def test_a_submission_that_could_not_be_graded_stays_listed(blackboard):
    root, out = blackboard
    for step in ("grade", "summary"):  # the summary of `make grade`, and every later one
        lines = [ln for ln in out[step].stdout.splitlines() if "problem: kberg:" in ln]
        assert len(lines) == 1 and "spatial.ipynb is not a valid notebook" in lines[0], out[step].stdout
    assert "no submission (1 on the roster): lott" in out["summary"].stdout
    assert "feedback: 3 HTML page(s)" in out["feedback"].stdout


def test_report_shows_lateness_penalty_and_who_has_no_grade(blackboard):
    root, _ = blackboard
    md = (root / "reports" / "class-spatial" / "report.md").read_text(encoding="utf-8")
    assert "| zmuller | 9 h 31 min | 2026-12-02 08:30 | 16 | 84 / 160 |" in md, md
    assert re.search(r"^- kberg: spatial.ipynb is not a valid notebook", md, re.M), md
    assert "## No submission (1)" in md and "\n- lott\n" in md, md


def test_gradescope_export_matches_expected(blackboard):
    root, _ = blackboard
    got = (root / "grades-gradescope-spatial.csv").read_text(encoding="utf-8")
    assert got == (EXPECTED / "gradescope-spatial.csv").read_text(encoding="utf-8")
