"""Which assignment, and which of its notebooks, a submitted notebook is.

A student's notebook keeps the nbgrader cells of the release it was fetched from (their
``grade_id``); that, not the file name, says what it is. A notebook is filed under
notebook N of assignment A when it has cells of N and has no more cells of any other
released notebook: another assignment's notebook (``week2`` collected as ``spatial``
because ``ASSIGNMENT=`` was forgotten) is refused, never filed.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from coursetools.notebooks import grade_id


@dataclass
class Verdict:
    notebook: str | None       # the release notebook it is (None: refused)
    reason: str | None = None  # why refused, or a note on a filed but unreadable notebook
    readable: bool = True


def release_cells(course):
    """{(assignment, notebook): set of grade_ids} of every released notebook of the course."""
    cells = {}
    for path in sorted(course.path("release").glob("*/*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        ids = {grade_id(c) for c in nb.get("cells", []) if isinstance(c, dict)}
        cells[(path.parent.name, path.stem)] = {i for i in ids if i}
    return cells


def notebook_cells(path):
    """The grade_ids of a notebook file, or None when it is not a readable notebook."""
    try:
        nb = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    ids = set()
    for cell in nb["cells"]:
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict):
            meta = cell["metadata"].get("nbgrader")
            if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
                ids.add(meta["grade_id"])
    return ids


def identify(path, original_name, assignment, cells):
    """The Verdict for the notebook file ``path`` submitted for ``assignment``."""
    mine = {nb: ids for (a, nb), ids in cells.items() if a == assignment}
    found = notebook_cells(path)
    if found is None:
        # unreadable: filed all the same when it can only be one notebook, so that it shows
        # as "could not be graded" (the student did hand something in), never as missing
        stem = Path(original_name).stem
        if len(mine) == 1:
            return Verdict(next(iter(mine)), "not a readable notebook (filed: grading will "
                           "report it)", readable=False)
        if stem in mine:
            return Verdict(stem, "not a readable notebook (filed: grading will report it)",
                           readable=False)
        return Verdict(None, f"not a readable notebook, and {assignment} has several "
                             f"notebooks ({', '.join(sorted(mine))}): cannot tell which")
    overlap = {key: len(found & ids) for key, ids in cells.items()}
    best_mine = max(((n, nb) for (a, nb), n in overlap.items() if a == assignment), default=(0, None))
    best_other = max(((n, a, nb) for (a, nb), n in overlap.items() if a != assignment),
                     default=(0, None, None))
    if best_other[0] > best_mine[0]:
        n, other, nb = best_other
        return Verdict(None, f"a notebook of assignment '{other}', not '{assignment}' ({n} of its "
                             f"graded cells are {other}/{nb}'s): collect it with "
                             f"ASSIGNMENT={other}")
    if best_mine[0] == 0:
        if not found:
            return Verdict(None, f"no nbgrader cells (not made from the release of "
                                 f"'{assignment}'): cannot tell which assignment it is")
        return Verdict(None, f"none of its {len(found)} nbgrader cells is in the release of "
                             f"'{assignment}': not this assignment's notebook")
    return Verdict(best_mine[1])
