"""`make release` and `make validate`."""

import nbformat

from coursetools import scratch
from coursetools.errors import CourseError
from coursetools.points import check_groups, scoring_rule, table, update_doc
from coursetools.splice import grader_files, load_folder
from coursetools.notebooks import (
    NBFORMAT_VERSION, build_assignment, fill_solutions, find_leaks, nbgrader_meta, source_files,
)


def release(course, log=print):
    course.require_source()
    built = build_assignment(course.root, course.assignment, log=log)
    course.nbgrader_checked(
        ["generate_assignment", course.assignment, "--force"],
        "release", f"nbgrader generate_assignment {course.assignment}",
    )
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
        "no solution or hidden-test line found in release/")


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
