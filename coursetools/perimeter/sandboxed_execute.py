"""Run a submission for grading: every student cell first, the hidden checks after the last.

nbgrader's Execute runs a notebook's cells in order, in one kernel, with the grader's
permissions. For untrusted code this preprocessor changes three things.

**Where**: every kernel runs in the bubblewrap sandbox (sandbox.py, launcher.py) with the
limits of the traits below, and a Python of its own (``kernel_python``: numpy, ipykernel and
matplotlib, nothing that solves the exercises).

**When hidden material enters the kernel**: only after the last student cell. The run has
two phases in one kernel:

1. the *student phase*: every cell but the grader's, in notebook order. The hidden test
   cells do not run here; at each one's place the kernel remembers the notebook's names
   (coursetools/checks/kernel.py), so that its checks later test the functions as they were
   at that place. Nothing hidden is in the kernel yet, so every output of this phase may
   go into the student's feedback.
2. the *check phase*: the grader's setup cells, then the hidden test cells and the cell
   grader_reference in notebook order (history off). Student code now runs only inside the
   checks' calls; its outputs land in the hidden cells, which the trusted grader replaces by
   its verdicts (verify_hidden_checks.py). No student cell runs after a check, so nothing a
   check showed the kernel (hidden inputs, the reference) can be printed into the feedback.

**What the kernel can send**: records are sealed. ``update_display_data``, ``clear_output``
of other cells and ``transient`` display ids are dropped, so no message can change an earlier
cell's outputs; each hidden cell's records are copied into ``resources["cnn_grader"]`` the
moment the cell finishes, and only that copy is judged. Every byte of every message counts
against a per-cell and a per-notebook output cap (updates and errors included; beyond a cap a
cell keeps one short error); comm messages (widgets) are dropped.

**Nothing the check phase prints reaches the student**: student code that runs in the check
phase (inside a check's calls, or hooked into IPython, the display publisher, ``__import__``)
has the hidden inputs, the grader's modules and source (and, from grader_reference on, the
reference) in reach. So when a grader cell (setup, hidden test, reference) has run, its
records go to resources and its outputs are rebuilt from what the executor itself knows: its
own notes (output limit, restarts, time budget) and, for an error the kernel reported, only
its name (Python's own exceptions, or a timeout) with a fixed sentence. The kernel's text
never survives there.

**Failures**: a kernel that dies or stops answering is started again; the cells before the
one that failed are run again without output, and grading goes on with the next cell (at most
``max_restarts`` times). The whole notebook has a time budget; cells that would run past it
are not run, and their cells say so (``TimeBudget``), as the summary and feedback do. The
budget bounds everything the kernel is asked to do, the silent calls and the replays after a
restart included: no kernel is started again once it is used up.
"""

import builtins
import copy
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.utils import ensure_async, run_sync
from nbformat.v4 import new_notebook, new_output
from traitlets import Bool, Integer, List, Unicode

from nbclient.util import run_hook
from nbgrader.preprocessors import Execute

from coursetools.checks import kernel as kernel_side
from coursetools.checks.protocol import RECORD_MIME, REFERENCE_ID, is_setup, is_trusted
from coursetools.perimeter import sandbox

_CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"
_CACHE = {}            # per process: kernel Python prefixes, matplotlib caches, bootstrap code
_AHEAD = {}            # per process: {notebook folder: _Ahead}, kernels started ahead (launch_ahead)
AHEAD_MAX_AGE = 120    # seconds a kernel started ahead may wait for its notebook
# Largest message frame the grader accepts from a kernel: zmq drops a larger one unread (and
# may lose the next message with it; the cell then times out and the kernel is restarted).
# The output caps count a message only once it has arrived: without this bound one 3 GB
# display would be read into the grader's memory, and parsed, first. Far above any honest
# output (the cell cap keeps 1 MB). It bounds a frame, not a message of many frames nor the
# messages queued: the worker's memory as a whole needs a cgroup (docs/threat-model.md).
MAX_MESSAGE_BYTES = 16 << 20
KERNEL_LOG_BYTES = 1 << 20   # what is kept of a kernel's own stdout/stderr log (logs/sandbox/)
# glibc's allocator in the grading kernel: blocks up to 32 MB come from the heap (not a fresh
# mapping each time: the fixed value is the most glibc's own adaptive threshold would reach)
# and up to 128 MB of freed memory stays with the process instead of going back to the system
# at once. A notebook's numpy temporaries are freed and allocated again thousands of times, and
# every page handed back is faulted in again. Measured on a correct submission's student cells:
# 34,000 minor page faults and 0.12 s of system CPU (183,000 and 0.37 s without debugpy in the
# kernel: its smaller heap is handed back more often); with this, 19,000 and 0.06-0.10 s; on
# arrays of 0.16 / 1.2 / 8 / 40 MB computed again and again, 2-100x fewer faults than glibc's
# defaults. Results are the same; the process keeps up to 128 MB more (RLIMIT_AS counts it).
KERNEL_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


