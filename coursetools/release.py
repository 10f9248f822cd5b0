"""`make release` and `make validate`."""

import hashlib
import json

import nbformat

from coursetools import scratch
from coursetools.errors import CourseError
from coursetools.points import check_groups, scoring_rule, table, update_doc
from coursetools.splice import grader_files, load_folder
from coursetools.notebooks import (
    NBFORMAT_VERSION, build_assignment, fill_solutions, find_leaks, nbgrader_meta, source_files,
)

# What a release is made from besides source/<a>/: a change to any of these rebuilds it.
RELEASE_INPUTS = ("nbgrader_config.py", "requirements.txt")
RELEASE_CODE = ("coursetools/notebooks.py", "coursetools/release.py", "coursetools/course.py",
                "coursetools/cellcheck.py", "coursetools/splice.py")
RELEASE_CODE_FOLDERS = (("coursetools", "checks"),)  # spliced into the hidden cells


def _digest(course, paths):
    h = hashlib.sha256()
    for rel, path in paths:
        data = path.read_bytes() if path.is_file() else b"<missing>"
        h.update(f"{rel}\0{len(data)}\0".encode() + data)
    return h.hexdigest()


def _files(course, folder):
    base = course.path(*folder)
    return [(str(p.relative_to(course.root)), p) for p in sorted(base.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def release_state(course):
    """Content hashes of what the release is built from and of what it built."""
    inputs = _files(course, ("source", course.assignment)) + [
        (rel, course.path(rel)) for rel in (*RELEASE_INPUTS, *RELEASE_CODE)]
    for folder in RELEASE_CODE_FOLDERS:
        inputs += _files(course, folder)
    outputs = _files(course, ("release", course.assignment)) + _files(course, ("build", "source", course.assignment))
    return {"inputs": _digest(course, inputs), "gradebook": course.db_url(),
            "outputs": _digest(course, outputs)}


def _stamp(course):
    return course.path("build", f"release-{course.assignment}.sha256")


def release_is_current(course):
    """True when release/<a>/ was built by `make release` from the sources as they are now
    (content hashes, not times: a git checkout resets times) and the gradebook has it."""
    try:
        recorded = json.loads(_stamp(course).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recorded != release_state(course):
        return False
    try:
        course.require_gradebook_assignment()
    except CourseError:
        return False
    return True


def release_if_changed(course, log=print):
    """`make release` only when its sources changed (every target but `release` uses this)."""
    course.require_source()
    if release_is_current(course):
        return
    log(f"source/{course.assignment}/ or the course configuration changed: building the release again")
    release(course, log=log)


def _refuse(problems):
    shown = "\n  ".join(map(str, problems[:10]))
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    raise CourseError(f"{len(problems)} code cell(s) cannot be handed out as they are; do not hand this release "
                      f"out:\n  {shown}{more}")


def release(course, log=print):
    course.require_source()
    _stamp(course).unlink(missing_ok=True)
    built = build_assignment(course.root, course.assignment, log=log)
    from coursetools.cellcheck import check_files

    problems = check_files([(nb, str(course.relative(course.path("source", course.assignment, nb.stem + ".py"))),
                             course.path("source", course.assignment, nb.stem + ".py")) for nb in built])
    if problems:
        _refuse(problems)
    course.nbgrader_checked(
        ["generate_assignment", course.assignment, "--force"],
        "release", f"nbgrader generate_assignment {course.assignment}",
    )
    problems = check_files([(p, str(course.relative(p)), None)
                            for p in sorted(course.release_dir.glob("*.ipynb"))])
    if problems:
        _refuse(problems)
    leaks = find_leaks(course.release_dir, source_files(course.root, course.assignment),
                       grader_files(course.path("source", course.assignment)))
    if leaks:
        shown = "; ".join(f"{path.relative_to(course.root)}: {line[:60]!r}" for path, line in leaks[:3])
        raise CourseError(
            f"{len(leaks)} solution/hidden-test line(s) reached release/ ({shown}): "
            "do not hand this release out; check the markers in source/"
        )
    points = 0.0
    for nb_path in built:
        nb = nbformat.read(nb_path, as_version=NBFORMAT_VERSION)
        points += sum(float(m.get("points", 0)) for m in map(nbgrader_meta, nb.cells) if m and m.get("grade"))
        if len(built) == 1 and update_doc(course.path("docs", f"assignment-{course.assignment}.md"),
                                          table(nb, *doc_groups(course))):
            log(f"updated the points table of docs/assignment-{course.assignment}.md")
    files = sorted(p.relative_to(course.root) for p in course.release_dir.rglob("*") if p.is_file())
    log(f"released {course.assignment}: {', '.join(map(str, files))} ({points:g} points); "
        "every code cell compiles; no solution or hidden-test line found in release/")
    _stamp(course).write_text(json.dumps(release_state(course)) + "\n", encoding="utf-8")


def instructor_submission(course):
    """{notebook name: release notebook answered with the instructor solution}."""
    notebooks = {}
    for name in course.release_notebooks():
        released = nbformat.read(course.release_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
        source = nbformat.read(course.build_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
        notebooks[name] = fill_solutions(released, source)
    return notebooks


def blank_submission(course):
    return {
        name: nbformat.read(course.release_dir / f"{name}.ipynb", as_version=NBFORMAT_VERSION)
        for name in course.release_notebooks()
    }


def validate(course, log=print):
    """The instructor solution earns every point; the untouched release earns none.

    Both are graded by real `nbgrader autograde` in a scratch copy of the course
    (the course's own gradebook and folders are not touched).
    """
    course.require_gradebook_assignment()
    from coursetools.trialrun import trial_run

    log("running the released notebook answered with the instructor solution (as a student would) ...")
    broken = trial_run(course, instructor_submission(course), course.settings.kernel_python or None)
    lines = [f"release/{course.assignment}/{name}.ipynb: {p}" for name, found in broken.items() for p in found]
    if lines:
        raise CourseError("the released notebook fails with the instructor solution; fix the "
                          "source and `make release`:\n  " + "\n  ".join(lines[:10]))
    log("every cell ran: every visible test passes")
    log("grading the instructor solution and the blank release in a scratch course ...")
    results = scratch.grade(course, {
        "instructor-solution": instructor_submission(course),
        "blank-release": blank_submission(course),
    })
    problems = []
    for cell in results["instructor-solution"].cells:
        if cell.score != cell.max_score:
            problems.append(f"instructor solution scores {cell.score:g}/{cell.max_score:g} on {cell.name}")
    for cell in results["blank-release"].cells:
        if cell.max_score > 0 and cell.score != 0:
            problems.append(f"blank release scores {cell.score:g}/{cell.max_score:g} on {cell.name}")
    sol, blank = results["instructor-solution"], results["blank-release"]
    log(f"instructor solution: {sol.score:g}/{sol.max_score:g}; blank release: {blank.score:g}/{blank.max_score:g}")
    if problems:
        raise CourseError("validation failed: " + "; ".join(problems))
    log(f"validate {course.assignment}: OK")


def doc_groups(course):
    """(groups, all-or-nothing cells) for the points table of the assignment's doc."""
    grader = course.path("source", course.assignment, "grader")
    modules = [load_folder(course.assignment, grader, "checks")] if (grader / "checks.py").is_file() else []
    return check_groups(modules), scoring_rule(course.root)
