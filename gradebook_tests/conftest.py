"""Shared fixtures: a temporary, git-committed copy of the course, driven by `make`.

Every test that grades goes through the real `nbgrader` command line in that
copy; the working tree's own gradebook and student folders are never touched.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The environment running the tests (never resolve symlinks: that leads out of the venv).
VENV = Path(sys.prefix)
if sys.prefix == sys.base_prefix or not (VENV / "pyvenv.cfg").is_file():
    raise RuntimeError("run the gradebook tests with `make test` (inside the course's .venv)")
sys.path.insert(0, str(REPO))
# The tests grade copies of the course with their own SQLite gradebooks: an instructor's
# exported DB=postgresql://... must never receive the test classes.
for _var in ("DB", "COURSE_DB_URL", "COURSE_DB_ROOT"):
    os.environ.pop(_var, None)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def tracked_files(repo=REPO):
    """Files git would commit: tracked, plus untracked ones not ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and (repo / p).is_file()]


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout


def copy_course(dest):
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "course snapshot")
    return dest


def pytest_addoption(parser):
    parser.addoption("--kernel-venv", default=str(REPO / ".venv-kernel"),
                     help="the grading kernel's venv (make test passes KERNEL_VENV)")


def pytest_configure(config):
    """Every Course the tests build grades with the kernel venv, as `make` does."""
    global KERNEL_VENV
    KERNEL_VENV = Path(config.getoption("--kernel-venv")).absolute()
    from coursetools.course import Course
    from coursetools.settings import Settings

    Course.default_settings = Settings(kernel_python=str(KERNEL_VENV / "bin" / "python"))


KERNEL_VENV = REPO / ".venv-kernel"


def make(root, *args, check=True):
    """Run `make -s ARGS VENV=<this venv> KERNEL_VENV=<the kernel venv>` in ``root``."""
    proc = subprocess.run(["make", "-s", *args, f"VENV={VENV}", f"KERNEL_VENV={KERNEL_VENV}"],
                          cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A committed copy of the course on which `make release` has run once."""
    root = copy_course(tmp_path_factory.mktemp("course") / "course")
    make(root, "release")
    return root


@pytest.fixture(scope="session")
def released_course(tmp_path_factory):
    """A committed copy of the course released once, as a template: tests that need a course
    of their own take `fresh_course(released_course, dest)` (seconds, not a release each)."""
    root = copy_course(tmp_path_factory.mktemp("released") / "course")
    make(root, "release")
    return root


def fresh_course(template, dest):
    """A copy of a released course (its gradebook, build/ and git history included)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def coursetools(root, *args, check=True):
    """`python -m coursetools --root <root> <args>`: what a make target runs, without the
    release step that `make collect` runs first (used where only collect is under test)."""
    env = {**os.environ, "PATH": str(VENV / "bin") + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "coursetools", "--root", str(root), *args],
                          cwd=root, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"coursetools {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def tiny_course_at(root):
    """A course folder holding only the fixture assignment `tiny`, released (no `make`)."""
    from coursetools import release
    from coursetools.course import Course

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(FIXTURES / "tiny", root / "source" / "tiny")
    course = Course(root, "tiny")
    release.release(course, log=lambda *_: None)
    return course


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory):
    """The fixture assignment `tiny` released in a course of its own (a few seconds)."""
    return tiny_course_at(tmp_path_factory.mktemp("tiny") / "course")
