"""Blackboard Learn: Grade Center column > "Assignment File Download" (Original courses;
Ultra's "Download submissions" names files the same way).

Each attempt's files are named ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``
next to a receipt ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>.txt``::

    Name: Jane Roe (jroe)
    Assignment: Spatial operations
    Date Submitted: Tuesday, December 1, 2026 11:45:03 PM CET
    Current Grade: Needs Grading
    ...
    Files:
    	Original filename: spatial.ipynb
    	Filename: Spatial operations_jroe_attempt_2026-12-01-23-45-03_spatial.ipynb

The time in the file name is the server's local time without a zone
(c.Intake.lms_timezone); the receipt's labels are translated with the course language,
so the receipt is only used for the username and the original file name when it is in
English, and the file name otherwise. Every attempt is in the download: the latest wins.
"""

import re
from datetime import datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from coursetools.intake.lms import Attempt

NAME = "blackboard"
TITLE = "Blackboard"
PATTERN = "'<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name>'"
NAMING = re.compile(r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<ts>\d{4}(?:-\d\d){5})_(?P<original>.+)$")
RECEIPT = re.compile(r"^(?P<stem>.+_attempt_\d{4}(?:-\d\d){5})\.txt$")
STEM = re.compile(r"^(?P<stem>.+_attempt_(?P<ts>\d{4}(?:-\d\d){5}))_(?P<rest>.+)$")
NAME_LINE = re.compile(r"^Name:\s*(?P<full>.*?)\s*\((?P<user>[^()\s]+)\)\s*$")


def matches(path):
    return NAMING.match(PurePosixPath(path).name) is not None


def read_receipt(text):
    """{'full_name', 'username', 'files': {archive name: original name}} from a receipt."""
    found = {"files": {}}
    original = None
    for raw in text.splitlines():
        line = raw.strip()
        m = NAME_LINE.match(line)
        if m and "username" not in found:
            found["full_name"], found["username"] = m["full"], m["user"]
        elif line.startswith("Original filename:"):
            original = line.split(":", 1)[1].strip()
        elif line.startswith("Filename:") and original is not None:
            found["files"][line.split(":", 1)[1].strip()] = original
            original = None
    return found


def parse(unpacked, settings):
    zone = ZoneInfo(settings.lms_timezone)
    receipts = {}
    for path, text in unpacked.texts.items():
        m = RECEIPT.match(PurePosixPath(path).name)
        if m:
            receipts[m["stem"]] = read_receipt(text)
    attempts, refused = [], []
    for entry in unpacked.notebooks:
        m = NAMING.match(entry.name)
        s = STEM.match(entry.name)
        if not m or not s:
            refused.append((entry, f"not named like a Blackboard download ({PATTERN})"))
            continue
        receipt = receipts.get(s["stem"], {})
        user = receipt.get("username") or m["user"]
        original = receipt.get("files", {}).get(entry.name, m["original"])
        try:
            when = datetime.strptime(s["ts"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=zone)
        except ValueError:
            refused.append((entry, f"its attempt time {s['ts']} is not a date"))
            continue
        full = receipt.get("full_name")
        attempts.append(Attempt(
            entry=entry, lms=NAME, user=user,
            label=f"{full} ({user})" if full else user, original_name=original,
            submitted_at=when, attempt=(when,),
            ids={"blackboard_username": user, **({"blackboard_name": full} if full else {})}))
    return attempts, refused


def receipt_paths(unpacked):
    """The download's receipts (used, so never listed as refused)."""
    return {p for p in unpacked.texts if RECEIPT.match(PurePosixPath(p).name)}
