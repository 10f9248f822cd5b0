"""Canvas: Assignments > <assignment> > "Download Submissions" (a flat zip).

Canvas names each file (canvas-lms, ContentZipper) ``<name>[_late]_<user id>_<file id>_<file>``:
``<name>`` is the student's sortable name ("Smith, John") lowercased with every non-word
character removed ("smithjohn"; letters such as ü stay), ``late`` marks a submission Canvas
counts as late (the download holds no time), ``<user id>`` is the Canvas user id (the "ID"
column of Canvas's gradebook export), ``<file id>`` the id of the uploaded file (it grows
with every upload), and ``<file>`` the name the student uploaded, which Canvas suffixes
``-1``, ``-2``, ... when a file of that name was uploaded before (``spatial-1.ipynb``).
The download holds only each student's current submission.
"""

import re
from pathlib import PurePosixPath

from coursetools.intake.lms import Attempt

NAME = "canvas"
TITLE = "Canvas"
PATTERN = "'<name>[_late]_<Canvas user id>_<file id>_<file name>'"
NAMING = re.compile(r"^(?P<name>.*?)(?P<late>_late)?_(?P<user>\d+)_(?P<file>\d+)_(?P<original>.+)$",
                    re.IGNORECASE)
RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")


def matches(path):
    return NAMING.match(PurePosixPath(path).name) is not None


def parse(unpacked, settings):
    attempts, refused = [], []
    for entry in unpacked.notebooks:
        m = NAMING.match(entry.name)
        if not m:
            refused.append((entry, f"not named like a Canvas download ({PATTERN})"))
            continue
        original, again = m["original"], 0
        r = RESUBMITTED.match(original)
        if r:
            original, again = r["stem"] + r["ext"], int(r["n"])
        name = m["name"] or "anonymous"
        attempts.append(Attempt(
            entry=entry, lms=NAME, user=m["user"], label=f"{name} (Canvas user {m['user']})",
            original_name=original, late=bool(m["late"]), attempt=(0,),
            within=(int(m["file"]), again),
            ids={"canvas_id": m["user"], "canvas_name": name, "canvas_file_id": m["file"]}))
    return attempts, refused
