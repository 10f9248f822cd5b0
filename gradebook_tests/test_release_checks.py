"""The release cannot ship a broken notebook, and is not rebuilt when nothing changed.

* `make release` compiles every code cell of the source (solutions and hidden tests included)
  and of the release, refuses cell magics in other languages, and names file, cell and line;
* `make validate` runs the RELEASED notebook answered with the instructor solution and names
  the failing cell, the exception and the solution's line;
* every target but `release` rebuilds the release only when its inputs changed (content
  hashes: a new mtime alone does not count).
"""

import os
import re
import shutil
import time

import pytest

from conftest import REPO, copy_course, make
from coursetools.cellcheck import check_cell, check_notebook

SOURCE = "source/spatial/spatial.py"


def edit_source(root, old, new, count=1):
    path = root / SOURCE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


@pytest.fixture
def fresh(tmp_path, course):
    """A course copy with the release already built (copied from the session's course)."""
    root = copy_course(tmp_path / "course")
    shutil.copytree(course / "build", root / "build")
    shutil.copy2(course / "gradebook.db", root / "gradebook.db")
    return root


@pytest.mark.parametrize("code,line,what", [
    ("x = 1\ny = (\n", 2, "SyntaxError"),
    ("def f():\nreturn 1\n", 2, "IndentationError"),
    ("%%bash\necho hi\n", 1, "cell magic %%bash"),
    ("%%html\n<b>x</b>\n", 1, "cell magic %%html"),
    ("%%time\nx = = 1\n", 2, "SyntaxError"),
])
def test_check_cell_names_the_line(code, line, what):
    found = check_cell(code)
    assert found is not None and found[0] == line and what in found[1], found


@pytest.mark.parametrize("code", ["%matplotlib inline\nimport numpy as np\n", "!ls\nx = 1\n",
                                  "%%time\nx = 1\n", "x = np.zeros(3)\nx?\n", "def f():\n    return 1\n"])
def test_check_cell_accepts_ipython_that_is_python(code):
    assert check_cell(code) is None


def test_a_graded_cell_with_two_check_calls_is_refused():
    """The grader scores a cell by its first check call: a second one would never count."""
    import nbformat.v4 as v4

    def graded(code, gid):
        cell = v4.new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                     "grade_id": gid, "points": 10, "schema_version": 3}
        return cell
    nb = v4.new_notebook(cells=[
        graded("_grader.check_im2col(im2col)\n", "one"),
        graded("_grader.check_im2col(im2col)\n_grader.check_col2im(col2im)\n", "two")])
    problems = check_notebook(nb, "spatial.ipynb")
    assert [(p.cell, p.line) for p in problems] == [("two", 2)]
    assert "2 hidden check calls; only the first is scored" in problems[0].message


def test_release_refuses_a_syntax_error_in_a_locked_visible_test(fresh):
    edit_source(fresh, 'print("conv2d_forward: visible tests passed")',
                'print("conv2d_forward: visible tests passed"')
    out = make(fresh, "release", check=False)
    assert out.returncode != 0
    err = out.stderr
    line_no = next(i for i, ln in enumerate((fresh / SOURCE).read_text().splitlines(), 1)
                   if 'print("conv2d_forward: visible tests passed"' in ln)
    assert re.search(rf"{SOURCE}:\d+: cell conv2d_forward_visible, line \d+: SyntaxError", err), err
    assert f"{SOURCE}:{line_no}:" in err or f"{SOURCE}:{line_no + 1}:" in err, (line_no, err)
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not (fresh / "build" / "release-spatial.sha256").exists()


def test_release_refuses_a_syntax_error_in_a_hidden_test_and_a_shell_cell_magic(fresh):
    edit_source(fresh, "_grader.check_conv2d_forward(conv2d_forward)",
                "_grader.check_conv2d_forward(conv2d_forward))")
    edit_source(fresh, "# Shape: 8x8 input, 3x3 kernel", "# %%bash\n# Shape: 8x8 input, 3x3 kernel")
    out = make(fresh, "release", check=False)
    assert out.returncode != 0
    assert "cell conv2d_forward_hidden" in out.stderr and "SyntaxError" in out.stderr, out.stderr


def test_validate_reports_a_broken_solution_with_its_exception_and_line(fresh):
    edit_source(fresh, "    out = np.zeros((N, F, Ho, Wo))\n    for i in range(Ho):",
                "    out = np.zeros((N, F, Ho, Wo))\n    out = out[:, :, :, :1]\n    for i in range(Ho):")
    make(fresh, "release")
    out = make(fresh, "validate", check=False)
    assert out.returncode != 0
    err = out.stderr
    assert "fails with the instructor solution" in err, err
    assert "conv2d_forward_visible: IndexError" in err, err
    assert re.search(r"raised in cell conv2d_forward, line \d+: `out\[:, f, i, j\] = ", err), err
    assert "Traceback" not in err


def test_other_targets_do_not_rebuild_an_unchanged_release(fresh):
    def current():
        started = time.monotonic()
        out = make(fresh, "release-current")
        return "jupytext:" in out.stdout, time.monotonic() - started

    make(fresh, "release")
    rebuilt, seconds = current()
    assert not rebuilt
    os.utime(fresh / SOURCE)                      # new mtime, same content (a git checkout)
    os.utime(fresh / "nbgrader_config.py")
    assert current()[0] is False
    for change in (lambda: edit_source(fresh, "# # CNN spatial operations", "# # CNN spatial operations "),
                   lambda: (fresh / "nbgrader_config.py").write_text(
                       (fresh / "nbgrader_config.py").read_text() + "\n# changed\n"),
                   lambda: (fresh / "source" / "spatial" / "grader").mkdir(exist_ok=True) or
                   (fresh / "source" / "spatial" / "grader" / "extra.py").write_text("X = 1\n"),
                   lambda: (fresh / "coursetools" / "checks" / "record.py").write_text(
                       (fresh / "coursetools" / "checks" / "record.py").read_text() + "\n"),
                   lambda: (fresh / "coursetools" / "notebooks.py").write_text(
                       (fresh / "coursetools" / "notebooks.py").read_text() + "\n"),
                   lambda: shutil.rmtree(fresh / "release" / "spatial")):
        change()
        assert current()[0] is True, "a changed input must rebuild the release"
        assert current()[0] is False, "and only once"


def test_every_target_but_release_uses_the_incremental_release():
    makefile = (REPO / "Makefile").read_text()
    for target, prereqs in re.findall(r"^([a-z-]+):([^=\n#]*)", makefile, re.M):
        if target != "release":
            assert not re.search(r"(^|\s)release(\s|$)", prereqs), f"{target} rebuilds the release"


def test_make_grade_checks_the_release_itself(fresh):
    """`make grade` does not depend on release-current (one Python start less) but runs the
    same check first: a changed source is released before anything is graded."""
    makefile = (REPO / "Makefile").read_text()
    assert not re.search(r"^grade:[^\n]*release-current", makefile, re.M)
    make(fresh, "release")
    edit_source(fresh, "# # CNN spatial operations", "# # CNN spatial operations ")
    out = make(fresh, "grade", check=False)
    assert "building the release again" in out.stdout, out.stdout
    assert out.returncode != 0 and "error: no submissions of 'spatial'" in out.stderr, out.stderr
    assert "jupytext:" not in make(fresh, "release-current").stdout   # it is current now
