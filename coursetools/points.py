"""Points come from one place, the cells' nbgrader metadata; every table and mention is made from it.

In a notebook source, `make release` replaces (in the built notebook, hence the release):

* ``{points:<grade_id>}`` in markdown by that graded cell's points (``{points:a+b}``: the sum
  of several), ``{total_points}`` by
  the notebook's total, e.g. a heading ``## 1. Convolution: forward pass ({points:conv2d_forward_hidden} points)``;
* ``{points}`` in a comment line of a graded cell by the cell's own points;
* a markdown line ``<!-- points table -->`` by the table of every graded cell: the function it
  grades, its points, and its case groups with their share of the points (the groups and
  weights are declared beside the checks, e.g. source/<a>/grader/checks.py ``GROUPS``).

The same table is written between ``<!-- points-table:start -->`` and ``<!-- points-table:end -->``
of ``docs/assignment-<a>.md`` when that file exists. A graded cell that a check scores all or
nothing (VerifyHiddenChecks settings in nbgrader_config.py) says so instead of its groups.
"""

import re
from pathlib import Path

from coursetools.checks.judge import allocate
from coursetools.checks.protocol import check_calls, is_grader_cell
from coursetools.errors import CourseError

TABLE_LINE = "<!-- points table -->"
DOC_START, DOC_END = "<!-- points-table:start -->", "<!-- points-table:end -->"
_CELL_POINTS = re.compile(r"\{points:([A-Za-z0-9_+-]+)\}")
_CALL_ARGS = re.compile(r"\.check_\w+\(([^)]*)\)")


def graded_cells(nb):
    """[(grade_id, points, check name, function graded)] of the graded cells with points."""
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not meta.get("grade") or is_grader_cell(gid) or not float(meta.get("points", 0) or 0):
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        calls = check_calls(source)
        args = _CALL_ARGS.search(source)
        function = args.group(1).split(",")[-1].strip() if args and args.group(1).strip() else gid
        found.append((gid, float(meta["points"]), calls[0][1] if calls else None, function))
    return found


def _fmt(points):
    return f"{points:g}"


def table(nb, groups=None, all_or_nothing=()):
    """The points table (markdown lines) of a built notebook.

    ``groups``: {check name without "check_": [Group]} (the checks module's GROUPS);
    ``all_or_nothing``: grade_ids scored all or nothing ("*": all of them).
    """
    groups = groups or {}
    lines = ["| function | points | what earns them (case groups) |", "|---|---:|---|"]
    total = 0.0
    for gid, points, check, function in graded_cells(nb):
        total += points
        mine = groups.get((check or "").removeprefix("check_"), ())
        if "*" in all_or_nothing or gid in all_or_nothing:
            what = "all or nothing: every case must pass"
        elif mine:
            what = "<br>".join(f"{_fmt(p)}: {g.title}" for g, p in zip(mine, allocate(mine, points)))
        else:
            what = "all cases"
        lines.append(f"| `{function}` | {_fmt(points)} | {what} |")
    lines.append(f"| **total** | **{_fmt(total)}** | |")
    return lines


def substitute(nb, groups=None, all_or_nothing=(), where="the notebook"):
    """Fill the placeholders of a built notebook in place (see the module docstring)."""
    points = {gid: p for gid, p, _, _ in graded_cells(nb)}
    total = sum(points.values())

    def cell_points(match):
        total = 0.0
        for gid in match.group(1).split("+"):
            if gid not in points:
                raise CourseError(f"{where}: {{points:{match.group(1)}}} names {gid!r}, which is "
                                  f"no graded cell with points (graded cells: "
                                  f"{', '.join(sorted(points))})")
            total += points[gid]
        return _fmt(total)

    for cell in nb.cells:
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        new = text
        if cell.cell_type == "markdown":
            new = _CELL_POINTS.sub(cell_points, new).replace("{total_points}", _fmt(total))
            if TABLE_LINE in new:
                new = "\n".join("\n".join(table(nb, groups, all_or_nothing))
                                if line.strip() == TABLE_LINE else line
                                for line in new.split("\n"))
        elif cell.cell_type == "code":
            meta = cell.get("metadata", {}).get("nbgrader", {})
            own = meta.get("points")
            if own is not None:
                new = "\n".join(line.replace("{points}", _fmt(float(own)))
                                if line.lstrip().startswith("#") else line
                                for line in new.split("\n"))
        if new != text:
            cell.source = new
    return total


def update_doc(path, lines):
    """Rewrite the marked table of a committed doc; True when the file changed."""
    path = Path(path)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if DOC_START not in text or DOC_END not in text:
        return False
    head, rest = text.split(DOC_START, 1)
    _, tail = rest.split(DOC_END, 1)
    new = head + DOC_START + "\n" + "\n".join(lines) + "\n" + DOC_END + tail
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def scoring_rule(root):
    """The grade_ids nbgrader_config.py scores all or nothing ("*": every cell)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    verify = config.get("VerifyHiddenChecks", {})
    if verify.get("partial_credit", True) is False:
        return ("*",)
    return tuple(verify.get("all_or_nothing", ()) or ())


def check_groups(modules):
    """{check: [Group]} merged from the GROUPS of the loaded grader modules."""
    found = {}
    for module in modules:
        groups = getattr(module, "GROUPS", {}) or {}
        if not isinstance(groups, dict):
            raise CourseError(f"{module.__name__}: GROUPS must map each check's name (without "
                              f"check_) to its groups")
        found.update(groups)
    return found
