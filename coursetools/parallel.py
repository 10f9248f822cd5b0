"""Grade many submissions at once: long-lived workers, one student at a time each.

Stock `nbgrader autograde` grades one student after the other in one process. Here each
worker process starts once (loads nbgrader and the course configuration) and then runs
nbgrader's own `Autograde` converter for one student at a time, exactly as the command line
does for each student (with a stopwatch around its steps, coursetools/phases.py); so grades
are those of a sequential run.

Engines (``cluster``):
- ``""`` (default): ``jobs`` local worker processes (``LocalLanes``), started before the
  submissions are checked. Each takes its students from a shared queue, and takes its next
  one when it starts the current one: that student's sandboxed kernel is started while the
  current student is judged and saved (coursetools/prewarm.py);
- ``"dask"``: a local Dask cluster of ``jobs`` single-threaded workers;
- ``"tcp://host:8786"``: the Dask scheduler of an existing cluster (`make scheduler`,
  `make worker` on each machine; docs/grading-at-scale.md);
- ``"slurm"``, ``"pbs"``, ``"sge"``, ``"lsf"``, ``"htcondor"``: dask-jobqueue submits ``jobs``
  workers as batch jobs (queue, cores, memory from ~/.config/dask/jobqueue.yaml).
Dask tasks are one student each (no kernel started ahead).

Workers on other machines need the course directory at the same path (shared file system)
and a gradebook every machine reaches: ``DB=postgresql://...``.
"""

import hashlib
import io
import logging
import multiprocessing
import os
import queue
import shlex
import signal
import socket
import sys
import threading
import time

from coursetools.errors import CourseError

JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
            "lsf": "LSFCluster", "htcondor": "HTCondorCluster"}
# SQLite waits this long for another worker's write instead of failing at once (5 s default)
SQLITE_BUSY_SECONDS = 120
_RETRIES_WHEN_LOCKED = 2
# numpy's BLAS threads in a worker (the trusted replay of the records) only spin against the
# kernels: every worker already has a core. Set before the workers start (they inherit it);
# Dask's nanny does the same for its workers (distributed's pre-spawn-environ).
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_numeric_thread_per_worker():
    """Workers started after this call run numpy single-threaded (a value the instructor
    exported is kept)."""
    for key, value in ONE_THREAD.items():
        os.environ.setdefault(key, value)


def default_jobs():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_db_url(db_url):
    """``db_url`` as the workers use it: SQLite waits for the other writers."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={SQLITE_BUSY_SECONDS}"
    return db_url


def check_cluster(cluster):
    """A clear error for a CLUSTER value no engine understands."""
    if cluster and cluster != "dask" and cluster not in JOBQUEUE and "://" not in cluster:
        raise CourseError(f"unknown CLUSTER={cluster!r}: use dask, a scheduler address "
                          f"(tcp://host:8786) or one of {', '.join(JOBQUEUE)}")


def is_distributed(cluster):
    """True when workers may run on other machines (then SQLite is not an option)."""
    return bool(cluster) and cluster != "dask"


# --- the task (runs in a worker process) -------------------------------------------------

_LOCK = threading.Lock()  # one student at a time per process, even on a multi-threaded worker
_CONFIGS = {}


def _load_config(root, sandboxed, overrides):
    """The course's nbgrader configuration, loaded once per worker process."""
    path = os.path.join(root, "nbgrader_config.py")
    with open(path, "rb") as f:  # an edited config is read again by long-lived workers
        digest = hashlib.sha256(f.read()).hexdigest()
    key = (root, digest, sandboxed, tuple(sorted(overrides.items())))
    if key not in _CONFIGS:
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        if root not in sys.path:
            sys.path.insert(0, root)
        if sandboxed:
            from coursetools.perimeter.sandbox import preflight

            reason = preflight()
            if reason:
                raise CourseError(f"worker on {socket.gethostname()} cannot sandbox the kernels: "
                                  f"{reason} (install bubblewrap there)")
        config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
        extra = Config()
        if not sandboxed:  # the instructor's explicit opt-out (make grade UNSANDBOXED=1)
            extra.SandboxedExecute.sandbox = False
        for dotted, value in overrides.items():
            section, name = dotted.rsplit(".", 1)
            extra[section][name] = value
        config.merge(extra)
        _CONFIGS[key] = config
    return _CONFIGS[key]


