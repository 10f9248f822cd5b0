"""A private, throw-away PostgreSQL server, to grade the tests' gradebook on a real server.

Each server is private to its test: its own data directory (initdb), its own free TCP port
on 127.0.0.1 only, its unix socket inside the data directory, `trust` authentication and
fsync off (the data is thrown away). `stop()` (or leaving the `with`) stops it and removes
its data, also when starting failed half-way; the server log stays in base_dir/postgres.log
and every error names it.

PostgreSQL refuses to run as root: as root, initdb/pg_ctl run as the `postgres` system user
(runuser, else setpriv) in a data directory that user owns. When that user cannot reach
base_dir (pytest's tmp dirs are 0700 under /tmp/pytest-of-root), the data directory is a
fresh tempfile.mkdtemp() instead. Needs the Debian package `postgresql` (`make postgres`).

    from pgserver import PostgresServer
    with PostgresServer(tmp_path) as pg:        # or pg = PostgresServer(d).start() ... pg.stop()
        nbgrader(..., f"--CourseDirectory.db_url={pg.url}")  # postgresql://postgres@127.0.0.1:PORT/gradebook
"""

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "postgres"  # the database superuser (initdb -U); also the system user when we are root
INSTALL_HINT = "install the Debian package `postgresql` (as root: `make postgres`)"


class PostgresError(RuntimeError):
    pass


def find_bindir():
    """initdb/pg_ctl/postgres: newest /usr/lib/postgresql/<v>/bin, else `pg_config --bindir`, else PATH."""
    def version(d):  # /usr/lib/postgresql/15/bin -> [15]
        return [int(x) for x in d.split("/")[4].split(".") if x.isdigit()]

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    if shutil.which("pg_config"):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    candidates.append(os.path.dirname(shutil.which("pg_ctl") or ""))
    for d in candidates:
        if d and all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresError(f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: {INSTALL_HINT}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """`.start()` (or `with`) runs the server; `.url` is the SQLAlchemy URL of database `dbname`."""

    def __init__(self, base_dir, dbname="gradebook", timeout=60):
        self.base_dir, self.dbname, self.timeout = Path(base_dir).resolve(), dbname, timeout
        self.log = self.base_dir / "postgres.log"  # kept after stop
        self.bindir = self.datadir = self.port = None
        self._as = []  # prefix running a server tool as the server user (nothing unless root)
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(USER)
            except KeyError:
                raise PostgresError(f"running as root, but there is no `{USER}` user: {INSTALL_HINT}") from None
            if shutil.which("runuser"):
                self._as = [shutil.which("runuser"), "-u", USER, "--"]
            elif shutil.which("setpriv"):
                self._as = [shutil.which("setpriv"), f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"]
            else:
                raise PostgresError("running as root needs runuser or setpriv (Debian package util-linux)")

    @property
    def url(self):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, tool, *args, out=None, check=True):
        """Run a server tool as the server user; PostgresError (with the log) when it fails."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no stray PGPORT...
        argv = self._as + [os.path.join(self.bindir, tool), *args]
        proc = subprocess.run(argv, cwd="/", env={**env, "LC_ALL": "C"}, stdin=subprocess.DEVNULL, text=True,
                              stdout=out or subprocess.PIPE, stderr=subprocess.STDOUT, timeout=self.timeout + 30)
        if check and proc.returncode != 0:
            output = (proc.stdout or "").strip()[-800:]
            raise PostgresError(f"{tool} {' '.join(args)} failed ({proc.returncode}): {output}{self._log_tail()}")
        return proc

    def _log_tail(self, lines=15):
        try:
            tail = "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            tail = "(empty)\n"
        return f"\nserver log {self.log}, last lines:\n{tail}"

    def _make_datadir(self):
        """An empty data directory owned by, and reachable for, the server user."""
        for parent in (self.base_dir, None):  # None: a fresh dir under /tmp
            datadir = Path(tempfile.mkdtemp(prefix="pgdata-", dir=parent))  # 0700
            if self._as:
                shutil.chown(datadir, USER, USER)
            # unix socket paths are limited to 107 bytes; `test -O` (run as the server user)
            # fails when that user cannot reach the directory
            reachable = subprocess.run(self._as + ["test", "-O", str(datadir), "-a", "-w", str(datadir)], cwd="/")
            if parent is None or (reachable.returncode == 0 and len(f"{datadir}/.s.PGSQL.65535") < 100):
                return datadir
            datadir.rmdir()

    @property
    def running(self):
        """Does a server run on our data directory (`pg_ctl status`)?"""
        if self.datadir is None or not (self.datadir / "postmaster.pid").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def start(self):
        try:
            self.bindir = find_bindir()
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self.datadir = self._make_datadir()
            atexit.register(self.stop)  # a script that forgets stop() (or dies of an exception)
            self._run("initdb", "-D", str(self.datadir), "-U", USER, "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync", "--no-instructions")
            (self.datadir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
            with open(self.datadir / "postgresql.conf", "a") as conf:  # speed over safety: data is thrown away
                conf.write(f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.datadir}'\n"
                           "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                           "shared_buffers = 16MB\nmax_connections = 50\n")
            for attempt in range(3):  # another process may take the free port first: retry
                self.port = free_port()
                try:  # pg_ctl without -l hands the server's output to its stdout: our log file,
                    # opened by us, so the server user needs no access to base_dir
                    with open(self.log, "a") as log:
                        self._run("pg_ctl", "start", "-D", str(self.datadir), "-w", "-t", str(self.timeout),
                                  "-o", f"-p {self.port}", out=log)
                    break
                except PostgresError as exc:
                    if attempt == 2 or "already in use" not in str(exc):
                        raise
            self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", str(self.timeout))
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, self.dbname)
        except BaseException as exc:
            try:
                self.stop()
            except Exception as stop_exc:  # noqa: BLE001 - keep the first error, tell both
                exc.add_note(f"stopping the server failed too: {stop_exc}")
            if isinstance(exc, (OSError, subprocess.SubprocessError)):
                raise PostgresError(f"starting PostgreSQL failed: {exc}{self._log_tail()}") from exc
            raise
        return self

    def stop(self):
        """Stop the server (fast, else immediate) and remove its data; safe to call twice."""
        if self.datadir is None:
            return
        error = None
        for mode in ("fast", "immediate"):
            if not self.running:
                break
            try:
                self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30")
            except (PostgresError, subprocess.SubprocessError) as exc:
                error = exc
        if self.running:
            raise PostgresError(f"cannot stop the server of {self.datadir}: {error}")
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir = None
        atexit.unregister(self.stop)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
