"""The `spatial` assignment (both parts) graded through real `nbgrader autograde`.

One batch in a scratch course: the instructor solution, the same solution again
(regrading gives the same grade), a fully looped naive student, the blank release,
and a student whose forward passes are right but whose backward passes are wrong.
"""

from pathlib import Path

import nbformat
import pytest

from coursetools import scratch
from coursetools.course import Course
from coursetools.notebooks import fill_solutions
from coursetools.points import graded_cells
from coursetools.release import blank_submission, instructor_submission
from naive_answers import ANSWERS

def build_points(course):
    """{graded cell: points} as the built notebook's metadata says (the one source of points)."""
    built = nbformat.read(Path(course) / "build" / "source" / "spatial" / "spatial.ipynb", as_version=4)
    return {gid: points for gid, points, _, _ in graded_cells(built)}


WRONG_BACKWARD = {
    "conv2d_backward": "def conv2d_backward(dout, cache):\n"
                       "    x, w, b = cache[0], cache[1], cache[2]\n"
                       "    return np.zeros(x.shape), np.zeros(w.shape), np.zeros(b.shape)\n",
    "maxpool2d_backward": "def maxpool2d_backward(dout, cache):\n"
                          "    raise ValueError('not done yet')\n",
}


# torch's rule for integer inputs (shared/notes/semantics.md): exact integer results are as
# right as float ones; a gradient buffer of x's integer dtype truncates and is wrong
TORCH_DTYPES = {
    "conv2d_forward": ("out = np.zeros((N, F, Ho, Wo))",
                       "out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w, b))"),
    "maxpool2d_forward": ("out = np.zeros((N, C, Ho, Wo))", "out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)"),
}
TRUNCATING = {"maxpool2d_backward": ("dx = np.zeros((N, C, H, W))", "dx = np.zeros_like(x)")}


def edited(course, edits):
    """The instructor solution with exact text edits {cell: (old, new)}."""
    def edit(gid, code):
        if gid not in edits:
            return code
        old, new = edits[gid]
        assert code.count(old) == 1, (gid, old)
        return code.replace(old, new)
    return answered(course, {}, edit)


def answered(course, answers, edit=None):
    """The release answered with the instructor solution, some cells replaced by ``answers``."""
    out = {}
    for name in course.release_notebooks():
        released = nbformat.read(course.release_dir / f"{name}.ipynb", as_version=4)
        source = nbformat.read(course.build_dir / f"{name}.ipynb", as_version=4)
        out[name] = fill_solutions(released, source, lambda gid, code: (
            edit(gid, code) if edit else answers.get(gid, code)))
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
        "torch-dtypes": edited(c, TORCH_DTYPES),
        "truncating-gradient": edited(c, TRUNCATING),
    })


def test_gradebook_points_are_the_metadata_points(batch, course):
    cells = {c.name: c.max_score for c in batch["instructor"].cells if c.max_score > 0}
    assert cells == build_points(course)


def test_instructor_solution_earns_full_marks(batch, course):
    result = batch["instructor"]
    assert result.failed() == [], _why(result)
    assert result.score == result.max_score == sum(build_points(course).values())


def test_regrading_gives_the_same_grade(batch):
    first, again = batch["instructor"], batch["instructor-again"]
    assert [(c.name, c.score) for c in first.cells] == [(c.name, c.score) for c in again.cells]


def test_naive_loop_solution_earns_full_marks(batch):
    result = batch["naive-loops"]
    assert result.failed() == [], _why(result)


def test_blank_release_earns_nothing(batch, course):
    result = batch["blank"]
    assert result.score == 0
    assert result.failed() == sorted(build_points(course))


def test_right_forward_wrong_backward_keeps_forward_points(batch, course):
    result = batch["wrong-backward"]
    assert result.failed() == ["conv2d_backward_hidden", "maxpool2d_backward_hidden"], _why(result)
    points = build_points(course)
    assert result.score == sum(points.values()) - points["conv2d_backward_hidden"] - \
        points["maxpool2d_backward_hidden"]


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


def test_integer_results_with_exact_values_keep_full_marks(batch):
    result = batch["torch-dtypes"]
    assert result.failed() == [], _why(result)


def test_a_truncating_gradient_loses_points_in_its_cell_only(batch):
    result = batch["truncating-gradient"]
    assert result.failed() == ["maxpool2d_backward_hidden"], _why(result)
    cell = result.cell("maxpool2d_backward_hidden")
    assert 0 < cell.score < cell.max_score          # integer inputs and ties lost, the rest kept
