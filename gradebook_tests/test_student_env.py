"""The student's side: the released notebook runs anywhere its requirements file is installed.

* a fresh venv built from release/<a>/requirements-student.txt ALONE runs the released
  notebook answered with the instructor solution top to bottom (plain nbclient, as Jupyter
  would): no error, every visible test passes, the environment check finds its packages;
* the blank release gives one friendly line per visible test instead of a traceback, and the
  report cell says what to run first;
* the environment check names each missing package with the install command.
"""

import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import conftest
from coursetools.course import Course
from coursetools.notebooks import grade_id
from coursetools.release import blank_submission, instructor_submission
from coursetools.trialrun import run_notebook

NOT_YET = re.compile(r"^(\w+) is not implemented yet \(delete the raise line and write your code\)$")


def outputs(cell):
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    return text, errors


@pytest.fixture(scope="module")
def student_venv(tmp_path_factory, course):
    """A venv made from requirements-student.txt and nothing else."""
    venv = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", str(venv)], check=True)
    req = course / "release" / "spatial" / "requirements-student.txt"
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", "-r", str(req)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def run_released(course, nb, python, tmp_path):
    folder = tmp_path / "spatial"
    shutil.copytree(course / "release" / "spatial", folder)
    return run_notebook(nb, folder, python, timeout=300)


def test_requirements_file_is_handed_out_pinned_and_minimal(course):
    req = course / "release" / "spatial" / "requirements-student.txt"
    names = {}
    for line in req.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned"
            names[name.lower()] = version
    assert set(names) == {"numpy", "matplotlib", "ipykernel"}, names


def test_instructor_solution_runs_in_a_fresh_student_venv(course, student_venv, tmp_path):
    nb = instructor_submission(Course(course, "spatial"))["spatial"]
    nb = run_released(course, nb, student_venv / "bin" / "python", tmp_path)
    visible = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text, errors = outputs(cell)
        assert not errors, f"{grade_id(cell)}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        if str(grade_id(cell)).endswith("_visible"):
            visible += 1
            assert "visible tests passed" in text, (grade_id(cell), text)
            assert "not implemented" not in text
        if grade_id(cell) == "check_environment":
            assert "found numpy 2." in text and "found matplotlib 3." in text and "missing" not in text
        if grade_id(cell) == "cnn_report":
            assert "held-out test accuracy" in text, text
    assert visible >= 12


def test_blank_release_gives_one_friendly_line_per_visible_test(course, tmp_path):
    nb = blank_submission(Course(course, "spatial"))["spatial"]
    nb = run_released(course, nb, conftest.KERNEL_VENV / "bin" / "python", tmp_path)
    answers = [re.search(r"def (\w+)\(", c.source).group(1) for c in nb.cells
               if (c.metadata.get("nbgrader") or {}).get("solution")]
    seen = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text, errors = outputs(cell)
        gid = str(grade_id(cell))
        if gid.endswith("_visible"):
            seen += 1
            assert not errors, f"{gid}: a traceback instead of a friendly line: {errors[0].get('ename')}"
            lines = [ln for ln in text.splitlines() if ln.strip()]
            assert len(lines) == 1 and NOT_YET.match(lines[0]), (gid, text)
            named = NOT_YET.match(lines[0]).group(1)      # the first unwritten function it calls
            assert named in answers, (gid, text)
            assert named == gid[:-len("_visible")] or answers.index(named) < answers.index(
                gid[:-len("_visible")]), (gid, text)
        if gid == "cnn_report":
            assert not errors and "No trained network yet" in text and "train_cnn" in text, text
    assert seen >= 12


def test_environment_check_names_each_missing_package(course, tmp_path):
    nb = nbformat.read(course / "release" / "spatial" / "spatial.ipynb", as_version=4)
    code = next(c.source for c in nb.cells if grade_id(c) == "check_environment")
    bare = tmp_path / "bare"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(bare)], check=True)
    out = subprocess.run([str(bare / "bin" / "python"), "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    for line, package in zip(lines, ("numpy", "matplotlib")):
        assert line.startswith(f"missing package {package}: install it with  %pip install -r "
                               "requirements-student.txt"), line
