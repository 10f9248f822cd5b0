"""Source notebooks: jupytext conversion, metadata checks, stable ids, secrets.

The hand-edited source of every notebook is a jupytext percent file
``source/<assignment>/<name>.py``.  ``build_assignment`` turns each into the
nbgrader *source* notebook ``build/source/<assignment>/<name>.ipynb`` with the
jupytext command line, then checks its nbgrader metadata and replaces
jupytext's random cell ids with stable ones, so that two builds (and the
release nbgrader makes from them) are byte-identical.
"""

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from coursetools.errors import CourseError
from coursetools.points import check_groups, scoring_rule, substitute
from coursetools.splice import load_folder, splice_notebook

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"

# Full schema-v3 nbgrader metadata; graded cells also need "points".
REQUIRED_KEYS = ("grade", "grade_id", "locked", "schema_version", "solution", "task")

NBFORMAT_VERSION = 4


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader")


def grade_id(cell):
    meta = nbgrader_meta(cell) or {}
    return meta.get("grade_id")


def is_solution(cell):
    return bool((nbgrader_meta(cell) or {}).get("solution"))


def cell_text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def check_cells(nb, where):
    """Raise CourseError if any cell's nbgrader metadata or markers are wrong."""
    seen = {}
    for index, cell in enumerate(nb.cells, start=1):
        meta = nbgrader_meta(cell)
        text = cell_text(cell)
        label = f"{where}, cell {index}"
        if meta is None:
            if any(m in text for m in (BEGIN_SOLUTION, BEGIN_HIDDEN)):
                raise CourseError(
                    f"{label} has solution/hidden-test markers but no nbgrader metadata: "
                    "add nbgrader={...} to its '# %%' line"
                )
            continue
        missing = [key for key in REQUIRED_KEYS if key not in meta]
        if meta.get("grade") and "points" not in meta:
            missing.append("points")
        if missing:
            raise CourseError(
                f"{label} ({meta.get('grade_id', 'no grade_id')}): nbgrader metadata lacks "
                f"{', '.join(missing)} (schema v3 needs grade, grade_id, locked, "
                "schema_version, solution, task, and points on graded cells)"
            )
        if meta["schema_version"] != 3:
            raise CourseError(f"{label} ({meta['grade_id']}): schema_version must be 3")
        gid = meta["grade_id"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(gid)):
            raise CourseError(f"{label}: grade_id {gid!r} may only use letters, digits, '_' and '-'")
        if gid in seen:
            raise CourseError(f"{label}: grade_id {gid!r} is already used by cell {seen[gid]}")
        seen[gid] = index
        _check_markers(text, label, gid, BEGIN_SOLUTION, END_SOLUTION)
        _check_markers(text, label, gid, BEGIN_HIDDEN, END_HIDDEN)
        if meta["solution"] and cell.cell_type == "code" and BEGIN_SOLUTION not in text:
            raise CourseError(
                f"{label} ({gid}): solution cell without '{BEGIN_SOLUTION}' / '{END_SOLUTION}' "
                "markers (nbgrader would replace the whole cell, docstring included)"
            )
        if BEGIN_HIDDEN in text and not meta["grade"]:
            raise CourseError(f"{label} ({gid}): hidden tests are only allowed in graded cells")


def _check_markers(text, label, gid, begin, end):
    depth = 0
    for line in text.splitlines():
        if begin in line:
            depth += 1
        elif end in line:
            depth -= 1
        if depth not in (0, 1):
            raise CourseError(f"{label} ({gid}): unbalanced '{begin}' / '{end}' markers")
    if depth:
        raise CourseError(f"{label} ({gid}): '{begin}' without '{end}'")


def assign_stable_ids(nb):
    """Cell ids derived from grade_id (nbgrader cells) or position (others)."""
    used = set()
    for index, cell in enumerate(nb.cells, start=1):
        gid = grade_id(cell)
        cell_id = str(gid) if gid else f"{cell.cell_type}-{index:03d}"
        cell_id = cell_id[:64]
        if cell_id in used:
            cell_id = f"cell-{index:03d}"
        used.add(cell_id)
        cell["id"] = cell_id


def source_files(root, assignment):
    return sorted((Path(root) / "source" / assignment).glob("*.py"))


