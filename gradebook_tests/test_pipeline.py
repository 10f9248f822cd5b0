"""The instructor's cycle end to end: release -> collect -> grade -> feedback -> export."""

import ast
import csv
import json
import re
import subprocess
import zipfile

import nbformat
import pytest

from conftest import REPO, git, make
from coursetools.course import Course
from coursetools.errors import CourseError
from coursetools.notebooks import (
    REQUIRED_KEYS, check_cells, find_leaks, grade_id, is_solution, secret_lines,
)
from coursetools.release import instructor_submission

ASSIGNMENTS = sorted(p.name for p in (REPO / "source").iterdir() if any(p.glob("*.py")))
NBGRADER_LINE = re.compile(r"^# %%.*?\bnbgrader=(\{.*\})\s*$")


def release_notebooks(root, assignment):
    return sorted((root / "release" / assignment).glob("*.ipynb"))


# --- sources ---------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_nbgrader_cell_has_full_schema_v3_metadata(assignment):
    cells = 0
    for py in sorted((REPO / "source" / assignment).glob("*.py")):
        lines = py.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            m = NBGRADER_LINE.match(line)
            if not m:
                continue
            cells += 1
            meta = json.loads(m.group(1))
            where = f"{py.name}:{number}"
            assert set(REQUIRED_KEYS) <= set(meta), f"{where}: metadata lacks {set(REQUIRED_KEYS) - set(meta)}"
            assert meta["schema_version"] == 3, where
            if meta["grade"]:
                assert "points" in meta, f"{where}: graded cell without points"
            if meta["solution"]:
                body = []
                for nxt in lines[number:]:
                    if nxt.startswith("# %%"):
                        break
                    body.append(nxt)
                text = "\n".join(body)
                assert "### BEGIN SOLUTION" in text and "### END SOLUTION" in text, \
                    f"{where}: solution cell {meta['grade_id']} has no solution markers"
    assert cells > 0


def test_metadata_check_rejects_short_form_and_missing_markers():
    short = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
        metadata={"nbgrader": {"grade": False, "grade_id": "f", "solution": True}})])
    with pytest.raises(CourseError, match="lacks locked, schema_version, task"):
        check_cells(short, "short")
    full = {"grade": False, "grade_id": "f", "locked": False, "schema_version": 3,
            "solution": True, "task": False}
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f():\n    return 1", metadata={"nbgrader": full})])
    with pytest.raises(CourseError, match="without '### BEGIN SOLUTION'"):
        check_cells(bare, "bare")


# --- release ---------------------------------------------------------------

def test_rerunning_release_leaves_git_clean(course):
    """The committed release/ is exactly what `make release` builds (twice)."""
    assert git(course, "status", "--porcelain") == ""
    make(course, "release")
    assert git(course, "status", "--porcelain") == "", "release/ is stale or not reproducible"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_contains_no_solution_or_hidden_test_line(course, assignment):
    sources = sorted((course / "source" / assignment).glob("*.py"))
    secret = secret_lines(sources)
    assert len(secret) >= 3, "the scan needs secret lines to look for"
    files = [p for p in (course / "release").rglob("*") if p.is_file()]
    assert files
    assert [p.suffix for p in files if p.suffix == ".py"] == [], "a .py source reached release/"
    leaks = find_leaks(course / "release", sources)
    assert leaks == [], f"solution/hidden-test text in release/: {leaks[:5]}"


