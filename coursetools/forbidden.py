"""Answers that reach for a library that does the work (torch, scipy, ...): found statically.

The grading kernel's environment holds numpy, ipykernel and matplotlib only, so such an answer
fails its checks anyway (ModuleNotFoundError). This scan tells the instructor *why*, and
catches the attempt even where it would have worked elsewhere: every code cell the student
wrote (answer cells and added cells) is parsed, and imports of a forbidden package (``import
torch``, ``from scipy.signal import correlate``, ``__import__("torch")``,
``importlib.import_module("sklearn")``, or such a statement inside a string run by exec) are
reported with the cell and line. A heuristic: a name computed at run time
(``import_module("to" + "rch")``) is not seen; the kernel environment is the defence, this is
the explanation.
"""

import ast
import re

FORBIDDEN = ("torch", "torchvision", "scipy", "sklearn", "skimage", "tensorflow", "keras",
             "jax", "jaxlib", "cupy", "cv2", "theano", "mxnet", "paddle", "chainer", "numba")
_IMPORT_TEXT = re.compile(r"\b(?:import|from)\s+(" + "|".join(FORBIDDEN) + r")\b")


def _top(name):
    return str(name or "").split(".")[0]


def _is_import_call(func):
    """__import__(...), importlib.import_module(...), import_module(...)."""
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in ("__import__", "import_module")


def _is_run_call(func):
    """exec(...), eval(...), compile(...)."""
    return isinstance(func, ast.Name) and func.id in ("exec", "eval", "compile")


def uses(source):
    """[(package, line)] of the forbidden packages ``source`` imports (sorted, unique)."""
    found = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((_top(a.name), node.lineno) for a in node.names if _top(a.name) in FORBIDDEN)
            elif isinstance(node, ast.ImportFrom) and not node.level and _top(node.module) in FORBIDDEN:
                found.add((_top(node.module), node.lineno))
            elif isinstance(node, ast.Call) and node.args and _is_import_call(node.func):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and _top(arg.value) in FORBIDDEN:
                    found.add((_top(arg.value), node.lineno))
            elif isinstance(node, ast.Call) and node.args and _is_run_call(node.func):
                for arg in ast.walk(node.args[0]):   # code run from a string: exec("import torch")
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.update((m, node.lineno) for m in _IMPORT_TEXT.findall(arg.value))
    for lineno, line in enumerate(source.splitlines(), start=1):  # also code that does not parse
        if tree is None:
            found.update((m, lineno) for m in _IMPORT_TEXT.findall(line))
    return sorted(found)


def student_cells(nb):
    """(name, source) of every code cell a student wrote: answer cells and added cells."""
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta and not meta.get("solution"):
            continue                     # an instructor cell (restored from the gradebook)
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        yield meta.get("grade_id") or f"cell {index}", source


def flags(nb):
    """One line per answer cell that imports a forbidden package, e.g.
    "conv2d_forward imports torch (line 3)"."""
    lines = []
    for name, source in student_cells(nb):
        found = uses(source)
        if found:
            packages = ", ".join(sorted({p for p, _ in found}))
            lines.append(f"{name} imports {packages} (line {found[0][1]})")
    return lines
