"""Adversarial submissions of `spatial` (adversarial.py) graded through real `nbgrader autograde`.

ONE batch grades the honest baselines and every adversarial submission together, in the
bubblewrap sandbox, with the limits of adversarial.py (per cell, and a time budget per
notebook). Before it, a probe notebook is graded: the grading kernel must be confined (no
gradebook or submissions in sight; memory, process and file-size limits). When it is not, or
the sandbox cannot start, the DANGEROUS submissions are left out of the batch AND their
tests fail, as does test_the_grading_kernel_is_confined: never a silent skip. Then:

* a cheat (or a resource attack) earns, in every cell, at most what its honest baseline
  earns there (an attack in `open_hole` is a known hole: its test expects it to win, strictly,
  so that closing the hole is noticed);
* a robustness case (honest code, unusual notebook) scores exactly its expected score;
* the honest students get the same grade for every cell as in a second batch that grades
  them without the adversaries, and their files are untouched;
* the scratch gradebook passes coursetools.integrity.check_gradebook;
* every graded notebook and every feedback page stays under a few MB; every notebook is
  graded within its time budget (plus start-up), and one that ran into it is flagged;
* the feedback of the `feedback` submissions (nbgrader generate_feedback, as `make feedback`)
  holds no line of the hidden material (grader modules, hidden cells) and no hidden input,
  beyond what the honest students' feedback shows by design;
* the batch finishes, within a generous time bound.

If the batch as a whole fails (nbgrader gives up on a student whose notebook its own
preprocessors cannot handle, and then exits non-zero), the fixture grades again without the
students the log names (without those marked `aborts` when there is no log), so that every
other finding is still reported; test_batch_finishes_with_every_submission and the tests of
the left-out submissions fail.
"""

import ast
import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from adversarial import (ADVERSARIES, CELL_TIMEOUT, CHECKS_RESERVE, CORPUS, DANGEROUS, HONEST,
                         NOTEBOOK, TIME_BUDGET, TOTAL, build, notebook_text)
from coursetools import scratch
from coursetools.course import Course
from coursetools.errors import CourseError
from coursetools.grading import incidents
from coursetools.integrity import check_gradebook
from coursetools.release import blank_submission

# Per-cell time limit of the batch. The instructor's slowest cell takes about 1 s (measured:
# grader_setup_fast 1.05 s, cnn_report 0.85 s, cnn_gradient_hidden 0.81 s); the slowest
# honest baseline (the loops of "slow-fast", trained by train_cnn) needs a few seconds.
TIMEOUT = CELL_TIMEOUT
# The executor's limits for the batch (the course's own budget is 600 s: too long for CI)
LIMITS = {"SandboxedExecute.time_budget": TIME_BUDGET,
          "SandboxedExecute.checks_reserve": CHECKS_RESERVE}
# Beyond the budget: kernel starts and restarts, nbgrader's own passes, the gradebook
BUDGET_SLACK_S = 60
# Largest graded notebook / feedback page (caps: 1 MB per cell, 5 MB per notebook)
MAX_NOTEBOOK_BYTES = MAX_FEEDBACK_BYTES = 8_000_000
# Feedback is generated for these honest students too: what they show is shown by design
FEEDBACK_BASELINES = ("instructor", "zeros")
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
    "file_size": _limit("RLIMIT_FSIZE"),
    "libraries": [m for m in ("torch", "scipy", "sklearn")
                  if __import__("importlib.util").util.find_spec(m) is not None]}))
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
    result = scratch.grade(course, {"probe": nb}, timeout=TIMEOUT, config=LIMITS)["probe"]
    found = None
    for cell in result.autograded[NOTEBOOK].cells:
        for out in cell.get("outputs", []):
            for line in str(out.get("text", "")).splitlines():
                if line.startswith("SANDBOX-PROBE "):
                    found = json.loads(line.split(" ", 1)[1])
    if found is None:
        return "the sandbox probe printed nothing"
    _KERNEL["libraries"] = found.get("libraries", [])
    wrong = [what for what, bad in (
        ("the kernel sees a gradebook", found["sees_gradebook"]),
        ("the kernel sees submissions", found["sees_submissions"]),
        ("no memory limit below 30 GB", not found["memory"] or found["memory"] >= 30 * 2**30),
        ("no process limit of at most 4096", not found["processes"] or found["processes"] > 4096),
        ("no file size limit below 1 GB", not found["file_size"] or found["file_size"] >= 2**30),
    ) if bad]
    return ("sandbox probe: " + "; ".join(wrong)) if wrong else None


