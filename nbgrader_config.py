"""nbgrader configuration of the course (the Makefile passes the rest on the command line)."""

c = get_config()  # noqa: F821 - provided by nbgrader

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
