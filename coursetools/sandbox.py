"""Sandboxed grading kernels for `nbgrader autograde`, and a per-cell output cap.

Used from nbgrader_config.py (inside the nbgrader process):

    from coursetools import sandbox
    reason = sandbox.preflight()          # None, or why the sandbox cannot start here
    if reason is None:
        sandbox.configure(c, root)        # kernelspec, ipc transport, SandboxedExecute traits
    c.Autograde.autograde_preprocessors = [sandbox.SandboxedExecute, ...]

`configure` writes a kernelspec whose argv is sandbox_launcher.py (bubblewrap + prlimit, see
there) and routes kernels through unix sockets (the sandbox has no network). SandboxedExecute
is nbgrader's Execute plus an output cap; when `configure` set `ipc_root` it also gives every
kernel its own socket folder, which it locks against the kernel once the kernel is up.
"""

import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from queue import Empty

from jupyter_core.utils import ensure_async, run_sync
from nbformat.v4 import new_output
from traitlets import Integer, Unicode

from nbgrader.preprocessors import Execute

KERNEL_NAME = "cnn-sandboxed-python3"
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_launcher.py")

# "memory" is RLIMIT_AS of each process; "cpu" the CPU seconds of the kernel's whole life;
# "wall" kills the kernel after that many seconds (0: never); "disk" the size of each writable
# tmpfs (/tmp, /dev/shm, the notebook's folder); "max_output_bytes" the per-cell output cap.
DEFAULT_LIMITS = {
    "memory": "4G", "cpu": 600, "wall": 1200, "nproc": 64, "fsize": "64M", "nofile": 256,
    "disk": "256M", "max_output_bytes": 1_000_000,
}
_LAUNCHER_OPTION = {"memory": "--mem", "cpu": "--cpu", "wall": "--wall", "nproc": "--nproc",
                    "fsize": "--fsize", "nofile": "--nofile", "disk": "--disk"}
_STALE_IPC_SECONDS = 24 * 3600
# the namespace flags of sandbox_launcher.py, for preflight()
_BWRAP_FLAGS = ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
                "--die-with-parent", "--new-session", "--clearenv"]


def _tool(name):
    return shutil.which(name, path="/usr/bin:/bin")


def preflight():
    """None when sandboxed kernels can start here, else a one-line reason.

    Starts a real (empty) sandbox with the launcher's namespace flags and mount kinds, as
    the user the launcher becomes (65534 when root): a few tens of ms.
    """
    missing = [f"{name} (package {pkg})" for name, pkg in
               (("bwrap", "bubblewrap"), ("prlimit", "util-linux"), ("timeout", "coreutils"))
               if not _tool(name)]
    if missing:
        return "not found: " + ", ".join(missing)
    as_root = os.geteuid() == 0
    with open(os.devnull, "rb") as null:
        argv = [_tool("bwrap"), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                "--size", str(1 << 20), "--tmpfs", "/tmp", "--bind", "/tmp", "/var/tmp",
                "--file", str(null.fileno()), "/tmp/x", *_BWRAP_FLAGS,
                "--", _tool("prlimit"), "--nproc=64", f"--as={1 << 30}", "--core=0",
                _tool("true") or "/bin/true"]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                                 pass_fds=(null.fileno(),), user=65534 if as_root else None,
                                 group=65534 if as_root else None, extra_groups=[] if as_root else None)
        except (OSError, subprocess.SubprocessError) as e:
            return f"bwrap could not run: {e}"
    if run.returncode != 0:
        lines = (run.stderr or run.stdout).strip().splitlines() or [f"exit status {run.returncode}"]
        return ("bwrap cannot create the sandbox here (user namespaces disabled? bwrap older "
                f"than 0.8?): {lines[-1]}")
    return None


