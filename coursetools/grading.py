"""`make grade`, `make feedback`, `make export` and the grade summary."""

import statistics
import time

import nbformat

from coursetools import student_ids
from coursetools.errors import CourseError


# The course's one student-id rule (coursetools/student_ids.py), kept under its old name.
STUDENT_ID = student_ids.PATTERN


def check_submission(course, student, notebooks):
    """None when the student's folder holds readable notebooks, else the reason."""
    if not student_ids.is_valid(student):
        return f"{student_ids.problem(student)}: rename submitted/{student}/"
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
    from coursetools.late import policy

    policy(course)  # a late policy nbgrader cannot take fails here once, not once per student
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
    # what happened to each student, kept for summary, report and export (coursetools/status.py)
    from coursetools import status

    status.record(course, graded=[s for s in todo if s not in errors], failed=failures)
    summary(course, failures, log=log, roster=_default_roster(course, log))
    from coursetools.integrity import check_gradebook

    with course.gradebook() as gb:
        max_score = float(gb.find_assignment(course.assignment).max_score)
        enrolled = [s.id for s in gb.students if not s.submissions]  # `make roster` imports
    problems = check_gradebook(course.db_url(), course.assignment, scores(course), max_score,
                               enrolled=enrolled)
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


def _default_roster(course, log):
    """The course's roster.csv when there is one (a broken one is reported, not fatal here)."""
    from coursetools.intake import roster

    try:
        return roster.find(course, "")
    except CourseError as exc:
        log(f"   note: roster not used: {exc}")
        return None


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


def summary(course, failures=None, log=print, table_rows=25, roster=None):
    """Scores, lateness and penalties of the graded; every student who has no grade, and why.

    The state of each student comes from coursetools.status (the same for report and
    export): a submission that could not be graded stays listed on every later run.
    """
    from coursetools import status
    from coursetools.late import describe_policy

    failures = dict(failures or {})
    course.require_gradebook_assignment()
    standings = status.standings(course, roster)
    graded = {s: st for s, st in standings.items() if st.state == "graded" and s not in failures}
    for student, st in standings.items():
        if st.state == "could not be graded" and student not in failures:
            failures[student] = st.reason
    notes = {}
    for student in graded:
        lost, slow = incidents(course, student)
        if lost:
            failures[student] = f"graded, lost points: {_shown(lost)}"
        if slow:
            notes[student] = f"slow but complete (no points changed): {_shown(slow)}"
    waiting = sorted(s for s, st in standings.items() if st.state == "not graded yet" and s not in failures)
    missing = sorted(s for s, st in standings.items() if st.state == "no submission")
    late = {s: st for s, st in graded.items() if st.seconds_late > 0}
    log("")
    log(f"== {course.assignment}: {len(graded)} graded submission(s), {len(failures)} problem(s)"
        + (f", {len(notes)} slow" if notes else "") + (f", {len(late)} late" if late else ""))
    if graded:
        final = {s: st.score for s, st in graded.items()}
        max_score = max(st.max_score for st in graded.values())
        pct = [100 * final[s] / st.max_score if st.max_score else 0.0 for s, st in graded.items()]
        log(f"   mean {statistics.mean(pct):.1f}%  median {statistics.median(pct):.1f}%  "
            f"min {min(pct):.1f}%  max {max(pct):.1f}%  (out of {max_score:g} points"
            + (", after late penalties)" if late else ")"))
        log(f"   {'student':<24} {'score':>12}")
        for student in sorted(graded)[:table_rows]:
            st = graded[student]
            line = f"   {student:<24} {round(st.score, 2):>6g} / {st.max_score:<4g}"
            if student in late:
                how = ("late per the LMS (no time in the download)" if st.late_marker
                       else f"late {status.duration(st.seconds_late)}")
                line += f"  {how}, penalty {round(st.penalty, 2):g} (before: {round(st.raw, 2):g})"
            log(line)
        if len(graded) > table_rows:
            log(f"   ... {len(graded) - table_rows} more: `make export` writes all of them to grades.csv")
    for student, why in sorted(failures.items()):
        log(f"   problem: {student}: {why}")
    for student, why in sorted(notes.items()):
        log(f"   note: {student}: {why}")
    if waiting:
        log(f"   not graded yet (collected since the last `make grade`): {', '.join(waiting)}")
    if missing:
        log(f"   no submission ({len(missing)} on the roster): {', '.join(missing)}")
    if late or course.path("submitted").is_dir():
        from coursetools.deadlines import due_date, show

        log(f"   due {show(due_date(course))}; late policy: {describe_policy(course)}")


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


def export(course, fmt="csv", roster=None, log=print):
    """grades.csv, or an LMS's import file (coursetools/grade_export.py): a student without a
    grade is never exported as 0."""
    from coursetools import grade_export

    course.require_gradebook_assignment()
    if fmt == "csv" and not scores(course) and not course.submitted_students():
        raise CourseError(f"no graded submission of '{course.assignment}' to export: run `make grade` first")
    return grade_export.export(course, fmt, roster, log=log)
