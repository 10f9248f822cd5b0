"""The conventions the notebook, the grading kernel and the trusted grader share.

One place for every name both sides must agree on: the MIME type of a record, the grade_ids
of the grader cells, the shape of a hidden test cell's check call and of the directive that
`make release` replaces by a grader module. Standard library only: this module is also
loaded into the grading kernel.
"""

import re

# A hidden test cell's record leaves the kernel as one display output of this MIME type.
RECORD_MIME = "application/vnd.cnn-grader.record+json"

# Grader cells (0 points, hidden): grader_setup* load the checks, grader_reference the
# reference. They run in the kernel only after every student cell (see SandboxedExecute).
SETUP_PREFIX = "grader_setup"
REFERENCE_ID = "grader_reference"
# grader_trusted* cells are for the trusted grader only: the kernel never runs them (e.g. the
# whole network's reference loss, which no student code may call).
TRUSTED_PREFIX = "grader_trusted"

# One check call per hidden test cell, e.g. `_grader.check_im2col(im2col)`.
CHECK_CALL = re.compile(r"^(_grader\w*)\.(check_\w+)\(", re.M)

# In a hidden block of source/<a>/<nb>.py:  `# grader module: grader/checks.py as _grader`
# `make release` replaces the line by code that loads that module (and the other modules of
# its folder) under the given name; the gradebook stores the result.
MODULE_DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)#\s*grader module:\s*(?P<path>[\w./-]+\.py)\s+as\s+(?P<name>[A-Za-z_]\w*)\s*$",
    re.M)

# Names the executor never restores from a snapshot (the grader's own, and Python's).
PROTECTED_PREFIXES = ("_grader", "__")


def is_setup(grade_id):
    return str(grade_id or "").startswith(SETUP_PREFIX)


def is_trusted(grade_id):
    return str(grade_id or "").startswith(TRUSTED_PREFIX)


def is_grader_cell(grade_id):
    """A 0-point cell of the grader itself: setup, reference or trusted (not a hidden test)."""
    return is_setup(grade_id) or grade_id == REFERENCE_ID or is_trusted(grade_id)


def check_calls(source):
    """[(grader name, check name)] of a hidden test cell's source."""
    return CHECK_CALL.findall(source or "")
