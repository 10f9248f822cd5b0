"""`make grade`, `make feedback`, `make export` and the grade summary."""

import re
import statistics
import time

import nbformat

from coursetools.errors import CourseError


# nbgrader matches student ids as glob patterns ("a*" would grade alice too) and strips
# spaces; its gradebook column holds 128 characters.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


def check_submission(course, student, notebooks):
    """None when the student's folder holds readable notebooks, else the reason."""
    if not STUDENT_ID.fullmatch(student):
        return (f"'{student}' cannot be a student id (letters, digits and . _ @ + - only, "
                f"at most 128 characters): rename submitted/{student}/")
    folder = course.path("submitted", student, course.assignment)
    present = [name for name in notebooks if (folder / f"{name}.ipynb").is_file()]
    if not present:
        found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        return f"no {', '.join(n + '.ipynb' for n in notebooks)} in submitted/{student}/{course.assignment}/ (found: {found})"
    for name in present:
        path = folder / f"{name}.ipynb"
        try:
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"{name}.ipynb is not a valid notebook ({reason[:100]})"
    return None


UNSANDBOXED_WARNING = ("WARNING: graded WITHOUT the sandbox (UNSANDBOXED=1): student code ran "
                       "with your permissions and could read or change the course")


def sandbox_mode(course):
    """"on" when grading kernels run sandboxed, "off" when the instructor opted out.

    Raises CourseError when the sandbox cannot start here and there is no explicit opt-out.
    """
    if not course.settings.sandboxed:
        return "off"
    from coursetools.perimeter.sandbox import preflight

    reason = preflight()
    if reason:
        raise CourseError(
            f"cannot sandbox the grading kernels: {reason}. Install bubblewrap (`make sandbox` "
            f"as root, or `sudo apt-get install bubblewrap`) with unprivileged user namespaces "
            f"enabled; or grade WITHOUT isolation, at your own risk: `make grade UNSANDBOXED=1`")
    return "on"


def grade(course, jobs=None, cluster="", log=print):
    """Autograde every collected submission with ``jobs`` workers (see coursetools.parallel)."""
    from coursetools import parallel

    started = time.time()
    mode = sandbox_mode(course)
    jobs = jobs or parallel.default_jobs()
    lanes, students = None, course.submitted_students()
    if students and not cluster:
        # local workers start now: they import nbgrader while the submissions are checked
        lanes = parallel.LocalLanes(min(jobs, len(students)), course.root, course.assignment,
                                    course.db_url(), mode == "on",
                                    course.settings.config_overrides())
    try:
        return _grade(course, students, jobs, cluster, mode, started, lanes, log)
    finally:
        if lanes is not None:
            lanes.close()


def _grade(course, students, jobs, cluster, mode, started, lanes, log):
    notebooks = course.release_notebooks()
    course.require_gradebook_assignment()
    if not students:
        raise CourseError(
            f"no submissions of '{course.assignment}' in submitted/: "
            "collect them first with `make collect FROM=<folder or zip>`"
        )
    rejected = {}
    for student in students:
        reason = check_submission(course, student, notebooks)
        if reason:
            rejected[student] = reason
    todo = [s for s in students if s not in rejected]
    for student, reason in rejected.items():
        log(f"  not graded: {student}: {reason}")
    errors, results = {}, {}
    if todo:
        results = run_workers(course, todo, course.db_url(), jobs, cluster, mode == "on",
                              "autograde", overrides=course.settings.config_overrides(), log=log,
                              lanes=lanes)
        errors = {s: r["error"] for s, r in results.items() if not r["ok"]}
    failures = dict(rejected)
    failures.update({s: f"{why} (see {course.relative(course.log_path('autograde'))})"
                     for s, why in errors.items()})
    summary(course, failures, log=log)
    from coursetools.integrity import check_gradebook

    with course.gradebook() as gb:
        max_score = float(gb.find_assignment(course.assignment).max_score)
    problems = check_gradebook(course.db_url(), course.assignment, scores(course), max_score)
    log("   gradebook: " + ("integrity check passed" if not problems else
                            "PROBLEMS: " + "; ".join(problems)))
    log("   " + time_line(started, results.values()))
    if mode == "off":
        log("   " + UNSANDBOXED_WARNING)
    if not todo or len(errors) == len(todo):
        raise CourseError("no submission could be graded" + (
            f": {next(iter(errors.values()))}" if errors else ""))


def time_line(started, results):
    """'time: 41.2 s, of which 35.0 s grading 6 submission(s) (the first one's start to the
    last one's end) and 6.2 s before and after (checks, workers starting, summary)'."""
    total = time.time() - started
    spans = [(r["started"], r["ended"]) for r in results if r.get("started") and r.get("ended")]
    if not spans:
        return f"time: {total:.1f} s"
    grading = max(e for _, e in spans) - min(s for s, _ in spans)
    return (f"time: {total:.1f} s, of which {grading:.1f} s grading {len(spans)} submission(s) "
            f"(the first one's start to the last one's end) and {total - grading:.1f} s before "
            f"and after (checks, workers starting, summary)")