def test_leak_scan_finds_a_planted_solution_line(course, tmp_path):
    """The scan above can fail: plant one secret line in a copy of the release."""
    assignment = ASSIGNMENTS[0]
    sources = sorted((course / "source" / assignment).glob("*.py"))
    planted = sorted(secret_lines(sources), key=len)[-1]
    nb_path = release_notebooks(course, assignment)[0]
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[-1].source += "\n    " + planted
    copy = tmp_path / "release" / nb_path.name
    copy.parent.mkdir()
    nbformat.write(nb, copy)
    (tmp_path / "release" / "notes.txt").write_text("x = 1\n" + planted + "\n")
    found = find_leaks(tmp_path / "release", sources)
    assert sorted(p.name for p, _ in found) == ["notes.txt", nb_path.name]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_release_solution_cell_raises_not_implemented(course, assignment):
    for nb_path in release_notebooks(course, assignment):
        nb = nbformat.read(nb_path, as_version=4)
        namespace = {}
        checked = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if not is_solution(cell):
                if not (cell.metadata.get("nbgrader") or {}).get("grade"):
                    try:
                        exec(compile(cell.source, "setup", "exec"), namespace)
                    except Exception:  # noqa: BLE001 - visible tests fail on the blank release
                        pass
                continue
            exec(compile(cell.source, grade_id(cell), "exec"), namespace)
            functions = [n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)]
            assert functions, f"{grade_id(cell)} defines no function"
            for fn in functions:
                n_args = len(fn.args.args) - len(fn.args.defaults)
                with pytest.raises(NotImplementedError):
                    namespace[fn.name](*[None] * n_args)
                checked += 1
        assert checked > 0


def test_release_has_stable_cell_ids(course):
    """Ids come from grade_id or position, never from jupytext's random ids."""
    for assignment in ASSIGNMENTS:
        for nb_path in release_notebooks(course, assignment):
            for cell in nbformat.read(nb_path, as_version=4).cells:
                expected = grade_id(cell) or f"{cell.cell_type}-\\d{{3}}"
                assert re.fullmatch(expected, cell.id), (nb_path.name, cell.id)


# --- the full cycle ----------------------------------------------------------

@pytest.fixture(scope="session")
def graded_class(course, tmp_path_factory):
    """An LMS zip with the instructor solution, a blank release, a corrupt file and
    a misnamed one, through make collect / grade / feedback / export."""
    assignment = "spatial"
    c = Course(course, assignment)
    download = tmp_path_factory.mktemp("lms") / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for name, nb in instructor_submission(c).items():
            zf.writestr(f"solver_{name}.ipynb", nbformat.writes(nb))
        for nb_path in release_notebooks(course, assignment):
            zf.writestr("blank.ipynb", nb_path.read_text())
        zf.writestr("broken.ipynb", '{"cells": [')
        zf.writestr("Jane Doe.ipynb", "{}")
        zf.writestr("x" * 129 + ".ipynb", "{}")
        # would be student "README.md": submitted/README.md is the file that explains the folder
        for nb_path in release_notebooks(course, assignment):
            zf.writestr("README.md.ipynb", nb_path.read_text())
    out = {"collect": make(course, "collect", f"FROM={download}")}
    for step in ("grade", "feedback", "export", "report"):
        out[step] = make(course, step)
    return course, out


def test_collect_files_each_student_and_names_what_it_skipped(graded_class):
    course, out = graded_class
    text = out["collect"].stdout
    submitted = course / "submitted"
    # folders only (submitted/README.md explains the folder), and not the course's own
    # dot folders (submitted/.grading/, .history/)
    assert sorted(p.name for p in submitted.iterdir()
                  if p.is_dir() and not p.name.startswith(".")) == ["blank", "broken", "solver"]
    assert (submitted / "solver" / "spatial" / "spatial.ipynb").is_file()
    assert "not collected: Jane Doe.ipynb" in text
    assert "the student id is longer than 128 characters" in text
    assert "not collected: README.md.ipynb" in text
    assert (submitted / "README.md").read_bytes() == (REPO / "submitted" / "README.md").read_bytes()


