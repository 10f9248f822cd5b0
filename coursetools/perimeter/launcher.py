"""Start a Jupyter kernel inside a bubblewrap sandbox with resource limits.

Trusted code, run OUTSIDE the sandbox as the argv of a kernelspec:

    <python> -I launcher.py [options] -- <python> -m ipykernel_launcher -f {connection_file} ...

Standard library only (it runs with -I and must not import course code). jupyter_client
starts it with cwd = the notebook's folder (nbgrader autograde: autograded/<student>/<a>/).
It then execs  [timeout -s KILL <wall>] bwrap <namespaces, mounts> prlimit <limits> <kernel>:

* no network: the kernel gets its own network namespace, so only transport=ipc works (the
  kernel's sockets live in a per-kernel directory that is bind-mounted into the box);
* the filesystem is an allow-list, read-only: the system folders (SYSTEM: /usr, /etc and the
  /bin /sbin /lib* links or folders) and the --expose paths (the Python environment; as root,
  through a private mount namespace when uid 65534 cannot reach them: bridge()). Nothing
  else of the host exists in the box: not /work, /opt, /srv, /mnt, /var, /home, nor another
  copy of the course next to this one. Empty size-limited tmpfs over /tmp /var/tmp /run
  /dev/shm, and over every --hide path (the course root: gradebook, source, other students)
  that lies under a bound folder (mounted parents first: a hidden folder inside an exposed
  one stays hidden); / itself is read-only once everything is mounted;
* the cwd is a size-limited tmpfs at the same path holding a private copy of the folder
  minus the notebooks, so relative data files work and writes never reach the host disk;
* run as uid/gid 65534 when started as root (RLIMIT_NPROC does not apply to root), in new
  user/pid/ipc/uts/cgroup/net namespaces, no capabilities, no nested user namespaces; the
  kernel is pid 1 of its namespace (--as-pid-1), so bwrap, which holds this launcher's
  environment and descriptors, is not in the box (and is exec'd with two variables only);
* rlimits: address space, CPU seconds, processes+threads, file size, open files, no core;
  optional wall-clock limit on the whole kernel (coreutils timeout, outside the box); the
  sandbox dies with the grader (bwrap --die-with-parent, PR_SET_PDEATHSIG on timeout);
* the kernel's own stdout/stderr go to a log file (capped by the file size limit), never to
  the grader's terminal. Errors of this launcher and of bwrap itself go to stderr.

Exit status 97 with a one-line "sandbox: ..." message when something is missing.
"""

import argparse
import errno
import json
import os
import resource
import shutil
import signal
import sys

FAIL = 97
NOBODY = 65534
BRIDGE = "/run"                 # see bridge(): only in the launcher's own mount namespace
HOME = "/tmp/home"              # fresh, inside the /tmp tmpfs
CONNECTION = "/run/kernel/connection.json"
MPLCONFIG = HOME + "/.mplconfig"
# What the kernel sees of the host, read-only (a symlink such as /bin -> usr/bin stays a link).
# Everything else is absent; the kernel's Python comes in through --expose.
SYSTEM = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
SCRATCH = ["/tmp", "/var/tmp", "/run", "/dev/shm"]   # empty, writable, size-limited tmpfs
# under /etc: configuration that may name the gradebook (db_url) or the exchange
ETC_MASKED = ["/etc/jupyter", "/etc/jupyterhub", "/etc/nbgrader"]
SMALL_TMPFS = 4 << 20           # /var/tmp /run, --hide and --mask paths
# kept from the grader's environment (SandboxedExecute sets MPLBACKEND and the MALLOC_ ones);
# never NBGRADER_EXECUTION (nbgrader sets it so that code can branch on being graded) or any
# other grader variable (they may name the gradebook)
KEEP_ENV = ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_"]
# never JPY_PARENT_PID: inside the pid namespace the parent is pid 1 and ipykernel would
# exit when its "parent" is not the expected pid.
SKIP = {".ipynb_checkpoints", "__pycache__"}


def die(message):
    print("sandbox: " + message, file=sys.stderr, flush=True)
    sys.exit(FAIL)


