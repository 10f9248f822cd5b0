"""Judge the hidden checks outside the grading kernel, and score each cell by its groups.

Student code runs in the grading kernel, so nothing computed there can be trusted. In the
kernel each hidden test cell only calls the student's functions on the hidden inputs and
emits a *record* of what came back (coursetools/checks/record.py); SandboxedExecute seals a
copy of each hidden cell's records the moment the cell finishes (``resources["cnn_grader"]``).

This preprocessor runs in the nbgrader process right after the kernel has finished. It

1. takes the grader cells' source from the gradebook (never from the submission) and runs
   them here: the setup cells load the checks, grader_reference the reference (both spliced
   in by `make release`, see coursetools/splice.py);
2. for every graded test cell, replays that cell's sealed record through the same check,
   with the student's functions replaced by the record, and compares with the reference;
3. replaces the cell's outputs with the verdict: the points of the case groups that passed
   (nbgrader's partial credit: an execute_result with the score) and what failed, or an
   AssertionError for 0 points. nbgrader's SaveAutoGrades then scores the cell.

A cell without a usable record (the kernel died, timed out, was tampered with, or the cell
did not run) gets 0 points with a message that says so. Notebooks without a grader setup cell
are left alone.
"""

import contextlib
import io

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, List, Unicode

from coursetools.checks import judge, loader
from coursetools.checks.protocol import (REFERENCE_ID, check_calls, is_grader_cell, is_setup,
                                         is_trusted)
from coursetools.checks import record
from coursetools.checks.record import clean, clean_name, replaying, student_text

_CACHE = {}  # (sources, data dir) -> grader namespace; one build per process


def trusted_sources(db_url, assignment, notebook):
    """({grade_id: source} of every locked/graded cell, {grade_id: points}) from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        return ({cell.name: cell.source for cell in nb.source_cells},
                {cell.name: float(cell.max_score) for cell in nb.grade_cells})


def build_grader(sources, data_dir=None):
    """Run the grader cells (setup cells by name, then the reference) in a fresh namespace."""
    key = (tuple(sorted(sources.items())), data_dir)
    if key not in _CACHE:
        loader.set_data_dir(data_dir)
        ns = {"__name__": "trusted_grader"}
        names = (sorted(n for n in sources if is_setup(n)) + [REFERENCE_ID]
                 + sorted(n for n in sources if is_trusted(n)))
        for name in names:
            if name not in sources:
                raise RuntimeError(f"the gradebook has no cell '{name}'")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(sources[name], f"<{name}>", "exec"), ns)  # noqa: S102 - instructor code
        _CACHE[key] = ns
    loader.set_data_dir(data_dir)
    return _CACHE[key]


def kernel_trouble(cell):
    """One short line per error the kernel left in a hidden cell (a timeout, the output limit,
    a dead kernel, the time budget). Tracebacks are not shown: they would quote the hidden
    checks' code."""
    lines = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            lines.append(f"{clean_name(o.get('ename', 'Error'))}: {clean(o.get('evalue', ''), 200)}")
        elif o.get("output_type") == "stream" and "[output limit" in o.get("text", ""):
            lines.append(o["text"].strip())
    return lines


def error_output(message):
    lines = message.splitlines() or [message]
    return new_output("error", ename="AssertionError", evalue=message,
                      traceback=["\x1b[0;31mAssertionError\x1b[0m: " + lines[0], *lines[1:]])


def verdict_outputs(text, score, points):
    """nbgrader's scoring convention: no error -> full points, an execute_result -> that
    many points, an error -> 0."""
    if score >= points:
        return [new_output("stream", name="stdout", text=text + "\n")]
    if score > 0:
        return [new_output("stream", name="stdout", text=text + "\n"),
                new_output("execute_result", data={"text/plain": repr(float(score))},
                           execution_count=None)]
    return [error_output(text)]


