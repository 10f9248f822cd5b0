"""Every code cell of a notebook must compile before it is handed out (and a graded cell
makes at most one hidden check call).

A syntax error in a locked cell (a visible test, a hidden check, the setup) cannot be fixed by
the student and costs every student the cell; nbgrader copies it into the release without a
word. `make release` therefore compiles each code cell of the source notebook (solutions and
hidden tests included) and of the release. IPython syntax is accepted where IPython turns it
into Python (`%matplotlib inline`, `!ls`, `%%time`); a cell magic whose body is another
language (`%%bash`, `%%html`, `%%writefile`, ...) cannot be checked and is refused.
"""

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path

# cell magics whose body is Python, compiled like any cell
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}


@dataclass
class CellProblem:
    where: str      # file shown to the instructor (the jupytext source or the release notebook)
    cell: str       # grade_id, or "cell <n>" for cells without one
    line: int       # line in the cell (1-based)
    file_line: int  # line in `where` when known (jupytext source), else 0
    message: str
    text: str       # the offending line

    def __str__(self):
        at = f"{self.where}:{self.file_line}" if self.file_line else self.where
        shown = f": {self.text.strip()[:80]!r}" if self.text.strip() else ""
        return f"{at}: cell {self.cell}, line {self.line}: {self.message}{shown}"


def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def check_cell(code, transformer=None):
    """None when ``code`` compiles as an IPython cell, else (line, message)."""
    lines = code.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        number = next(i for i, ln in enumerate(lines, 1) if ln.strip())
        if magic not in PYTHON_CELL_MAGICS:
            return number, (f"cell magic %%{magic} runs another language: it cannot be checked "
                            "here (write the cell in Python)")
        found = check_cell("\n".join(lines[number:]), transformer)  # the Python body
        return (found[0] + number, found[1]) if found else None
    transformer = transformer or _transformer()
    try:
        python = transformer.transform_cell(code)
    except SyntaxError as exc:
        return exc.lineno or 1, f"{type(exc).__name__}: {exc.msg}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            compile(python, "<cell>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        # IPython's transforms keep line numbers (a magic stays one line)
        return exc.lineno or 1, f"{type(exc).__name__}: {exc.msg}"
    except ValueError as exc:  # e.g. a NUL byte
        return 1, f"ValueError: {exc}"
    return None


def check_notebook(nb, where, source_lines=None):
    """[CellProblem] for every code cell of ``nb`` that does not compile.

    ``source_lines``: the lines of the jupytext file the notebook was built from, to name
    the file line of each problem.
    """
    from coursetools.notebooks import cell_text, grade_id

    transformer = _transformer()
    problems = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        code = cell_text(cell)
        found = check_cell(code, transformer) or _check_call_problem(cell, code)
        if not found:
            continue
        line, message = found
        code_lines = code.splitlines()
        text = code_lines[line - 1] if 0 < line <= len(code_lines) else ""
        name = grade_id(cell) or f"{index} (no grade_id)"
        file_line = _file_line(source_lines, grade_id(cell), code_lines, line) if source_lines else 0
        problems.append(CellProblem(where, str(name), line, file_line, message, text))
    return problems


def _check_call_problem(cell, code):
    """(line, message) when a graded test cell makes more than one hidden check call: the
    grader scores a cell by its first call only, so the others would pass unnoticed."""
    from coursetools.checks.protocol import CHECK_CALL

    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not meta.get("grade") or meta.get("solution"):
        return None
    calls = list(CHECK_CALL.finditer(code))
    if len(calls) < 2:
        return None
    line = code.count("\n", 0, calls[1].start()) + 1
    return line, (f"a graded cell makes {len(calls)} hidden check calls; only the first is "
                  "scored (one check per cell: split it into cells with their own points)")


def _file_line(source_lines, gid, code_lines, line):
    """The line of the jupytext file that holds line ``line`` of the cell (0: not found)."""
    if not gid:
        return 0
    marker = f'"grade_id": "{gid}"'
    start = next((i for i, ln in enumerate(source_lines) if ln.startswith("# %%") and marker in ln), None)
    if start is None:
        return 0
    first = next((ln for ln in code_lines if ln.strip()), None)
    if first is None:
        return 0
    for i in range(start + 1, len(source_lines)):
        if source_lines[i] == first:
            offset = next(k for k, ln in enumerate(code_lines) if ln.strip())
            return i + 1 + (line - 1 - offset)
    return 0


def check_files(paths_and_sources):
    """[CellProblem] of several notebooks: ``[(notebook path, shown name, source path or None)]``."""
    import nbformat

    problems = []
    for path, shown, source in paths_and_sources:
        nb = nbformat.read(path, as_version=4)
        lines = Path(source).read_text(encoding="utf-8").splitlines() if source else None
        problems += check_notebook(nb, shown, lines)
    return problems
