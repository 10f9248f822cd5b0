"""The one rule for student ids, used wherever a student id enters the course.

nbgrader matches student ids as glob patterns (``a*`` would grade alice too), strips
spaces, splits exchange file names on ``+`` only twice, and stores ids in a 128-character
column that PostgreSQL enforces (SQLite would not). So an id is 1 to 128 characters:
a letter or digit first, then letters, digits and ``. _ @ + -``.
"""

import re

MAX_LENGTH = 128
PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@+-]{{0,{MAX_LENGTH - 1}}}")
RULE = f"letters, digits and . _ @ + - only, a letter or digit first, at most {MAX_LENGTH} characters"


def is_valid(student_id):
    return isinstance(student_id, str) and PATTERN.fullmatch(student_id) is not None


def problem(student_id):
    """None when ``student_id`` is a valid id, else why not (one short sentence)."""
    if is_valid(student_id):
        return None
    shown = student_id if len(student_id) <= 40 else student_id[:37] + "..."
    if len(student_id) > MAX_LENGTH:
        return (f"the student id is longer than {MAX_LENGTH} characters (the gradebook's "
                f"limit): {shown!r}")
    return f"{shown!r} cannot be a student id ({RULE})"
