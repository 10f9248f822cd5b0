"""Grade many submissions at once: long-lived workers, one student per task.

Stock `nbgrader autograde` grades one student after the other in one process. Here each
worker process starts once (loads nbgrader and the course configuration, ~2.5 s) and then
runs nbgrader's own `Autograde` converter for one student per task, exactly as the command
line does for each student; so grades are those of a sequential run.

Engines (``cluster``):
- ``""`` (default): a local pool of ``jobs`` worker processes;
- ``"dask"``: a local Dask cluster of ``jobs`` single-threaded workers;
- ``"tcp://host:8786"``: the Dask scheduler of an existing cluster (`make scheduler`,
  `make worker` on each machine; docs/grading-at-scale.md);
- ``"slurm"``, ``"pbs"``, ``"sge"``, ``"lsf"``, ``"htcondor"``: dask-jobqueue submits ``jobs``
  workers as batch jobs (queue, cores, memory from ~/.config/dask/jobqueue.yaml).

Workers on other machines need the course directory at the same path (shared file system)
and a gradebook every machine reaches: ``DB=postgresql://...``.
"""

import concurrent.futures
import hashlib
import io
import logging
import multiprocessing
import os
import shlex
import signal
import socket
import sys
import threading
import time

from concurrent.futures.process import BrokenProcessPool

from coursetools.errors import CourseError

JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
            "lsf": "LSFCluster", "htcondor": "HTCondorCluster"}
# SQLite waits this long for another worker's write instead of failing at once (5 s default)
SQLITE_BUSY_SECONDS = 120
_RETRIES_WHEN_LOCKED = 2


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


def grade_student(root, assignment, student, db_url, sandboxed=True, overrides=None):
    """Autograde one student's submission (nbgrader's converter, in this process).

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
        try:
            settings = {**(overrides or {}), "CourseDirectory.root": root,
                        "CourseDirectory.db_url": worker_db_url(db_url)}
            config = _load_config(root, sandboxed, settings)
            for attempt in range(_RETRIES_WHEN_LOCKED + 1):
                ok, text = _autograde(config, assignment, student, phases)
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
    result["seconds"] = time.monotonic() - start
    result["ended"] = time.time()
    phases.add("other", result["seconds"] - sum(phases.wall.values()))
    phases.add("total", result["seconds"])
    phases.add("worker", time.process_time() - cpu_start, phases.cpu)
    result["log"] = result["log"].rstrip("\n") + "\n" + phases.line() + "\n"
    return result


def _autograde(config, assignment, student, phases):
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
        app = timed_autograde(phases, coursedir=coursedir, config=config, log=log)
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


# --- engines (run in the instructor's process) ---------------------------------------------

class LocalPool:
    """``jobs`` worker processes on this machine (spawned: no state shared with the caller)."""

    name = "local processes"

    def __init__(self, jobs):
        self.executor = concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=warm_up)

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def as_completed(self, futures):
        return concurrent.futures.as_completed(futures)

    def close(self, wait=True):
        self.executor.shutdown(wait=wait, cancel_futures=True)


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


def engine(cluster, jobs, root):
    return DaskEngine(cluster, jobs, root) if cluster else LocalPool(jobs)


def _failure(student, exc):
    text = str(exc).strip().splitlines()
    return {"student": student, "ok": False, "score": None, "max_score": None, "seconds": 0.0,
            "log": "", "worker": "?",
            "error": f"the worker failed ({type(exc).__name__}: {text[0] if text else ''})"[:300]}


def run(root, assignment, students, db_url, jobs, cluster="", sandboxed=True, overrides=None,
        on_result=None):
    """Grade ``students``; ``on_result(result)`` as each finishes. -> {student: result}.

    A local pool whose worker died (out of memory, killed) is started again once for the
    students not graded yet; Dask reschedules such tasks by itself.
    """
    check_cluster(cluster)
    if is_distributed(cluster) and db_url.startswith("sqlite:"):
        raise CourseError(f"CLUSTER={cluster} grades on several machines, which cannot share a "
                          f"SQLite gradebook: give a database server with DB=postgresql://...")
    results, todo, restarts = {}, list(students), 0
    while todo:
        pool = engine(cluster, jobs, str(root))
        if isinstance(pool, DaskEngine):
            pool.check_workers(str(root), db_url, sandboxed)
        finished, again = False, []
        try:
            futures = {pool.submit(grade_student, str(root), assignment, s, db_url, sandboxed,
                                   dict(overrides or {})): s for s in todo}
            for future in pool.as_completed(list(futures)):
                student = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    if restarts == 0:
                        again.append(student)
                        continue
                    result = _failure(student, exc)
                except Exception as exc:  # noqa: BLE001 - the task could not run
                    result = _failure(student, exc)
                results[student] = result
                if on_result is not None:
                    on_result(result)
            finished = True
        finally:
            pool.close(wait=finished)  # interrupted: do not wait for the students being graded
        todo, restarts = sorted(again), restarts + 1
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
