"""Put a submission's nbgrader cells back in shape before nbgrader checks them.

nbgrader's own restoring (``OverwriteCells``, ``add_missing_cells``) gives up on the whole
student in common cases (measured with nbgrader 0.9.6; gradebook_tests/adversarial.py):

* a deleted hidden test cell that follows a locked visible cell: ``KeyError`` (it only looks
  for the previous cell among answer and graded cells);
* a duplicated test cell: ``KeyError: 'grade_id'`` after ``DeduplicateIds`` empties it;
* edited cell metadata (a test cell marked as an answer, unlocked, other points):
  "Inconsistent checksums".

``RepairCells`` runs in autograde's sanitize pass before those, using the gradebook as the
truth: for every cell the instructor wrote (a *source cell*), the first copy in the
submission gets the instructor's nbgrader metadata and cell type back, later copies become
plain cells, and a missing one is inserted after the nearest instructor cell before it. A
solution cell keeps the student's code; a missing one comes back as the release's stub.
``OverwriteCells`` then restores the locked cells' source as usual.
"""

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor


def _source_layout(db_url, assignment, notebook):
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        graded = {c.name: float(c.max_score) for c in nb.grade_cells}
        solutions = {c.name for c in nb.solution_cells}
        tasks = {c.name for c in nb.task_cells}
        # in the instructor's order: the order generate_assignment stored them (as nbgrader's
        # own add_missing_cells assumes)
        cells = [(c.name, c.cell_type, bool(c.locked), c.source) for c in nb.source_cells]
        return cells, graded, solutions, tasks


def _metadata(name, locked, graded, solutions, tasks):
    meta = {"grade": name in graded, "grade_id": name, "locked": locked, "schema_version": 3,
            "solution": name in solutions, "task": name in tasks}
    if name in graded:
        meta["points"] = graded[name]
    return meta


class RepairCells(NbGraderPreprocessor):
    """See the module docstring. Goes in Autograde.sanitize_preprocessors, before DeduplicateIds."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        layout, graded, solutions, tasks = _source_layout(info["db_url"], info["assignment"],
                                                          info["notebook"])
        known = {name: (cell_type, locked) for name, cell_type, locked, _ in layout}
        seen = set()
        for cell in nb.cells:
            if not isinstance(cell.get("metadata"), dict):
                cell["metadata"] = nbformat.NotebookNode()
            meta = cell.metadata.get("nbgrader")
            if not isinstance(meta, dict) or not isinstance(meta.get("grade_id"), str):
                cell.metadata.pop("nbgrader", None)   # absent, tampered or of the wrong type
                continue
            name = meta.get("grade_id")
            if name not in known or name in seen:
                if name in seen:
                    self.log.warning("cell %s appears more than once: later copies are plain cells", name)
                del cell.metadata["nbgrader"]
                continue
            seen.add(name)
            cell_type, locked = known[name]
            if cell.cell_type != cell_type:
                self.log.warning("cell %s was re-typed from %s to %s: restored", name, cell_type, cell.cell_type)
                cell.cell_type = cell_type
                if cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                else:
                    cell.pop("outputs", None)
                    cell.pop("execution_count", None)
            cell.metadata["nbgrader"] = _metadata(name, locked, graded, solutions, tasks)
        # missing cells: after the nearest earlier instructor cell present in the submission
        position = {}
        for i, cell in enumerate(nb.cells):
            name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if name:
                position[name] = i
        previous = None
        for name, cell_type, locked, source in layout:
            if name not in position:
                self.log.warning("cell %s was missing from the submission: added back", name)
                maker = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
                new = maker(source=source)
                new.metadata["nbgrader"] = _metadata(name, locked, graded, solutions, tasks)
                new.metadata["deletable"] = new.metadata["editable"] = False
                at = position[previous] + 1 if previous is not None else 0
                nb.cells.insert(at, new)
                position = {k: (v + 1 if v >= at else v) for k, v in position.items()}
                position[name] = at
            previous = name
        return nb, resources
