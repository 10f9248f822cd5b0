"""Grading at scale: `make grade JOBS=N`, CLUSTER=dask / tcp://, DB=postgresql://.

One class (correct, blank, half done, a slip, two mutants) is graded first by stock
sequential `nbgrader autograde`; every other way of grading it must give every student the
same points in every graded cell:
- `make grade JOBS=2` (local worker processes, SQLite gradebook);
- `make grade CLUSTER=dask JOBS=2` (a local Dask cluster);
- `make grade CLUSTER=tcp://... DB=postgresql://...`: a Dask scheduler and two workers
  started with `make scheduler` / `make worker`, and a real PostgreSQL server started for
  the test on a private port and data directory (gradebook_tests/pgserver.py).
"""

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO, VENV, copy_course, make
from coursetools import parallel, phases
from coursetools.course import Course
from coursetools.settings import Settings
from coursetools.demo import class_submissions
from coursetools.integrity import check_gradebook
from coursetools.progress import Progress, duration
from mutants import MUTANTS
from mutation_report import mutant_submission

ASSIGNMENT = "spatial"


def cell_scores(db_url):
    """{student: {(notebook, cell): points}} of the assignment in the gradebook at db_url."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return {sub.student.id: {(nb.name, g.name): float(g.score)
                                 for nb in sub.notebooks for g in nb.grades}
                for sub in gb.find_assignment(ASSIGNMENT).submissions}


def hand_in(root, students):
    for student, nb in students.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    """A course copy with six submissions, graded once by stock sequential nbgrader."""
    root = copy_course(tmp_path_factory.mktemp("parallel") / "course")
    make(root, "release")
    course = Course(root, ASSIGNMENT)
    students = {name.split(".")[0].split("_")[0]: nb
                for name, nb in class_submissions(course).items()}
    for mutant in (MUTANTS[0], MUTANTS[len(MUTANTS) // 2]):
        students[f"mutant{len(students)}"] = mutant_submission(course, mutant)[ASSIGNMENT]
    hand_in(root, students)
    status, _ = course.nbgrader(["autograde", ASSIGNMENT, "--force"], "stock-autograde")
    assert status == 0, f"stock nbgrader autograde failed: see {course.log_path('stock-autograde')}"
    stock = cell_scores(f"sqlite:///{root / 'gradebook.db'}")
    assert sorted(stock) == sorted(students)
    totals = {s: sum(cells.values()) for s, cells in stock.items()}
    assert totals["alice"] == 160 and totals["bob"] == 0 and 0 < totals["carol"] < 160, totals
    return root, stock


def assert_same(stock, got, how):
    assert sorted(got) == sorted(stock), f"{how}: graded {sorted(got)}, expected {sorted(stock)}"
    for student in stock:
        diff = {cell: (stock[student][cell], got[student].get(cell)) for cell in stock[student]
                if got[student].get(cell) != stock[student][cell]}
        assert not diff, f"{how}: {student} got other points than stock nbgrader " \
                         f"(cell: (stock, {how})): {diff}"


def test_make_grade_jobs_2_gives_the_grades_of_stock_nbgrader(class_course):
    root, stock = class_course
    # a folder name nbgrader would read as a glob pattern ("al*": alice) is refused
    glob_folder = root / "submitted" / "al*" / ASSIGNMENT
    glob_folder.mkdir(parents=True)
    (glob_folder / f"{ASSIGNMENT}.ipynb").write_bytes(
        (root / "submitted" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    try:
        out = make(root, "grade", "JOBS=2")
    finally:
        shutil.rmtree(glob_folder.parent)
    assert "not graded: al*: 'al*' cannot be a student id" in out.stdout, out.stdout
    assert_same(stock, cell_scores(f"sqlite:///{root / 'gradebook.db'}"), "make grade JOBS=2")
    text = out.stdout
    assert "on 2 local worker process(es)" in text
    progress = re.findall(r"^\s+\[\s*(\d+)/6\] (\S+)\s+(\S+)\s.*\| done (\d+), failed 0", text, re.M)
    assert [int(p[0]) for p in progress] == [1, 2, 3, 4, 5, 6], text
    assert sorted(p[1] for p in progress) == sorted(stock), text
    assert re.search(r"left 0, [\d.]+/min, took \d+", text), text
    assert "gradebook: integrity check passed" in text
    assert "6 graded submission(s), 1 problem(s)" in text
    assert re.search(r"time: [\d.]+ s, of which [\d.]+ s grading 6 submission\(s\)", text), text
    log = (root / "logs" / f"autograde-{ASSIGNMENT}.log").read_text()
    assert len(re.findall(r"^==== \S+ \(graded, ", log, re.M)) == 6
    # every student's entry ends with its time breakdown (what make bench-grade averages)
    found = phases.parse(log)
    assert len(found) == 6, log[-2000:]
    for entry in found:
        wall, cpu = entry["wall"], entry["cpu"]
        assert wall["kernel_start"] > 0 and wall["student_cells"] > 0 and cpu["kernel"] > 0, entry
        assert wall["total"] >= wall["kernel_start"] + wall["student_cells"] + wall["checks"], entry


def test_make_grade_on_a_local_dask_cluster(class_course):
    root, stock = class_course
    out = make(root, "grade", "CLUSTER=dask", "JOBS=2")
    assert "on dask" in out.stdout
    assert "6 graded submission(s), 0 problem(s)" in out.stdout, out.stdout
    assert_same(stock, cell_scores(f"sqlite:///{root / 'gradebook.db'}"), "CLUSTER=dask")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(root, *args):
    return subprocess.Popen(["make", "-s", *args, f"VENV={VENV}"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.stdout.read()


def test_cluster_of_workers_with_a_postgresql_gradebook(class_course, tmp_path):
    """The multi-machine setup on one machine: scheduler + 2 workers + PostgreSQL."""
    from pgserver import PostgresServer

    root, stock = class_course
    port = _free_port()
    scheduler = f"tcp://127.0.0.1:{port}"
    with PostgresServer(tmp_path) as pg:
        db = f"DB={pg.url}"
        make(root, "release", db)  # the assignment enters the PostgreSQL gradebook
        out = make(root, "grade", f"CLUSTER={scheduler}", db, check=False)  # not started yet
        assert out.returncode != 0 and f"error: cannot reach the Dask scheduler {scheduler}" \
            in out.stderr, out.stderr
        procs = [_start(root, "scheduler", f"SCHEDULER_PORT={port}")]
        try:
            procs.append(_start(root, "worker", f"CLUSTER={scheduler}", "JOBS=2"))
            out = make(root, "grade", f"CLUSTER={scheduler}", db)
        finally:
            logs = [_stop(p) for p in reversed(procs)]
        assert f"on {scheduler}" in out.stdout, out.stdout
        assert "6 graded submission(s), 0 problem(s)" in out.stdout, out.stdout
        assert_same(stock, cell_scores(pg.url), "CLUSTER=tcp:// + PostgreSQL\n" + out.stdout)
        workers = set(re.findall(r"worker (\S+:\d+)\)",
                                 (root / "logs" / f"autograde-{ASSIGNMENT}.log").read_text()))
        assert len(workers) == 2, f"expected both workers to grade, saw {workers}; {logs}"
        totals = {s: sum(c.values()) for s, c in stock.items()}
        assert check_gradebook(pg.url, ASSIGNMENT, {s: None for s in totals}, 160) == []
        out = make(root, "export", db)
        assert "grades.csv: 6 row(s)" in out.stdout
    # the SQLite gradebook was not touched by the PostgreSQL run
    assert_same(stock, cell_scores(f"sqlite:///{root / 'gradebook.db'}"), "SQLite after PostgreSQL")


def test_a_student_nbgrader_cannot_grade_is_reported_and_the_others_graded(class_course):
    root, _ = class_course
    course = Course(root, ASSIGNMENT)
    seen = []
    results = parallel.run(root, ASSIGNMENT, ["alice", "nobody"], course.db_url(), jobs=2,
                           sandboxed=True, on_result=seen.append)
    assert [r["student"] for r in seen] and sorted(results) == ["alice", "nobody"]
    assert results["alice"]["ok"] and results["alice"]["score"] == 160, results["alice"]
    assert not results["nobody"]["ok"] and results["nobody"]["error"], results["nobody"]


@pytest.mark.parametrize("args, message", [
    (("JOBS=two",), "error: JOBS=two: give a number of workers >= 1"),
    (("JOBS=0",), "error: JOBS=0: give a number of workers >= 1"),
    (("CLUSTER=yarn",), "error: unknown CLUSTER='yarn'"),
    (("CLUSTER=tcp://127.0.0.1:9",), "error: CLUSTER=tcp://127.0.0.1:9 grades on several "
     "machines, which cannot share a SQLite gradebook: give a database server with DB="),
    (("DB=postgresql://nobody:secret@127.0.0.1:9/x",),
     "error: cannot open the gradebook DB='postgresql://nobody:***@127.0.0.1:9/x': "),
])
def test_bad_grading_options_give_one_clear_line(class_course, args, message):
    root, _ = class_course
    out = make(root, "grade", *args, check=False)
    assert out.returncode != 0
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_progress_counts_rate_and_eta():
    now = [0.0]
    lines = []
    progress = Progress(4, log=lines.append, clock=lambda: now[0])
    assert progress.status() == "done 0, failed 0, left 4"
    now[0] = 30.0
    progress.update({"student": "a", "ok": True, "score": 160.0, "max_score": 160.0, "seconds": 30})
    now[0] = 60.0
    progress.update({"student": "b", "ok": False, "error": "boom", "seconds": 1})
    assert lines[0].startswith("  [1/4] a") and "160/160" in lines[0]
    assert lines[0].endswith("| done 1, failed 0, left 3, 2.0/min, ETA 1m30s"), lines[0]
    assert "FAILED: boom" in lines[1] and lines[1].endswith("done 1, failed 1, left 2, 2.0/min, ETA 1m00s")
    assert [duration(s) for s in (5, 65, 3700)] == ["5s", "1m05s", "1h01m"]


def test_progress_on_a_terminal_redraws_one_bar_and_keeps_failures():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen, now = Terminal(), [0.0]
    progress = Progress(2, stream=screen, clock=lambda: now[0])
    progress.start()
    now[0] = 10.0
    progress.update({"student": "a", "ok": False, "error": "boom", "seconds": 10})
    now[0] = 20.0
    progress.update({"student": "b", "ok": True, "score": 5.0, "max_score": 10.0, "seconds": 10})
    frames = screen.getvalue().split("\r\033[K")
    assert frames[1].startswith("  [" + "-" * 24 + "] 0/2  done 0, failed 0, left 2"), frames
    assert frames[2].startswith("  [1/2] a") and "FAILED: boom" in frames[2] and frames[2].endswith("\n")
    assert frames[3].startswith("  [" + "#" * 12 + "-" * 12 + "] 1/2  done 0, failed 1, left 1, "
                                "6.0/min, ETA 10s"), frames
    assert frames[4] == "  [" + "#" * 24 + "] 2/2  done 1, failed 1, left 0, 6.0/min, took 20s\n"


def test_slurm_workers_get_this_python_and_the_course(tmp_path):
    """What dask-jobqueue would submit (no Slurm here: only the job script is checked)."""
    import dask_jobqueue

    root = tmp_path / "my course"
    cluster = dask_jobqueue.SLURMCluster(cores=2, processes=2, memory="8GB",
                                         **parallel.jobqueue_options(root))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert f"cd '{root}'" in script and f"export PYTHONPATH='{root}'" in script, script
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script, script


def test_db_applies_to_the_course_it_was_given_for_only(tmp_path):
    """Copies of the course (tests, demo, validate, bench) keep their own SQLite gradebook."""
    url = "postgresql://grader@db.invalid/course"
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", copy / "nbgrader_config.py")
    settings = Settings(db_url=url)
    assert Course(REPO, ASSIGNMENT, settings=settings).db_url() == url
    assert f"--CourseDirectory.db_url={url}" in settings.nbgrader_options()
    assert Course(copy, ASSIGNMENT, settings=settings.without_db()).db_url() == \
        f"sqlite:///{copy}/gradebook.db"
    assert Course(REPO, ASSIGNMENT).db_url() == f"sqlite:///{REPO}/gradebook.db"
    assert "COURSE_DB_URL" not in (REPO / "nbgrader_config.py").read_text()


def test_a_worker_names_what_it_lacks(tmp_path):
    assert "no course folder" in parallel.check_worker(str(tmp_path), "sqlite://", False)
    missing = f"postgresql://nobody@127.0.0.1:{_free_port()}/x"
    problem = parallel.check_worker(str(REPO), missing, False)
    assert problem and "cannot open the gradebook" in problem, problem
    assert parallel.check_worker(str(REPO), "sqlite://", False) is None


def test_failure_reason_is_the_exception_not_the_traceback_header():
    log = ("[INFO] Autograding x\n[ERROR] Traceback (most recent call last):\n"
           "  File \"base.py\", line 1, in start\n    self.convert()\n"
           "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n"
           "[ERROR] There was an error processing assignment: x\n")
    assert parallel._reason(log) == \
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked"
    assert parallel._reason("[ERROR] No notebooks were matched by 'x'\n") == \
        "No notebooks were matched by 'x'"
    assert parallel._reason("[INFO] nothing\n") == "nbgrader could not grade it"