def build_assignment(root, assignment, log=print):
    """Convert source/<a>/*.py into build/source/<a>/*.ipynb; returns the notebook paths."""
    root = Path(root)
    sources = source_files(root, assignment)
    out_dir = root / "build" / "source" / assignment
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    built = []
    for py in sources:
        target = out_dir / (py.stem + ".ipynb")
        log(f"jupytext: {py.relative_to(root)} -> {target.relative_to(root)}")
        proc = subprocess.run(
            [sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
             "--output", str(target), str(py)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise CourseError(f"jupytext could not convert {py.relative_to(root)}: {last}")
        nb = nbformat.read(target, as_version=NBFORMAT_VERSION)
        check_cells(nb, str(py.relative_to(root)))
        source_dir = root / "source" / assignment
        modules = splice_notebook(nb, assignment, source_dir)
        groups = check_groups(load_folder(assignment, source_dir / Path(path).parent, Path(path).stem)
                              for path, name in modules if name == "_grader")
        substitute(nb, groups, scoring_rule(root), where=str(py.relative_to(root)))
        assign_stable_ids(nb)
        nb.metadata.pop("jupytext", None)
        nbformat.write(nb, target)
        built.append(target)
    # Other files of the assignment (data, images) are handed out as they are; its grader
    # modules (source/<a>/grader/) never are.
    for extra in sorted((root / "source" / assignment).rglob("*")):
        inside = extra.relative_to(root / "source" / assignment).parts[:-1]
        if extra.is_file() and extra.suffix != ".py" and "__pycache__" not in inside \
                and "grader" not in inside:
            dest = out_dir / extra.relative_to(root / "source" / assignment)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(extra, dest)
    return built


def secret_lines(py_files, secret_files=()):
    """Stripped lines that occur only inside solution or hidden-test regions.

    A line that also occurs outside every region (in any source file), or is part of
    such a line, is public text and not a secret even if it repeats inside a region.
    Every line of ``secret_files`` (the grader modules) counts as inside a region.
    """
    secret, public = set(), set()
    for path in secret_files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if text and not text.startswith(("#", "import ", "from ")):
                secret.add(text)
    for path in py_files:
        inside = False
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if BEGIN_SOLUTION in text or BEGIN_HIDDEN in text:
                inside = True
            elif END_SOLUTION in text or END_HIDDEN in text:
                inside = False
            elif text:
                (secret if inside else public).add(text)
    # Pure punctuation (a closing bracket) carries no solution text, and a line that the
    # public text already contains (a hint quoting the code) gives nothing away.
    public_text = "\n".join(public)
    return {line for line in secret - public
            if any(ch.isalnum() for ch in line) and line not in public_text}


def file_lines(path):
    """Stripped lines of a released file; a notebook's cells are read one by one."""
    path = Path(path)
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            nb = nbformat.reads(raw, as_version=NBFORMAT_VERSION)
        except Exception:  # noqa: BLE001 - a broken notebook is still scanned as text
            nb = None
        if nb is not None:
            lines = set()
            for cell in nb.cells:
                lines.update(line.strip() for line in cell_text(cell).splitlines())
                for output in cell.get("outputs", []):
                    text = output.get("text", "") or "".join(
                        str(v) for v in output.get("data", {}).values())
                    lines.update(line.strip() for line in str(text).splitlines())
            return lines
    return set(line.strip() for line in raw.splitlines())


def find_leaks(release_dir, py_files, secret_files=()):
    """[(file, line)] for every secret source line found in a file under release_dir.

    Lines are compared whole (after stripping); in notebooks, secret lines of 12 or more
    characters are also looked for anywhere in the raw JSON (metadata included).
    """
    secret = secret_lines(py_files, secret_files)
    leaks = []
    for path in sorted(Path(release_dir).rglob("*")):
        if not path.is_file():
            continue
        found = secret & file_lines(path)
        if path.suffix == ".ipynb":
            raw = path.read_bytes().decode("utf-8", errors="replace")
            found |= {s for s in secret if len(s) >= 12 and json.dumps(s)[1:-1] in raw}
        leaks.extend((path, line) for line in sorted(found))
    return leaks


def solution_body(code):
    """A solution cell's code as a student who solved it would hand it in."""
    return "\n".join(
        line for line in code.splitlines()
        if BEGIN_SOLUTION not in line and END_SOLUTION not in line
    )


def fill_solutions(release_nb, source_nb, edit=None):
    """The release notebook with every solution cell answered from the source.

    ``edit(grade_id, code)`` may return altered code for a cell (used to build
    realistic wrong submissions).  Returns a new notebook; inputs are untouched.
    """
    answers = {grade_id(c): solution_body(cell_text(c)) for c in source_nb.cells if is_solution(c)}
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if is_solution(cell) and gid in answers:
            code = answers[gid]
            if edit is not None:
                code = edit(gid, code)
            cell.source = code
    return nb


def instructor_namespace(py_path, wanted=None):
    """Run the setup cells and the (instructor) solution cells of a jupytext source.

    Returns the namespace, i.e. the instructor's functions by name. ``wanted``
    limits the solution cells to those grade_ids. No test or hidden cell runs.
    """
    import jupytext

    namespace = {}
    for cell in jupytext.read(py_path).cells:
        meta = nbgrader_meta(cell) or {}
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        runs = meta.get("solution") and (wanted is None or meta.get("grade_id") in wanted)
        setup = meta.get("locked") and not meta.get("solution") and meta.get("grade_id") == "setup"
        if runs or setup:
            exec(compile(cell_text(cell), f"<{meta.get('grade_id')}>", "exec"), namespace)
    return namespace
