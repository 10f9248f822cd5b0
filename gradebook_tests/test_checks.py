"""The hidden-check framework (coursetools/checks) and the splicing of grader modules."""

import numpy as np
import pytest

from coursetools.checks import judge, loader, record
from coursetools.checks.judge import UNCHANGED, Case, Group, allocate, expect_array, run_check
from coursetools.errors import CourseError
from coursetools.splice import grader_modules, splice_text


def groups(*weights):
    return [Group(f"g{i}", f"group {i}", w) for i, w in enumerate(weights)]


@pytest.mark.parametrize("points,weights", [(20, (8, 5, 4, 1, 2)), (15, (5, 4, 3, 1, 2)),
                                            (10, (3, 3, 3)), (7, (1, 1, 1)), (25, (9, 6, 5, 2, 3)),
                                            (30, (8, 5, 4, 1, 2)), (2.5, (1, 1))])
def test_points_are_split_by_weight_in_halves_and_add_up(points, weights):
    shares = allocate(groups(*weights), points)
    assert sum(shares) == points
    assert all(s * 2 == int(s * 2) for s in shares)
    exact = [points * w / sum(weights) for w in weights]
    assert all(abs(s - e) <= 0.5 for s, e in zip(shares, exact))


def test_clean_masks_numbers_and_data_and_keeps_one_short_line():
    text = "array([[ 0.12573022, -1.3210486e-01]]) 123456 ok 7 " + "QUJD" * 10 + "\nsecond"
    out = record.clean(text)
    assert "0.1257" not in out and "1.321" not in out and "123456" not in out
    assert "<float>" in out and "<int>" in out and "<data>" in out and " 7 " in out
    assert "second" not in out and len(record.clean("x" * 500)) <= 123
    assert record.clean_name("Value<script>Error") == "ValuescriptError"


def test_memo_gives_copies_in_the_grader():
    memo = judge.Memo()
    with record.replaying({"check": "x", "cases": {}}):
        first = memo(("k",), lambda: (np.zeros(2), {"a": np.ones(1)}))
        first[0][0] = 5
        first[1]["a"][0] = 7
        again = memo(("k",), lambda: pytest.fail("computed twice"))
    assert again[0][0] == 0 and again[1]["a"][0] == 1


def _check(fn):
    def body(ctx, k):
        x = np.arange(3.0) + k
        before = record.snap(x)
        ctx["call"] = f"f(x) case {k}"
        out = record.call(fn, "f", (x,), {}, "double it")
        expect_array("out", out, 2 * (np.arange(3.0) + k), "double it")
        judge.expect_unchanged("x", before, x, "f")
    cases = [Case(f"c{k}", "a" if k < 2 else "b", lambda ctx, k=k: body(ctx, k)) for k in range(4)]
    run_check("f", cases, [Group("a", "first", 2), Group("b", "second", 1),
                           Group(UNCHANGED, "x unchanged", 1)])


def verdict_of(fn):
    sink = []
    with record.capturing(sink):
        _check(fn)
    with record.replaying(sink[0]):
        _check(None)
    return judge.LAST["verdict"]


def test_groups_partial_credit_and_same_failures_named_once():
    def wrong_for_large(x):
        return 2 * x if x[0] < 2 else 3 * x
    v = verdict_of(wrong_for_large)
    assert v.score(8) == 4 + 2          # a and unchanged pass, b (2 of 8 points) fails
    text = v.text(8)
    assert "FAILED  second (2 points: 2 of 2 cases failed)" in text
    assert text.count("[case '") == 1 and "1 more case fails the same way: c3" in text
    assert v.score(8, all_or_nothing=True) == 0


def test_in_place_changes_cost_only_the_unchanged_group_and_garbage_earns_nothing():
    def in_place(x):
        x *= 2
        return x.copy()
    assert verdict_of(in_place).score(8) == 6
    assert verdict_of(lambda x: np.zeros(3)).score(8) == 0
    v = verdict_of(lambda x: np.zeros(3))
    assert "only counts when another group passes" in v.text(8)


def test_not_implemented_is_said_plainly():
    def stub(x):
        raise NotImplementedError()
    v = verdict_of(stub)
    assert v.score(8) == 0 and v.text(8).startswith("f is not implemented yet")


def test_not_implemented_for_some_inputs_loses_only_those_cases():
    def half_done(x):
        if x[0] >= 2:
            raise NotImplementedError("large inputs")
        return 2 * x
    v = verdict_of(half_done)
    assert v.score(8) == 4 + 2 and not v.not_implemented
    assert "raised NotImplementedError for this case" in v.text(8)


def _repeat_check(fn):
    """Two calls per case: the second one's failure is a "repeat" failure."""
    def body(ctx, k):
        x = np.arange(3.0) + k
        out = record.call(fn, "f", (x,), {}, "double it")
        expect_array("out", out, 2 * x, "double it")
        again = record.call(fn, "f (second call)", (x,), {}, "double it", kind="repeat")
        expect_array("out (second call)", again, 2 * x, "double it", kind="repeat")
    run_check("f", [Case(f"c{k}", "a", lambda ctx, k=k: body(ctx, k)) for k in range(3)],
              [Group("a", "values", 3), Group(UNCHANGED, "unchanged", 1)])


