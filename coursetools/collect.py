"""`make collect`: an LMS download (folder or zip) -> submitted/<student>/<assignment>/.

The files go through `nbgrader zip_collect` with ``NotebookCollector`` below,
which reads the student id from the file name (``FileNameCollectorPlugin.named_regexp``
in nbgrader_config.py, matched against the file's base name) and files the
notebook under the assignment's release notebook name.
"""

import os
import re
import shutil
import zipfile
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin

from coursetools.errors import CourseError


# nbgrader's gradebook column for ids; PostgreSQL enforces it (SQLite would not)
MAX_ID_LENGTH = 128


class NotebookCollector(FileNameCollectorPlugin):
    """Collector that matches the base name and maps it onto a release notebook.

    ``file_id`` from the regexp is used when it names a release notebook
    (``alice_spatial.ipynb``); when the assignment has a single notebook, any
    matched file is that notebook (``alice.ipynb``, ``alice_12345_attempt.ipynb``).
    """

    def collect(self, submitted_file):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            self.log.warning("not collected: %s: not a notebook (%s)", os.path.basename(submitted_file),
                             ", ".join(self.valid_ext))
            return None
        match = re.match(self.named_regexp, os.path.basename(submitted_file))
        if not match or not match.groupdict().get("student_id"):
            self.log.warning("not collected: %s: the name does not start with a student id",
                             os.path.basename(submitted_file))
            return None
        info = {k: v for k, v in match.groupdict().items() if v}
        if len(info["student_id"]) > MAX_ID_LENGTH:
            self.log.warning("not collected: %s: the student id is longer than %d characters "
                             "(the gradebook's limit)", os.path.basename(submitted_file)[:60] + "...",
                             MAX_ID_LENGTH)
            return None
        notebooks = release_names(os.environ.get("COURSE_RELEASE_DIR", ""))
        wanted = (info.get("file_id") or "").removesuffix(".ipynb")
        if wanted in notebooks:
            info["file_id"] = wanted + ".ipynb"
        elif len(notebooks) == 1:
            info["file_id"] = notebooks[0] + ".ipynb"
        else:
            self.log.warning("not collected: %s: cannot tell which of the notebooks %s it is",
                             os.path.basename(submitted_file), ", ".join(notebooks))
            return None
        return info


def release_names(release_dir):
    return sorted(p.stem for p in Path(release_dir).glob("*.ipynb")) if release_dir else []


def stage_download(source, archive):
    """Copy a folder or zip of notebooks into nbgrader's archive folder."""
    source = Path(source)
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    if source.is_dir():
        files = [p for p in source.rglob("*") if p.is_file()]
        for path in files:
            dest = archive / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        return [p.name for p in files]
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
        shutil.copy2(source, archive / source.name)
        return [Path(n).name for n in names]
    if source.is_file():
        raise CourseError(f"{source} is neither a folder nor a zip file")
    raise CourseError(f"nothing to collect: {source} does not exist (give FROM=<folder or zip of notebooks>)")


def collect(course, source, log=print):
    if not source:
        raise CourseError("say where the download is: make collect FROM=<folder or .zip of student notebooks>")
    course.require_source()
    course.release_notebooks()  # fails clearly when the assignment is not released yet
    archive = course.path("downloaded", course.assignment, "archive")
    names = stage_download(Path(source).expanduser().resolve(), archive)
    if not names:
        raise CourseError(f"nothing to collect: {source} has no files")
    before = {s: _mtimes(course, s) for s in course.submitted_students()}
    os.environ["COURSE_RELEASE_DIR"] = str(course.release_dir)
    lines = course.nbgrader_checked(
        ["zip_collect", course.assignment, "--force", "--strict",
         "--collector=coursetools.collect.NotebookCollector"],
        "collect", "nbgrader zip_collect",
    )
    skipped = [ln.split("not collected:", 1)[1].strip() for ln in lines if "not collected:" in ln]
    collected = [s for s in course.submitted_students() if _mtimes(course, s) != before.get(s)]
    log(f"collected {len(collected)} submission(s) of {course.assignment} into submitted/: "
        + (", ".join(collected) if collected else "none"))
    for reason in skipped:
        log(f"  not collected: {reason}")
    if skipped:
        log("  file names must start with the student id: <student_id>.ipynb or <student_id>_<anything>.ipynb "
            "(FileNameCollectorPlugin.named_regexp in nbgrader_config.py)")
    if not collected:
        raise CourseError(f"no submission could be matched to a student in {source}")


def _mtimes(course, student):
    folder = course.path("submitted", student, course.assignment)
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*") if p.is_file())
