"""`make demo`: a simulated class through collect -> grade -> feedback -> export.

Everything happens in ``demo/`` (a throw-away course with its own SQLite
gradebook), so the real course's gradebook and folders are never touched.
The submissions are made from the sources at run time, as students would hand
them in: the release notebook with its TODO cells answered.
"""

import shutil
import zipfile

import nbformat

from coursetools import collect, grading, release
from coursetools.course import Course
from coursetools.notebooks import NBFORMAT_VERSION, fill_solutions, is_solution, grade_id


def _answer_first(n_cells):
    """An edit that answers only the first ``n_cells`` TODO cells (a partial submission)."""
    seen = []

    def edit(gid, code):
        seen.append(gid)
        return code if len(seen) <= n_cells else None

    return edit


# A realistic slip per assignment: (solution cell, text in the answer, what the student wrote).
SLIPS = {
    "spatial": ("maxpool2d_backward", "dx[n_idx, c_idx, r + u, s + v] += dout[:, :, i, j]",
                "dx[n_idx, c_idx, r + u, s + v] = dout[:, :, i, j]"),
}


def _with_slip(assignment, released, todo):
    """An edit that puts the assignment's known slip into one answer; an assignment without a
    declared slip gets its last answer left as the stub (a forgotten function)."""
    cell, old, new = SLIPS.get(assignment, (None, None, None))

    def edit(gid, code):
        if cell is None:
            return _stub(released, gid) if todo and gid == todo[-1] else code
        return code.replace(old, new) if gid == cell else code

    return edit


def class_submissions(course):
    """{file name in the LMS download: notebook} for a small class of five."""
    names = course.release_notebooks()
    files = {}
    for name in names:
        released = nbformat.read(course.release_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
        source = nbformat.read(course.build_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
        todo = [grade_id(c) for c in released.cells if is_solution(c)]
        partial = _answer_first(max(1, len(todo) // 2))

        def keep_stub(gid, code, partial=partial):
            answer = partial(gid, code)
            return answer if answer is not None else _stub(released, gid)

        suffix = "" if len(names) == 1 else f"_{name}"
        files[f"alice{suffix}.ipynb"] = fill_solutions(released, source)
        files[f"bob{suffix}.ipynb"] = released
        files[f"carol_20261121_attempt2{suffix}.ipynb"] = fill_solutions(released, source, keep_stub)
        files[f"dave{suffix}.ipynb"] = fill_solutions(released, source,
                                                      _with_slip(course.assignment, released, todo))
    return files


def _stub(nb, gid):
    return next(c.source for c in nb.cells if grade_id(c) == gid)


def demo(course, log=print):
    course.require_source()
    root = course.path("demo")
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    shutil.copy2(course.path("nbgrader_config.py"), root / "nbgrader_config.py")
    shutil.copytree(course.path("source", course.assignment), root / "source" / course.assignment)
    class_course = Course(root, course.assignment, settings=course.settings.without_db())
    log(f"== demo: a class of five in demo/ (own gradebook demo/gradebook.db); release {course.assignment}")
    release.release(class_course, log=log)

    download = root / "lms-download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for fname, nb in class_submissions(class_course).items():
            zf.writestr(fname, nbformat.writes(nb))
        zf.writestr("eve.ipynb", '{"cells": [ this is not a notebook')
        zf.writestr("instructions.txt", "an LMS adds files like this one\n")
    slip = ("`=` for `+=` in one backward pass" if course.assignment in SLIPS
            else "the last answer left undone")
    log(f"== collect: demo/lms-download.zip (alice: correct, bob: blank, carol: half done, "
        f"dave: {slip}, eve: corrupt file)")
    collect.collect(class_course, download, log=log)
    log("== grade")
    grading.grade(class_course, log=log)
    log("== feedback")
    grading.feedback(class_course, log=log)
    log("== export")
    grading.export(class_course, log=log)
    log("")
    log("demo done: look at demo/feedback/<student>/ (HTML), demo/grades.csv and demo/logs/")
