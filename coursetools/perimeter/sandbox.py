"""The bubblewrap sandbox of the grading kernels: can it start here, and the kernelspec.

``preflight()`` says whether a sandbox can start on this machine (make grade refuses to
grade without one, unless the instructor opts out). ``kernelspec_dir(...)`` writes the
kernelspec whose argv starts the kernel through launcher.py (bubblewrap + prlimit, run
outside the box) with the limits SandboxedExecute's traits give; each distinct set of
settings gets its own folder, so kernels of different courses or settings never mix.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
KERNEL_NAME = "cnn-sandboxed-python3"
STALE_IPC_SECONDS = 24 * 3600
# the namespace flags of launcher.py, for preflight()
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


_PROBE = ("import json, sys, sysconfig; print(json.dumps([[sys.prefix, sys.base_prefix, "
          "sys.exec_prefix, sys.base_exec_prefix], [p for p in sys.path if p], "
          "[sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']]]))")


# packages of the kernel's own environment that a grading kernel never uses: ipykernel
# imports debugpy at start-up (for JupyterLab's debugger; `make lab` keeps it), ~0.05 s of
# CPU per kernel, i.e. per student, and a debug server nobody attaches to while grading
UNUSED_WHEN_GRADING = ("debugpy",)


def prefixes(python):
    """(folders the kernel's Python needs, read-only; package folders to mask).

    The kernel's environment holds numpy, ipykernel and matplotlib only; its base Python (bound
    in for the standard library) or the system may have torch, scipy, scikit-learn in their own
    site-packages, which student code could add to sys.path: those folders are masked. So are
    the UNUSED_WHEN_GRADING packages of its own environment (ipykernel runs without them: it
    checks whether debugpy imports).
    """
    probe = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise RuntimeError(f"the kernel's Python {python} does not run: "
                           f"{(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    roots, path, own = json.loads(probe.stdout)
    found = []
    for p in roots:
        p = os.path.realpath(p)
        if p != "/" and p not in found:
            found.append(p)
    keep = {os.path.realpath(p) for p in own + path}
    candidates = set()
    for root in found + ["/usr", "/usr/local"]:
        for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                        "lib/python3/dist-packages", "local/lib/python3*/dist-packages"):
            candidates.update(glob.glob(os.path.join(root, pattern)))
    masks = {os.path.realpath(c) for c in candidates
             if os.path.isdir(c) and os.path.realpath(c) not in keep}
    masks.update(os.path.realpath(os.path.join(folder, name)) for folder in own
                 for name in UNUSED_WHEN_GRADING if os.path.isdir(os.path.join(folder, name)))
    return found, sorted(masks)


def kernel_argv(python, hide, expose, limits, log_dir, mplconfig, mask=()):
    """The kernelspec argv: launcher.py (outside the box) starting ``python -m ipykernel``."""
    argv = [sys.executable, "-I", LAUNCHER]
    for path in hide:
        argv += ["--hide", path]
    for path in expose:
        argv += ["--expose", path]
    for path in mask:
        argv += ["--mask", path]
    for option, value in limits:
        argv += [option, str(value)]
    argv += ["--log-dir", log_dir]
    if mplconfig:
        argv += ["--mplconfig", mplconfig]
    return argv + ["--", python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                   "--HistoryManager.hist_file=:memory:"]


def kernelspec_dir(build, argv, display_name="Python 3 (sandboxed grading)", sandboxed=True):
    """A folder holding the kernelspec KERNEL_NAME for ``argv`` (a KernelSpecManager dir)."""
    spec = {"argv": argv, "display_name": display_name, "language": "python",
            "metadata": {"debugger": False}}
    if sandboxed:
        # bwrap runs the kernel in another session and pid namespace: signals from
        # jupyter_client would not reach it, an interrupt_request message does
        spec["interrupt_mode"] = "message"
    text = json.dumps(spec, indent=1) + "\n"
    folder = os.path.join(build, "kernels", hashlib.sha256(text.encode()).hexdigest()[:16])
    write_if_changed(os.path.join(folder, KERNEL_NAME, "kernel.json"), text)
    return folder


def private_dir(path):
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


def remove_stale(ipc_root):
    """Socket folders of kernels that are long gone (a killed grader leaves them)."""
    now = time.time()
    for entry in os.scandir(ipc_root):
        try:
            if entry.is_dir(follow_symlinks=False) and now - entry.stat().st_mtime > STALE_IPC_SECONDS:
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass


def write_if_changed(path, text):
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


def matplotlib_cache(folder, python):
    """A pre-built matplotlib font cache for the kernels (None without matplotlib there).

    Every kernel has a fresh, empty HOME: without this, every kernel that imports matplotlib
    rebuilds the font cache (measured here: +0.1 s with 70 or 1500 fonts), and where that
    takes over 5 s matplotlib logs "Matplotlib is building the font cache" on stderr, which
    costs the cell its points. Built once per matplotlib version of the kernel's Python,
    outside the box; the launcher copies it into a writable MPLCONFIGDIR (a read-only one
    makes matplotlib warn). Fonts installed later are not in it: delete build/sandbox/.
    """
    probe = subprocess.run([python, "-I", "-c", "import importlib.metadata as m; "
                            "print(m.version('matplotlib'))"], capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        return None
    path = os.path.join(folder, "mplconfig-" + probe.stdout.strip())
    if not any(n.startswith("fontlist-") for n in _listdir(path)):
        os.makedirs(path, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=path, MPLBACKEND="Agg")
        subprocess.run([python, "-I", "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=600, check=False)
    return path if any(n.startswith("fontlist-") for n in _listdir(path)) else None


def folder_fingerprint(folder):
    """A hash of what the launcher copies of a notebook's folder into the sandbox (launcher.py,
    Box.copy_tree: every file's path and content, symlinks as they read, no notebooks): two
    folders with the same fingerprint give a kernel the same view."""
    from coursetools.perimeter import launcher

    h = hashlib.sha256()

    def walk(path, rel):
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            h.update(f"unreadable {rel}: {exc.errno}\0".encode())
            return
        for entry in entries:
            name = f"{rel}/{entry.name}"
            if entry.name in launcher.SKIP or entry.name.endswith(".ipynb"):
                continue
            if entry.is_symlink():
                h.update(f"link {name} {os.readlink(entry.path)}\0".encode())
            elif entry.is_dir():
                h.update(f"dir {name}\0".encode())
                walk(entry.path, name)
            elif entry.is_file():
                h.update(f"file {name}\0".encode())
                with open(entry.path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                h.update(b"\0")

    walk(folder, "")
    return h.hexdigest()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree_cpu(pid):
    """CPU seconds (user + system) of process ``pid`` and its descendants so far, from /proc
    (0.0 where there is no /proc): the cost of a kernel, read just before it is stopped."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime stime cutime cstime: children already reaped count through their parent
            total += sum(int(x) for x in fields[11:15]) / _TICK
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
