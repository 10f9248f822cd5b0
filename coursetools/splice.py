"""`make release`: put an assignment's grader modules into its hidden cells.

A hidden block of ``source/<a>/<notebook>.py`` may hold the directive

    # grader module: grader/checks.py as _grader

which the build replaces by code that loads ``grader/checks.py`` (and the modules of its
folder it imports with relative imports, nothing else) under the name ``_grader`` (see
coursetools/checks/loader.py). So the checks stay ordinary, importable, unit-tested modules,
while the gradebook keeps the released copy for grading, as for any hidden test.

Only what a module imports goes into its cell: the reference, loaded by its own cell after
the layer checks, is not in the checks' cell (the grading kernel must not hold it while the
layer checks run).
"""

import ast
from pathlib import Path

from coursetools.checks import loader
from coursetools.checks.protocol import MODULE_DIRECTIVE
from coursetools.errors import CourseError


def _relative_imports(source, where):
    """Names of the sibling modules ``source`` imports (``from . import x``, ``from .x import``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise CourseError(f"{where}: syntax error on line {exc.lineno}: {exc.msg}") from None
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level != 1:
                raise CourseError(f"{where}, line {node.lineno}: only `from . import` and "
                                  "`from .module import` are supported in grader modules")
            if node.module:
                found.append(node.module.split(".")[0])
            else:
                found.extend(alias.name for alias in node.names)
    return found


def grader_modules(folder, main):
    """[(module name, source)] of ``main`` and what it imports from ``folder``, dependencies first."""
    folder = Path(folder)
    ordered, visiting = [], set()

    def visit(name, chain):
        if any(name == n for n, _ in ordered):
            return
        if name in visiting:
            raise CourseError(f"grader modules import each other in a circle: {' -> '.join(chain + [name])}")
        path = folder / f"{name}.py"
        if not path.is_file():
            raise CourseError(f"grader module {path} does not exist"
                              + (f" (imported by {chain[-1]}.py)" if chain else ""))
        source = path.read_text(encoding="utf-8")
        visiting.add(name)
        for dep in _relative_imports(source, str(path)):
            visit(dep, chain + [name])
        visiting.discard(name)
        ordered.append((name, source))

    visit(main, [])
    return ordered


def loader_code(assignment, folder, relpath, name, indent=""):
    """The code that replaces one directive."""
    main = Path(relpath).stem
    modules = grader_modules(folder / Path(relpath).parent, main)
    blob = loader.pack(modules)
    files = ", ".join(f"{n}.py" for n, _ in modules)
    return (f"{indent}# {relpath} (with {files}), spliced by make release\n"
            f"{indent}{name} = __import__(\"coursetools.checks.loader\", fromlist=[\"load\"]).load(\n"
            f"{indent}    {assignment!r}, {main!r}, {blob!r})")


def splice_text(text, assignment, source_dir):
    """``text`` with every directive replaced; (new text, number of directives)."""
    count = 0

    def replace(match):
        nonlocal count
        count += 1
        relpath = match.group("path")
        if Path(relpath).is_absolute() or ".." in Path(relpath).parts:
            raise CourseError(f"grader module path {relpath!r} must stay inside source/{assignment}/")
        return loader_code(assignment, Path(source_dir), relpath, match.group("name"),
                           match.group("indent"))

    return MODULE_DIRECTIVE.sub(replace, text), count


def splice_notebook(nb, assignment, source_dir):
    """Replace the directives in every code cell of ``nb`` (in place).

    Returns [(module path, name)] of the directives, in notebook order.
    """
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        found += [(m.group("path"), m.group("name")) for m in MODULE_DIRECTIVE.finditer(text)]
        new, count = splice_text(text, assignment, source_dir)
        if count:
            cell.source = new
    return found


def grader_files(source_dir):
    """Every grader module of an assignment (secret as a whole: never released)."""
    return sorted(p for p in Path(source_dir).rglob("*.py")
                  if "grader" in p.relative_to(source_dir).parts[:-1])


def load_folder(assignment, folder, main):
    """Load ``folder/main.py`` exactly as a spliced cell does (tests, tools)."""
    return loader.load(assignment, main, loader.pack(grader_modules(folder, main)))