def run_workers(course, students, db_url, jobs, cluster, sandboxed, log_name, overrides=None,
                log=print, lanes=None):
    """Grade ``students`` with coursetools.parallel, showing progress; nbgrader's output of
    each student goes to logs/<log_name>-<assignment>.log. -> {student: result}."""
    from coursetools import parallel
    from coursetools.progress import Progress

    engine = cluster or f"{min(jobs, len(students))} local worker process(es)"
    how = "in the bubblewrap sandbox" if sandboxed else "WITHOUT sandbox"
    log(f"grading {len(students)} submission(s) of {course.assignment} with nbgrader autograde "
        f"on {engine}, {how} ...")
    progress = Progress(len(students), log, jobs=min(jobs, len(students)))
    path = course.log_path(log_name)
    with open(path, "w", encoding="utf-8") as out:
        def on_result(result):
            out.write(f"==== {result['student']} ({'graded' if result['ok'] else 'FAILED'}, "
                      f"{result['seconds']:.1f} s, worker {result['worker']})\n{result['log']}\n")
            out.flush()
            progress.update(result)

        progress.start()
        return parallel.run(course.root, course.assignment, students, db_url,
                            min(jobs, len(students)), cluster, sandboxed, overrides, on_result,
                            lanes=lanes)


KERNEL_TROUBLE = {"CellTimeoutError": "timed out", "DeadKernelError": "kernel died",
                  "CellExecutionError": "kernel failed", "KernelRestarted": "kernel restarted",
                  "KernelStopped": "not run: kernel stopped", "TimeBudget": "time budget"}


def incidents(course, student):
    """What went wrong in the student's kernel, cell by cell (timeouts, crashes, output flood,
    the time budget), and answers that import a library that does the work.

    Returns (lost, slow): ``lost`` are troubles in graded cells (they cost points) and
    forbidden imports; ``slow`` are troubles in other cells: the notebook was slow or noisy
    there, but no graded cell's points changed because of it.
    """
    from coursetools.forbidden import flags

    lost, slow = [], []
    for path in course.path("autograded", student, course.assignment).glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        scored = graded_cells(course, path.stem)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            name = meta.get("grade_id", cell.get("id"))
            graded = name in scored
            for output in cell.get("outputs", []):
                ename = output.get("ename", "")
                what = KERNEL_TROUBLE.get(ename) or ("timed out" if "Timeout" in ename else None)
                if output.get("output_type") == "stream" and "[output limit" in output.get("text", ""):
                    what = "output limit"
                where = lost if graded else slow
                if what and f"{name} ({what})" not in where:
                    where.append(f"{name} ({what})")
        lost += [f"uses a forbidden library: {line}" for line in flags(nb)]
    return lost, slow


def graded_cells(course, notebook):
    """grade_ids of the cells of ``notebook`` that carry points (the gradebook's record)."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            nb = gb.find_notebook(notebook, course.assignment)
        except MissingEntry:
            return set()
        return {c.name for c in nb.grade_cells if float(c.max_score or 0) > 0}


def _shown(items):
    return ", ".join(items[:4]) + (f", ... ({len(items)} in all)" if len(items) > 4 else "")


def scores(course):
    """{student: (score, max_score)} for every graded submission of the assignment."""
    with course.gradebook() as gb:
        assignment = gb.find_assignment(course.assignment)
        return {s.student.id: (float(s.score), float(s.max_score)) for s in assignment.submissions}


def summary(course, failures=None, log=print, table_rows=25):
    failures = dict(failures or {})
    course.require_gradebook_assignment()
    results = scores(course)
    graded = {s: v for s, v in results.items() if s not in failures}
    notes = {}
    for student in graded:
        lost, slow = incidents(course, student)
        if lost:
            failures[student] = f"graded, lost points: {_shown(lost)}"
        if slow:
            notes[student] = f"slow but complete (no points changed): {_shown(slow)}"
    log("")
    log(f"== {course.assignment}: {len(graded)} graded submission(s), {len(failures)} problem(s)"
        + (f", {len(notes)} slow" if notes else ""))
    if graded:
        pct = [100 * sc / mx if mx else 0.0 for sc, mx in graded.values()]
        max_score = max(mx for _, mx in graded.values())
        log(f"   mean {statistics.mean(pct):.1f}%  median {statistics.median(pct):.1f}%  "
            f"min {min(pct):.1f}%  max {max(pct):.1f}%  (out of {max_score:g} points)")
        log(f"   {'student':<24} {'score':>12}")
        for student in sorted(graded)[:table_rows]:
            sc, mx = graded[student]
            log(f"   {student:<24} {sc:>6g} / {mx:<4g}")
        if len(graded) > table_rows:
            log(f"   ... {len(graded) - table_rows} more: `make export` writes all of them to grades.csv")
    for student, why in sorted(failures.items()):
        log(f"   problem: {student}: {why}")
    for student, why in sorted(notes.items()):
        log(f"   note: {student}: {why}")


def feedback(course, log=print):
    course.require_gradebook_assignment()
    graded = [s for s in course.submitted_students()
              if any(course.path("autograded", s, course.assignment).glob("*.ipynb"))]
    if not graded:
        raise CourseError(f"nothing graded yet for '{course.assignment}': run `make grade` first")
    course.nbgrader_checked(["generate_feedback", course.assignment, "--force"], "feedback",
                            "nbgrader generate_feedback")
    pages = sorted(course.path("feedback").glob(f"*/{course.assignment}/*.html"))
    log(f"feedback: {len(pages)} HTML page(s) in feedback/<student>/{course.assignment}/")


def export(course, log=print):
    course.require_gradebook_assignment()
    if not scores(course):
        raise CourseError(f"no graded submission of '{course.assignment}' to export: run `make grade` first")
    course.nbgrader_checked(["export", "--to=grades.csv"], "export", "nbgrader export")
    rows = course.path("grades.csv").read_text(encoding="utf-8").strip().splitlines()
    log(f"grades.csv: {len(rows) - 1} row(s) (all assignments and students in the gradebook)")
