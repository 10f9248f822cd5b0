"""The local grading workers (coursetools.parallel.LocalLanes): who grades what, and what
happens when a worker dies or the instructor stops. Fake grading functions (no nbgrader, no
kernel: seconds); test_parallel.py grades real classes through the same workers.
"""

import os
import threading
import time
from pathlib import Path

from coursetools import parallel


def fake_grade(root, assignment, student, db_url, sandboxed, overrides, following):
    """Stands for grade_student; "dies-once" kills its worker the first time, "dies" always."""
    marker = Path(root) / f"{student}.died"
    if student == "dies" or (student == "dies-once" and not marker.exists()):
        marker.write_text("x")
        os._exit(3)
    (Path(root) / f"{student}.started").write_text("x")
    time.sleep(float(overrides.get("seconds", 0.02)))
    return {"student": student, "ok": True, "error": "", "following": following,
            "worker": os.getpid(), "seconds": 0.0, "log": ""}


def fake_abandon(root, assignment, student, db_url, sandboxed, overrides):
    (Path(root) / f"{student}.abandoned").write_text("x")


def grade(tmp_path, students, jobs=2, **overrides):
    return parallel.run(tmp_path, "a", students, "sqlite://", jobs, overrides=overrides,
                        grade=fake_grade, abandon=fake_abandon)


def test_every_student_is_graded_once_and_each_worker_knows_its_next_one(tmp_path):
    students = [f"s{i}" for i in range(9)]
    seen = []
    results = parallel.run(tmp_path, "a", students, "sqlite://", 2, on_result=seen.append,
                           grade=fake_grade, abandon=fake_abandon)
    assert sorted(results) == students and sorted(r["student"] for r in seen) == students
    by_worker = {}
    for r in seen:
        by_worker.setdefault(r["worker"], []).append(r)
    assert 1 <= len(by_worker) <= 2     # (a worker may take them all before the other is up)
    for graded in by_worker.values():
        # the student a worker started ahead is the one it graded next; the last: none
        assert [r["following"] for r in graded] == [r["student"] for r in graded[1:]] + [None]
    assert not list(tmp_path.glob("*.abandoned"))


def test_the_students_of_a_worker_that_died_are_graded_by_a_new_one(tmp_path):
    results = grade(tmp_path, ["a", "b", "dies-once", "c", "d", "e"])
    assert sorted(results) == ["a", "b", "c", "d", "dies-once", "e"]
    assert all(r["ok"] for r in results.values()), results


def test_a_student_whose_worker_dies_twice_is_reported_not_graded(tmp_path):
    results = grade(tmp_path, ["a", "dies", "b"], jobs=1)
    assert results["a"]["ok"] and results["b"]["ok"]
    assert not results["dies"]["ok"]
    assert results["dies"]["error"] == "the worker failed (it died while grading this submission)"


def test_after_stop_each_worker_ends_its_student_and_abandons_its_next_one(tmp_path):
    students = [f"s{i}" for i in range(6)]
    lanes = parallel.LocalLanes(2, tmp_path, "a", "sqlite://", overrides={"seconds": 3},
                                grade=fake_grade, abandon=fake_abandon)
    got = {}

    def feed():
        try:
            got.update(lanes.grade(students)[0])
        except KeyboardInterrupt:
            pass

    feeder = threading.Thread(target=feed)
    feeder.start()
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.started"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)     # until both workers are in their first student (3 s each)
    lanes.close()           # what Ctrl-C does: stop, then wait for the workers
    feeder.join(30)
    abandoned = sorted(p.stem for p in tmp_path.glob("*.abandoned"))
    assert len(got) <= 2 and len(abandoned) == 2, (got, abandoned)
    assert set(abandoned).isdisjoint(got) and set(abandoned) <= set(students)
    assert all(not p.is_alive() for p in lanes.procs)


def test_workers_started_early_end_at_once_when_there_is_nothing_to_grade(tmp_path):
    lanes = parallel.LocalLanes(2, tmp_path, "a", "sqlite://", grade=fake_grade,
                                abandon=fake_abandon)
    started = time.monotonic()
    lanes.close()
    assert all(p.exitcode == 0 for p in lanes.procs)
    assert time.monotonic() - started < 30


def report_threads(root, assignment, student, db_url, sandboxed, overrides, following):
    return {"student": student, "ok": True, "error": "", "worker": os.getpid(), "seconds": 0.0,
            "log": "", "threads": {k: os.environ.get(k) for k in parallel.ONE_THREAD}}


def test_workers_run_numpy_on_one_thread(tmp_path, monkeypatch):
    for key in parallel.ONE_THREAD:
        monkeypatch.delenv(key, raising=False)
    results = parallel.run(tmp_path, "a", ["s1", "s2"], "sqlite://", 2, grade=report_threads,
                           abandon=fake_abandon)
    assert all(r["threads"] == {k: "1" for k in parallel.ONE_THREAD} for r in results.values())
