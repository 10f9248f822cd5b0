"""The course directory: where things live, and how nbgrader is run in it."""

import os
import subprocess
import sys
from pathlib import Path

from coursetools.errors import CourseError
from coursetools.notebooks import source_files
from coursetools.settings import Settings


class Course:
    """One assignment of the course rooted at ``root`` (the folder of nbgrader_config.py)."""

    # the Settings of a Course made without any (the tests set the grading kernel's Python)
    default_settings = Settings()

    def __init__(self, root, assignment, log_dir=None, settings=None):
        self.root = Path(root).resolve()
        self.assignment = assignment
        self.log_dir = Path(log_dir) if log_dir else self.root / "logs"
        self.settings = settings or self.default_settings
        if not (self.root / "nbgrader_config.py").is_file():
            raise CourseError(f"{self.root} is not a course directory (no nbgrader_config.py)")
        if not assignment or not all(ch.isalnum() or ch in "_-" for ch in assignment):
            raise CourseError(f"invalid assignment name {assignment!r}")

    # --- layout -----------------------------------------------------------
    def path(self, *parts):
        return self.root.joinpath(*parts)

    @property
    def release_dir(self):
        return self.path("release", self.assignment)

    @property
    def build_dir(self):
        return self.path("build", "source", self.assignment)

    def known_assignments(self):
        return sorted(p.name for p in self.path("source").glob("*") if p.is_dir() and any(p.glob("*.py")))

    def require_source(self):
        if not source_files(self.root, self.assignment):
            known = ", ".join(self.known_assignments()) or "none"
            raise CourseError(
                f"unknown assignment '{self.assignment}': no source/{self.assignment}/*.py "
                f"(assignments in source/: {known})"
            )

    def release_notebooks(self):
        """Names (without .ipynb) of the notebooks students receive."""
        names = sorted(p.stem for p in self.release_dir.glob("*.ipynb"))
        if not names:
            self.require_source()
            raise CourseError(
                f"release/{self.assignment}/ has no notebooks: run `make release ASSIGNMENT={self.assignment}` first"
            )
        return names

    def submitted_students(self):
        """Ids of the students with a folder submitted/<student>/<assignment>/.

        Only folders count: submitted/ also holds files (its README.md) and the course's own
        dot folders (.history/, .grading/), never students.
        """
        base = self.path("submitted")
        if not base.is_dir():
            return []
        # dot folders are the course's own (submitted/.history/, .grading/): never students
        return sorted(p.name for p in base.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / self.assignment).is_dir())

    # --- nbgrader -----------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        # nbgrader runs `alembic` by name; the environment's bin/ must be on PATH.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        # nbgrader loads this package's plugins and preprocessors (nbgrader_config.py).
        package_parent = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("PYTHONHASHSEED", "0")
        return env

    def relative(self, path):
        """``path`` relative to the course root when it is inside it (for messages)."""
        try:
            return Path(path).relative_to(self.root)
        except ValueError:
            return Path(path)

    def log_path(self, name):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}-{self.assignment}.log"

    def nbgrader(self, args, log_name, on_line=None):
        """Run ``nbgrader *args`` in the course root; full output goes to logs/.

        Returns (exit status, list of output lines).  ``on_line`` sees each line
        as it arrives (progress reporting).
        """
        log = self.log_path(log_name)
        lines = []
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nbgrader", *args, *self.settings.nbgrader_options()],
                cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            )
            for line in proc.stdout:
                out.write(line)
                out.flush()
                lines.append(line.rstrip("\n"))
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            status = proc.wait()
        return status, lines

    def nbgrader_checked(self, args, log_name, what, on_line=None):
        status, lines = self.nbgrader(args, log_name, on_line)
        errors = [ln for ln in lines if "| ERROR]" in ln or "| CRITICAL]" in ln]
        if status != 0:
            detail = errors[0].split("]", 1)[1].strip() if errors else f"exit status {status}"
            raise CourseError(f"{what} failed: {detail} (full log: {self.relative(self.log_path(log_name))})")
        return lines

    # --- course operations (collect, exchange, deadlines, exports) ---------------
    def nbgrader_config(self):
        """The course's nbgrader_config.py as a traitlets Config (read once per Course)."""
        if getattr(self, "_config", None) is None:
            from traitlets.config.loader import PyFileConfigLoader

            self._config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        return self._config

    def course_id(self):
        """nbgrader's CourseDirectory.course_id of this course (the exchange folder's name)."""
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.nbgrader_config()).course_id

    def course_gradebook(self):
        """The gradebook opened under the course's own course id (never a stray course row)."""
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url(), course_id=self.course_id() or "default_course")

    def db_url(self):
        """The gradebook: DB= when given, else nbgrader_config.py's (default: gradebook.db)."""
        if self.settings.db_url:
            return self.settings.db_url
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        coursedir = CourseDirectory(config=config)
        coursedir.root = str(self.root)
        return coursedir.db_url

    def check_database(self):
        """A clear error when the gradebook's database server cannot be reached (DB=...)."""
        url = self.db_url()
        problem = database_problem(url)
        if problem:
            import sqlalchemy

            shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
            raise CourseError(f"cannot open the gradebook DB={shown!r}: {problem}")

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url())

    def require_gradebook_assignment(self):
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                gb.find_assignment(self.assignment)
            except MissingEntry:
                raise CourseError(
                    f"the gradebook does not know '{self.assignment}': run `make release ASSIGNMENT={self.assignment}`"
                ) from None


def database_problem(url, timeout=10):
    """None when the database at ``url`` accepts a connection, else the driver's reason."""
    if url.startswith("sqlite:"):
        return None
    import sqlalchemy

    try:
        args = {"connect_timeout": timeout} if url.startswith("postgresql") else {}
        engine = sqlalchemy.create_engine(url, connect_args=args)
        try:
            with engine.connect():
                return None
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - driver errors differ; the message matters
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return reason[0] if reason else type(exc).__name__
