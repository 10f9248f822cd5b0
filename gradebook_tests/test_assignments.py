"""Every assignment of the course, and a second one dropped in, work with no test code changed.

The fixture assignment `tiny` (gradebook_tests/fixtures/tiny/: a notebook source and its
grader/ modules, nothing else) is copied into a copy of the course as source/tiny/; then the
instructor's targets run on it unchanged: release (leak-free, points table), validate
(instructor solution full marks, blank release 0), demo (a class through collect, grade,
feedback, export). The same generic checks run on every assignment found in source/.
"""

import re
import shutil

import nbformat
import pytest

from conftest import FIXTURES, REPO, copy_course, make
from coursetools.points import graded_cells

ASSIGNMENTS = sorted(p.parent.name for p in (REPO / "source").glob("*/*.py")
                     if p.parent.parent.name == "source")


@pytest.fixture(scope="module")
def with_tiny(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("two") / "course")
    shutil.copytree(FIXTURES / "tiny", root / "source" / "tiny")
    return root


def test_a_second_assignment_releases_validates_and_demos_unchanged(with_tiny):
    root = with_tiny
    release = make(root, "release", "ASSIGNMENT=tiny")
    assert "released tiny: release/tiny/tiny.ipynb (4 points)" in release.stdout
    nb = nbformat.read(root / "release" / "tiny" / "tiny.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN HIDDEN TESTS" not in text and "ref_scale" not in text
    assert not (root / "release" / "tiny" / "grader").exists()
    validate = make(root, "validate", "ASSIGNMENT=tiny")
    assert "instructor solution: 4/4; blank release: 0/4" in validate.stdout, validate.stdout
    demo = make(root, "demo", "ASSIGNMENT=tiny")
    assert "dave: the last answer left undone" in demo.stdout
    rows = dict(re.findall(r"^\s+(alice|bob|carol|dave)\s+(\S+) /", demo.stdout, re.M))
    assert rows == {"alice": "4", "bob": "0", "carol": "4", "dave": "0"}, demo.stdout
    assert list((root / "demo" / "feedback").glob("*/tiny/tiny.html"))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_points_and_a_clean_release(course, assignment):
    folder = course / "build" / "source" / assignment
    if not folder.is_dir():
        make(course, "release", f"ASSIGNMENT={assignment}")
    for path in folder.glob("*.ipynb"):
        cells = graded_cells(nbformat.read(path, as_version=4))
        assert cells and all(points > 0 for _, points, _, _ in cells), path
    for path in (course / "release" / assignment).iterdir():
        assert path.suffix != ".py" and path.name != "grader", path