def configure(c, root, limits=None, hide=()):
    """Grade with sandboxed kernels: see the module docstring.

    c: the nbgrader config object; root: the course root (hidden from the kernels, with
    every path in `hide`); limits: overrides of DEFAULT_LIMITS.
    """
    lim = dict(DEFAULT_LIMITS)
    unknown = set(limits or {}) - set(lim)
    if unknown:
        raise ValueError(f"unknown sandbox limits: {sorted(unknown)} (known: {sorted(lim)})")
    lim.update(limits or {})
    root = os.path.realpath(root)
    build = os.path.join(root, "build")

    # unix socket paths are limited to ~107 bytes: a short folder per user in /tmp (not per
    # course: the test suite grades hundreds of scratch copies); every kernel gets its own
    # random subfolder, see SandboxedExecute
    ipc_root = f"/tmp/nbg-ipc-{os.geteuid()}"
    _private_dir(ipc_root)
    _remove_stale(ipc_root)

    prefixes = []
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        p = os.path.realpath(p)
        if p != "/" and p not in prefixes:
            prefixes.append(p)
    # also the checkout this module comes from when it is another course folder (the test
    # suite grades a copy of the course: the real gradebook must stay hidden too)
    checkout = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    hidden = [root, *(os.path.realpath(p) for p in hide)]
    if os.path.isfile(os.path.join(checkout, "nbgrader_config.py")) and checkout not in hidden:
        hidden.append(checkout)
    argv = [sys.executable, "-I", LAUNCHER]
    for path in hidden:
        argv += ["--hide", path]
    for path in prefixes:
        argv += ["--expose", path]
    for key, option in _LAUNCHER_OPTION.items():
        argv += [option, str(lim[key])]
    argv += ["--log-dir", os.path.join(root, "logs", "sandbox")]
    mplconfig = _matplotlib_cache(os.path.join(build, "sandbox"))
    if mplconfig:
        argv += ["--mplconfig", mplconfig]
    argv += ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
             "--HistoryManager.hist_file=:memory:"]
    spec = {"argv": argv, "display_name": "Python 3 (sandboxed grading)", "language": "python",
            # bwrap runs the kernel in another session and pid namespace: signals from
            # jupyter_client would not reach it, an interrupt_request message does
            "interrupt_mode": "message", "metadata": {"debugger": False}}
    _write_if_changed(os.path.join(build, "kernels", KERNEL_NAME, "kernel.json"),
                      json.dumps(spec, indent=1) + "\n")

    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [build] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != build])
    c.KernelManager.transport = "ipc"
    c.KernelManager.ip = ipc_root + "/kernel"  # for kernels not started by SandboxedExecute
    c.SandboxedExecute.kernel_name = KERNEL_NAME
    c.SandboxedExecute.ipc_root = ipc_root
    c.SandboxedExecute.max_output_bytes = int(lim["max_output_bytes"])


@functools.lru_cache(maxsize=8)
def python_prefixes(python):
    """The folders ``python`` runs from (its venv and its base installation), real paths."""
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"the kernel Python {python} cannot run: {e}") from None
    prefixes = []
    for p in map(os.path.realpath, json.loads(out)):
        if p != "/" and p not in prefixes:
            prefixes.append(p)
    return tuple(prefixes)


def kernel_argv(argv, python):
    """A kernelspec argv that runs its kernel with ``python`` instead of the one it names.

    Sandboxed (sandbox_launcher ... --expose P ... -- P/python -m ipykernel_launcher ...): the
    kernel command after ``--`` and the read-only --expose folders become ``python``'s, so the
    box holds that environment and no other. Plain (python -m ipykernel_launcher ...): argv[0].
    """
    if "--" in argv and LAUNCHER in argv:
        cut = argv.index("--")
        head, i = [], 0
        while i < cut:
            if argv[i] == "--expose":
                i += 2
                continue
            head.append(argv[i])
            i += 1
        for path in python_prefixes(python):
            head += ["--expose", path]
        return head + ["--", python, *argv[cut + 2:]]
    if argv[1:3] == ["-m", "ipykernel_launcher"]:
        return [python, *argv[1:]]
    raise RuntimeError(f"cannot run this kernelspec with another Python: {argv}")