def _logger():
    log = logging.getLogger("coursetools.autograde")
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def warm_up():
    """Import nbgrader once, when the worker starts rather than with its first student.

    Ctrl-C is the instructor's process's business: it stops handing out students and the
    workers end with the student they have (no traceback per worker on the terminal).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import nbgrader.converters  # noqa: F401


def worker_config(root, db_url, sandboxed=True, overrides=None):
    """The nbgrader configuration a worker grades with (loaded once per process)."""
    settings = {**(overrides or {}), "CourseDirectory.root": root,
                "CourseDirectory.db_url": worker_db_url(db_url)}
    return _load_config(root, sandboxed, settings)


def grade_student(root, assignment, student, db_url, sandboxed=True, overrides=None,
                  following=None):
    """Autograde one student's submission (nbgrader's converter, in this process).

    ``following``: the worker's next student, whose kernel is started once this student's
    notebook has run (coursetools/prewarm.py).

    Returns a dict: student, ok, score, max_score, seconds, log (nbgrader's log lines, then
    the phases line of coursetools/phases.py), error (one line, when not ok), worker
    (host:pid), started and ended (epoch seconds). Never raises for a student's failure.
    """
    from coursetools.phases import Phases

    start, cpu_start = time.monotonic(), time.process_time()
    phases = Phases()
    result = {"student": student, "ok": False, "score": None, "max_score": None, "log": "",
              "error": "", "worker": f"{socket.gethostname()}:{os.getpid()}",
              "started": time.time()}
    with _LOCK:
        config = None
        try:
            config = worker_config(root, db_url, sandboxed, overrides)
            ahead = None
            if following is not None:
                from coursetools.prewarm import Ahead

                ahead = Ahead(config, assignment, following)
            for attempt in range(_RETRIES_WHEN_LOCKED + 1):
                ok, text = _autograde(config, assignment, student, phases, ahead)
                result["log"] += text
                if ok or "database is locked" not in text or attempt == _RETRIES_WHEN_LOCKED:
                    break
                result["log"] += "\n[coursetools] gradebook locked: grading this student again\n"
                time.sleep(1 + attempt)
            if ok:
                with phases.span("score"):
                    result["score"], result["max_score"] = _score(config, assignment, student)
            else:
                result["error"] = _reason(text)
            result["ok"] = ok
        except Exception as exc:  # noqa: BLE001 - reported as this student's failure
            result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            result["log"] += f"\n[coursetools] {result['error']}\n"
        finally:
            _discard_own_ahead(config, assignment, student)
    result["seconds"] = time.monotonic() - start
    result["ended"] = time.time()
    phases.add("other", result["seconds"] - sum(phases.wall.values()))
    phases.add("total", result["seconds"])
    phases.add("worker", time.process_time() - cpu_start, phases.cpu)
    result["log"] = result["log"].rstrip("\n") + "\n" + phases.line() + "\n"
    return result


def _discard_own_ahead(config, assignment, student):
    """A kernel started ahead for this student that its grading did not use (nbgrader gave
    up before running the notebook) is stopped now."""
    if config is None:
        return
    from nbgrader.coursedir import CourseDirectory

    from coursetools.perimeter.sandboxed_execute import discard_ahead, started_ahead

    from coursetools.prewarm import graded

    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if started_ahead(folder):
        discard_ahead(folder)
    graded(folder)


def _autograde(config, assignment, student, phases, ahead=None):
    from nbgrader.coursedir import CourseDirectory

    from coursetools.phases import timed_autograde

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    log = _logger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log.addHandler(handler)
    try:
        after = (lambda: ahead.start(log)) if ahead is not None else None
        app = timed_autograde(phases, after_execute=after, coursedir=coursedir, config=config,
                              log=log)
        app.force = True
        app.create_student = True
        app.start()
        ok = True
    except BaseException as exc:  # noqa: BLE001 - nbgrader raises NbGraderException, or worse
        if isinstance(exc, KeyboardInterrupt):
            raise
        import traceback

        log.error("autograde failed: %s", "".join(traceback.format_exception(exc)).strip())
        ok = False
    finally:
        log.removeHandler(handler)
    return ok, buffer.getvalue()


def _reason(text):
    """One line saying why nbgrader gave up: its own message, or the exception of a traceback."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(("[ERROR]", "[CRITICAL]")):
            continue
        message = line.split("]", 1)[1].strip()
        if message.startswith("autograde failed:"):
            message = message.split(":", 1)[1].strip()
        if message.startswith("Traceback (most recent call last)"):
            # the exception is the first unindented line after the frames
            message = next((ln.strip() for ln in lines[i + 1:]
                            if ln.strip() and not ln[0].isspace()), "")
            if message.startswith("["):
                continue
        if message and "error processing" not in message:
            return message[:300]
    return "nbgrader could not grade it"