_UNSAFE = {}
_KERNEL = {"libraries": None}     # forbidden libraries the grading kernel can import


def dangerous_problem(course):
    """None when the DANGEROUS submissions may be graded here, else why not (cached)."""
    if "why" not in _UNSAFE:
        why = preflight_problem()
        if why is None:
            why = probe_problem(course)
        _UNSAFE["why"] = why
    return _UNSAFE["why"]


def fail_if_unsafe(batch, adversary):
    """A DANGEROUS submission is never graded where the kernel is not confined: its test
    fails (the batch has not proven the defence), it is never skipped."""
    if adversary.key in DANGEROUS and batch.dangerous is not None:
        pytest.fail(f"DANGEROUS, not graded: the grading kernel is not confined here "
                    f"({batch.dangerous})")


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
    feedback: dict = field(default_factory=dict)       # student -> feedback HTML (unescaped text)
    sizes: dict = field(default_factory=dict)          # student -> {file: bytes}
    incidents: dict = field(default_factory=dict)      # student -> grading.incidents()


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
        scratch_course = Course(root, course.assignment, log_dir=course.log_dir,
                                settings=course.settings.without_db())
        seen["incidents"] = {s: [what for found in incidents(scratch_course, s) for what in found]
                             for s in subs}
        wanted = [HONEST[k].student for k in FEEDBACK_BASELINES] + [a.student for a in entries
                                                                    if a.feedback]
        seen["feedback"] = generate_feedback(scratch_course, wanted)
        seen["sizes"] = {s: {str(p.relative_to(root)): p.stat().st_size
                             for area in ("autograded", "feedback")
                             for p in (root / area / s).rglob("*") if p.is_file()
                             and p.suffix in (".ipynb", ".html")} for s in subs}

    start = time.monotonic()
    results = scratch.grade(course, subs, timeout=TIMEOUT, inspect=inspect, config=LIMITS)
    return Batch(results=results, students=list(subs), problems=seen["problems"],
                 files=seen["files"], wall=time.monotonic() - start, notebooks=len(subs),
                 stalls=sum(a.stalls for a in entries), feedback=seen["feedback"],
                 sizes=seen["sizes"], incidents=seen["incidents"])


def generate_feedback(scratch_course, students):
    """{student: text of their feedback page (HTML unescaped)}, made as `make feedback` makes
    it (nbgrader generate_feedback with the course's configuration)."""
    root = scratch_course.root
    db = [f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}", f"--CourseDirectory.root={root}"]
    pages = {}
    for student in students:
        scratch_course.nbgrader_checked(
            ["generate_feedback", scratch_course.assignment, "--force",
             f"--CourseDirectory.student_id={student}", *db],
            "scratch-feedback", "scratch generate_feedback")
        found = sorted((root / "feedback" / student / scratch_course.assignment).glob("*.html"))
        pages[student] = "\n".join(html.unescape(p.read_text(encoding="utf-8", errors="replace"))
                                    for p in found)
    return pages


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
            assert not a.open_hole, f"{a.key}: only an attack can be an open hole"
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


def earned_beyond(result, base):
    """{cell: points} a submission earned in a cell beyond what ``base`` earned there."""
    allowed = cell_scores(base)
    return {name: score - allowed.get(name, 0.0) for name, score in cell_scores(result).items()
            if score > allowed.get(name, 0.0)}