def size(text):
    """'4G', '64M', '512K' or a number of bytes -> bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1:].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        die(f"bad arguments: {message}")


def parse_args(argv):
    p = Parser(prog="launcher.py", description=__doc__.split("\n")[0])
    tool = lambda name: shutil.which(name, path="/usr/bin:/bin") or "/usr/bin/" + name  # noqa: E731
    p.add_argument("--bwrap", default=tool("bwrap"))
    p.add_argument("--prlimit", default=tool("prlimit"))
    p.add_argument("--timeout", default=tool("timeout"), help="coreutils timeout, for --wall")
    p.add_argument("--hide", action="append", default=[], help="cover with an empty tmpfs")
    p.add_argument("--expose", action="append", default=[], help="bind back read-only after the hides")
    p.add_argument("--mask", action="append", default=[],
                   help="cover with an empty tmpfs after the exposes (e.g. the site-packages of "
                        "the base Python under an exposed prefix)")
    p.add_argument("--mem", type=size, default="4G", help="RLIMIT_AS of each process")
    p.add_argument("--cpu", type=int, default=600, help="RLIMIT_CPU seconds, whole kernel lifetime")
    p.add_argument("--wall", type=int, default=0, help="kill the kernel after this many seconds (0: never)")
    p.add_argument("--nproc", type=int, default=64, help="RLIMIT_NPROC: processes + threads of the sandbox uid")
    p.add_argument("--fsize", type=size, default="64M", help="RLIMIT_FSIZE: largest file (and the kernel log)")
    p.add_argument("--nofile", type=int, default=256, help="RLIMIT_NOFILE")
    p.add_argument("--disk", type=size, default="256M",
                   help="size of the /tmp, /dev/shm and cwd tmpfs (cwd: plus its data)")
    p.add_argument("--log-dir", help="kernel stdout/stderr -> LOG_DIR/<cwd parent>/<cwd>.log (default: discarded)")
    p.add_argument("--mplconfig", help="pre-built matplotlib config/cache folder, copied into the box")
    p.add_argument("--uid", type=int, default=NOBODY, help="user to become when started as root")
    p.add_argument("--gid", type=int, default=NOBODY)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- KERNEL_ARGV (with -f CONNECTION_FILE)")
    a = p.parse_args(argv)
    a.cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    return a


def under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class Box:
    """Collects the bwrap argv and the file descriptors it must inherit."""

    def __init__(self, bwrap):
        self.argv = [bwrap]
        self.fds = []

    def add(self, *args):
        self.argv += [str(x) for x in args]

    def fd(self, path, flags=os.O_RDONLY):
        """An inheritable fd for bwrap's --file (opened here, maybe as root; bwrap reads it
        without resolving the path, and closes every fd it consumes)."""
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            die(f"cannot open {path}: {e.strerror}" + (" (too many files in the notebook's folder?)"
                                                        if e.errno == errno.EMFILE else ""))
        os.set_inheritable(fd, True)
        self.fds.append(fd)
        return fd

    def copy_tree(self, src, dest, out, skip_ext=()):
        """Append to `out` the bwrap args that recreate src at dest inside the box (on a
        tmpfs): files are copied, symlinks recreated as they are (they resolve inside the
        box), other file types skipped. Returns the bytes copied."""
        total = 0
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            target = os.path.join(dest, entry.name)
            if entry.name in SKIP or entry.name.endswith(skip_ext):
                continue
            if entry.is_symlink():
                out += ["--symlink", os.readlink(entry.path), target]
            elif entry.is_dir():
                out += ["--dir", target]
                total += self.copy_tree(entry.path, target, out, skip_ext)
            elif entry.is_file():
                out += ["--file", str(self.fd(entry.path)), target]
                total += entry.stat().st_size
        return total


def mount_order(binds, covers, visible):
    """[(path, is_bind)]: the exposed folders to bind and the folders to cover with an empty
    tmpfs, parents first, so that a cover inside an exposed folder (a hidden subfolder, a
    masked site-packages) lands on top of it, and a folder exposed inside a hidden one (the
    kernel's venv inside the course) on top of the cover. Covers outside everything bound are
    left out: those folders do not exist in the box anyway."""
    shown = visible + binds
    entries = [(p, True) for p in binds]
    entries += [(p, False) for p in covers
                if os.path.isdir(p) and any(under(p, v) for v in shown)]
    return sorted(entries, key=lambda e: (e[0].rstrip("/").count("/"), not e[1]))


def reachable(path, uid, gid):
    """Whether uid/gid may walk down to path (search permission on every parent)."""
    parent = os.path.dirname(os.path.realpath(path))
    while True:
        st = os.stat(parent)
        mode = st.st_mode
        if not (mode & 0o001 or (st.st_uid == uid and mode & 0o100) or (st.st_gid == gid and mode & 0o010)):
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def bridge(paths):
    """Make `paths` reachable for bwrap, which resolves every bind source as the sandbox
    user (uid 65534 cannot walk into /root, mode 0700, to reach /root/.pyenv/...): as root,
    in a private mount namespace of this process (inherited by bwrap, gone with it), a tmpfs
    over BRIDGE gets a bind mount of each path. Returns {path: its bridge path}."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ms_bind, ms_rec, ms_private, ms_nosuid, ms_nodev = 4096, 16384, 1 << 18, 2, 4

    def check(rc, what):
        if rc != 0:
            die(f"{what}: {os.strerror(ctypes.get_errno())} (needed because uid 65534 cannot "
                f"reach {', '.join(paths)}; or make their parent folders world-searchable)")

    check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, ms_rec | ms_private, None), "mount --make-rprivate /")
    # opened in the new namespace (a bind from another one fails), before the tmpfs covers them
    fds = [os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in paths]
    check(libc.mount(b"tmpfs", BRIDGE.encode(), b"tmpfs", ms_nosuid | ms_nodev, b"mode=0755,size=64k"),
          f"mount tmpfs on {BRIDGE}")
    bridged = {}
    for i, (path, fd) in enumerate(zip(paths, fds)):
        target = f"{BRIDGE}/{i}"
        os.mkdir(target)
        check(libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, ms_bind | ms_rec, None),
              f"bind mount {path}")
        os.close(fd)
        bridged[path] = target
    return bridged


