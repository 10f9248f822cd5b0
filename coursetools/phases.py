"""Where one student's grading time goes: wall and CPU seconds per phase of nbgrader's Autograde.

A grading worker (coursetools/parallel.py) grades each student with ``TimedAutograde``:
nbgrader's own converter, unchanged, with a stopwatch around each of its steps. Every student's
entry in logs/autograde-<a>.log then ends with one line

    [coursetools] phases {"wall": {"setup": 0.05, ...}, "cpu": {"worker": 0.35, "kernel": 2.7}}

which `make bench-grade` (bench/grade_bench.py) averages into the breakdown of
reports/bench-grade.md. Phases (wall seconds):

* ``setup``: Autograde.init_assignment (gradebook: student and submission; files copied);
* ``sanitize``: the sanitize pass (ClearOutput, RepairCells, OverwriteCells, ...);
* ``kernel_start``, ``student_cells``, ``checks``, ``replays``, ``kernel_stop``: the execute
  pass, as SandboxedExecute timed it (``execute_other``: the rest of that pass);
* ``verify``: VerifyHiddenChecks (the trusted replay of the records);
* ``save``: the other autograde preprocessors (SaveAutoGrades, AssignLatePenalties, ...);
* ``io``: reading, copying and writing the notebooks around the preprocessors;
* ``ahead``: preparing the next student's folder and starting its kernel (coursetools/prewarm.py);
* ``score``: the worker's look-up of the student's total;
* ``other``: the rest of the student's task (converter set-up, logging);
* ``total``.

CPU seconds: ``worker`` (this process, over the whole task) and ``kernel`` (the sandboxed
kernel's processes, summed over its life, as SandboxedExecute read them from /proc).
"""

import json
import time
from contextlib import contextmanager

MARK = "[coursetools] phases "
# SandboxedExecute's timing keys that are wall-clock phases of the execute pass
EXECUTE_PHASES = ("kernel_start", "student_cells", "checks", "replays", "kernel_stop")
ORDER = ("setup", "sanitize", *EXECUTE_PHASES, "execute_other", "verify", "save", "io", "ahead",
         "score", "other", "total")


class Phases:
    """Wall seconds per phase (summed over repeats) and CPU seconds per process kind."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def add(self, name, seconds, table=None):
        table = self.wall if table is None else table
        table[name] = table.get(name, 0.0) + float(seconds)

    @contextmanager
    def span(self, name):
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)

    def line(self):
        """The log line (see the module docstring)."""
        wall = {k: round(self.wall[k], 4) for k in ORDER if k in self.wall}
        cpu = {k: round(v, 4) for k, v in self.cpu.items()}
        return MARK + json.dumps({"wall": wall, "cpu": cpu})


def parse(text):
    """[{"wall": {...}, "cpu": {...}}] of every phases line in a log's text."""
    found = []
    for line in text.splitlines():
        at = line.find(MARK)
        if at >= 0:
            try:
                found.append(json.loads(line[at + len(MARK):]))
            except ValueError:
                continue
    return found


class _TimedPreprocessor:
    """A preprocessor of the exporter, timed into ``phases`` under ``name``; ``then`` (if
    given) is called once it has returned."""

    def __init__(self, preprocessor, phases, name, then=None):
        self.preprocessor, self.phases, self.name, self.then = preprocessor, phases, name, then

    def __call__(self, nb, resources):
        started = time.monotonic()
        try:
            return self.preprocessor(nb, resources)
        finally:
            spent = time.monotonic() - started
            if self.name == "execute":
                timing = dict((resources or {}).get("cnn_grader", {}).get("timing") or {})
                for key in EXECUTE_PHASES:
                    self.phases.add(key, timing.get(key, 0.0))
                    spent -= timing.get(key, 0.0)
                self.phases.add("kernel", timing.get("kernel_cpu", 0.0), self.phases.cpu)
                self.phases.add("execute_other", max(spent, 0.0))
            else:
                self.phases.add(self.name, spent)
            if self.then is not None:
                with self.phases.span("ahead"):
                    self.then()

    def __getattr__(self, name):
        return getattr(self.preprocessor, name)


def timed_autograde(phases, after_execute=None, **kwargs):
    """nbgrader's Autograde converter (kwargs as for it) with every step timed into ``phases``;
    ``after_execute()`` is called each time a notebook has run (its execute pass returned)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from coursetools.perimeter import VerifyHiddenChecks

    class TimedAutograde(Autograde):
        def init_assignment(self, assignment_id, student_id):
            with phases.span("setup"):
                super().init_assignment(assignment_id, student_id)

        def _init_preprocessors(self):
            super()._init_preprocessors()
            wrapped = []
            for pp in self.exporter._preprocessors:
                if self._sanitizing:
                    name = "sanitize"
                elif isinstance(pp, Execute):
                    wrapped.append(_TimedPreprocessor(pp, phases, "execute", after_execute))
                    continue
                elif isinstance(pp, VerifyHiddenChecks):
                    name = "verify"
                else:
                    name = "save"
                wrapped.append(_TimedPreprocessor(pp, phases, name))
            self.exporter._preprocessors = wrapped

        def convert_single_notebook(self, notebook_filename):
            before = sum(phases.wall.get(k, 0.0) for k in ("sanitize", "verify", "save", "ahead",
                                                            "execute_other", *EXECUTE_PHASES))
            started = time.monotonic()
            try:
                super().convert_single_notebook(notebook_filename)
            finally:
                inside = sum(phases.wall.get(k, 0.0) for k in ("sanitize", "verify", "save", "ahead",
                                                                "execute_other", *EXECUTE_PHASES))
                phases.add("io", max(time.monotonic() - started - (inside - before), 0.0))

    return TimedAutograde(**kwargs)
