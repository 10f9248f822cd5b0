"""The mutation suite: every buggy submission loses exactly the cells declared for it.

All mutants, the instructor solution and the blank release are graded in ONE batch by
real `nbgrader autograde`; the assertions read the scores from the gradebook.
"""

import nbformat
import pytest

from coursetools.course import Course
from coursetools.notebooks import cell_text, grade_id, solution_body
from mutants import CATALOG_ROWS, FUNCTIONS, MUTANTS
from mutation_report import REPORT, grade_batch, render


@pytest.fixture(scope="module")
def batch(course):
    return grade_batch(Course(course, "spatial"))


def test_there_are_at_least_30_mutants_covering_every_catalog_row():
    assert len(MUTANTS) >= 30
    assert len({m.key for m in MUTANTS}) == len(MUTANTS), "mutant keys must be unique"
    missing = CATALOG_ROWS - {m.row for m in MUTANTS}
    assert not missing, f"catalog rows without a mutant: {sorted(missing, key=int)}"
    assert {m.function for m in MUTANTS} == set(FUNCTIONS)


def test_every_mutant_really_changes_the_solution(course):
    """An edit that does not apply would make a mutant identical to the solution."""
    source = nbformat.read(course / "build" / "source" / "spatial" / "spatial.ipynb", as_version=4)
    answers = {grade_id(c): solution_body(cell_text(c)) for c in source.cells if grade_id(c) in FUNCTIONS}
    assert set(answers) == set(FUNCTIONS)
    for m in MUTANTS:
        assert m.apply(answers[m.function]) != answers[m.function], m.key


def test_instructor_full_marks_and_blank_zero_in_the_same_batch(batch):
    assert batch["instructor"].failed() == []
    assert batch["instructor"].score == batch["instructor"].max_score == 160
    assert batch["blank"].score == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.key for m in MUTANTS])
def test_mutant_loses_exactly_its_cells(batch, mutant):
    result = batch[mutant.key]
    lost = result.failed()
    assert lost == mutant.must_fail, (
        f"{mutant.description} (row {mutant.row}) lost {lost or 'nothing'}, "
        f"declared {mutant.must_fail}")
    for cell in result.cells:  # every other cell keeps all of its points
        if cell.name not in mutant.must_fail:
            assert cell.score == cell.max_score, cell.name
    if mutant.lost is not None:  # partial credit: only the groups it breaks
        assert result.max_score - result.score == mutant.lost


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.key for m in MUTANTS])
def test_every_verdict_is_short(batch, mutant):
    """No graded cell's feedback exceeds ~2,000 characters, however many cases fail."""
    for nb in batch[mutant.key].autograded.values():
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                text = "".join(o.get("text", "") or o.get("evalue", "") for o in cell.get("outputs", []))
                assert len(text) <= 2100, (cell.metadata["nbgrader"]["grade_id"], len(text))


def test_committed_report_is_up_to_date(batch):
    assert REPORT.read_text(encoding="utf-8") == render(batch), (
        "reports/mutation-report.md is stale: run `make mutants` and commit it")
