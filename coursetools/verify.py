"""Judge the hidden checks outside the grading kernel (an nbgrader autograde preprocessor).

Student code runs in the grading kernel, so nothing computed there can be trusted: a student
cell can replace numpy, builtins, the hidden checks' objects, or IPython's own machinery. The
notebook's hidden cells are built for this (see the grader_setup cell of a notebook): in the
kernel, each hidden test cell only calls the student's functions on the hidden inputs and
emits a *record* of what came back, as one display output of MIME type ``RECORD_MIME``.

This preprocessor runs in the nbgrader process right after the kernel has finished. It

1. takes the hidden cells' source from the gradebook (never from the submitted notebook),
   and runs the grader cells (``grader_setup*``, then ``grader_reference``) here, with the
   reference implementation;
2. for every graded test cell, replays that cell's record through the same check, with the
   student's functions replaced by the record, and compares against the reference;
3. replaces the cell's outputs with the verdict: the check's printout if it passed, an
   AssertionError with its message if not. nbgrader's SaveAutoGrades then scores the cell
   from these outputs (an error output means 0 points).

A cell without a usable record (the kernel died, timed out, was tampered with, or the cell
did not run) gets 0 points with a message that says so. Notebooks without a ``grader_setup``
cell are left alone.
"""

import contextlib
import io
import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor

RECORD_MIME = "application/vnd.cnn-grader.record+json"
SETUP_PREFIX = "grader_setup"
REFERENCE_ID = "grader_reference"
# one check call per hidden test cell, e.g. `_grader_fast.check_im2col(im2col)`
CHECK_CALL = re.compile(r"^(_grader\w*)\.(check_\w+)\(", re.M)

_CACHE = {}  # (assignment, notebook, sources) -> grader namespace; one build per process


def trusted_sources(db_url, assignment, notebook):
    """{grade_id: source} of every locked/graded cell, as stored in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        return {cell.name: cell.source for cell in nb.source_cells}


def build_grader(sources):
    """Run the grader cells (setup cells by name, then the reference) in a fresh namespace."""
    key = tuple(sorted(sources.items()))
    if key not in _CACHE:
        ns = {"__name__": "trusted_grader"}
        names = sorted(n for n in sources if n.startswith(SETUP_PREFIX)) + [REFERENCE_ID]
        for name in names:
            if name not in sources:
                raise RuntimeError(f"the gradebook has no cell '{name}'")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(sources[name], f"<{name}>", "exec"), ns)  # noqa: S102 - instructor code
        _CACHE[key] = ns
    return _CACHE[key]


def error_output(message):
    lines = message.splitlines() or [message]
    return new_output("error", ename="AssertionError", evalue=message,
                      traceback=["\x1b[0;31mAssertionError\x1b[0m: " + lines[0], *lines[1:]])


def judge(ns, grader_name, check_name, records, log=None, kernel_errors=()):
    """Replay the records of one cell; returns the cell's new outputs.

    ``kernel_errors``: the cell's error outputs from the kernel, kept when there is no record
    (they say why: a timeout, a dead kernel, the output limit).
    """
    check = getattr(ns.get(grader_name), check_name, None)
    if check is None:
        return [error_output(f"the hidden test calls {grader_name}.{check_name}, which the "
                             f"grader cells do not define (instructor: check the notebook)")]
    if len(records) != 1:
        what = "no record" if not records else f"{len(records)} records"
        return [*kernel_errors, error_output(
            f"{check_name[len('check_'):]}: the hidden tests of this cell produced {what} in "
            f"the grading kernel (expected one). They did not run to the end: see the error "
            f"above, an earlier crash, a timeout, or code that interferes with the notebook's "
            f"hidden cells.")]
    nargs = check.__code__.co_argcount
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), ns["_grader"].replaying(records[0]):
            check(*([None] * nargs))
    except AssertionError as e:
        out = [error_output(str(e))]
    except Exception as e:  # noqa: BLE001 - a malformed record must cost the cell, not the batch
        if log is not None:
            log.warning("could not judge %s: %s: %s", check_name, type(e).__name__, e)
        out = [error_output(f"{check_name[len('check_'):]}: the grader could not judge the "
                            f"record of this cell ({type(e).__name__}: {e}).")]
    else:
        out = []
    text = printed.getvalue()
    if text:
        out.insert(0, new_output("stream", name="stdout", text=text))
    return out


class GraderSetupFirst(NbGraderPreprocessor):
    """Move the grader_setup* cells to the top of the notebook before it is executed.

    They only define the checks, so they need nothing from the cells above them; run first,
    they capture numpy, builtins and the clock before any student cell (even one a student
    added at the very top) can replace them. Runs before the Execute preprocessor.
    """

    def preprocess(self, nb, resources):
        def is_setup(cell):
            return str(cell.metadata.get("nbgrader", {}).get("grade_id", "")).startswith(SETUP_PREFIX)
        setup = sorted((c for c in nb.cells if is_setup(c)),
                       key=lambda c: c.metadata["nbgrader"]["grade_id"])
        nb.cells = setup + [c for c in nb.cells if not is_setup(c)]
        return nb, resources


class VerifyHiddenChecks(NbGraderPreprocessor):
    """Score every graded test cell from the trusted replay of its record (see module doc)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        sources = trusted_sources(info["db_url"], info["assignment"], info["notebook"])
        if not any(name.startswith(SETUP_PREFIX) for name in sources):
            return nb, resources
        ns = build_grader(sources)
        reference = ns.get("_grader_reference")
        after_reference = set(getattr(reference, "checks_after_reference", ()))
        seen_reference = False
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if grade_id == REFERENCE_ID:
                seen_reference = True
            if not (meta.get("grade") and not meta.get("solution") and cell.cell_type == "code"):
                continue
            calls = CHECK_CALL.findall(sources.get(grade_id, ""))
            records = [o["data"][RECORD_MIME] for o in cell.get("outputs", [])
                       if o.get("output_type") == "display_data" and RECORD_MIME in o.get("data", {})]
            if not calls:
                if float(meta.get("points") or 0) > 0:
                    cell.outputs = [error_output(f"graded cell '{grade_id}' calls no hidden "
                                                 f"check: it cannot be scored (instructor: fix "
                                                 f"the notebook)")]
                else:
                    cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                continue
            grader_name, check_name = calls[0]
            if seen_reference and check_name not in after_reference:
                cell.outputs = [error_output(
                    f"this hidden test cell ('{grade_id}') was moved below the cell "
                    f"'{REFERENCE_ID}'; it only counts in its original place. Move it back "
                    f"(or download a fresh copy of the notebook and paste your answers in).")]
                continue
            kernel_errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"
                             or (o.get("output_type") == "stream" and "[output limit" in o.get("text", ""))]
            cell.outputs = judge(ns, grader_name, check_name, records, self.log, kernel_errors)
        return nb, resources