def _score(config, assignment, student):
    from nbgrader.api import Gradebook

    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        sub = gb.find_submission(assignment, student)
        return float(sub.score), float(sub.max_score)


def abandon_ahead(root, assignment, student, db_url, sandboxed=True, overrides=None):
    """The worker stops before grading ``student``, whose kernel it may have started ahead."""
    from coursetools.prewarm import abandon

    abandon(worker_config(root, db_url, sandboxed, overrides), assignment, student)


def lane(root, assignment, db_url, sandboxed, overrides, todo, done, stop,
         grade=grade_student, abandon=abandon_ahead):
    """A local worker process: grades the students it takes from ``todo`` one at a time (None:
    no more) and reports each result on ``done``. It takes its next student as soon as it
    starts the current one, so that the next kernel starts while the current student is
    finished (coursetools/prewarm.py). ``stop`` set: it ends after the current student.
    ``grade`` and ``abandon``: grade_student and abandon_ahead (tests give others)."""
    warm_up()
    student = todo.get()
    while student is not None:
        following = None if stop.is_set() else todo.get()
        done.put(("result", grade(root, assignment, student, db_url, sandboxed, overrides,
                                  following)))
        if stop.is_set():
            if following is not None:
                abandon(root, assignment, following, db_url, sandboxed, overrides)
            break
        student = following
    done.put(("end", os.getpid()))


# --- engines (run in the instructor's process) ---------------------------------------------

