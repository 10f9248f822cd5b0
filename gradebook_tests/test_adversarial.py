"""Adversarial submissions of `spatial` (adversarial.py) graded through real `nbgrader autograde`.

ONE batch grades the honest baselines and every adversarial submission together (the
DANGEROUS ones only when coursetools.perimeter.sandbox.preflight() returns None AND a probe notebook
graded first shows a confined kernel: no gradebook or submissions in sight, memory,
process and file-size limits). Then:

* a cheat (or a resource attack) scores at most its honest baseline;
* a robustness case (honest code, unusual notebook) scores exactly its expected score;
* the honest students get the same grade for every cell as in a second batch that grades
  them without the adversaries, and their files are untouched;
* the scratch gradebook passes coursetools.integrity.check_gradebook;
* the batch finishes, within a generous time bound.

If the batch as a whole fails (today: nbgrader gives up on a student whose kernel died, or
whose notebook its own preprocessors cannot handle, and then exits non-zero), the fixture
grades again without the students the log names (without those marked `aborts` when there
is no log), so that every other finding is still reported;
test_batch_finishes_with_every_submission and the tests of the left-out submissions fail.
"""

import ast
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from adversarial import ADVERSARIES, CORPUS, DANGEROUS, HONEST, NOTEBOOK, TOTAL, build, notebook_text
from coursetools import scratch
from coursetools.course import Course
from coursetools.errors import CourseError
from coursetools.integrity import check_gradebook
from coursetools.release import blank_submission

# Per-cell time limit of the batch. The instructor's slowest cell takes about 1 s (measured:
# grader_setup_fast 1.05 s, cnn_report 0.85 s, cnn_gradient_hidden 0.81 s); the slowest
# honest baseline (the loops of "slow-fast", trained by train_cnn) needs a few seconds.
TIMEOUT = 20
# Time bound of one batch: start-up, a generous allowance per notebook, and the cells that
# are expected to run into the timeout (see Adversary.stalls).
STARTUP_S, PER_NOTEBOOK_S, PER_STALL_S = 120, 45, TIMEOUT + 10

CHEATS = [a for a in ADVERSARIES if a.kind in ("cheat", "resource")]
ROBUST = [a for a in ADVERSARIES if a.kind == "robustness"]


# A probe graded before the DANGEROUS submissions: preflight() only says that sandboxed
# kernels can start; the probe shows that the grading kernel really is confined.
PROBE = """
import glob, json, os, resource, tempfile

def _limit(name):
    soft, _hard = resource.getrlimit(getattr(resource, name))
    return None if soft == resource.RLIM_INFINITY else soft

print("SANDBOX-PROBE " + json.dumps({
    "sees_gradebook": any(os.path.exists(os.path.join(*[".."] * k, "gradebook.db")) for k in range(1, 6))
                      or bool(glob.glob(os.path.join(tempfile.gettempdir(), "*", "gradebook.db"))),
    "sees_submissions": any(os.path.isdir(os.path.join(*[".."] * k, "submitted")) for k in range(1, 6)),
    "memory": _limit("RLIMIT_AS"), "processes": _limit("RLIMIT_NPROC"),
    "file_size": _limit("RLIMIT_FSIZE")}))
"""


def preflight_problem():
    """None when coursetools.perimeter.sandbox.preflight() returns None, else why not."""
    try:
        from coursetools.perimeter import sandbox
    except ImportError as exc:
        return f"coursetools.perimeter.sandbox is not available ({exc})"
    preflight = getattr(sandbox, "preflight", None)
    if preflight is None:
        return "coursetools.perimeter.sandbox has no preflight()"
    try:
        problem = preflight()
    except Exception as exc:  # noqa: BLE001 - any failure means: no sandbox
        return f"coursetools.perimeter.sandbox.preflight() raised {type(exc).__name__}: {exc}"
    return None if problem is None else f"coursetools.perimeter.sandbox.preflight(): {problem}"


def probe_problem(course):
    """None when a graded kernel cannot see the gradebook or other submissions and has
    memory, process and file-size limits; else what is wrong."""
    nb = blank_submission(course)
    nb[NOTEBOOK].cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    result = scratch.grade(course, {"probe": nb}, timeout=TIMEOUT)["probe"]
    found = None
    for cell in result.autograded[NOTEBOOK].cells:
        for out in cell.get("outputs", []):
            for line in str(out.get("text", "")).splitlines():
                if line.startswith("SANDBOX-PROBE "):
                    found = json.loads(line.split(" ", 1)[1])
    if found is None:
        return "the sandbox probe printed nothing"
    wrong = [what for what, bad in (
        ("the kernel sees a gradebook", found["sees_gradebook"]),
        ("the kernel sees submissions", found["sees_submissions"]),
        ("no memory limit below 30 GB", not found["memory"] or found["memory"] >= 30 * 2**30),
        ("no process limit of at most 4096", not found["processes"] or found["processes"] > 4096),
        ("no file size limit below 1 GB", not found["file_size"] or found["file_size"] >= 2**30),
    ) if bad]
    return ("sandbox probe: " + "; ".join(wrong)) if wrong else None


