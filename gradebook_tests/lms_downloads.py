"""LMS downloads as the LMSs really write them, made at test time (no binary blobs committed).

Canvas (canvas-lms ContentZipper): a flat zip, ``<sortable name, lowercased, non-word
characters removed>[_late]_<user id>_<file id>_<file name as uploaded, -1 when uploaded again>``.
Moodle (mod/assign download_submissions): a folder per student,
``<Full name>_<participant id>_assignsubmission_file_/<file path>`` (``_`` in names becomes a space).
Blackboard (Grade Center "Assignment File Download"): ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``
next to a receipt ``..._attempt_<time>.txt``; the zip is ``gradebook_<course>_<assignment>_<time>.zip``.
Zips made on macOS carry ``__MACOSX/._<file>`` companions and ``.DS_Store``.
"""

import io
import json
import zipfile

import nbformat

from coursetools.course import Course
from coursetools.notebooks import NBFORMAT_VERSION, fill_solutions, grade_id, is_solution


CORRUPT = b'{"cells": [ this is not a notebook'  # a damaged upload


def notebooks(root, assignment="spatial"):
    """{'solved', 'partial', 'blank'}: the release notebook answered fully, half, not at all."""
    course = Course(root, assignment)
    (name,) = course.release_notebooks()
    released = nbformat.read(course.release_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
    source = nbformat.read(course.build_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
    todo = [grade_id(c) for c in released.cells if is_solution(c)]
    keep = set(todo[: max(1, len(todo) // 2)])
    stubs = {grade_id(c): c.source for c in released.cells}

    def half(gid, code):
        return code if gid in keep else stubs[gid]

    return {"solved": nbformat.writes(fill_solutions(released, source)).encode(),
            "partial": nbformat.writes(fill_solutions(released, source, half)).encode(),
            "blank": nbformat.writes(released).encode()}


def other_assignment_notebook(name="week2"):
    """A notebook of another assignment: its own nbgrader cells (and the usual 'setup')."""
    nb = nbformat.v4.new_notebook()
    for gid, solution in (("setup", False), ("softmax_forward", True), ("softmax_forward_visible", False)):
        meta = {"grade": not solution and gid != "setup", "grade_id": gid, "locked": not solution,
                "schema_version": 3, "solution": solution, "task": False}
        if meta["grade"]:
            meta["points"] = 5
        cell = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": meta})
        cell["id"] = gid
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def add_release(root, assignment, data):
    """Put another assignment's release notebook into release/<assignment>/ of a course copy."""
    folder = root / "release" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{assignment}.ipynb").write_bytes(data)


def write_zip(path, entries, mac=False):
    """``entries``: [(name, bytes)] or [(name, bytes, mode)]; mac: add macOS companions."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in entries:
            name, data = item[0], item[1]
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 2, 10, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (item[2] if len(item) > 2 else 0o100644) << 16
            zf.writestr(info, data)
            if mac:
                folder, _, base = name.rpartition("/")
                companion = f"__MACOSX/{folder + '/' if folder else ''}._{base}"
                zf.writestr(companion, b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        if mac:
            zf.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
    return path


def zip_bytes(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


# --- Canvas --------------------------------------------------------------------------------

def canvas_download(path, nbs):
    """Jane Roe on time; Zoë Müller late (Canvas's marker); John Smith uploaded twice (the
    second upload, file id 5010, is 'spatial-1.ipynb'); Ann Doe sent a PDF and a text entry."""
    return write_zip(path, [
        ("roejane_1001_5001_spatial.ipynb", nbs["solved"]),
        ("müllerzoë_late_1002_5002_spatial.ipynb", nbs["partial"]),
        ("smithjohn_1003_5003_spatial.ipynb", nbs["blank"]),
        ("smithjohn_1003_5010_spatial-1.ipynb", nbs["solved"]),
        ("doeann_1004_5004_Spatial Operations notes.pdf", b"%PDF-1.4\n%fake\n"),
        ("doeann_1004_text.html", b"<html><body>I could not finish</body></html>"),
    ], mac=True)


CANVAS_ROSTER = """id,first_name,last_name,email,canvas_id,sis_user_id,sis_login_id,section
jroe,Jane,Roe,jane.roe@uni.example,1001,S001,jroe,Section A
zmuller,Zoë,Müller,zoe.muller@uni.example,1002,S002,zmuller,Section A
jsmith,John,Smith,john.smith@uni.example,1003,S003,jsmith,Section B
adoe,Ann,Doe,ann.doe@uni.example,1004,S004,adoe,Section B
klee,Kim,Lee,kim.lee@uni.example,1005,S005,klee,Section B
"""


# --- Moodle --------------------------------------------------------------------------------

def moodle_download(path, nbs):
    """One folder per participant; Zoë's notebook in a subfolder she made; John also typed
    an online text; Ann uploaded only a PDF; a macOS re-zip added __MACOSX/."""
    return write_zip(path, [
        ("Jane Roe_34567_assignsubmission_file_/spatial.ipynb", nbs["solved"]),
        ("Zoë Müller_34568_assignsubmission_file_/Übung 1/spatial.ipynb", nbs["partial"]),
        ("John Smith_34569_assignsubmission_file_/spatial.ipynb", nbs["blank"]),
        ("John Smith_34569_assignsubmission_onlinetext_/onlinetext.html",
         b"<p>Sorry, the last part is missing.</p>"),
        ("Ann Doe_34570_assignsubmission_file_/Spatial notes.pdf", b"%PDF-1.4\n%fake\n"),
    ], mac=True)


MOODLE_ROSTER = """id,first_name,last_name,email,moodle_idnumber
jroe,Jane,Roe,jane.roe@uni.example,S001
zmuller,Zoë,Müller,zoe.muller@uni.example,S002
jsmith,John,Smith,john.smith@uni.example,S003
adoe,Ann,Doe,ann.doe@uni.example,S004
"""


# --- Blackboard ----------------------------------------------------------------------------

BB_ASSIGNMENT = "Spatial operations"


def blackboard_receipt(full, user, when_text, files):
    lines = [f"Name: {full} ({user})", f"Assignment: {BB_ASSIGNMENT}",
             f"Date Submitted: {when_text}", "Current Grade: Needs Grading", "",
             "Submission Field:", "There is no student submission text data for this assignment.",
             "", "Comments:", "There are no student comments for this assignment.", "", "Files:"]
    for original, stored in files:
        lines += [f"\tOriginal filename: {original}", f"\tFilename: {stored}"]
    return ("\n".join(lines) + "\n").encode()


def blackboard_download(path, nbs):
    """Jane Roe: two attempts (blank, then solved: the latest wins); Zoë Müller: one attempt
    the morning after the due date (late); John Smith: one attempt whose file name had a
    space and parentheses; Kai Berg: a damaged file. Times are the server's local time
    (c.Intake.lms_timezone)."""
    entries = []
    for user, full, stamp, shown, data, original in (
            ("jroe", "Jane Roe", "2026-11-30-10-00-00", "Monday, November 30, 2026 10:00:00 AM CET",
             nbs["blank"], "spatial.ipynb"),
            ("jroe", "Jane Roe", "2026-12-01-21-00-00", "Tuesday, December 1, 2026 9:00:00 PM CET",
             nbs["solved"], "spatial.ipynb"),
            ("zmuller", "Zoë Müller", "2026-12-02-09-30-00",
             "Wednesday, December 2, 2026 9:30:00 AM CET", nbs["partial"], "spatial.ipynb"),
            ("jsmith", "John Smith", "2026-12-01-20-00-00", "Tuesday, December 1, 2026 8:00:00 PM CET",
             nbs["blank"], "spatial (2).ipynb"),
            ("kberg", "Kai Berg", "2026-12-01-19-00-00", "Tuesday, December 1, 2026 7:00:00 PM CET",
             CORRUPT, "spatial.ipynb")):
        stem = f"{BB_ASSIGNMENT}_{user}_attempt_{stamp}"
        stored = f"{stem}_{original}"
        entries.append((f"{stem}.txt", blackboard_receipt(full, user, shown, [(original, stored)])))
        entries.append((stored, data))
    return write_zip(path, entries)


BLACKBOARD_ROSTER = """id,first_name,last_name,email,blackboard_username,gradescope_sid
jroe,Jane,Roe,jane.roe@uni.example,jroe,S001
zmuller,Zoë,Müller,zoe.muller@uni.example,zmuller,S002
jsmith,John,Smith,john.smith@uni.example,jsmith,S003
kberg,Kai,Berg,kai.berg@uni.example,kberg,S004
lott,Lena,Ott,lena.ott@uni.example,lott,S005
"""



def set_config(root, lines):
    """Append settings to a course copy's nbgrader_config.py."""
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as fh:
        fh.write("\n# test settings\n" + "\n".join(lines) + "\n")


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))