class LocalLanes:
    """``jobs`` worker processes on this machine (spawned: no state shared with the caller),
    started at once (they import nbgrader while the caller still checks the submissions),
    each grading students from a shared queue with ``lane``."""

    name = "local processes"

    def __init__(self, jobs, root, assignment, db_url, sandboxed=True, overrides=None,
                 grade=grade_student, abandon=abandon_ahead):
        one_numeric_thread_per_worker()
        ctx = multiprocessing.get_context("spawn")
        self.todo, self.done, self.stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        self.procs = [ctx.Process(target=lane, name=f"grading-lane-{i + 1}",
                                  args=(str(root), assignment, db_url, sandboxed,
                                        dict(overrides or {}), self.todo, self.done, self.stop,
                                        grade, abandon))
                      for i in range(jobs)]
        for proc in self.procs:
            proc.start()
        self.fed = False

    def grade(self, students, on_result=None):
        """{student: result} of the students graded; the others were in a worker that died,
        or were not handed out after Ctrl-C. Returns (results, a worker died)."""
        if self.fed:
            raise RuntimeError("these workers have had their students")
        self.fed = True
        for student in students:
            self.todo.put(student)
        for _ in self.procs:
            self.todo.put(None)
        results, ended, died = {}, set(), False
        try:
            while len(ended) < len(self.procs):
                try:
                    kind, value = self.done.get(timeout=0.5)
                except queue.Empty:
                    for proc in self.procs:
                        if proc.pid not in ended and not proc.is_alive():
                            ended.add(proc.pid)
                            died = died or proc.exitcode != 0
                    continue
                if kind == "end":
                    ended.add(value)
                else:
                    results[value["student"]] = value
                    if on_result is not None:
                        on_result(value)
            self._drain(results, on_result)
        except KeyboardInterrupt:
            self.stop.set()     # the workers end with the student they have
            raise
        return results, died

    def _drain(self, results, on_result):
        """Results sent by a worker just before the loop saw it end."""
        while True:
            try:
                kind, value = self.done.get(timeout=0.1)
            except queue.Empty:
                return
            if kind == "result" and value["student"] not in results:
                results[value["student"]] = value
                if on_result is not None:
                    on_result(value)

    def _discard_messages(self):
        try:
            while True:
                self.done.get_nowait()
        except (queue.Empty, OSError, ValueError):
            pass

    def close(self):
        """Let every worker end (after its current student) and wait for it."""
        self.stop.set()
        if not self.fed:
            for _ in self.procs:
                self.todo.put(None)
            self.fed = True
        for proc in self.procs:
            while proc.is_alive():  # read what they still send: a full pipe would block them
                proc.join(0.2)
                self._discard_messages()
        for q in (self.todo, self.done):
            q.cancel_join_thread()
            q.close()