def judge_cell(ns, grader_name, check_name, records, points, all_or_nothing, log=None,
               kernel_errors=()):
    """Replay the records of one cell; returns the cell's new outputs."""
    short = check_name[len("check_"):]
    check = getattr(ns.get(grader_name), check_name, None)
    if check is None:
        return [error_output(f"the hidden test calls {grader_name}.{check_name}, which the "
                             f"grader cells do not define (instructor: check the notebook)")]
    notes = "".join(f"\n    {line}" for line in kernel_errors)
    if len(records) != 1:
        what = "no record" if not records else f"{len(records)} records"
        return [error_output(
            f"{short}: the hidden tests of this cell produced {what} in the grading kernel "
            f"(expected one). They did not run to the end: an earlier crash, a timeout, the "
            f"time budget, or code that interferes with the notebook's hidden cells." + notes)]
    nargs = check.__code__.co_argcount
    judge.LAST["verdict"] = None
    try:
        with contextlib.redirect_stdout(io.StringIO()), replaying(records[0]):
            check(*([None] * nargs))
        verdict = judge.LAST["verdict"]
        if verdict is None:
            raise RuntimeError("the check left no verdict (does it call run_check?)")
    except Exception as e:  # noqa: BLE001 - a malformed record must cost the cell, not the batch
        if log is not None:
            log.warning("could not judge %s: %s: %s", check_name, type(e).__name__, e)
        return [error_output(f"{short}: the grader could not judge the record of this cell "
                             f"({type(e).__name__}: {student_text(str(e), 100)}).")]
    score = verdict.score(points, all_or_nothing)
    text = verdict.text(points, all_or_nothing)
    return verdict_outputs(text + (notes if score < points else ""), score, points)


class VerifyHiddenChecks(NbGraderPreprocessor):
    """Score every graded test cell from the trusted replay of its record (module doc)."""

    partial_credit = Bool(True, help="Score a hidden test cell by the points of its case groups "
                          "that pass (the groups and their weights are declared beside the "
                          "checks). False: every cell is all or nothing.").tag(config=True)
    all_or_nothing = List(Unicode(), help="grade_ids of hidden test cells scored all or nothing "
                          "(every group must pass), e.g. ['conv2d_backward_hidden'].").tag(config=True)
    assignment_files = Unicode("", help="Folder of the assignment's own files (e.g. data sets "
                               "the checks read). Empty: the assignment's folder in nbgrader's "
                               "source directory.").tag(config=True)

    def _data_dir(self, assignment):
        if self.assignment_files:
            return self.assignment_files
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        return coursedir.format_path(coursedir.source_directory, ".", assignment)

    def _all_or_nothing(self, grade_id):
        return (not self.partial_credit) or "*" in self.all_or_nothing or grade_id in self.all_or_nothing

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        sources, points = trusted_sources(info["db_url"], info["assignment"], info["notebook"])
        if not any(is_setup(name) for name in sources):
            return nb, resources
        ns = build_grader(sources, self._data_dir(info["assignment"]))
        records = resources.get("cnn_grader", {}).get("records", {})
        # student text in verdicts: only words of Python's messages or of this submission
        record.use_submission([cell.source for cell in nb.cells if cell.cell_type == "code"
                               and not cell.metadata.get("nbgrader", {}).get("grade")])
        try:
            self._judge_cells(nb, ns, points, sources, records)
        finally:
            record.use_submission(None)
        return nb, resources

    def _judge_cells(self, nb, ns, points, sources, records):
        reference = ns.get("_grader_reference")
        after_reference = set(getattr(reference, "CHECKS_AFTER_REFERENCE", ()))
        seen_reference = False
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if grade_id == REFERENCE_ID:
                seen_reference = True
            if not (meta.get("grade") and not meta.get("solution") and cell.cell_type == "code"):
                continue
            kernel_errors = kernel_trouble(cell)
            calls = check_calls(sources.get(grade_id, ""))
            if not calls:
                if is_grader_cell(grade_id) or not points.get(grade_id):
                    cell.outputs = []   # the grader's own cells: nothing of them is shown
                else:
                    cell.outputs = [error_output(f"graded cell '{grade_id}' calls no hidden "
                                                 f"check: it cannot be scored (instructor: fix "
                                                 f"the notebook)")]
                continue
            grader_name, check_name = calls[0]
            if seen_reference and check_name not in after_reference:
                cell.outputs = [error_output(
                    f"this hidden test cell ('{grade_id}') was moved below the cell "
                    f"'{REFERENCE_ID}'; it only counts in its original place. Move it back "
                    f"(or download a fresh copy of the notebook and paste your answers in).")]
                continue
            cell.outputs = judge_cell(ns, grader_name, check_name, records.get(grade_id, []),
                                      points.get(grade_id, 0.0), self._all_or_nothing(grade_id),
                                      self.log, kernel_errors)
