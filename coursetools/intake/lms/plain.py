"""Plain file names: ``<student id>.ipynb`` or ``<student id>_<anything>.ipynb``.

For a folder or zip of notebooks put together by hand (or by an LMS not listed), e.g.
``alice.ipynb``, ``alice_spatial.ipynb``, ``alice_20261121_attempt2.ipynb``. The name
carries no time: two notebooks of one student for one notebook of the assignment cannot
be told apart, and that student is refused (named), never guessed.
"""

import re
from pathlib import PurePosixPath

from coursetools.intake.lms import Attempt

NAME = "plain"
TITLE = "plain"
PATTERN = "'<student id>.ipynb' or '<student id>_<anything>.ipynb'"
NAMING = re.compile(r"^(?P<user>[^_\s][^_]*?)(?:_(?P<rest>.*))?\.ipynb$", re.IGNORECASE)
ID_START = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def matches(path):
    m = NAMING.match(PurePosixPath(path).name)
    return bool(m and ID_START.match(m["user"]))


def parse(unpacked, settings):
    attempts, refused = [], []
    for entry in unpacked.notebooks:
        m = NAMING.match(entry.name)
        if not m or not ID_START.match(m["user"]):
            refused.append((entry, "the name does not start with a student id "
                                   f"(plain file names: {PATTERN})"))
            continue
        attempts.append(Attempt(entry=entry, lms=NAME, user=m["user"], label=m["user"],
                                original_name=entry.name, attempt=(0,)))
    return attempts, refused