class DaskEngine:
    """A Dask client on a local cluster, an existing scheduler or dask-jobqueue batch jobs."""

    def __init__(self, cluster, jobs, root):
        try:
            import distributed
        except ImportError:
            raise CourseError("CLUSTER needs Dask: `pip install -r requirements.txt`") from None
        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.cluster = None
        if cluster == "dask":
            self.name = "a local Dask cluster"
            self.cluster = distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, memory_limit=0,
                dashboard_address=None, silence_logs=logging.ERROR)
        elif cluster in JOBQUEUE:
            import dask_jobqueue

            self.name = f"dask-jobqueue ({cluster})"
            self.cluster = getattr(dask_jobqueue, JOBQUEUE[cluster])(**jobqueue_options(root))
            self.cluster.scale(jobs)
        else:
            check_cluster(cluster)
            self.name = f"the Dask scheduler at {cluster}"
        try:
            self.client = distributed.Client(self.cluster or cluster, timeout="20s")
        except OSError as exc:
            self.close()
            raise CourseError(f"cannot reach the Dask scheduler {cluster}: {exc}") from None

    def check_workers(self, root, db_url, sandboxed, timeout=120):
        """Refuse to start when a worker lacks the course, the sandbox or the gradebook."""
        if self.cluster is None or not isinstance(self.cluster, distributed_local_cluster()):
            try:  # batch jobs may wait in their queue: no time limit for them
                self.client.wait_for_workers(1, timeout=None if self.cluster else timeout)
            except TimeoutError:
                self.close()
                raise CourseError(f"no worker joined {self.name} within {timeout} s: start them "
                                  f"with `make worker CLUSTER=...` on the grading machines") from None
        try:
            found = self.client.run(check_worker, root, db_url, sandboxed)
        except Exception as exc:  # noqa: BLE001 - e.g. coursetools not importable there
            self.close()
            raise CourseError(f"the workers of {self.name} cannot run the grading code "
                              f"({type(exc).__name__}: {exc}); start them with `make worker` "
                              f"in the course folder") from None
        problems = sorted({p for p in found.values() if p})
        if problems:
            self.close()
            raise CourseError(f"{len(problems)} worker(s) cannot grade: " + "; ".join(problems))

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures):
        import distributed

        return distributed.as_completed(futures)

    def close(self, wait=True):
        for thing in (getattr(self, "client", None), self.cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing after a failure must not hide it
                    pass


def distributed_local_cluster():
    import distributed

    return distributed.LocalCluster


def jobqueue_options(root):
    """What a batch-job worker needs: this Python, the course folder, the course importable.

    Each worker process grades one student at a time (a lock in grade_student), so give the
    jobs as many processes as cores in jobqueue.yaml (docs/grading-at-scale.md).
    """
    quoted = shlex.quote(str(root))
    return {"python": sys.executable,
            "job_script_prologue": [f"cd {quoted}", f"export PYTHONPATH={quoted}"]}


def _failure(student, why):
    return {"student": student, "ok": False, "score": None, "max_score": None, "seconds": 0.0,
            "log": "", "worker": "?", "error": f"the worker failed ({why})"[:300]}


def _exception_text(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def run(root, assignment, students, db_url, jobs, cluster="", sandboxed=True, overrides=None,
        on_result=None, lanes=None, grade=grade_student, abandon=abandon_ahead):
    """Grade ``students``; ``on_result(result)`` as each finishes. -> {student: result}.

    Local workers (``lanes``: LocalLanes already started, else started here) are started
    again once for the students of a worker that died (out of memory, killed); Dask
    reschedules such tasks by itself. ``grade``, ``abandon``: see ``lane`` (tests).
    """
    check_cluster(cluster)
    if is_distributed(cluster) and db_url.startswith("sqlite:"):
        raise CourseError(f"CLUSTER={cluster} grades on several machines, which cannot share a "
                          f"SQLite gradebook: give a database server with DB=postgresql://...")
    if cluster:
        return _run_dask(root, assignment, students, db_url, jobs, cluster, sandboxed, overrides,
                         on_result)
    results, todo = {}, list(students)
    for attempt in range(2):
        workers = lanes if (lanes is not None and attempt == 0) else LocalLanes(
            min(jobs, len(todo)), root, assignment, db_url, sandboxed, overrides, grade, abandon)
        finished = False
        try:
            got, died = workers.grade(todo, on_result)
            finished = True
        finally:
            if finished or workers is not lanes:
                workers.close()
        results.update(got)
        todo = sorted(s for s in todo if s not in got)
        if not todo or not died:
            break
    for student in todo:  # their worker died twice
        results[student] = _failure(student, "it died while grading this submission")
        if on_result is not None:
            on_result(results[student])
    return results


def _run_dask(root, assignment, students, db_url, jobs, cluster, sandboxed, overrides,
              on_result):
    results = {}
    pool = DaskEngine(cluster, jobs, str(root))
    finished = False
    try:
        pool.check_workers(str(root), db_url, sandboxed)
        futures = {pool.submit(grade_student, str(root), assignment, s, db_url, sandboxed,
                               dict(overrides or {})): s for s in students}
        for future in pool.as_completed(list(futures)):
            student = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the task could not run
                result = _failure(student, _exception_text(exc))
            results[student] = result
            if on_result is not None:
                on_result(result)
        finished = True
    finally:
        pool.close(wait=finished)  # interrupted: do not wait for the students being graded
    return results


def check_worker(root, db_url, sandboxed):
    """Run on each Dask worker before it gets students: None, or what is wrong there."""
    where = socket.gethostname()
    if not os.path.isfile(os.path.join(root, "nbgrader_config.py")):
        return f"{where}: no course folder {root} (it must be at the same path on every machine)"
    if sandboxed:
        from coursetools.perimeter.sandbox import preflight

        reason = preflight()
        if reason:
            return f"{where}: cannot sandbox the kernels: {reason}"
    from coursetools.course import database_problem

    problem = database_problem(db_url)
    if problem:
        return f"{where}: cannot open the gradebook: {problem}"
    return None