def replayed(check, fn):
    sink = []
    with record.capturing(sink):
        check(fn)
    with record.replaying(sink[0]):
        check(None)
    return judge.LAST["verdict"]


def test_a_second_call_that_crashes_costs_only_the_unchanged_group():
    state = {"calls": 0}
    def once_only(x):
        state["calls"] += 1
        if state["calls"] % 2 == 0:
            raise KeyError("cache")          # like cache.pop(...) on the second backward
        return 2 * x
    v = replayed(_repeat_check, once_only)
    assert v.score(4) == 3
    assert "3 of 3 cases changed an input or differed the second time" in v.text(4)


def _timed_check(measure):
    def body(ctx):
        record.timed(measure, "f_fast", "make it vectorised")
    run_check("f_fast", [Case("t", "a", body)], [Group("a", "speed", 1)])


def test_an_exception_inside_the_timed_calls_is_reported_like_any_call():
    def measure():
        raise ZeroDivisionError("division by zero")
    v = replayed(_timed_check, measure)
    assert v.score(2) == 0
    assert "f_fast (timed)" in v.text(2) and "ZeroDivisionError" in v.text(2)


def test_malformed_timings_in_a_record_are_a_mismatch_not_a_crash():
    sink = []
    with record.capturing(sink):
        _timed_check(lambda: (0.1, 0.2))
    events = sink[0]["cases"]["t"]
    for event in events:
        if event[0] == "timing":
            event[2] = ["not-a-float"]
    with record.replaying(sink[0]):
        _timed_check(None)
    v = judge.LAST["verdict"]
    assert v.score(2) == 0 and "malformed" in v.text(2)


def test_splice_packs_only_what_a_module_imports(tmp_path):
    (tmp_path / "grader").mkdir()
    (tmp_path / "grader" / "checks.py").write_text("from . import cases\nVALUE = cases.N + 1\n")
    (tmp_path / "grader" / "cases.py").write_text("N = 41\n")
    (tmp_path / "grader" / "reference.py").write_text("SECRET = 'reference'\n")
    assert [n for n, _ in grader_modules(tmp_path / "grader", "checks")] == ["cases", "checks"]
    code, count = splice_text("x = 1\n# grader module: grader/checks.py as _grader\n", "demo", tmp_path)
    assert count == 1 and "reference" not in repr(loader.unpack(code.split("'")[-2]))
    ns = {}
    exec(code, ns)
    assert ns["_grader"].VALUE == 42
    with pytest.raises(CourseError, match="inside source"):
        splice_text("# grader module: ../x.py as _grader\n", "demo", tmp_path)
    (tmp_path / "grader" / "cases.py").write_text("from . import checks\n")
    with pytest.raises(CourseError, match="circle"):
        grader_modules(tmp_path / "grader", "checks")


def test_forbidden_libraries_are_flagged_in_answer_and_added_cells_only():
    from nbformat.v4 import new_code_cell, new_notebook

    from coursetools.forbidden import flags, uses

    assert uses("import torch.nn.functional as F") == [("torch", 1)]
    assert uses("x = 1\nfrom scipy import signal") == [("scipy", 2)]
    assert uses("m = __import__('sklearn.datasets')") == [("sklearn", 1)]
    assert uses("import importlib\nimportlib.import_module('jax')") == [("jax", 2)]
    assert uses("exec('import cv2')") == [("cv2", 1)]
    assert uses("import numpy as np\nname = 'torch is not imported here'") == []
    assert uses('def f():\n    """Like `from torch.nn import functional`, in numpy."""') == []
    answer = new_code_cell("def conv2d_forward(x):\n    import torch\n    return x")
    answer.metadata["nbgrader"] = {"grade_id": "conv2d_forward", "solution": True}
    locked = new_code_cell("import scipy  # instructor code")
    locked.metadata["nbgrader"] = {"grade_id": "setup", "solution": False, "locked": True}
    added = new_code_cell("from torch import nn")
    nb = new_notebook(cells=[locked, answer, added])
    assert flags(nb) == ["conv2d_forward imports torch (line 2)", "cell 3 imports torch (line 1)"]


def test_every_perimeter_setting_is_documented():
    import subprocess
    import sys

    from conftest import REPO

    out = subprocess.run([sys.executable, "-m", "coursetools", "perimeter-help"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    for setting in ("SandboxedExecute.time_budget", "SandboxedExecute.max_output_bytes",
                    "SandboxedExecute.memory", "SandboxedExecute.kernel_python",
                    "VerifyHiddenChecks.partial_credit", "VerifyHiddenChecks.all_or_nothing"):
        assert f"--{setting}=" in out, setting
    assert "Default: 600" in out
