"""Run one notebook as plain code: the limit `make bench-grade` compares grading with.

    <kernel python> plain_run.py NOTEBOOK.ipynb RESULT.json

Every code cell of NOTEBOOK (a graded copy: the hidden test cells are restored) runs once, in
notebook order, in this one Python process: no nbgrader, no kernel, no sandbox, no messages.
A cell that raises is noted and the next one runs, as when grading. Outputs are discarded;
the hidden checks keep their records in a list instead of displaying them; matplotlib draws
nothing it is not asked to (MPLBACKEND=Agg). RESULT.json gets the number of cells that ran
and failed. The caller times the process (its wall time and CPU time, imports included).

Standard library only, plus what the notebook itself imports (the grading kernel's Python,
with the course folder on PYTHONPATH for the grader's modules).
"""

import contextlib
import io
import json
import os
import sys


def main(notebook, result_path):
    os.environ.setdefault("MPLBACKEND", "Agg")
    with open(notebook, encoding="utf-8") as f:
        cells = [c for c in json.load(f)["cells"] if c.get("cell_type") == "code"]
    from coursetools.checks import record  # the grader's modules, as in the kernel

    record.STATE["sink"] = []
    os.chdir(os.path.dirname(os.path.abspath(notebook)))
    namespace = {"__name__": "__main__"}
    failed = 0
    for number, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(compile(source, f"<cell {number}>", "exec"), namespace)  # noqa: S102
            except BaseException:  # noqa: BLE001 - a failing cell does not stop the notebook
                failed += 1
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"cells": len(cells), "failed": failed}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