_UNSAFE = {}


def dangerous_problem(course):
    """None when the DANGEROUS submissions may be graded here, else why not (cached)."""
    if "why" not in _UNSAFE:
        why = preflight_problem()
        if why is None:
            why = probe_problem(course)
        _UNSAFE["why"] = why
    return _UNSAFE["why"]


def skip_if_unsafe(batch, adversary):
    if adversary.key in DANGEROUS and batch.dangerous is not None:
        pytest.skip(f"DANGEROUS, not graded without the sandbox: {batch.dangerous}")


def snapshot(root, assignment, students):
    """{student: {"submitted"/"autograded": {file: [(cell type, source)]}}} from the scratch course."""
    out = {}
    for student in students:
        entry = {}
        for area in ("submitted", "autograded"):
            folder = root / area / student / assignment
            files = {}
            if folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    if path.is_file() and path.suffix == ".ipynb":
                        try:
                            nb = nbformat.read(path, as_version=4)
                            files[path.name] = [(c.cell_type, c.source) for c in nb.cells]
                        except Exception as exc:  # noqa: BLE001 - a broken file is the finding
                            files[path.name] = f"unreadable: {type(exc).__name__}"
                    elif path.is_file():
                        files[path.name] = "present"
            entry[area] = files
        out[student] = entry
    return out


@dataclass
class Batch:
    results: dict = field(default_factory=dict)       # student -> StudentResult
    students: list = field(default_factory=list)       # students graded
    problems: list = field(default_factory=list)       # check_gradebook of the scratch gradebook
    files: dict = field(default_factory=dict)          # snapshot of the honest students' files
    wall: float = 0.0
    notebooks: int = 0
    stalls: int = 0
    error: str = None                                  # why the batch with everyone failed
    left_out: frozenset = frozenset()                  # not graded after that failure
    dangerous: str = None                              # why DANGEROUS ones were not graded


def grade(course, entries):
    """Grade the honest baselines and ``entries`` in one scratch batch."""
    subs = {h.student: build(course, h) for h in HONEST.values()}
    subs.update({a.student: build(course, a) for a in entries})
    honest = [h.student for h in HONEST.values()]
    seen = {}

    def inspect(root):
        seen["problems"] = check_gradebook(f"sqlite:///{root / 'gradebook.db'}", course.assignment,
                                           list(subs), TOTAL)
        seen["files"] = snapshot(root, course.assignment, honest)

    start = time.monotonic()
    results = scratch.grade(course, subs, timeout=TIMEOUT, inspect=inspect)
    return Batch(results=results, students=list(subs), problems=seen["problems"],
                 files=seen["files"], wall=time.monotonic() - start, notebooks=len(subs),
                 stalls=sum(a.stalls for a in entries))


@pytest.fixture(scope="module")
def batch(course):
    c = Course(course, "spatial")
    unsafe = dangerous_problem(c)
    entries = [a for a in ADVERSARIES if a.key not in DANGEROUS or unsafe is None]
    start = time.monotonic()
    try:
        result = grade(c, entries)
    except CourseError as exc:
        failed_after = time.monotonic() - start
        failed = students_nbgrader_gave_up_on(c, str(exc))
        kept = [a for a in entries if (a.student not in failed if failed else not a.aborts)]
        result = grade(c, kept)
        result.error = f"{exc} (after {failed_after:.0f} s)"
        result.left_out = frozenset(a.key for a in entries) - {a.key for a in kept}
    result.dangerous = unsafe
    return result


def students_nbgrader_gave_up_on(course, error):
    """The students named in the failed batch's log ("error processing assignment ... for
    student ..."), or an empty set when the log cannot be found."""
    found = re.search(r"full log: ([^()]+?)\)", error)
    if not found:
        return set()
    path = Path(found.group(1))
    path = path if path.is_absolute() else course.root / path
    if not path.is_file():
        return set()
    text = path.read_text(encoding="utf-8", errors="replace")
    return set(re.findall(r"error processing assignment '[^']*' for student '([^']*)'", text))


@pytest.fixture(scope="module")
def honest_batch(course):
    """The honest baselines alone, without any adversary in the batch."""
    return grade(Course(course, "spatial"), [])


def result_of(batch, adversary):
    if adversary.key in batch.left_out:
        pytest.fail(f"{adversary.key} was not graded: nbgrader gave up on it, and the batch with "
                    f"every submission failed ({batch.error}); the others were graded again without it")
    return batch.results[adversary.student]


def cell_scores(result):
    return {c.name: c.score for c in result.cells}


# ---------------------------------- the corpus itself ----------------------------------