class KernelFailure(Exception):
    """The kernel died, or did not answer after an interrupt."""


def message_size(msg):
    """Characters of a kernel message's content (every field, every MIME value) and buffers."""
    content = msg.get("content") or {}
    n = len(str(content.get("text") or "")) + len(str(content.get("evalue") or ""))
    n += sum(len(str(line)) for line in content.get("traceback") or ())
    for field in ("data", "metadata", "transient"):
        for value in (content.get(field) or {}).values():
            n += len(value) if isinstance(value, str) else len(repr(value))
    return n + sum(len(b) for b in msg.get("buffers") or ())


def cell_kind(cell):
    """student | hidden (a graded test cell) | setup | reference | skip (not code)."""
    if cell.cell_type != "code":
        return "skip"
    meta = cell.metadata.get("nbgrader", {})
    gid = meta.get("grade_id")
    if is_setup(gid):
        return "setup"
    if is_trusted(gid):
        return "skip"          # for the trusted grader only: never sent to the kernel
    if gid == REFERENCE_ID:
        return "reference"
    if meta.get("grade") and not meta.get("solution"):
        return "hidden"
    return "student"


class SandboxedExecute(Execute):
    """Execute for untrusted submissions; see the module docstring. Settings are traits."""

    sandbox = Bool(True, help="Run every grading kernel in the bubblewrap sandbox. False is "
                   "the instructor's explicit opt-out (make grade UNSANDBOXED=1): student code "
                   "then runs with the grader's permissions.").tag(config=True)
    kernel_python = Unicode("", help="Python of the grading kernel: an environment with numpy, "
                            "ipykernel and matplotlib only (make builds .venv-kernel). Empty: "
                            "the grader's own Python.").tag(config=True)
    course_root = Unicode("", help="The course folder: hidden from the kernels (gradebook, "
                          "sources, other students); its build/ and logs/ hold the kernelspec "
                          "and the kernels' logs. Empty: the current folder.").tag(config=True)
    hide = List(Unicode(), help="More folders to hide from the kernels (each is covered by an "
                "empty tmpfs).").tag(config=True)
    memory = Unicode("4G", help="Address space of each process in the sandbox "
                     "(RLIMIT_AS), e.g. 4G.").tag(config=True)
    cpu_seconds = Integer(600, help="CPU seconds of a kernel's whole life (RLIMIT_CPU).").tag(config=True)
    wall_seconds = Integer(1200, help="A kernel is killed after this many seconds of wall time "
                           "(0: never).").tag(config=True)
    processes = Integer(64, help="Processes and threads of the sandbox user (RLIMIT_NPROC).").tag(config=True)
    file_size = Unicode("64M", help="Largest file a kernel may write (RLIMIT_FSIZE).").tag(config=True)
    open_files = Integer(256, help="Open files per process (RLIMIT_NOFILE).").tag(config=True)
    tmpfs_size = Unicode("256M", help="Size of each writable tmpfs in the sandbox (/tmp, "
                         "/dev/shm, the notebook's folder).").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="Characters a cell may send (every message, "
                               "updates included); beyond: dropped, a note on stderr, the cell "
                               "interrupted. 0: no cap.").tag(config=True)
    max_notebook_output_bytes = Integer(5_000_000, help="Characters the whole notebook may send; "
                                        "beyond: as for one cell. 0: no cap.").tag(config=True)
    time_budget = Integer(600, help="Wall seconds for a whole notebook (student cells, then "
                          "the hidden checks). Cells that would run past it are not run (0 "
                          "points for their checks) and flagged. 0: no budget.").tag(config=True)
    checks_reserve = Integer(180, help="Seconds of time_budget kept for the hidden checks: the "
                             "student cells stop at time_budget - checks_reserve.").tag(config=True)
    draw_figures = Bool(False, help="Draw matplotlib figures while grading (inline PNGs in "
                        "the graded notebook and the feedback). False: the kernel's "
                        "matplotlib backend is Agg, so figures are made but never drawn: "
                        "about 0.25 s of CPU less per student whose notebook plots, and "
                        "smaller graded notebooks. Students see their figures when they run "
                        "the notebook; a cell that calls %matplotlib inline still draws.").tag(config=True)
    max_restarts = Integer(3, help="Times a dead or stuck kernel is started again for one "
                           "notebook (the cells above the failed one are re-run without "
                           "output).").tag(config=True)

    _ERROR_FIELD = 10_000  # characters kept of an error's value and of each traceback line
    _ERROR_LINES = 100

    # ------------------------------------------------------------------ kernels

    def _root(self):
        return os.path.realpath(self.course_root or os.getcwd())

    def _python(self):
        return self.kernel_python or sys.executable

    def _kernelspec_dir(self):
        root, python = self._root(), self._python()
        build = os.path.join(root, "build")
        if not self.sandbox:
            argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                    "--HistoryManager.hist_file=:memory:"]
            return sandbox.kernelspec_dir(build, argv, "Python 3 (grading, NOT sandboxed)", False)
        key = ("prefixes", python)
        if key not in _CACHE:
            _CACHE[key] = sandbox.prefixes(python)
        key_mpl = ("mpl", build, python)
        if key_mpl not in _CACHE:
            _CACHE[key_mpl] = sandbox.matplotlib_cache(os.path.join(build, "sandbox"), python)
        hidden = [root, *(os.path.realpath(p) for p in self.hide)]
        # also the checkout this module comes from when it is another course folder (the test
        # suite grades copies of the course: the real gradebook must stay hidden too)
        checkout = str(Path(__file__).resolve().parents[2])
        if os.path.isfile(os.path.join(checkout, "nbgrader_config.py")) and checkout not in hidden:
            hidden.append(checkout)
        limits = [("--mem", self.memory), ("--cpu", self.cpu_seconds), ("--wall", self.wall_seconds),
                  ("--nproc", self.processes), ("--fsize", self.file_size),
                  ("--nofile", self.open_files), ("--disk", self.tmpfs_size)]
        expose, mask = _CACHE[key]
        argv = sandbox.kernel_argv(python, hidden, expose, limits,
                                   os.path.join(root, "logs", "sandbox"), _CACHE[key_mpl], mask)
        return sandbox.kernelspec_dir(build, argv)

    def create_kernel_manager(self):
        ksm = KernelSpecManager(kernel_dirs=[self._kernelspec_dir()])
        self.km = self.kernel_manager_class(kernel_name=sandbox.KERNEL_NAME,
                                            kernel_spec_manager=ksm, config=self.config)
        self._ipc_dir = None
        if self.sandbox:
            # unix socket paths are limited to ~107 bytes: a short folder per user in /tmp,
            # and every kernel its own random folder in it
            ipc_root = f"/tmp/nbg-ipc-{os.geteuid()}"
            sandbox.private_dir(ipc_root)
            sandbox.remove_stale(ipc_root)
            self._ipc_dir = tempfile.mkdtemp(prefix="k", dir=ipc_root)
            self.km.transport = "ipc"
            self.km.ip = os.path.join(self._ipc_dir, "k")
        return self.km

    async def async_start_new_kernel(self, **kwargs):
        # no grader variable: NBGRADER_EXECUTION exists so that code can branch on being graded
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER")}
        env.pop("MPLBACKEND", None)   # ipykernel's default is the inline backend (draws)
        if not self.draw_figures:
            env["MPLBACKEND"] = "Agg"
        env.update(KERNEL_ALLOCATOR)
        kwargs["env"] = env
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self):
        # nbclient's, without jupyter_client's closing 0.2 s of silence on IOPub (wait_for_ready
        # "flushes" it): every kernel start waited for it, for messages nobody reads (the
        # executor only takes messages whose parent is the request it sent).
        self.kc = self.km.client()
        self.kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)   # the client's own context
        try:
            await ensure_async(self.kc.start_channels())
            self._kernel_info = await self._async_wait_for_ready(self.startup_timeout)
        except Exception as exc:
            self.log.error("the grading kernel did not start: %s", exc)
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        kc = self.kc
        if getattr(self, "_ipc_dir", None):
            # The kernel has created its sockets: it needs no further write access to the
            # host folder (files it could fill the disk with). As root the launcher gave
            # the folder to uid 65534: take it back.
            os.chown(self._ipc_dir, os.geteuid(), os.getegid())
            os.chmod(self._ipc_dir, 0o500)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _async_wait_for_ready(self, timeout):
        """The kernel_info reply, once the kernel answers on shell and publishes on IOPub (a
        kernel_info request makes it publish its status: until one arrives, the IOPub
        subscription may not be connected yet, and early outputs could be lost)."""
        deadline = time.monotonic() + (timeout or 60)
        asked = set()
        while True:
            asked.add(self.kc.kernel_info())
            try:
                reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            # the reply to ANY of the requests: a kernel slower than 1 s to answer the first
            # one answers them all late, always one behind the latest
            if reply is not None and reply.get("msg_type") == "kernel_info_reply" and \
                    reply.get("parent_header", {}).get("msg_id") in asked:
                try:
                    await ensure_async(self.kc.iopub_channel.get_msg(timeout=0.2))
                    return reply
                except Empty:
                    pass        # IOPub not connected yet: ask again
            if not await ensure_async(self.km.is_alive()):
                raise RuntimeError("the kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel did not answer within {timeout} s")

    def launch_ahead(self, folder):
        """Start, now, the sandboxed kernel of the notebook that will be graded in ``folder``
        (a grading worker does this for its next student while it grades the current one).

        The kernel is started exactly as for grading (same kernelspec, limits, environment,
        its own ipc folder) and the launcher copies ``folder`` into it as it is now. It is
        kept in this process for that folder only: ``_start_kernel`` takes it for the first
        kernel of a notebook there if the folder still holds the same files (content
        hashes), the kernel is alive and younger than AHEAD_MAX_AGE; otherwise it is killed
        and a fresh one started. It is never used for another folder, nor twice.
        """
        from nbclient import NotebookClient

        folder = os.path.realpath(folder)
        if folder in _AHEAD:
            return
        NotebookClient.__init__(self, new_notebook(), None)
        self.resources = {"metadata": {"path": folder}}
        self.create_kernel_manager()
        fingerprint = sandbox.folder_fingerprint(folder)    # what the launcher copies next
        try:
            self.start_new_kernel(cwd=folder)
        except Exception:
            self._stop_kernel()
            raise
        _AHEAD[folder] = _Ahead(self.km, self._ipc_dir, fingerprint, self._kernelspec_dir())
        self.km, self._ipc_dir = None, None

    def _take_ahead(self):
        """The kernel started ahead for this notebook's folder, if it may be used (see
        ``launch_ahead``); unusable ones are stopped."""
        folder = os.path.realpath(self.resources.get("metadata", {}).get("path") or os.getcwd())
        ahead = _AHEAD.pop(folder, None)
        if ahead is None:
            return None
        why = None
        if time.monotonic() - ahead.started > AHEAD_MAX_AGE:
            why = "it waited too long"
        elif ahead.spec_dir != self._kernelspec_dir():
            why = "the grading settings changed"
        elif not run_sync(ahead.km.is_alive)():
            why = "it died"
        elif sandbox.folder_fingerprint(folder) != ahead.fingerprint:
            why = "the notebook's folder changed"
        if why:
            self.log.info("kernel started ahead not used: %s", why)
            ahead.stop()
            return None
        return ahead

    def _start_kernel(self):
        started = time.monotonic()
        ahead = self._take_ahead() if self._run.restarts == 0 and self.km is None else None
        if ahead is not None:
            self.km, self._ipc_dir = ahead.km, ahead.ipc_dir
        else:
            self.create_kernel_manager()
            self.start_new_kernel()
        self.start_new_kernel_client()
        info = self._kernel_info
        if info is not None and "language_info" in info["content"]:
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        if not self._silent(_bootstrap_code(), timeout=60):
            raise KernelFailure("the grading kernel could not load the grader's recorder")
        self._run.timing["kernel_start"] += time.monotonic() - started

    def _stop_kernel(self):
        started = time.monotonic()
        try:
            if self.km is not None:
                process = getattr(getattr(self.km, "provisioner", None), "process", None)
                if process is not None and getattr(self, "_run", None) is not None:
                    self._run.timing["kernel_cpu"] += sandbox.process_tree_cpu(process.pid)
                self._kill_kernel(process)
        except Exception as exc:  # noqa: BLE001 - a kernel that is gone already
            self.log.debug("stopping the kernel: %s", exc)
        finally:
            self.km = self.kc = None
            ipc_dir, self._ipc_dir = getattr(self, "_ipc_dir", None), None
            if ipc_dir:
                try:
                    os.chmod(ipc_dir, 0o700)
                except OSError:
                    pass
                shutil.rmtree(ipc_dir, ignore_errors=True)
            if getattr(self, "_run", None) is not None:
                self._run.timing["kernel_stop"] += time.monotonic() - started

    def kernel_log_path(self):
        """Where the launcher wrote this notebook's kernel output (stdout, stderr), or None."""
        folder = (self.resources or {}).get("metadata", {}).get("path")
        if not self.sandbox or not folder:
            return None
        folder = os.path.realpath(folder)       # the launcher names it from its getcwd()
        return os.path.join(self._root(), "logs", "sandbox", os.path.basename(os.path.dirname(folder)),
                            os.path.basename(folder) + ".log")

    def _trim_kernel_log(self):
        """Keep the first KERNEL_LOG_BYTES of the kernel's log: the file-size limit lets a
        kernel write 64 MB there, 32 GB for a class of 500."""
        path = self.kernel_log_path()
        if not path:
            return
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return                              # no log (the kernel never started)
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_size > KERNEL_LOG_BYTES:
                os.ftruncate(fd, KERNEL_LOG_BYTES)
                os.lseek(fd, 0, os.SEEK_END)
                os.write(fd, b"\n[the kernel wrote more: log cut at %d bytes]\n" % KERNEL_LOG_BYTES)
        except OSError as exc:
            self.log.warning("cannot trim the kernel log %s: %s", path, exc)
        finally:
            os.close(fd)

    def _kill_kernel(self, process):
        """Kill the kernel's process group (the sandbox dies with it: bwrap --die-with-parent)
        and reap it at once. nbclient's immediate shutdown first sends the kernel an
        interrupt, then polls for its end every 0.1 s: ~0.11 s per student for nothing."""
        if self.kc is not None:
            self.kc.stop_channels()
        if process is not None:
            run_sync(self.km.provisioner.kill)()
            try:
                process.wait(timeout=5)
            except Exception as exc:  # noqa: BLE001 - unkillable: let jupyter_client try
                self.log.warning("the kernel did not die at once: %s", exc)
            run_sync(self.km.provisioner.wait)()
        run_sync(self.km.cleanup_resources)()
        self.kc = None

    def _silent(self, code, timeout=None):
        """Run code without output or history; True when it finished without error.

        A kernel that does not answer in time is stopped (``self.kc`` becomes None).
        """
        if self.kc is None:
            return False
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            reply = self._wait_reply(msg_id, timeout or self._get_timeout(None) or 60)
        except Exception as exc:  # noqa: BLE001 - dead kernel
            self.log.warning("kernel did not run the grader's code: %s", exc)
            reply = None
        if reply is None:
            self._stop_kernel()
            return False
        return reply["content"].get("status") == "ok"

    def _wait_reply(self, msg_id, timeout):
        """The shell reply to msg_id, or None. What the kernel publishes meanwhile (the output
        of cells run again after a restart, of code hooked into the kernel) is read and
        dropped: nobody else reads it, and unread it would pile up in the grader's memory."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self._drain_iopub()
            try:
                msg = run_sync(self._get_shell_msg)(min(left, 1.0))
            except Empty:
                if not run_sync(self.kc.is_alive)():
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def _drain_iopub(self):
        """Drop the IOPub messages waiting (at most a few thousand: the kernel may keep
        publishing)."""
        for _ in range(5000):
            try:
                run_sync(self._get_iopub_msg)(0)
            except Empty:
                return

    async def _get_iopub_msg(self, timeout):
        return await ensure_async(self.kc.iopub_channel.get_msg(timeout=timeout))

    async def _get_shell_msg(self, timeout):
        return await ensure_async(self.kc.shell_channel.get_msg(timeout=timeout))

    # ------------------------------------------------------------------ the run

    def preprocess(self, nb, resources=None, km=None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        run = self._run = _Run(nb, self.time_budget, self.checks_reserve)
        self.resources.setdefault("cnn_grader", {})
        self.resources["cnn_grader"].update(records=run.records, incidents=run.incidents,
                                            timing=run.timing)
        self._notebook_used, self._phase, self._deadline = 0, "start", None
        self._notes, self._keep_alive = set(), []   # ids of the executor's own outputs
        try:
            self._start_kernel()
            self._student_phase(run)
            self._check_phase(run)
        except KernelFailure as exc:
            run.incident(f"grading stopped: {exc}")
            self._not_run_rest(run, str(exc))
        finally:
            self._stop_kernel()
            self._trim_kernel_log()
        run.timing["total"] = time.monotonic() - run.started
        self.log.info("timing: %s", ", ".join(f"{k} {v:.2f} s" for k, v in run.timing.items()))
        return self.nb, self.resources

    def _student_phase(self, run):
        started = time.monotonic()
        self._phase, self._deadline = "student", run.student_deadline
        for pos, (index, kind, gid) in enumerate(run.plan):
            if kind in ("skip", "setup", "reference"):
                continue
            cell = self.nb.cells[index]
            if run.student_deadline and time.monotonic() >= run.student_deadline:
                self._budget_exceeded(run, cell, "student")
                continue
            if kind == "hidden":
                if self._silent(_call("capture", gid)):
                    run.captured.add(gid)
                    run.done.append(pos)
                    continue
                self._failed(run, cell, index, "the kernel did not answer")
                continue
            try:
                self._execute(cell, index)
                run.done.append(pos)
            except KernelFailure as exc:
                self._failed(run, cell, index, str(exc))
        run.timing["student_cells"] += time.monotonic() - started

    def _check_phase(self, run):
        started = time.monotonic()
        self._phase, self._deadline = "checks", run.deadline
        order = sorted((p for p in run.plan if p[1] == "setup"), key=lambda p: str(p[2]))
        order += [p for p in run.plan if p[1] in ("hidden", "reference")]
        for index, kind, gid in order:
            cell = self.nb.cells[index]
            if kind == "hidden" and gid not in run.captured:
                if not any(o.get("output_type") == "error" for o in cell.outputs):
                    cell.outputs = [self._note(_error("KernelStopped", "not run: the kernel "
                                                      "stopped before this cell's place in the "
                                                      "notebook"))]
                continue
            if run.deadline and time.monotonic() >= run.deadline:
                self._budget_exceeded(run, cell, "checks")
                continue
            if kind == "hidden" and not self._silent(_call("restore", gid)):
                self._failed(run, cell, index, "the kernel did not answer")
                continue
            try:
                self._execute(cell, index, store_history=False)
                if kind != "hidden":
                    run.grader_done.append(index)
            except KernelFailure as exc:
                self._seal(run, cell, kind, gid)
                self._failed(run, cell, index, str(exc))
            else:
                self._seal(run, cell, kind, gid)
        run.timing["checks"] += time.monotonic() - started

    def _seal(self, run, cell, kind, gid):
        """A grader cell has run: a hidden cell's records go to resources (what is judged),
        and the cell's outputs become what the executor knows (see the module docstring):
        its own notes, and one fixed line per kind of error the kernel reported."""
        if kind == "hidden":
            run.records[gid] = [copy.deepcopy(o["data"][RECORD_MIME]) for o in cell.outputs
                                if o.get("output_type") == "display_data"
                                and isinstance(o.get("data"), dict) and RECORD_MIME in o["data"]]
        kept, errors = [], []
        for out in cell.outputs:
            if id(out) in self._notes:
                kept.append(out)
            elif out.get("output_type") == "error":
                name = str(out.get("ename", ""))
                name = name if name in _PYTHON_ERRORS or name in _TROUBLE else "Exception"
                if name not in errors:
                    errors.append(name)
        cell.outputs = kept + [self._note(_error(name, _TROUBLE.get(name) or (
            f"your code raised {name} while the hidden tests of this cell ran (in a function "
            f"they called, or in code hooked into the notebook)"))) for name in errors]

    def _execute(self, cell, index, store_history=True):
        try:
            self.execute_cell(cell, index, execution_count=self.code_cells_executed + 1,
                              store_history=store_history)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel did, grade the rest
            name = type(exc).__name__
            text = str(exc).strip().splitlines()
            raise KernelFailure(f"{name}: {text[0][:200] if text else name}") from None

    def _failed(self, run, cell, index, why):
        """The kernel died or hangs in this cell: note it, restart, go on with the next cell."""
        self.log.warning("kernel failed in cell %s: %s", index, why)
        run.incident(f"cell {index}: {why}")
        last = run.restarts >= self.max_restarts or self._out_of_time(run)
        cell.outputs.append(self._note(_error("KernelStopped" if last else "KernelRestarted",
                                   f"the kernel died or stopped answering in this cell ({why}); "
                                   + ("the cells after it were not run" + (
                                       " (the time budget is used up)" if self._out_of_time(run)
                                       else "") if last else
                                      "it was started again and the cells above were run again"))))
        if run.restarts >= self.max_restarts:
            raise KernelFailure(f"the kernel failed {run.restarts + 1} times")
        if self._out_of_time(run):
            raise KernelFailure("the kernel failed after the time budget was used up")
        run.restarts += 1
        self._stop_kernel()
        # a kernel that does not start again is the grading machine's trouble, not the
        # student's: it escapes, and nbgrader lists the notebook as not graded (never a 0)
        self._start_kernel()
        started = time.monotonic()
        replay = [(_call("capture", gid) if kind == "hidden" else self.nb.cells[i].source)
                  for i, kind, gid in (run.plan[p] for p in run.done)]
        replay += [self.nb.cells[i].source for i in run.grader_done]
        for code in replay:
            if self._out_of_time(run):
                raise KernelFailure("the time budget ran out while the kernel was brought back")
            if not self._silent(code, timeout=self._get_timeout(None)) and self.kc is None:
                raise KernelFailure("the kernel could not be brought back to where it failed")
        run.timing["replays"] += time.monotonic() - started

    def _budget_exceeded(self, run, cell, phase):
        what = ("student cells" if phase == "student" else "hidden checks")
        if not run.budget_noted:
            run.incident(f"time budget of {self.time_budget} s used up in the {what}")
            run.budget_noted = True
        if not any(o.get("ename") == "TimeBudget" for o in cell.outputs):
            cell.outputs.append(self._note(_error(
                "TimeBudget", f"not run: this notebook used up its time budget for the {what} "
                f"({self.time_budget} s in all, of which {self.checks_reserve} s are kept for "
                f"the hidden checks)")))

    def _out_of_time(self, run):
        return bool(run.deadline) and time.monotonic() >= run.deadline

    def _note(self, output):
        """An output the executor made itself (kept in grader cells, see _own_outputs)."""
        self._notes.add(id(output))
        self._keep_alive.append(output)
        return output

    def _not_run_rest(self, run, why):
        """Mark the cells that never ran (a cell that ran without output did run)."""
        ran = {run.plan[p][0] for p in run.done if run.plan[p][1] == "student"}
        for index, kind, gid in run.plan:
            cell = self.nb.cells[index]
            if index in ran or (kind == "hidden" and gid in run.records):
                continue
            if kind in ("student", "hidden") and not cell.get("outputs"):
                cell.outputs = [self._note(_error("KernelStopped", f"not run: {why}"))]

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        deadline = getattr(self, "_deadline", None)
        if deadline:
            left = max(1, int(deadline - time.monotonic()) + 1)
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    # ------------------------------------------------------------------ messages: seal, cap

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._used, self._overflow, self._interrupt_id = 0, False, None
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._interrupt_id:
            await self._await_interrupt_reply(self._interrupt_id)
        return cell

    # nbclient's sync wrappers bind the base class coroutine: rebind to the override
    execute_cell = run_sync(async_execute_cell)

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind in ("status", "execute_input"):
            return super().process_message(msg, cell, cell_index)
        size = message_size(msg)
        self._used += size
        if self._phase == "student" and not self._overflow:  # hidden cells' outputs are
            self._notebook_used += size                       # replaced by verdicts
        if self._overflow:
            return self._first_error(msg, cell, cell_index)
        dropped = kind == "update_display_data" or kind.startswith("comm")
        over = self._over()
        if over:
            cap, used, whole = over
            room = cap - (used - size)
            if kind == "stream" and room > 0:   # keep the head of the text; other types whole
                msg = dict(msg, content=dict(msg["content"], text=msg["content"]["text"][:room]))
                super().process_message(msg, cell, cell_index)
            self._first_error(msg, cell, cell_index)
            self._on_overflow(cell, cap, whole)
            return None
        if dropped:                 # may rewrite another cell's outputs / fill the metadata
            return None
        if kind == "error":
            msg = self._shorten_error(msg)
        return super().process_message(_without_transient(msg), cell, cell_index)

    def _first_error(self, msg, cell, cell_index):
        """Beyond a cap an error is still what marks the cell failed: the first one is kept,
        cut short (one line of each field); the rest are dropped like any other output."""
        if msg["msg_type"] != "error" or any(o.get("output_type") == "error" for o in cell.outputs):
            return None
        return super().process_message(dict(msg, content=_short_error(msg["content"])),
                                       cell, cell_index)

    def on_cell_executed(self, **kwargs):
        """nbgrader's Execute appends the error of an execute_reply whose name no error output
        of the cell has (a timeout, or errors the kernel did not display): whole, and outside
        every output cap (the reply's text is the kernel's). Here it is cut short."""
        cell, reply = kwargs["cell"], kwargs.get("execute_reply") or {}
        content = reply.get("content") or {}
        if content.get("status") != "error" or any(
                o.get("output_type") == "error" and o.get("ename") == content.get("ename")
                for o in cell.outputs):
            return
        cell.outputs.append(new_output("error", **_short_error(content)))

    def _over(self):
        """(cap, characters counted) of the first output cap exceeded, or None."""
        if self.max_output_bytes and self._used > self.max_output_bytes:
            return self.max_output_bytes, self._used, "this cell"
        if self._phase == "student" and self.max_notebook_output_bytes and \
                self._notebook_used > self.max_notebook_output_bytes:
            return self.max_notebook_output_bytes, self._notebook_used, "the notebook"
        return None

    def _shorten_error(self, msg):
        content, cut = msg["content"], self._ERROR_FIELD
        if message_size(msg) <= self._ERROR_FIELD * 2:
            return msg
        tb = [str(line)[:cut] for line in content.get("traceback") or ()]
        if len(tb) > self._ERROR_LINES:
            half = self._ERROR_LINES // 2
            tb = tb[:half] + [f"... {len(tb) - 2 * half} traceback lines dropped ..."] + tb[-half:]
        return dict(msg, content=dict(content, evalue=str(content.get("evalue") or "")[:cut],
                                      traceback=tb))

    def _on_overflow(self, cell, cap, whole):
        self._overflow = True
        self.clear_before_next_output = False  # a pending clear_output must not drop the note
        cell.outputs.append(self._note(new_output(
            "stream", name="stderr",
            text=f"\n[output limit: {whole} sent more than {cap:,} characters; the rest was "
                 f"dropped and the cell was interrupted]\n")))
        self._run.incident("output limit")
        self.log.warning("output over %d characters: dropped, kernel interrupted", cap)
        if self.kc is not None:
            # via our control channel (not km.interrupt_kernel) to be able to wait for the reply
            msg = self.kc.session.msg("interrupt_request", {})
            self.kc.control_channel.send(msg)
            self._interrupt_id = msg["header"]["msg_id"]

    async def _await_interrupt_reply(self, msg_id, timeout=5.0):
        """Wait until the kernel has raised the interrupt (it replies right after), so that
        the SIGINT cannot land in the next cell; a dead kernel just costs the timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await ensure_async(self.kc.control_channel.get_msg(timeout=left))
            except Empty:
                return
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return


