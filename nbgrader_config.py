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
# SQLAlchemy URL) for concurrent graders on several machines (README: "Grading at scale").
# The Makefile names the course it is for (COURSE_DB_ROOT): copies of the course made by the
# tests, `make demo`, `make validate` or the benchmark keep their own SQLite gradebook.
if os.environ.get("COURSE_DB_URL") and os.environ.get("COURSE_DB_ROOT") and \
        os.path.realpath(os.environ["COURSE_DB_ROOT"]) == os.path.realpath(ROOT):
    c.CourseDirectory.db_url = os.environ["COURSE_DB_URL"]
# Never hand out or copy back anything but the notebooks and the assignment's data files.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py", ".*"]


# Per-cell time limit while grading; a naive loop solution needs well under 5 s per cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Stop each student's kernel at once when its notebook is done: a graceful shutdown of the
# sandboxed kernel costs ~2 s per student and grades nothing.
c.Execute.shutdown_kernel = "immediate"

# make collect: file names in the LMS download start with the student id,
# e.g. alice.ipynb, alice_spatial.ipynb, alice_12345_attempt2.ipynb.
c.FileNameCollectorPlugin.named_regexp = r"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.@-]*)(?:_(?P<file_id>.*))?\.ipynb$"

# Autograde, for untrusted code (README: "Grading untrusted code"):
# 1. RepairCells (sanitize pass) restores deleted, duplicated, re-typed or re-labelled
#    instructor cells from the gradebook, where nbgrader's own restoring gives up on the student;
# 2. GraderSetupFirst runs the grader_setup* cells before any student cell;
# 3. every student's kernel runs in a bubblewrap sandbox (coursetools/sandbox.py): read-only
#    system, private scratch folder, no network, course folder hidden, rlimits, output cap.
#    COURSE_UNSANDBOXED=1 (`make grade UNSANDBOXED=1`) is the instructor's explicit opt-out;
# 4. the hidden checks are judged OUTSIDE the kernel from the records they left
#    (coursetools/verify.py), before nbgrader scores the cells.
# traitlets ignores a config file that raises (nbgrader would then grade with its defaults:
# no sandbox, no verification), so any failure here stops autograde instead.
try:
    from coursetools import sandbox
    from coursetools.repair import RepairCells
    from coursetools.verify import GraderSetupFirst, VerifyHiddenChecks
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                        DeduplicateIds, IgnorePattern, LimitOutput,
                                        OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

    if os.environ.get("COURSE_UNSANDBOXED") != "1":
        sandbox.configure(c, ROOT)
    c.OverwriteCells.add_missing_cells = False  # RepairCells does it, without nbgrader's KeyErrors
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, RepairCells, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
        CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [
        GraderSetupFirst, sandbox.SandboxedExecute, VerifyHiddenChecks, IgnorePattern,
        ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
        CheckCellMetadata]
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
