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
# Never hand out or copy back anything but the notebooks and the assignment's data files.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py", ".*"]

# Put back test cells a student deleted (off by default: a deleted test cell would score 0).
c.OverwriteCells.add_missing_cells = True

# Per-cell time limit while grading; a naive loop solution needs well under 5 s per cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# make collect: file names in the LMS download start with the student id,
# e.g. alice.ipynb, alice_spatial.ipynb, alice_12345_attempt2.ipynb.
c.FileNameCollectorPlugin.named_regexp = r"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.@-]*)(?:_(?P<file_id>.*))?\.ipynb$"

# Autograde: after the kernel has run a notebook, judge its hidden checks OUTSIDE the kernel
# from the records they left (coursetools/verify.py), before nbgrader scores the cells.
from coursetools.verify import VerifyHiddenChecks  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute,  # noqa: E402
                                    IgnorePattern, LimitOutput, SaveAutoGrades)

c.Autograde.autograde_preprocessors = [
    Execute, VerifyHiddenChecks, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# Feedback shows each test cell with its verdict but without the hidden code: the reference
# and the hidden inputs stay secret for the next students (nbgrader shows them by default).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
