"""Start the next student's sandboxed kernel while a grading worker finishes the current one.

A local grading worker (coursetools/parallel.py, ``lane``) knows which student it grades
next. Right after the current student's notebook has run, it prepares the next student's
folder autograded/<student>/<a>/ with the files nbgrader would put there (the student's
other submitted files, then the assignment's files over them: nbgrader's Autograde does the
same, and does it again when it grades that student) and starts that student's kernel in it
(SandboxedExecute.launch_ahead). The kernel then boots (bubblewrap, Python, ipykernel: ~0.4 s)
while the worker judges, saves and writes the current student, instead of in front of the
next one.

Isolation is that of a kernel started when the notebook runs: the kernel is started for its
student, sees only that student's folder (the launcher copies it at start), is used for that
student's notebook only, and only if the folder then holds exactly the same files; otherwise,
or if it is never used, it is killed. No gradebook entry is written ahead.
"""

import os
import shutil

from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import find_all_files

from coursetools.perimeter import sandboxed_execute


def _copy(files, base, dest):
    for path in files:
        target = os.path.join(dest, os.path.relpath(path, base))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.remove(target)
        shutil.copy(path, target)


def stage(config, assignment, student):
    """Put into autograded/<student>/<a>/ the files nbgrader's Autograde copies there (see
    the module docstring). Returns (that folder, whether it was created here), or None when
    the student has no notebook to grade."""
    coursedir = CourseDirectory(config=config)
    source = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    if not any(name.endswith(".ipynb") for name in _names(source)):
        return None
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    created = not os.path.isdir(dest)
    os.makedirs(dest, exist_ok=True)
    ignore = list(coursedir.ignore) + ["*.ipynb"]
    _copy(find_all_files(source, ignore), source, dest)
    master = coursedir.format_path(coursedir.source_directory, ".", assignment)
    keep = {os.path.join(master, name)
            for name in config.get("Autograde", {}).get("exclude_overwriting", {}).get(assignment, [])}
    _copy([p for p in find_all_files(master, ignore) if p not in keep], master, dest)
    return dest, created


def _names(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


_CREATED = set()   # folders stage() created in this process (abandon removes them)


class Ahead:
    """The next student of one worker, prepared and its kernel started (``start``)."""

    def __init__(self, config, assignment, student):
        self.config, self.assignment, self.student = config, assignment, student
        self.folder, self.created = None, False

    def start(self, log):
        """Prepare the folder and start the kernel; a failure only costs the head start."""
        if self.folder is not None:
            return
        try:
            staged = stage(self.config, self.assignment, self.student)
            if staged is None:
                return
            self.folder, self.created = staged
            if self.created:
                _CREATED.add(self.folder)
            sandboxed_execute.SandboxedExecute(config=self.config).launch_ahead(self.folder)
        except Exception as exc:  # noqa: BLE001 - grading starts the kernel as usual then
            log.warning("could not start %s's kernel ahead: %s: %s", self.student,
                        type(exc).__name__, exc)


def abandon(config, assignment, student):
    """The worker stops before grading ``student``: kill the kernel started ahead for it and
    remove its folder if stage() made it and nbgrader has not graded into it (nothing of the
    student's is lost: the files are copies)."""
    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    sandboxed_execute.discard_ahead(folder)
    if folder in _CREATED and not any(n.endswith(".ipynb") for n in _names(folder)):
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(folder))   # autograded/<student>/, if now empty
        except OSError:
            pass
    _CREATED.discard(folder)


def graded(folder):
    """nbgrader has graded into ``folder``: it is no longer one stage() made."""
    _CREATED.discard(folder)