def test_corpus_is_large_and_well_formed():
    assert len(ADVERSARIES) >= 15
    assert len(CORPUS) == len(ADVERSARIES), "adversary keys must be unique"
    assert DANGEROUS <= set(CORPUS), sorted(DANGEROUS - set(CORPUS))
    for a in ADVERSARIES:
        assert a.kind in ("cheat", "robustness", "resource"), a.key
        assert a.baseline in HONEST, f"{a.key}: unknown baseline {a.baseline}"
        assert a.description and a.attack, a.key
        if a.kind == "robustness":
            assert a.expected is not None, f"{a.key}: a robustness case needs its exact expected score"
    assert {a.kind for a in ADVERSARIES} == {"cheat", "robustness", "resource"}
    students = [h.student for h in HONEST.values()] + [a.student for a in ADVERSARIES]
    assert len(set(students)) == len(students)
    # cheats are graded before the honest students (nbgrader grades in sorted order), so a
    # cheat that tampers with later students' files would show in their grades
    assert max(a.student for a in ADVERSARIES) < min(h.student for h in HONEST.values())


@pytest.mark.parametrize("adversary", ADVERSARIES, ids=[a.key for a in ADVERSARIES])
def test_every_submission_contains_its_attack(course, adversary):
    """A refactor of the notebook must not silently turn the corpus into honest notebooks."""
    c = Course(course, "spatial")
    notebooks = build(c, adversary)                  # raises if an answer or edit found no cell
    assert list(notebooks) == [NOTEBOOK]
    text = notebook_text(notebooks)
    missing = [m for m in adversary.markers if m not in text]
    assert not missing, f"{adversary.key}: the attack is not in the notebook (missing {missing})"
    assert text != notebook_text(build(c, HONEST[adversary.baseline])), (
        f"{adversary.key} is identical to its baseline {adversary.baseline}")
    for cell in notebooks[NOTEBOOK].cells:
        if cell.cell_type == "code":
            try:
                ast.parse(cell.source)
            except SyntaxError as exc:
                pytest.fail(f"{adversary.key}: cell {cell.get('id')} does not compile: {exc}")


def test_honest_baselines_build_differently(course):
    c = Course(course, "spatial")
    texts = {key: notebook_text(build(c, h)) for key, h in HONEST.items()}
    assert len(set(texts.values())) == len(texts)


# ---------------------------------- the batch ----------------------------------

def test_batch_finishes_with_every_submission(batch):
    error, left_out = batch.error, sorted(batch.left_out)
    assert error is None, f"the batch failed: {error}; graded again without {left_out}"


def test_batch_time_is_bounded(batch):
    bound = STARTUP_S + PER_NOTEBOOK_S * batch.notebooks + PER_STALL_S * batch.stalls
    wall = batch.wall
    assert wall < bound, (
        f"{batch.notebooks} notebooks ({batch.stalls} cells expected to time out) took "
        f"{wall:.0f} s, bound {bound} s")


def test_gradebook_is_healthy_after_the_batch(batch):
    problems = list(batch.problems)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("honest", list(HONEST.values()), ids=list(HONEST))
def test_honest_baseline_scores_as_declared(batch, honest):
    result = batch.results[honest.student]
    score, top, lost = float(result.score), float(result.max_score), result.failed()
    assert top == TOTAL
    assert score == honest.expected, (
        f"baseline {honest.key} ({honest.description}) scores {score:g}, declared "
        f"{honest.expected:g}; lost {lost}")


@pytest.mark.parametrize("adversary", CHEATS, ids=[a.key for a in CHEATS])
def test_attack_scores_at_most_its_baseline(batch, adversary):
    skip_if_unsafe(batch, adversary)
    result = result_of(batch, adversary)
    base = batch.results[HONEST[adversary.baseline].student]
    got, allowed = cell_scores(result), cell_scores(base)
    earned = {name: score - allowed.get(name, 0.0) for name, score in got.items()
              if score > allowed.get(name, 0.0)}
    score, allowed_score = float(result.score), float(base.score)
    assert score <= allowed_score, (
        f"{adversary.kind} '{adversary.key}' ({adversary.attack}) scores {score:g}, more than "
        f"its baseline '{adversary.baseline}' ({allowed_score:g}); cells it should not have earned: "
        + ", ".join(f"{name} +{points:g}" for name, points in sorted(earned.items())))


@pytest.mark.parametrize("adversary", ROBUST, ids=[a.key for a in ROBUST])
def test_robust_submission_scores_exactly(batch, adversary):
    skip_if_unsafe(batch, adversary)
    result = result_of(batch, adversary)
    score, lost = float(result.score), result.failed()
    assert score == adversary.expected, (
        f"'{adversary.key}' ({adversary.description}) scores {score:g}, expected "
        f"{adversary.expected:g}; lost {lost}")


@pytest.mark.parametrize("honest", list(HONEST.values()), ids=list(HONEST))
def test_honest_students_are_unaffected_by_the_adversaries(batch, honest_batch, honest):
    with_them = cell_scores(batch.results[honest.student])
    without = cell_scores(honest_batch.results[honest.student])
    changed = {name: (without.get(name), score) for name, score in with_them.items()
               if score != without.get(name)}
    assert with_them.keys() == without.keys() and not changed, (
        f"{honest.student}: cell grades differ when graded together with the adversaries "
        f"(cell: (alone, together)): {changed}")
    assert batch.files[honest.student] == honest_batch.files[honest.student], (
        f"{honest.student}: submitted/autograded files differ when graded with the adversaries")
