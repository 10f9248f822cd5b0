"""Run the released notebook, answered with the instructor solution, as a student would.

`make validate` grades the instructor solution with nbgrader, which only says which graded
cells lost points. Before that, this runs the RELEASE top to bottom (plain nbclient, the
grading kernel's Python, a scratch copy of release/<a>/ as working folder) and requires every
cell to run without an error: a visible test that fails with the instructor solution would
fail for every correct student. A failure names the cell that failed, and the notebook cell
and line where the exception was raised (the solution's own line when the solution is broken).
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

from coursetools.errors import CourseError
from coursetools.notebooks import grade_id

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FRAME = re.compile(r"(?:Cell In\s*\[(\d+)\]|<ipython-input-(\d+)-[0-9a-f]+>),\s*line (\d+)")


def run_notebook(nb, folder, kernel_python=None, timeout=300):
    """Execute ``nb`` (in place) in ``folder`` with ``kernel_python`` (default: a plain python3
    kernel of this environment); errors do not stop the run."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    if kernel_python and not (Path(kernel_python).is_file() and os.access(kernel_python, os.X_OK)):
        raise CourseError(f"the kernel Python {kernel_python} does not exist: `make kernel-env` builds it")
    km = KernelManager(kernel_name="python3")
    if kernel_python:
        km.kernel_spec.argv = [str(kernel_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    client = NotebookClient(nb, km=km, timeout=timeout, startup_timeout=60, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    finally:  # the client did not start this manager, so it leaves the kernel running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def problems(nb):
    """[one line per cell that did not run cleanly]: the cell, and where the exception was raised."""
    by_count = {}
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code" and cell.get("execution_count"):
            by_count[cell.execution_count] = (grade_id(cell) or f"cell {index}", cell)
    found = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            name = grade_id(cell) or f"cell {index}"
            evalue = ANSI.sub("", str(out.get("evalue", ""))).strip().splitlines()
            what = f"{out.get('ename', 'Error')}: {evalue[0][:300] if evalue else ''}".rstrip(": ")
            found.append(f"{name}: {what}{_origin(out, by_count, name)}")
    return found


def _origin(out, by_count, failing):
    """' (raised in cell X, line N: `code`)' from the innermost notebook frame of a traceback."""
    frames = FRAME.findall(ANSI.sub("", "\n".join(out.get("traceback", []))))
    if not frames:
        return ""
    count, legacy, line = frames[-1]
    number = int(count or legacy)
    if number not in by_count:
        return f" (line {line})"
    name, cell = by_count[number]
    lines = cell.source.splitlines()
    code = lines[int(line) - 1].strip() if 0 < int(line) <= len(lines) else ""
    where = "" if name == failing else f" raised in cell {name},"
    return f" ({where.strip()} line {line}: `{code[:100]}`)".replace("( ", "(")


def trial_run(course, notebooks, kernel_python=None):
    """{notebook name: [problems]} after running each answered release notebook."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="trial-run-") as tmp:
        folder = Path(tmp) / course.assignment
        shutil.copytree(course.release_dir, folder)
        for name, nb in notebooks.items():
            run_notebook(nb, folder, kernel_python)
            results[name] = problems(nb)
    return results
