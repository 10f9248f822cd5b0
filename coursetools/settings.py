"""What the instructor chose on the command line (make VAR=...), in one object.

The Makefile turns its variables into options of `python -m coursetools`; the CLI builds one
``Settings``; every nbgrader subprocess gets it as nbgrader configuration on its command line
(``nbgrader_options``) and every grading worker as config overrides (``config_overrides``).
No environment variable carries a setting, so a setting reaches exactly the course folder it
was given for: copies of the course (tests, `make demo`, `make validate`, the benchmark)
create their own ``Settings``.
"""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    db_url: str = ""          # DB=: the gradebook's SQLAlchemy URL ("" = nbgrader_config.py's)
    sandboxed: bool = True    # UNSANDBOXED=1 is the explicit opt-out
    kernel_python: str = ""   # the grading kernel's Python (KERNEL_VENV=); "" = the config's

    def config_overrides(self):
        """{"Class.trait": value} for a grading worker (nbgrader config, in process)."""
        found = {}
        if self.db_url:
            found["CourseDirectory.db_url"] = self.db_url
        if not self.sandboxed:
            found["SandboxedExecute.sandbox"] = False
        if self.kernel_python:
            found["SandboxedExecute.kernel_python"] = self.kernel_python
        return found

    def nbgrader_options(self):
        """The same as command-line options of an nbgrader subprocess."""
        return [f"--{key}={value}" for key, value in self.config_overrides().items()]

    def without_db(self):
        """For a copy of the course: its own gradebook, the other choices kept."""
        return replace(self, db_url="")