def _private_dir(path):
    """Ours, not listable by others; 0711 so that bwrap (as uid 65534) can reach the
    per-kernel folders inside (their names are random, each is 0700)."""
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
        raise RuntimeError(f"sandbox: {path} exists but is not a folder of this user; remove it")
    os.chmod(path, 0o711)


def _remove_stale(ipc_root):
    """Socket folders of kernels that are long gone (a killed nbgrader leaves them)."""
    now = time.time()
    for entry in os.scandir(ipc_root):
        try:
            if entry.is_dir(follow_symlinks=False) and now - entry.stat().st_mtime > _STALE_IPC_SECONDS:
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass


def _write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _matplotlib_cache(folder):
    """A pre-built matplotlib font cache for the kernels (None without matplotlib).

    Every kernel has a fresh, empty HOME: without this, every kernel that imports matplotlib
    rebuilds the font cache (measured here: +0.1 s with 70 or 1500 fonts), and where that
    takes over 5 s matplotlib logs "Matplotlib is building the font cache" on stderr, which
    costs the cell its points. Built once per matplotlib version, outside the box; the
    launcher copies it into a writable MPLCONFIGDIR (a read-only one makes matplotlib warn).
    Fonts installed later are not in it: delete build/sandbox/ to rebuild.
    """
    try:
        version = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = os.path.join(folder, "mplconfig-" + version)
    if not any(n.startswith("fontlist-") for n in _listdir(path)):
        os.makedirs(path, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=path, MPLBACKEND="Agg")
        subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=600, check=False)
    return path if any(n.startswith("fontlist-") for n in _listdir(path)) else None


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _output_size(content):
    """Characters of an output message (text, error, every MIME value)."""
    n = len(content.get("text") or "") + len(content.get("evalue") or "")
    n += sum(len(line) for line in content.get("traceback") or ())
    for value in (content.get("data") or {}).values():
        n += len(value) if isinstance(value, str) else len(json.dumps(value))
    return n


