"""Moodle: Assignment > "Download all submissions" (a zip).

Moodle (mod/assign, download_submissions) names each student's files
``<full name>_<participant id>_assignsubmission_file_/<file>`` ("Download submissions in
folders", the default since Moodle 3.1) or ``<full name>_<participant id>_assignsubmission_file_<file>``
(the option off). In ``<full name>`` Moodle turns every ``_`` into a space; a group
assignment puts ``<group>-`` before it; blind marking writes ``Participant`` instead.
The participant id is Moodle's per-assignment, randomly allocated id (table
assign_user_mapping): it names nobody across assignments, so students are recognised by
their full name (the roster's first and last name). The download holds no times.
"""

import re
import unicodedata
from pathlib import PurePosixPath

from coursetools.intake.lms import Attempt

NAME = "moodle"
TITLE = "Moodle"
PATTERN = "'<Full name>_<participant id>_assignsubmission_file_/<file name>'"
FOLDER = re.compile(r"^(?P<name>[^_/]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
FLAT = re.compile(r"^(?P<name>[^_/]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<original>.+)$")


def _find(path):
    """(full name, participant id, plugin, original file name) or None."""
    parts = PurePosixPath(path).parts
    for i, part in enumerate(parts[:-1]):
        m = FOLDER.match(part)
        if m:
            return m["name"], m["pid"], m["plugin"], "/".join(parts[i + 1:])
    m = FLAT.match(parts[-1]) if parts else None
    if m:
        return m["name"], m["pid"], m["plugin"], m["original"]
    return None


def matches(path):
    return _find(path) is not None


def normal_name(text):
    """A full name as compared: NFC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def parse(unpacked, settings):
    attempts, refused = [], []
    for entry in unpacked.notebooks:
        found = _find(entry.path)
        if not found:
            refused.append((entry, f"not named like a Moodle download ({PATTERN})"))
            continue
        name, pid, plugin, original = found
        if normal_name(name) == "participant":
            refused.append((entry, f"Moodle's blind marking hides who Participant {pid} is: "
                                   "reveal student identities in Moodle and download again"))
            continue
        attempts.append(Attempt(
            entry=entry, lms=NAME, user=name.strip(), label=f"{name.strip()} (Moodle participant {pid})",
            original_name=PurePosixPath(original).name, attempt=(0,),
            ids={"moodle_participant": pid, "moodle_name": name.strip()}))
    return attempts, refused
