"""Grade notebooks with real `nbgrader autograde` in a throw-away copy of the course.

Used by `make validate` and by the gradebook tests: the course's own gradebook,
submitted/ and autograded/ folders are never touched.
"""

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from coursetools.course import Course


@dataclass
class CellScore:
    notebook: str
    name: str
    score: float
    max_score: float


@dataclass
class StudentResult:
    cells: list = field(default_factory=list)
    autograded: dict = field(default_factory=dict)  # notebook name -> executed notebook
    seconds: float = 0.0                            # wall time of its autograde

    @property
    def score(self):
        return sum(c.score for c in self.cells)

    @property
    def max_score(self):
        return sum(c.max_score for c in self.cells)

    def cell(self, name):
        return next(c for c in self.cells if c.name == name)

    def failed(self):
        """Names of graded cells with points that did not earn all of them."""
        return sorted(c.name for c in self.cells if c.max_score > 0 and c.score < c.max_score)


def read_scores(course, students):
    results = {}
    with course.gradebook() as gb:
        for student in students:
            result = StudentResult()
            submission = gb.find_submission(course.assignment, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    result.cells.append(CellScore(notebook.name, grade.name, float(grade.score),
                                                  float(grade.max_score)))
            results[student] = result
    return results


def grade(course, submissions, timeout=None, log=None, inspect=None, jobs=None, config=None):
    """``submissions``: {student: {notebook name: notebook}} -> {student: StudentResult}.

    Graded like `make grade` (``jobs`` workers, default: the number of cores). ``log``, when
    given, receives the progress lines. ``inspect``, when given, is called with the scratch
    course root after grading, before the scratch course is deleted. ``config``: more nbgrader
    configuration, {"Class.trait": value} (e.g. "SandboxedExecute.time_budget").
    """
    from coursetools import parallel
    from coursetools.errors import CourseError
    from coursetools.grading import run_workers, sandbox_mode

    sandboxed = sandbox_mode(course) == "on"  # refuses when the sandbox cannot start (unless opted out)

    with tempfile.TemporaryDirectory(prefix="scratch-course-") as tmp:
        root = Path(tmp)
        shutil.copy2(course.path("nbgrader_config.py"), root / "nbgrader_config.py")
        shutil.copytree(course.build_dir, root / "build" / "source" / course.assignment)
        # logs go to the real course's logs/ (scratch-*.log), so they outlive the scratch copy
        shadow = Course(root, course.assignment, log_dir=course.log_dir,
                        settings=course.settings.without_db())
        db_url = "sqlite:///" + str(root / "gradebook.db")
        db = [f"--CourseDirectory.db_url={db_url}", f"--CourseDirectory.root={root}"]
        shadow.nbgrader_checked(["generate_assignment", course.assignment, "--force", *db],
                                "scratch-release", "scratch generate_assignment")
        for student, notebooks in submissions.items():
            folder = root / "submitted" / student / course.assignment
            folder.mkdir(parents=True)
            for name, nb in notebooks.items():
                nbformat.write(nb, folder / f"{name}.ipynb")
        overrides = shadow.settings.config_overrides()
        if timeout:
            overrides["Execute.timeout"] = timeout
        overrides.update(config or {})
        graded = run_workers(shadow, list(submissions), db_url, jobs or parallel.default_jobs(),
                             "", sandboxed, "scratch-autograde", overrides,
                             log=log or (lambda *_: None))
        failed = sorted(s for s, r in graded.items() if not r["ok"])
        if failed:
            raise CourseError(f"scratch autograde failed for {', '.join(failed)}: "
                              f"{graded[failed[0]]['error']} (full log: "
                              f"{course.relative(shadow.log_path('scratch-autograde'))})")
        results = read_scores(_Sqlite(shadow, root / "gradebook.db"), submissions)
        for student, result in results.items():
            result.seconds = float(graded[student].get("seconds") or 0.0)
            for path in (root / "autograded" / student / course.assignment).glob("*.ipynb"):
                result.autograded[path.stem] = nbformat.read(path, as_version=4)
        if inspect is not None:
            inspect(root)
        return results


class _Sqlite:
    """A Course view whose gradebook is the scratch SQLite file."""

    def __init__(self, course, db_path):
        self.assignment = course.assignment
        self._url = "sqlite:///" + str(db_path)

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self._url)