@pytest.mark.parametrize("adversary", CHEATS, ids=[a.key for a in CHEATS])
def test_attack_earns_no_cell_its_baseline_lacks(batch, adversary):
    """Cell by cell: a trick that loses points in one cell may not buy them in another."""
    fail_if_unsafe(batch, adversary)
    result = result_of(batch, adversary)
    base = batch.results[HONEST[adversary.baseline].student]
    earned = earned_beyond(result, base)
    if adversary.open_hole:
        assert earned, (f"'{adversary.key}' no longer earns anything beyond its baseline: the "
                        f"hole is closed? ({adversary.open_hole}); remove open_hole")
        pytest.xfail(f"open hole: {adversary.open_hole} (earns "
                     + ", ".join(f"{n} +{p:g}" for n, p in sorted(earned.items())) + ")")
    libraries = _KERNEL["libraries"]
    extra = (f"; the grading kernel can import {libraries}: the kernel environment must hold "
             f"numpy only" if libraries and adversary.key == "torch-and-scipy" else "")
    assert not earned, (
        f"{adversary.kind} '{adversary.key}' ({adversary.attack}) scores {float(result.score):g} "
        f"(baseline '{adversary.baseline}': {float(base.score):g}); cells it should not have "
        f"earned: " + ", ".join(f"{name} +{points:g}" for name, points in sorted(earned.items()))
        + extra)
    assert float(result.score) <= float(base.score)


@pytest.mark.parametrize("adversary", ROBUST, ids=[a.key for a in ROBUST])
def test_robust_submission_scores_exactly(batch, adversary):
    fail_if_unsafe(batch, adversary)
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


# ---------------------------------- the perimeter's promises ----------------------------------

def test_the_grading_kernel_is_confined(batch):
    """The DANGEROUS submissions were graded: the sandbox started and confines the kernel."""
    assert batch.dangerous is None, (
        f"the grading kernel is not confined here: {batch.dangerous}; the DANGEROUS "
        f"submissions ({', '.join(sorted(DANGEROUS))}) were not graded")


def test_no_graded_notebook_or_feedback_page_is_huge(batch):
    """Output caps count every message (updates, errors, the execute_reply): 12.2."""
    big = {f"{student}/{name}": size for student, files in batch.sizes.items()
           for name, size in files.items()
           if size > (MAX_NOTEBOOK_BYTES if name.endswith(".ipynb") else MAX_FEEDBACK_BYTES)}
    assert not big, f"files over {MAX_NOTEBOOK_BYTES:,} bytes: {big}"
    flood = CORPUS["output-flood"].student
    assert any(n.endswith(".html") for n in batch.sizes.get(flood, {})), "no feedback for the flood"


@pytest.mark.parametrize("student", [a.student for a in ADVERSARIES] + [h.student for h in HONEST.values()])
def test_every_notebook_stays_within_its_time_budget(batch, student):
    """Sleepers, kernel deaths and their replays: the budget bounds one notebook's wall time."""
    if student not in batch.results:
        pytest.fail(f"{student} was not graded ({batch.error or batch.dangerous})")
    seconds = batch.results[student].seconds
    assert seconds <= TIME_BUDGET + BUDGET_SLACK_S, (
        f"{student} held its worker {seconds:.0f} s (budget {TIME_BUDGET} s)")


@pytest.mark.parametrize("adversary", [a for a in ADVERSARIES if a.budget],
                         ids=[a.key for a in ADVERSARIES if a.budget])
def test_a_notebook_stopped_by_the_budget_is_flagged(batch, adversary):
    """12.7: stopped at the budget, and flagged in the summary (grading.incidents)."""
    result = result_of(batch, adversary)
    flagged = batch.incidents.get(adversary.student, [])
    assert any("time budget" in what for what in flagged), flagged
    stopped = [c for c in result.autograded[NOTEBOOK].cells
               if any(o.get("ename") == "TimeBudget" for o in c.get("outputs", []))]
    assert stopped, "no cell says that the time budget stopped it"


# ---------------------------------- nothing hidden in the feedback ----------------------------------