def test_grade_scores_solution_full_and_blank_zero(graded_class):
    course, out = graded_class
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        solver = gb.find_submission("spatial", "solver")
        blank = gb.find_submission("spatial", "blank")
        assert solver.max_score > 0
        assert solver.score == solver.max_score, [(g.name, g.score, g.max_score) for n in solver.notebooks for g in n.grades]
        assert blank.score == 0
        assert sorted(s.id for s in gb.students) == ["blank", "solver"]  # parallel: any order
    summary = out["grade"].stdout
    assert "2 graded submission(s), 1 problem(s)" in summary
    assert re.search(r"problem: broken: spatial.ipynb is not a valid notebook", summary)
    assert "Traceback" not in out["grade"].stdout + out["grade"].stderr


def test_feedback_html_and_grades_csv(graded_class):
    course, _ = graded_class
    for student in ("solver", "blank"):
        pages = list((course / "feedback" / student / "spatial").glob("*.html"))
        assert pages and "<html" in pages[0].read_text().lower()
        html = pages[0].read_text()
        # the verdicts are there, the hidden code (reference, inputs, seeds) is not
        assert ("conv2d_forward: 20 of 20 points" if student == "solver"
                else "not implemented yet") in html
        for secret in ("BEGIN HIDDEN TESTS", "grader module", "coursetools.checks.loader",
                       "ref_conv2d_forward", "conv_inputs", "TRAIN_SEED"):
            assert secret not in html, f"feedback of {student} shows hidden code: {secret!r}"
    rows = {r["student_id"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    assert set(rows) == {"solver", "blank", "broken"}
    assert float(rows["solver"]["score"]) == float(rows["solver"]["max_score"]) > 0
    assert float(rows["blank"]["score"]) == 0.0
    # the corrupt submission is listed as such, never as a 0 (issue 13)
    assert rows["broken"]["score"] == "" and rows["broken"]["status"].startswith(
        "could not be graded: spatial.ipynb is not a valid notebook")


def test_report_names_the_hardest_checks_and_the_failed_submission(graded_class):
    course, out = graded_class
    folder = course / "reports" / "class-spatial"
    assert "reports/class-spatial/report.md" in out["report"].stdout
    md = (folder / "report.md").read_text()
    assert "2 graded submission(s), max score 160 points" in md, md[:300]
    # solver passes everything, blank nothing: every check has a 50 % pass rate
    rows = re.findall(r"^\| (\w+_hidden) \| test \| \d+ \| 2 \| 1 \| 0 \| 1 \| 50.0 % \|", md, re.M)
    assert len(rows) == 12, md
    assert re.search(r"broken.*not a valid notebook", md), md
    html = (folder / "report.html").read_text()
    assert "<img" in html and "pass-rates.png" in html
    for png in ("pass-rates.png", "score-distribution.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG", png


def test_student_data_is_git_ignored(graded_class):
    course, _ = graded_class
    assert git(course, "status", "--porcelain") == "", "grading left files git would commit"
    for path in ("submitted/solver", "autograded/solver", "feedback/solver", "gradebook.db",
                 "grades.csv", "reports/class-spatial"):
        assert (course / path).exists(), path
        assert git(course, "check-ignore", path).strip() == path
    # the student-data folders themselves stay in the repository with the README that explains them
    for area in ("submitted", "autograded", "feedback"):
        assert git(course, "ls-files", area).split() == [f"{area}/README.md"], area
        folder_named_readme = f"{area}/README.md/spatial/x.ipynb"
        ignored = subprocess.run(["git", "check-ignore", "--no-index", folder_named_readme], cwd=course,
                                 capture_output=True)
        assert ignored.returncode == 0, f"a student folder named {area}/README.md/ would not be ignored"


def test_clean_and_distclean_keep_the_folder_readmes(tmp_path):
    """make clean empties autograded/ and feedback/, make distclean also submitted/ and the
    gradebook; the README.md that explains each folder (tracked) stays."""
    from conftest import copy_course

    root = copy_course(tmp_path / "course")
    for area in ("submitted", "autograded", "feedback"):
        (root / area / "alice" / "spatial").mkdir(parents=True)
        (root / area / "alice" / "spatial" / "spatial.ipynb").write_text("{}")
        (root / area / ".stray").write_text("x")
    (root / "grades.csv").write_text("x")
    (root / "gradebook.db").write_text("x")

    def run(target, answer=""):
        # VENV inside the copy: distclean deletes it, never the environment running the tests
        return subprocess.run(["make", "-s", target, f"VENV={root / '.venv'}"], cwd=root, input=answer,
                              capture_output=True, text=True)

    out = run("clean")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (root / "autograded").iterdir()) == ["README.md"]
    assert sorted(p.name for p in (root / "feedback").iterdir()) == ["README.md"]
    assert (root / "submitted" / "alice" / "spatial" / "spatial.ipynb").is_file(), "clean deleted a submission"
    assert (root / "gradebook.db").is_file() and not (root / "grades.csv").exists()

    out = run("distclean", answer="n\n")
    assert out.returncode != 0 and (root / "submitted" / "alice").is_dir(), "distclean did not ask first"
    out = run("distclean", answer="y\n")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["README.md"]
    assert not (root / "gradebook.db").exists()
    assert git(root, "status", "--porcelain") == "", "a folder README was deleted or changed"


def test_validate_passes(course):
    out = make(course, "validate")
    assert "validate spatial: OK" in out.stdout


# --- bad input: one clear line, no traceback ------------------------------------

@pytest.mark.parametrize("args, message", [
    (("release", "ASSIGNMENT=nope"), "error: unknown assignment 'nope'"),
    (("grade", "ASSIGNMENT=nope"), "error: unknown assignment 'nope'"),
    (("collect",), "error: nothing to collect: no nbgrader exchange at"),
    (("collect", "FROM=/does/not/exist"), "error: nothing to collect: /does/not/exist does not exist"),
])
def test_bad_input_gives_one_clear_line(course, args, message):
    out = make(course, *args, check=False)
    assert out.returncode != 0
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_grade_without_submissions_says_so(tmp_path):
    from conftest import copy_course

    root = copy_course(tmp_path / "empty")
    out = make(root, "grade", check=False)
    assert out.returncode != 0
    assert "error: no submissions of 'spatial' in submitted/" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_help_lists_every_target_on_one_line():
    text = (REPO / "Makefile").read_text()
    targets = re.findall(r"^([a-z]+):", text, flags=re.M)
    out = make(REPO, "help").stdout
    listed = re.findall(r"^  ([a-z]+)\s+\S", out, flags=re.M)
    for target in ("release", "validate", "collect", "grade", "feedback", "export", "demo", "lab", "test", "clean"):
        assert target in targets and target in listed, target


def test_lab_uses_a_scratch_copy(course):
    out = make(course, "lab", "DRY_RUN=1")
    scratch = course / "lab" / "spatial"
    assert "--notebook-dir=" + str(scratch) in out.stdout
    assert sorted(p.name for p in scratch.iterdir()) == sorted(
        p.name for p in (course / "release" / "spatial").iterdir())
    assert git(course, "status", "--porcelain") == ""


def test_demo_prints_a_grade_table(course):
    out = make(course, "demo")
    text = out.stdout
    for student in ("alice", "bob", "carol", "dave"):
        assert re.search(rf"^\s+{student}\s+[\d.]+ / \d+", text, flags=re.M), text
    assert "problem: eve" in text
    assert (course / "demo" / "grades.csv").is_file()
    if (course / "gradebook.db").exists():  # the demo class never enters the course's gradebook
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            assert "alice" not in [s.id for s in gb.students]


def test_env_refuses_to_replace_a_folder_that_is_not_a_venv(tmp_path):
    """VENV= pointing at anything but a virtual environment is never deleted."""
    precious = tmp_path / "not-a-venv"
    precious.mkdir()
    (precious / "keep.txt").write_text("data")
    proc = subprocess.run(["make", "-s", "env", f"VENV={precious}"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "is not a virtual environment; refusing to replace it" in proc.stderr
    assert (precious / "keep.txt").read_text() == "data"