class _Ahead:
    """A kernel started ahead (SandboxedExecute.launch_ahead), waiting for its notebook."""

    def __init__(self, km, ipc_dir, fingerprint, spec_dir):
        self.km, self.ipc_dir, self.fingerprint, self.spec_dir = km, ipc_dir, fingerprint, spec_dir
        self.started = time.monotonic()

    def stop(self):
        """Kill it and remove its ipc folder (it ran no code)."""
        try:
            process = getattr(self.km.provisioner, "process", None)
            run_sync(self.km.provisioner.kill)()
            if process is not None:
                process.wait(timeout=5)
            run_sync(self.km.provisioner.wait)()
            run_sync(self.km.cleanup_resources)()
        except Exception:  # noqa: BLE001 - gone already
            pass
        finally:
            if self.ipc_dir:
                try:
                    os.chmod(self.ipc_dir, 0o700)
                except OSError:
                    pass
                shutil.rmtree(self.ipc_dir, ignore_errors=True)


def discard_ahead(folder=None):
    """Stop the kernels started ahead in this process (for ``folder`` only, if given)."""
    keys = [os.path.realpath(folder)] if folder else list(_AHEAD)
    for key in keys:
        ahead = _AHEAD.pop(key, None)
        if ahead is not None:
            ahead.stop()