def kernel_log(log_dir, cwd, uid, gid, as_root):
    """Open the kernel's log file (the kernel inherits the fd, so no write access to
    log_dir is needed inside the box)."""
    if not log_dir:
        return os.open(os.devnull, os.O_WRONLY)
    folder = os.path.join(log_dir, os.path.basename(os.path.dirname(cwd)) or "_")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, (os.path.basename(cwd) or "kernel") + ".log")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        die(f"cannot open kernel log {path}: {e.strerror}")
    if as_root:
        os.fchown(fd, uid, gid)
    return fd


def close_other_fds(keep):
    """Only 0, 1, 2 and the fds meant for bwrap survive the exec."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the fd of the listdir itself, already closed


def main(argv):
    a = parse_args(argv)
    cmd = list(a.cmd)
    for name in ("bwrap", "prlimit") + (("timeout",) if a.wall > 0 else ()):
        path = getattr(a, name)
        if not os.access(path, os.X_OK):
            die(f"{name} not found at {path} (install bubblewrap / util-linux / coreutils)")
    if not cmd:
        die("no kernel command after --")
    try:
        connection_file = os.path.abspath(cmd[cmd.index("-f") + 1])
        with open(connection_file) as f:
            info = json.load(f)
    except (ValueError, IndexError):
        die("the kernel command needs -f {connection_file}")
    except OSError as e:
        die(f"cannot read the connection file: {e.strerror}")
    if info.get("transport") != "ipc":
        die(f"the connection file uses transport={info.get('transport')!r}; the sandbox has "
            "no network: set c.KernelManager.transport = 'ipc'")
    ip = info.get("ip", "")
    if not os.path.isabs(ip):
        die(f"the ipc path {ip!r} must be absolute: set c.KernelManager.ip = '/short/dir/kernel'")
    ipc_dir = os.path.dirname(ip)
    if not os.path.isdir(ipc_dir) or os.path.islink(ipc_dir):
        die(f"the ipc folder {ipc_dir} is not a folder")
    cwd = os.getcwd()
    as_root = os.geteuid() == 0
    uid, gid = (a.uid, a.gid) if as_root else (os.getuid(), os.getgid())
    for path in a.expose:
        if not os.path.isdir(path):
            die(f"--expose {path}: no such directory")

    log_fd = kernel_log(a.log_dir, cwd, uid, gid, as_root)  # the kernel's stdout/stderr
    os.set_inheritable(log_fd, True)
    # one fd per copied file: allow as many as the hard limit (the kernel gets --nofile)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    box = Box(a.bwrap)
    visible = []                        # folders of the host bound into the box
    for path in SYSTEM:
        if os.path.islink(path):
            box.add("--symlink", os.readlink(path), path)
        elif os.path.isdir(path):
            box.add("--ro-bind", path, path)
            visible.append(path)
    box.add("--proc", "/proc", "--dev", "/dev")
    for path in SCRATCH:
        box.add("--size", a.disk if path in ("/tmp", "/dev/shm") else SMALL_TMPFS, "--tmpfs", path)
    for path in a.hide:
        if path in a.expose:
            die(f"{path} is both hidden and exposed")
    # bwrap resolves bind sources as the sandbox user: bridge those it cannot reach
    exposed = [p for p in a.expose if not any(under(p, v) for v in visible)
               or any(under(p, h) for h in a.hide)]
    sources = exposed + [ipc_dir]
    bridged = bridge([p for p in sources if not reachable(p, uid, gid)]) if as_root else {}
    for path, is_bind in mount_order(exposed, a.hide + a.mask + ETC_MASKED, visible):
        if is_bind:
            box.add("--ro-bind", bridged.get(path, path), path)
        else:  # hidden folders, other Pythons' packages (torch, scipy, ...), /etc/jupyter
            box.add("--size", SMALL_TMPFS, "--tmpfs", path)

    # cwd: private tmpfs copy (its size: the data plus --disk for what the kernel writes)
    files = []
    data = box.copy_tree(cwd, cwd, files, skip_ext=(".ipynb",))
    box.add("--size", data + a.disk, "--tmpfs", cwd, *files)

    # ipc: the kernel creates its sockets in ipc_dir (SandboxedExecute gives every kernel
    # its own, and takes write access back once the kernel is up)
    if as_root:
        os.chown(ipc_dir, uid, gid)
    box.add("--bind", bridged.get(ipc_dir, ipc_dir), ipc_dir)
    box.add("--file", box.fd(connection_file), CONNECTION)
    cmd[cmd.index("-f") + 1] = CONNECTION

    box.add("--dir", HOME)
    if a.mplconfig and os.path.isdir(a.mplconfig):
        box.add("--dir", MPLCONFIG)
        files = []
        box.copy_tree(a.mplconfig, MPLCONFIG, files)
        box.add(*files)
        box.add("--setenv", "MPLCONFIGDIR", MPLCONFIG)

    # / itself is bwrap's tmpfs: read-only once every mount is in place (the folders bwrap
    # created for them too); /tmp, /dev/shm, the cwd ... are mounts of their own and stay writable
    box.add("--remount-ro", "/")
    # --as-pid-1: the kernel is pid 1 of its namespace; bwrap itself stays outside, where the
    # kernel cannot read its environment and arguments or trace it and take its descriptors
    box.add("--chdir", cwd, "--unshare-all", "--unshare-user", "--disable-userns",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv", "--as-pid-1")
    env = {"HOME": HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           # the kernel's Python first, for `!python ...` and subprocess
           "PATH": ":".join(([os.path.dirname(cmd[0])] if os.path.isabs(cmd[0]) else [])
                            + ["/usr/local/bin", "/usr/bin", "/bin"]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMEXPR_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.update({k: os.environ[k] for k in KEEP_ENV if k in os.environ})
    for key, value in env.items():
        box.add("--setenv", key, value)

    # the kernel's stdout/stderr -> log_fd; bwrap's own error messages keep the real stderr
    box.add("--", a.prlimit, f"--as={a.mem}", f"--cpu={a.cpu}:{a.cpu + 5}", f"--nproc={a.nproc}",
            f"--fsize={a.fsize}", f"--nofile={a.nofile}", "--core=0",
            "--", "/bin/sh", "-c", f'exec "$@" >&{log_fd} 2>&{log_fd} {log_fd}>&-', "sh", *cmd)

    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # no stdin pipe from the grader
    # rlimits bound each process, not their sum (nproc x mem): if the host runs out of
    # memory anyway, the kernel's processes are the first the OOM killer picks
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    close_other_fds(set(box.fds) | {log_fd})

    if as_root:  # bwrap runs unprivileged (it sets up the sandbox in a user namespace)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    argv = box.argv
    if a.wall > 0:
        argv = [a.timeout, "-s", "KILL", str(a.wall)] + argv
        # bwrap --die-with-parent now watches timeout, not the grader: let timeout (this
        # pid after exec) die with the grader. Set after setuid, which clears it.
        import ctypes
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            die("the grader is gone")
    try:  # bwrap and timeout need no variable of the grader's (the kernel gets box's --setenv)
        os.execve(argv[0], argv, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except OSError as e:
        die(f"cannot run {argv[0]}: {e.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