class SandboxedExecute(Execute):
    """nbgrader's Execute with a per-cell output cap (and per-kernel ipc folders).

    The rlimits of the sandbox cannot stop a kernel from streaming output into the grader
    (prototype: a print loop reached 1 GB RSS and a 50 MB notebook in a 10 s timeout). Each
    cell keeps at most `max_output_bytes` characters of output, in order: the stream message
    that crosses the limit is cut, any other output that does not fit (images, records of
    type application/vnd.cnn-grader.record+json, ...) is dropped whole, never cut. Then one
    note is added on stderr (nbgrader scores a graded cell with stderr output 0, whether or
    not the kernel was still running), everything else the cell sends is dropped except
    error outputs (kept, shortened), and the kernel is interrupted once. The next cell only
    starts after the kernel acknowledged that interrupt, so it cannot hit an honest cell.
    """

    max_output_bytes = Integer(
        1_000_000, help="Output characters kept per cell; beyond: dropped, a note on stderr, "
        "the kernel interrupted. 0: no cap.").tag(config=True)
    ipc_root = Unicode(
        "", help="When set (sandbox.configure does), every kernel gets its own socket folder "
        "in this folder, made read-only for the kernel once it is up.").tag(config=True)
    kernel_python = Unicode(
        "", help="The Python that runs the student's kernel (with its environment: only what "
        "is installed there can be imported; sandboxed, only its folders are visible). "
        "Empty: the kernelspec's own (nbgrader's Python). `make` passes the grading kernel "
        "environment's, .venv-kernel/bin/python (requirements-kernel.txt).").tag(config=True)

    _ERROR_FIELD = 10_000  # characters kept of an error's value and of each traceback line
    _ERROR_LINES = 100

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.kernel_python:
            km.kernel_spec.argv = kernel_argv(km.kernel_spec.argv, self.kernel_python)
        self._ipc_dir = None
        if self.ipc_root:
            self._ipc_dir = tempfile.mkdtemp(prefix="k", dir=self.ipc_root)
            km.transport = "ipc"
            km.ip = os.path.join(self._ipc_dir, "k")
        return km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if getattr(self, "_ipc_dir", None):
            # The kernel has created its sockets: it needs no further write access to the
            # host folder (files it could fill the disk with). As root the launcher gave
            # the folder to uid 65534: take it back.
            os.chown(self._ipc_dir, os.geteuid(), os.getegid())
            os.chmod(self._ipc_dir, 0o500)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess(self, nb, resources=None, km=None):
        self._kernel_stopped = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            ipc_dir, self._ipc_dir = getattr(self, "_ipc_dir", None), None
            if ipc_dir:
                os.chmod(ipc_dir, 0o700)
                shutil.rmtree(ipc_dir, ignore_errors=True)

    # ---- a kernel that died or stopped answering costs its cells, not the student's grade ----
    # nbgrader's Execute lets DeadKernelError / CellTimeoutError (interrupt ignored) escape, and
    # nbgrader then gives up on the whole student: no grade at all, and `nbgrader autograde`
    # exits 1 for the class. Here the cell gets the error, later cells are not run (each gets
    # one error output saying why), and the student is graded: 0 for those cells.

    def preprocess_cell(self, cell, resources, index):
        stopped = getattr(self, "_kernel_stopped", None)
        if stopped and cell.cell_type == "code":
            cell.outputs = [new_output("error", ename="KernelStopped", evalue=stopped, traceback=[
                f"KernelStopped: not run: {stopped}"])]
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except Exception as e:  # noqa: BLE001 - whatever the kernel did, grade the rest
            name = type(e).__name__
            self.log.warning("kernel stopped in cell %s: %s: %s", index, name, str(e)[:200])
            self._kernel_stopped = (f"the kernel stopped in an earlier cell ({name}: "
                                    f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else name})")
            cell.outputs.append(new_output("error", ename=name, evalue=str(e)[:2000],
                                           traceback=[f"{name}: {str(e)[:2000]}"]))
            return cell, self.resources

    # ---- output cap ----

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
        if kind == "clear_output":
            self._used = 0  # what was kept is cleared (now, or at the next output)
        elif self.max_output_bytes and kind in (
                "stream", "display_data", "execute_result", "update_display_data", "error"):
            msg, overflow = self._cap(msg)
            out = super().process_message(msg, cell, cell_index) if msg else None
            if overflow:
                self._on_overflow(cell)
            return out
        return super().process_message(msg, cell, cell_index)

    def _cap(self, msg):
        """(message to process or None, whether this message overflows the cell's budget)."""
        kind, content = msg["msg_type"], msg["content"]
        if kind == "error":  # always kept: it is what marks the cell as failed
            return self._shorten_error(msg), False
        size = _output_size(content)
        if kind == "update_display_data":  # replaces an earlier output, adds none
            return (None if self._overflow or size > self.max_output_bytes else msg), False
        if self._overflow:
            return None, False
        room = self.max_output_bytes - self._used
        if size <= room:
            self._used += size
            return msg, False
        if kind == "stream" and room > 0:  # keep the head of the text; other types whole or not
            msg = dict(msg, content=dict(content, text=content["text"][:room]))
            self._used = self.max_output_bytes
            return msg, True
        return None, True

    def _shorten_error(self, msg):
        content, cut = msg["content"], self._ERROR_FIELD
        if _output_size(content) <= self.max_output_bytes:
            return msg
        tb = [line[:cut] for line in content.get("traceback") or ()]
        if len(tb) > self._ERROR_LINES:
            half = self._ERROR_LINES // 2
            tb = tb[:half] + [f"... {len(tb) - 2 * half} traceback lines dropped ..."] + tb[-half:]
        return dict(msg, content=dict(content, evalue=(content.get("evalue") or "")[:cut], traceback=tb))

    def _on_overflow(self, cell):
        self._overflow = True
        self.clear_before_next_output = False  # a pending clear_output must not drop the note
        cell.outputs.append(new_output(
            "stream", name="stderr",
            text=f"\n[output limit: this cell printed more than {self.max_output_bytes:,} characters; "
                 "the rest was dropped and the cell was interrupted]\n"))
        self.log.warning("Cell output over %d characters: dropped, kernel interrupted", self.max_output_bytes)
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
