"""Students of a shared JupyterHub, simulated on one machine for the exchange tests.

nbgrader names the student by the Unix user running it (``nbgrader.utils.get_username``:
``pwd.getpwuid(os.getuid())``; in 'jovyan' containers, JUPYTERHUB_USER), and its exchange
relies on Unix permissions (inbound is write-only for students, released feedback is
found only by the hash of the student's own submission secret). So each simulated student
is a real, distinct uid (``setpriv``), named through a private /etc/passwd that only the
simulated processes see (a bubblewrap mount namespace): no user is added to the machine.

Where that cannot run (not root, no bwrap/setpriv, the environment not readable by other
users), students run as the current user with nbgrader's documented ``--student=<name>``
and the course switches off the owner check (``mode == "student-option"``).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIRST_UID = 20001


class Hub:
    def __init__(self, base, users, exchange, course_id="cnn-spatial"):
        self.base, self.exchange, self.course_id = Path(base), Path(exchange), course_id
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self.uids = {user: FIRST_UID + i for i, user in enumerate(users)}
        self.passwd = self.base / "passwd"
        lines = Path("/etc/passwd").read_text().splitlines()
        lines += [f"{u}:x:{uid}:{uid}:{u}:{self.home(u)}:/bin/sh" for u, uid in self.uids.items()]
        self.passwd.write_text("\n".join(lines) + "\n")
        self.passwd.chmod(0o644)
        for user in users:
            home = self.home(user)
            (home / ".jupyter").mkdir(parents=True)
            # what a hub admin puts in the students' nbgrader config (docs/student-jupyterhub.md)
            (home / ".jupyter" / "nbgrader_config.py").write_text(
                "c = get_config()\n"
                f"c.Exchange.root = {str(self.exchange)!r}\n"
                f"c.CourseDirectory.course_id = {course_id!r}\n")
        self.mode = "uids" if self._uids_work() else "student-option"
        for user, uid in self.uids.items():
            if self.mode == "uids":
                for folder, _, files in os.walk(self.home(user)):
                    os.chown(folder, uid, uid)
                    for name in files:
                        os.chown(os.path.join(folder, name), uid, uid)
                self.home(user).chmod(0o700)

    def home(self, user):
        return self.base / "home" / user

    def _wrap(self, argv, user=None):
        """argv run through bubblewrap with the hub's /etc/passwd (and as ``user``)."""
        wrapped = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                   "--ro-bind", str(self.passwd), "/etc/passwd", "--"]
        if user is not None:
            uid = self.uids[user]
            wrapped += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        return wrapped + list(argv)

    def _uids_work(self):
        if os.geteuid() != 0 or not shutil.which("bwrap") or not shutil.which("setpriv"):
            return False
        user = next(iter(self.uids))
        probe = subprocess.run(
            self._wrap([sys.executable, "-c", "import getpass, nbgrader; print(getpass.getuser())"], user),
            capture_output=True, text=True, env=self._env(user), cwd="/")
        return probe.returncode == 0 and probe.stdout.strip() == user

    def _env(self, user):
        venv_bin = str(Path(sys.executable).parent)
        return {"HOME": str(self.home(user)), "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
                "PATH": venv_bin + os.pathsep + "/usr/bin:/bin"}

    def nbgrader(self, user, *args, check=True):
        """``nbgrader <args>`` run by ``user`` in their home folder."""
        argv = [sys.executable, "-m", "nbgrader", *args]
        if self.mode == "uids":
            argv = self._wrap(argv, user)
        elif args and args[0] in ("fetch_assignment", "submit", "fetch_feedback", "list"):
            argv.append(f"--student={user}")
        proc = subprocess.run(argv, capture_output=True, text=True, env=self._env(user),
                              cwd=self.home(user), stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{user}: nbgrader {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def write(self, user, relpath, data):
        """The student saves a file in their home (e.g. their answered notebook)."""
        path = self.home(user) / relpath
        path.write_bytes(data)
        if self.mode == "uids":
            os.chown(path, self.uids[user], self.uids[user])
        return path

    def instructor(self, argv, **kwargs):
        """The instructor's command, seeing the hub's user names (for nbgrader's owner check)."""
        if self.mode == "uids":
            argv = self._wrap(argv)
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
