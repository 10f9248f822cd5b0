"""nbgrader configuration of the course (the Makefile passes the rest on the command line)."""

import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

c.CourseDirectory.course_id = "cnn-spatial"
# source/<a>/*.py (jupytext) is converted to build/source/<a>/*.ipynb by `make release`;
# nbgrader reads its source notebooks there, so no .py file is ever copied into release/.
c.CourseDirectory.source_directory = "build/source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook: SQLite file gradebook.db by default; `make <target> DB=postgresql://...` (any
# SQLAlchemy URL, docs/grading-at-scale.md) passes --CourseDirectory.db_url to this course's
# nbgrader commands and grading workers only (coursetools/settings.py).
# Never hand out or copy back anything but the notebooks and the assignment's data files.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py", ".*"]


# Per-cell time limit while grading; a naive loop solution needs well under 5 s per cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Stop each student's kernel at once when its notebook is done: a graceful shutdown of the
# sandboxed kernel costs ~2 s per student and grades nothing.
c.Execute.shutdown_kernel = "immediate"

# Autograde, for untrusted code (coursetools/perimeter/, docs/threat-model.md):
# 1. RepairCells (sanitize pass) restores deleted, duplicated, re-typed or re-labelled
#    instructor cells from the gradebook, where nbgrader's own restoring gives up on the student;
# 2. SandboxedExecute runs the notebook in a bubblewrap sandbox (read-only system, private
#    scratch folder, no network, course folder hidden, rlimits, output caps, a time budget):
#    every student cell first, the hidden checks after the last one, their records sealed;
# 3. VerifyHiddenChecks judges the hidden checks OUTSIDE the kernel from those records and
#    scores each cell by its case groups, before nbgrader saves the grades.
# `make grade UNSANDBOXED=1` (--SandboxedExecute.sandbox=False) is the explicit opt-out.
# traitlets ignores a config file that raises (nbgrader would then grade with its defaults:
# no sandbox, no verification), so any failure here stops autograde instead.
try:
    from coursetools.perimeter import RepairCells, SandboxedExecute, VerifyHiddenChecks
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, ClearOutput, DeduplicateIds,
                                        IgnorePattern, LimitOutput, OverwriteCells,
                                        OverwriteKernelspec, SaveAutoGrades)

    # nbgrader's CheckCellMetadata, its JSON schema checked once per process, not per cell
    from coursetools.cell_metadata import CheckCellMetadataOnce

    c.SandboxedExecute.course_root = ROOT
    # Per notebook: 10 minutes of wall time (3 of them kept for the hidden checks), 1 MB of
    # output per cell and 5 MB per notebook; more limits: python -m coursetools perimeter-help
    c.SandboxedExecute.time_budget = 600
    c.OverwriteCells.add_missing_cells = False  # RepairCells does it, without nbgrader's KeyErrors
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, RepairCells, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
        CheckCellMetadataOnce]
    c.Autograde.autograde_preprocessors = [
        SandboxedExecute, VerifyHiddenChecks, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadataOnce]
except Exception as exc:  # noqa: BLE001
    if "autograde" in sys.argv:
        raise SystemExit(f"nbgrader_config.py: cannot set up safe grading: {type(exc).__name__}: {exc}")
    raise

# Feedback (coursetools/feedback.py, docs/feedback.md) shows each test cell with its verdict but
# without the hidden code: the reference and the hidden inputs stay secret for the next students
# (nbgrader shows them by default). The grader's internal cells are left out, graded cells are
# named by their function, outputs and markdown are sanitized, math is MathML made here (no
# MathJax, no internet), and a Content-Security-Policy forbids every script in the page.
from coursetools import feedback  # noqa: E402

feedback.configure(c)

# ---- Course operations: the exchange, deadlines, late work, LMS downloads and exports ----
# (docs/course-operations.md; coursetools/intake/, coursetools/late.py, coursetools/grade_export.py)
# The nbgrader exchange of `make publish`, `make collect` (without FROM) and
# `make return-feedback`: a course-local folder to try the whole cycle on one machine. On a
# shared JupyterHub use the hub's exchange, the c.Exchange.root of the students' nbgrader
# config (or EXCHANGE=<dir> on the make command line).
c.Exchange.root = os.path.join(ROOT, "exchange")
# Late work: `make due` records the due date in the gradebook; nbgrader's AssignLatePenalties
# asks this plugin for the penalty of each late notebook. penalty_method: none | zero |
# per_hour | per_day (penalty_percent of the notebook's points per started hour or day, at
# most max_penalty_percent; grace_minutes of lateness forgiven).
c.AssignLatePenalties.plugin_class = "coursetools.late.LatePolicy"
c.LatePolicy.penalty_method = "per_day"
c.LatePolicy.penalty_percent = 10.0
c.LatePolicy.max_penalty_percent = 50.0
c.LatePolicy.grace_minutes = 0.0
# LMS downloads (`make collect FROM=...`): the time zone of Blackboard's attempt times, and
# caps on what a download may unpack to (c.Intake.max_entries, max_notebook_bytes,
# max_unpacked_bytes).
c.Intake.lms_timezone = "UTC"
# `make export FORMAT=canvas`: each assignment's Canvas gradebook column, as Canvas names it
# in its own gradebook export: {"spatial": "Spatial operations (4711)"}.
c.LmsExport.canvas_columns = {}