def hidden_lines(course):
    """Lines of the hidden material: every grader module of the assignment and every graded
    cell of the instructor's notebook as the gradebook stores it (spliced), minus the lines
    the students have anyway (the release notebook, the public framework coursetools/checks
    that the grading kernel loads before any student cell)."""
    c = Course(course, "spatial")
    public = [cell.source for cell in nbformat.read(c.release_dir / f"{NOTEBOOK}.ipynb",
                                                    as_version=4).cells]
    public += [p.read_text(encoding="utf-8") for p in c.path("coursetools", "checks").glob("*.py")]
    public = "\n".join(public)
    texts = [p.read_text(encoding="utf-8") for p in sorted(c.path("source", "spatial", "grader").glob("*.py"))]
    for cell in nbformat.read(c.build_dir / f"{NOTEBOOK}.ipynb", as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            texts.append(cell.source)
    lines = {line.strip() for text in texts for line in text.splitlines()}
    return sorted(line for line in lines if len(line) >= 25 and line not in public)   # substring


def hidden_inputs(course):
    """Every float a hidden check passes to a student's function, regenerated from the grader
    modules: the checks run here with spies (the reference layers, recording their arguments)."""
    import numpy as np

    from coursetools.checks import loader, record
    from coursetools.splice import load_folder

    folder = Path(course) / "source" / "spatial" / "grader"
    loader.set_data_dir(folder.parent)
    checks = load_folder("spatial", folder, "checks")
    ref = load_folder("spatial", folder, "reference")
    checks.install_reference(ref)
    seen = []

    def spy(fn):
        def call(*args, **kwargs):
            for a in args:
                for v in (a.values() if isinstance(a, dict) else a if isinstance(a, tuple) else [a]):
                    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                        seen.append(v.reshape(-1))
            return fn(*args, **kwargs)
        return call

    layers = {**ref.REFERENCE_LAYERS, "cnn_loss": lambda p, X, y: (0.0, {k: np.zeros(np.shape(v)) for k, v in p.items()}),
              "train_cnn": lambda X, y, **k: ({}, [])}
    try:
        with record.capturing([]):
            for name in dir(checks):
                if name.startswith("check_"):
                    fn = getattr(checks, name)
                    args = fn.__code__.co_varnames[:fn.__code__.co_argcount]
                    fn(*[spy(layers[a]) for a in args])
    finally:
        loader.set_data_dir(None)
    return np.unique(np.concatenate(seen))


def float_texts(values):
    """How a float of the hidden inputs would be printed: repr (Python), numpy's 8 decimals.
    Only values with at least 8 significant digits (0.5 or -2.0 are everywhere)."""
    found = set()
    for v in values:
        text = repr(float(v))
        if len(text.lstrip("-").replace(".", "").lstrip("0")) < 8:
            continue
        found.add(text)
        if abs(v) >= 0.01:
            found.update({f"{v:.8f}".rstrip("0"), f"{v:.8f}"})
    return found


_FLOAT_TOKEN = re.compile(r"-?\d+\.\d+")


def leaks(text, lines, floats, allowed=frozenset()):
    """(hidden lines found in ``text``, hidden input floats found in ``text``)."""
    found_lines = []
    for line in lines:
        if line in allowed:
            continue
        if len(line) <= 200:
            if line in text:
                found_lines.append(line)
        elif any(line[k:k + 60] in text for k in range(0, len(line) - 60, 60)):
            found_lines.append(line[:80] + "...")
    tokens = set(_FLOAT_TOKEN.findall(text))
    return found_lines, sorted(tokens & floats)


@pytest.fixture(scope="module")
def hidden(course):
    return hidden_lines(course), float_texts(hidden_inputs(course))


def test_the_leak_scanner_finds_hidden_lines_and_inputs(hidden):
    lines, floats = hidden
    assert len(lines) > 200 and len(floats) > 1000, (len(lines), len(floats))
    value = sorted(floats)[len(floats) // 2]
    line = next(ln for ln in lines if "def " in ln)
    found_lines, found_floats = leaks(f"<pre>x = [{value}]\n{line}</pre>", lines, floats)
    assert found_lines == [line] and found_floats == [value]


LEAKERS = [a for a in ADVERSARIES if a.feedback]


@pytest.mark.parametrize("adversary", LEAKERS, ids=[a.key for a in LEAKERS])
def test_feedback_shows_nothing_hidden(batch, hidden, adversary):
    """12.3: no line of a hidden cell or grader module, no hidden input value, in the
    student's feedback page (beyond what every student's feedback shows by design)."""
    lines, floats = hidden
    by_design = set()
    for key in FEEDBACK_BASELINES:
        shown, _ = leaks(batch.feedback.get(HONEST[key].student, ""), lines, floats)
        by_design.update(shown)
    page = batch.feedback.get(adversary.student)
    assert page, f"no feedback page for {adversary.student}"
    found_lines, found_floats = leaks(page, lines, floats, by_design)
    assert not found_lines and not found_floats, (
        f"{adversary.key}: hidden material in the feedback: {len(found_lines)} lines, e.g. "
        f"{found_lines[:3]}; {len(found_floats)} hidden inputs, e.g. {found_floats[:5]}")
