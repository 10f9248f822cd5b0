"""The `spatial` assignment (both parts) graded through real `nbgrader autograde`.

One batch in a scratch course: the instructor solution, the same solution again
(regrading gives the same grade), a fully looped naive student, the blank release,
and a student whose forward passes are right but whose backward passes are wrong.
"""

import re

import nbformat
import pytest

from conftest import REPO
from coursetools import scratch
from coursetools.course import Course
from coursetools.notebooks import fill_solutions
from coursetools.release import blank_submission, instructor_submission
from naive_answers import ANSWERS

POINTS = {
    "conv2d_forward_hidden": 20, "conv2d_backward_hidden": 25,
    "maxpool2d_forward_hidden": 15, "maxpool2d_backward_hidden": 20,
    "flatten_forward_hidden": 10, "flatten_backward_hidden": 10,
    "im2col_hidden": 10, "col2im_hidden": 10,
    "conv2d_forward_fast_hidden": 10, "conv2d_backward_fast_hidden": 10,
    "cnn_gradient_hidden": 10, "cnn_accuracy_hidden": 10,
}
TOTAL = 160
DOC_NAMES = {"cnn_gradient_hidden": "cnn_loss", "cnn_accuracy_hidden": "train_cnn"}
WRONG_BACKWARD = {
    "conv2d_backward": "def conv2d_backward(dout, cache):\n"
                       "    x, w, b = cache[0], cache[1], cache[2]\n"
                       "    return np.zeros(x.shape), np.zeros(w.shape), np.zeros(b.shape)\n",
    "maxpool2d_backward": "def maxpool2d_backward(dout, cache):\n"
                          "    raise ValueError('not done yet')\n",
}


def answered(course, answers):
    """The release answered with the instructor solution, some cells replaced by ``answers``."""
    out = {}
    for name in course.release_notebooks():
        released = nbformat.read(course.release_dir / f"{name}.ipynb", as_version=4)
        source = nbformat.read(course.build_dir / f"{name}.ipynb", as_version=4)
        out[name] = fill_solutions(released, source, lambda gid, code: answers.get(gid, code))
    return out


@pytest.fixture(scope="module")
def batch(course):
    c = Course(course, "spatial")
    # The instructor solution's cache is opaque: the wrong backward reads x, w, b from
    # the naive cache layout, so pair it with the naive forward.
    wrong_backward = dict(WRONG_BACKWARD, conv2d_forward=ANSWERS["conv2d_forward"])
    return scratch.grade(c, {
        "instructor": instructor_submission(c),
        "instructor-again": instructor_submission(c),
        "naive-loops": answered(c, ANSWERS),
        "blank": blank_submission(c),
        "wrong-backward": answered(c, wrong_backward),
    })


def test_point_split_is_the_documented_one(batch):
    cells = {c.name: c.max_score for c in batch["instructor"].cells if c.max_score > 0}
    assert cells == POINTS
    assert sum(POINTS.values()) == TOTAL
    doc = (REPO / "docs" / "assignment-spatial.md").read_text()
    for name, points in POINTS.items():
        fn = DOC_NAMES.get(name, name.removesuffix("_hidden"))
        assert re.search(rf"\| `{fn}`[^|]*\| {points} \|", doc), name


def test_instructor_solution_earns_full_marks(batch):
    result = batch["instructor"]
    assert result.failed() == [], _why(result)
    assert result.score == result.max_score == TOTAL


def test_regrading_gives_the_same_grade(batch):
    first, again = batch["instructor"], batch["instructor-again"]
    assert [(c.name, c.score) for c in first.cells] == [(c.name, c.score) for c in again.cells]


def test_naive_loop_solution_earns_full_marks(batch):
    result = batch["naive-loops"]
    assert result.failed() == [], _why(result)


def test_blank_release_earns_nothing(batch):
    result = batch["blank"]
    assert result.score == 0
    assert result.failed() == sorted(POINTS)


def test_right_forward_wrong_backward_keeps_forward_points(batch):
    result = batch["wrong-backward"]
    assert result.failed() == ["conv2d_backward_hidden", "maxpool2d_backward_hidden"], _why(result)
    assert result.score == TOTAL - 25 - 20


def _why(result):
    """The error output of every failed graded cell, for a readable assertion message."""
    lines = []
    for nb in result.autograded.values():
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    lines.append(f"{gid}: {out['ename']}: {out['evalue'][:300]}")
    return "\n".join(lines)
