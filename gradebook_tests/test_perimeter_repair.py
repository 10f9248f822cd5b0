"""RepairCells on the fixture assignment `tiny`: instructor cells come back from the gradebook.

Each case is the released notebook with its instructor cells damaged the way nbgrader's own
restoring cannot handle (it gives up on the whole student); after RepairCells the notebook
has every instructor cell once, in the instructor's order, with the instructor's metadata and
type, and the student's answer is kept.
"""

import copy

import nbformat
import pytest

from coursetools.notebooks import grade_id
from coursetools.perimeter.repair_cells import RepairCells

ANSWER = "def scale(x, k):\n    return x * k  # the student's answer\n"


@pytest.fixture(scope="module")
def released(tiny_course):
    nb = nbformat.read(tiny_course.release_dir / "tiny.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "scale":
            cell.source = ANSWER
    return nb


@pytest.fixture(scope="module")
def layout(tiny_course):
    """[(grade_id, cell_type, nbgrader metadata)] of the instructor's cells, in order."""
    nb = nbformat.read(tiny_course.release_dir / "tiny.ipynb", as_version=4)
    return [(grade_id(c), c.cell_type, c.metadata["nbgrader"]) for c in nb.cells if grade_id(c)]


def repaired(course, nb):
    resources = {"nbgrader": {"db_url": course.db_url(), "assignment": "tiny", "notebook": "tiny"}}
    nb, _ = RepairCells().preprocess(copy.deepcopy(nb), resources)
    return nb


def assert_intact(nb, layout):
    found = [(grade_id(c), c.cell_type) for c in nb.cells if grade_id(c)]
    assert found == [(gid, kind) for gid, kind, _ in layout]
    for cell, (gid, _, meta) in zip([c for c in nb.cells if grade_id(c)], layout):
        mine = {k: v for k, v in cell.metadata["nbgrader"].items() if k != "checksum"}
        assert mine == {k: v for k, v in meta.items() if k not in ("checksum", "cell_type")}, gid
    answer = next(c for c in nb.cells if grade_id(c) == "scale")
    assert answer.source == ANSWER


def cells_named(nb, *names):
    return [c for c in nb.cells if grade_id(c) in names]


def test_deleted_hidden_and_grader_cells_come_back(tiny_course, released, layout):
    nb = copy.deepcopy(released)
    nb.cells = [c for c in nb.cells if grade_id(c) not in ("scale_hidden", "grader_setup",
                                                            "grader_reference")]
    assert_intact(repaired(tiny_course, nb), layout)


def test_duplicated_test_cells_become_plain_cells(tiny_course, released, layout):
    nb = copy.deepcopy(released)
    for cell in cells_named(nb, "scale_hidden", "scale_visible"):
        nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))
    fixed = repaired(tiny_course, nb)
    assert_intact(fixed, layout)
    assert len(fixed.cells) == len(released.cells) + 2   # the copies stay, without metadata


def test_retyped_cells_get_their_type_back(tiny_course, released, layout):
    nb = copy.deepcopy(released)
    for cell in cells_named(nb, "scale_hidden", "grader_setup"):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    assert_intact(repaired(tiny_course, nb), layout)


def test_tampered_metadata_is_the_instructors_again(tiny_course, released, layout):
    nb = copy.deepcopy(released)
    for cell in cells_named(nb, "scale_hidden"):
        cell.metadata["nbgrader"].update(points=1000, locked=False, solution=True)
    assert_intact(repaired(tiny_course, nb), layout)


def test_unknown_nbgrader_ids_are_stripped(tiny_course, released, layout):
    nb = copy.deepcopy(released)
    extra = nbformat.v4.new_code_cell("print('mine')")
    extra.metadata["nbgrader"] = {"grade": True, "grade_id": "free_points", "points": 50,
                                  "locked": True, "solution": False, "schema_version": 3, "task": False}
    nb.cells.append(extra)
    fixed = repaired(tiny_course, nb)
    assert_intact(fixed, layout)
    assert "nbgrader" not in fixed.cells[-1].metadata


@pytest.mark.parametrize("bad", ["oops", ["x"], {"grade_id": ["x"]}, {"grade_id": {"a": 1}}, 5])
def test_metadata_of_the_wrong_type_is_dropped_not_a_crash(tiny_course, released, layout, bad):
    """Found by review: a string, list or unhashable grade_id made RepairCells raise, and
    nbgrader gave up on the whole student."""
    nb = copy.deepcopy(released)
    extra = nbformat.v4.new_code_cell("print('mine')")
    extra.metadata["nbgrader"] = bad
    nb.cells.append(extra)
    fixed = repaired(tiny_course, nb)
    assert_intact(fixed, layout)
    assert "nbgrader" not in fixed.cells[-1].metadata