def started_ahead(folder):
    """True while a kernel started ahead waits for ``folder``."""
    return os.path.realpath(folder) in _AHEAD


class _Run:
    """Bookkeeping of one notebook's grading run."""

    def __init__(self, nb, budget, reserve):
        self.plan = [(i, cell_kind(c), c.metadata.get("nbgrader", {}).get("grade_id"))
                     for i, c in enumerate(nb.cells)]
        self.started = time.monotonic()
        self.deadline = self.started + budget if budget else None
        self.student_deadline = (self.started + max(budget - reserve, budget // 2)
                                 if budget else None)
        self.records, self.incidents = {}, []
        self.captured, self.done, self.grader_done = set(), [], []
        self.restarts, self.budget_noted = 0, False
        # wall seconds, but kernel_cpu: CPU seconds of the kernels' processes (/proc)
        self.timing = {"kernel_start": 0.0, "student_cells": 0.0, "checks": 0.0, "replays": 0.0,
                       "kernel_stop": 0.0, "kernel_cpu": 0.0}

    def incident(self, text):
        if text not in self.incidents:
            self.incidents.append(text)


# The names an error of the kernel may keep in a grader cell: Python's own exceptions only
# (a student's exception class could carry data in its name).
_PYTHON_ERRORS = frozenset(name for name, value in vars(builtins).items()
                           if isinstance(value, type) and issubclass(value, BaseException))
_TROUBLE = {"CellTimeoutError": "the hidden tests of this cell ran past the time limit of a "
                                "cell (Execute.timeout) and were interrupted",
            "DeadKernelError": "the kernel died while the hidden tests of this cell ran"}


def _short_error(content):
    """ename, evalue and traceback of an error, one short line each."""
    tb = [str(line)[:200] for line in (content.get("traceback") or [])[-1:]]
    return {"ename": str(content.get("ename", ""))[:100],
            "evalue": str(content.get("evalue", "")).split("\n", 1)[0][:200],
            "traceback": tb or ["ERROR: an error occurred while showtraceback was disabled"]}


def _without_transient(msg):
    """The message without display ids: nothing can be updated later."""
    content = msg["content"]
    if "transient" not in content:
        return msg
    return dict(msg, content={k: v for k, v in content.items() if k != "transient"})


def _error(name, text):
    return new_output("error", ename=name, evalue=text, traceback=[f"{name}: {text}"])


def _call(function, grade_id):
    return f"__import__('coursetools.checks.kernel', fromlist=['x']).{function}({str(grade_id)!r})"


def _bootstrap_code():
    if "bootstrap" not in _CACHE:
        sources = {name: (_CHECKS_DIR / f"{name}.py").read_text(encoding="utf-8")
                   for name in kernel_side.KERNEL_MODULES}
        _CACHE["bootstrap"] = kernel_side.bootstrap_code(sources)
    return _CACHE["bootstrap"]
