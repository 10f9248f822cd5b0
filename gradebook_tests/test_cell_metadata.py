"""CheckCellMetadataOnce accepts and refuses what nbgrader's CheckCellMetadata does.

On the released notebook as it is and with its nbgrader metadata corrupted in every way
nbgrader's validator knows (schema version, JSON-schema types and keys, its own rules:
grade_id, points, markdown grade/solution, task cells, duplicate ids): the same outcome, the
same exception type and message, from the preprocessor and from the validator itself (which
rule fired). And it checks the schema once, not once per cell.
"""

import copy

import jsonschema
import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import CheckCellMetadata

from conftest import REPO
from coursetools import cell_metadata
from coursetools.cell_metadata import CheckCellMetadataOnce


@pytest.fixture(scope="module")
def released():
    return nbformat.read(REPO / "release" / "spatial" / "spatial.ipynb", as_version=4)


def graded(nb, kind):
    """The first cell with nbgrader metadata of this kind (grade, solution, task, ...)."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if kind == "grade" and meta.get("grade") and not meta.get("solution"):
            return cell
        if kind == "solution" and meta.get("solution") and cell.cell_type == "code":
            return cell
        if kind == "locked" and meta.get("locked") and not meta.get("grade"):
            return cell
        if kind == "markdown" and cell.cell_type == "markdown":
            return cell
    raise AssertionError(f"no {kind} cell in the release")


def set_meta(kind, **changes):
    def change(nb):
        meta = graded(nb, kind).metadata.setdefault("nbgrader", {})
        for key, value in changes.items():
            if value is KeyError:
                meta.pop(key, None)
            else:
                meta[key] = value
    return change


def markdown_cell(**meta):
    def change(nb):
        base = {"schema_version": 3, "grade": False, "solution": False, "locked": False,
                "grade_id": "md_extra", "task": False}
        nb.cells.append(nbformat.v4.new_markdown_cell("text", metadata={"nbgrader": {**base, **meta}}))
    return change


def duplicate_id(nb):
    nb.cells.append(copy.deepcopy(graded(nb, "grade")))


CASES = {
    "unchanged": lambda nb: None,
    "schema too old": set_meta("grade", schema_version=1),
    "schema too new": set_meta("grade", schema_version=4),
    "points not a number": set_meta("grade", points="ten"),
    "grade not a bool": set_meta("grade", grade="yes"),
    "grade_id missing": set_meta("grade", grade_id=KeyError),
    "grade_id empty": set_meta("locked", grade_id=""),
    "points missing": set_meta("grade", points=KeyError),
    "extra key": set_meta("solution", extra="x"),
    "locked missing": set_meta("solution", locked=KeyError),
    "markdown grade without solution": markdown_cell(grade=True, points=1),
    "markdown solution without grade": markdown_cell(solution=True),
    "task cell that is code": set_meta("solution", task=True),
    "duplicate grade id": duplicate_id,
}


def outcome(preprocessor, nb):
    try:
        preprocessor.preprocess(copy.deepcopy(nb), {})
        return None
    except Exception as exc:  # noqa: BLE001 - the outcome compared
        return type(exc), str(exc)


class _Validate:
    """The validator itself: its exception says which rule fired (the preprocessor wraps every
    ValidationError in one fixed message)."""

    def __init__(self, validator):
        self.validator = validator

    def preprocess(self, nb, resources):
        self.validator().validate_nb(nb)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_verdict_as_nbgraders(released, case):
    nb = copy.deepcopy(released)
    CASES[case](nb)
    theirs, ours = outcome(CheckCellMetadata(), nb), outcome(CheckCellMetadataOnce(), nb)
    assert ours == theirs
    assert (theirs is None) == (case == "unchanged"), theirs
    rule_theirs = outcome(_Validate(MetadataValidator), nb)
    rule_ours = outcome(_Validate(cell_metadata._Validator), nb)
    assert rule_ours == rule_theirs
    if case != "unchanged":
        assert "Notebook failed to validate" not in rule_theirs[1]


def test_the_schema_is_checked_once_per_process_not_per_cell(released, monkeypatch):
    checked = []
    cls = jsonschema.validators.validator_for({"$schema": "http://json-schema.org/draft-04/schema#"})
    original = cls.check_schema.__func__
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **k: (checked.append(1), original(c, s, **k))[1]))
    cells = sum("nbgrader" in c.metadata for c in released.cells)
    CheckCellMetadata().preprocess(copy.deepcopy(released), {})
    assert len(checked) == cells > 20        # nbgrader's: once per cell
    del checked[:]
    monkeypatch.setattr(cell_metadata, "_VALIDATORS", {})
    for _ in range(3):
        CheckCellMetadataOnce().preprocess(copy.deepcopy(released), {})
    assert len(checked) == 1
