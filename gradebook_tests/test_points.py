"""Points live in one place (cell metadata); make release writes every table and mention.

Changing one hidden cell's points on its `# %%` line and running `make release` must change
the notebook's intro table, the section heading, the hidden cell's comment, the assignment's
doc table and the gradebook; nothing else needs editing.
"""

import re

import nbformat

from conftest import copy_course, make
from coursetools.course import Course
from coursetools.notebooks import grade_id
from coursetools.points import graded_cells


def released_text(root):
    nb = nbformat.read(root / "release" / "spatial" / "spatial.ipynb", as_version=4)
    return nb, "\n".join(c.source for c in nb.cells)


def test_changing_points_in_metadata_updates_every_table(tmp_path):
    root = copy_course(tmp_path / "course")
    make(root, "release")
    _, before = released_text(root)
    assert "## 1. Convolution: forward pass (20 points)" in before
    assert "| `conv2d_forward` | 20 | 8: core cases" in before
    assert "**Points (160 in total)**" in before

    src = root / "source" / "spatial" / "spatial.py"
    text = src.read_text()
    line = next(ln for ln in text.splitlines() if '"grade_id": "conv2d_forward_hidden"' in ln)
    src.write_text(text.replace(line, line.replace('"points": 20', '"points": 30')))
    make(root, "release")

    nb, after = released_text(root)
    assert "## 1. Convolution: forward pass (30 points)" in after
    assert "# Hidden tests for conv2d_forward (30 points)" in after
    assert "| `conv2d_forward` | 30 | 12: core cases" in after            # 8/20 of 30
    assert "**Points (170 in total)**" in after and "| **total** | **170** |" in after
    doc = (root / "docs" / "assignment-spatial.md").read_text()
    assert "| `conv2d_forward` | 30 | 12: core cases" in doc and "| **total** | **170** |" in doc
    built = nbformat.read(root / "build" / "source" / "spatial" / "spatial.ipynb", as_version=4)
    hidden = next(c for c in built.cells if grade_id(c) == "conv2d_forward_hidden")
    assert "# Hidden tests for conv2d_forward (30 points)" in hidden.source
    with Course(root, "spatial").gradebook() as gb:
        assert float(gb.find_assignment("spatial").max_score) == 170


def test_committed_tables_match_the_metadata(course):
    """The committed doc and release were made from the metadata as it is now."""
    built = nbformat.read(course / "build" / "source" / "spatial" / "spatial.ipynb", as_version=4)
    total = sum(points for _, points, _, _ in graded_cells(built))
    doc = (course / "docs" / "assignment-spatial.md").read_text()
    assert f"| **total** | **{total:g}** |" in doc
    for gid, points, _, function in graded_cells(built):
        assert re.search(rf"\| `{function}` \| {points:g} \|", doc), gid
    _, released = released_text(course)
    assert "{points" not in released and "{total_points}" not in released
    assert "<!-- points table -->" not in released
