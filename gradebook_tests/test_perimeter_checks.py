"""The hidden checks of `spatial` against cheats that need no kernel tampering: seconds.

Each check is recorded in this process (as in the grading kernel) and the record is judged
by the same check in replay mode (as in the trusted grader), with the reference installed.
The sandboxed end-to-end batch of the same attacks is test_adversarial.py.
"""

from pathlib import Path

import numpy as np
import pytest

from adversarial import ZEROS, pasted_train_cnn
from coursetools.checks import judge, loader, record
from coursetools.notebooks import cell_text, instructor_namespace, nbgrader_meta
from coursetools.splice import load_folder

SOURCE = Path(__file__).resolve().parents[1] / "source" / "spatial"


@pytest.fixture(scope="module")
def checks():
    loader.set_data_dir(SOURCE)
    module = load_folder("spatial", SOURCE / "grader", "checks")
    module.install_reference(load_folder("spatial", SOURCE / "grader", "reference"))
    yield module
    loader.set_data_dir(None)


@pytest.fixture(scope="module")
def kernel_checks(checks):
    """A copy of the checks as the grading kernel has them during the layer checks: no
    reference installed (a package of its own, so the other copy stays installed)."""
    from coursetools.splice import grader_modules

    return loader.load("spatial_kernel_copy", "checks",
                       loader.pack(grader_modules(SOURCE / "grader", "checks")))


@pytest.fixture(scope="module")
def nbns():
    """The instructor's functions and the notebook's given layers."""
    import jupytext

    ns = instructor_namespace(SOURCE / "spatial.py")
    for cell in jupytext.read(SOURCE / "spatial.py").cells:
        if (nbgrader_meta(cell) or {}).get("grade_id") == "cnn_given_layers":
            exec(compile(cell_text(cell), "<cnn_given_layers>", "exec"), ns)  # noqa: S102
    return ns


def defined(code, ns=None, name=None):
    """The function a notebook answer cell defines (run with np and the given names)."""
    space = {"np": np, **(ns or {})}
    exec(compile(code, "<answer>", "exec"), space)  # noqa: S102
    return space[name] if name else space


def judged(checks, name, *fns, points=10, recorder=None):
    """(score, verdict text) of check ``name`` on ``fns``: recorded (by ``recorder``, default
    ``checks``), then replayed by ``checks``."""
    sink = []
    with record.capturing(sink):
        getattr(recorder or checks, name)(*fns)
    assert len(sink) == 1
    judge.LAST["verdict"] = None
    with record.replaying(sink[0]):
        getattr(checks, name)(*[None] * len(fns))
    verdict = judge.LAST["verdict"]
    return verdict.score(points), verdict.text(points)


def test_zeros_are_fast_but_earn_no_speed_and_no_unchanged_points(checks):
    """Before: 4 of 10 per fast cell (speed 3 + unchanged 1) for np.zeros of the right shape."""
    fwd = defined(ZEROS["conv2d_forward_fast"], name="conv2d_forward_fast")
    bwd = defined(ZEROS["conv2d_backward_fast"], name="conv2d_backward_fast")
    score, text = judged(checks, "check_conv2d_forward_fast", fwd)
    assert score == 0, text
    assert "FAILED  speed: at least 20x faster than a loop (3 points" in text
    assert "FAILED  inputs left unchanged" in text
    assert judged(checks, "check_conv2d_backward_fast", fwd, bwd)[0] == 0


def test_the_instructor_fast_convolution_keeps_every_point(checks, nbns):
    score, text = judged(checks, "check_conv2d_forward_fast", nbns["conv2d_forward_fast"])
    assert score == 10, text
    score, text = judged(checks, "check_conv2d_backward_fast", nbns["conv2d_forward_fast"],
                         nbns["conv2d_backward_fast"])
    assert score == 10, text


def test_a_cache_of_results_does_not_make_a_loop_fast(checks, nbns):
    """Before: the part-1 loops behind a cache keyed by the input bytes passed the speed
    test, which called them again and again on the same input."""
    slow, cache = nbns["conv2d_forward"], {}

    def memoised(x, w, b, stride=1, padding=0):
        key = (x.tobytes(), w.tobytes(), b.tobytes(), repr(stride), repr(padding))
        if key not in cache:
            cache[key] = slow(x, w, b, stride, padding)
        return cache[key]

    score, text = judged(checks, "check_conv2d_forward_fast", memoised)
    assert score == 7, text                    # values and unchanged, not the speed
    assert "FAILED  speed" in text


def test_the_loop_timing_references_give_no_values(checks):
    """Before: a blank notebook whose conv functions called the grader's loop references
    (in the kernel from grader_setup on) scored 20 + 25 + 7 + 7 points."""
    timing = checks.timing

    def conv2d_forward(x, w, b, stride=1, padding=0):
        return timing.loop_cost_forward(np.asarray(x), np.asarray(w), np.asarray(b),
                                        stride, padding), None

    score, text = judged(checks, "check_conv2d_forward", conv2d_forward, points=20)
    assert score == 0, text
    assert "values wrong" in text


@pytest.mark.parametrize("relabel", [False, True], ids=["pasted", "pasted-relabelled"])
def test_pasted_parameters_earn_nothing(checks, relabel):
    """Before: parameters trained elsewhere, with W2/b2 columns re-ordered by a confusion
    matrix on X_train (the hidden renaming undone), passed the held-out accuracy."""
    train_cnn = defined(pasted_train_cnn(SOURCE / "spatial.py", relabel), name="train_cnn")
    score, text = judged(checks, "check_cnn_accuracy", train_cnn)
    assert score == 0, text
    assert "random_labels" in text
    if relabel:   # the renaming was undone: only the random labels catch it
        assert "[case 'random_labels']" in text and "[case 'held_out_accuracy']" not in text


def test_the_instructor_training_learns_renamed_and_random_labels(checks, nbns):
    score, text = judged(checks, "check_cnn_accuracy", nbns["train_cnn"])
    assert score == 10, text
    assert "accuracy on its random-label training data" in text


SECRET = "leaked hidden source line: def ref_conv2d_forward(x, w, b, stride=1, padding=0)"


def test_verdicts_do_not_repeat_text_a_student_put_in_a_result(checks):
    """cnn_loss and train_cnn run after the reference is in the kernel: text they return
    (dict keys, strings where arrays belong) was quoted in full in the verdict."""
    def cnn_loss(params, X, y):      # the right loss (the reference is in reach), odd keys
        return checks.REF.ref_cnn_loss(params, X, y), {SECRET: np.zeros(3)}

    def train_cnn(X_train, y_train, epochs=16, batch_size=32, lr=0.3, seed=0):
        return {"W1": SECRET, "b1": SECRET, "W2": SECRET, "b2": SECRET}, []

    for name, fn in (("check_cnn_gradient", cnn_loss), ("check_cnn_accuracy", train_cnn)):
        score, text = judged(checks, name, fn)
        assert score == 0 and "def ref_conv2d_forward" not in text and "leaked" not in text, text


def test_no_expected_result_is_in_the_kernel_during_the_layer_checks(checks, kernel_checks, nbns):
    """The hand-written expected dx of the max-pool tie cases were data of the hidden cases
    (in the kernel): a function that took the array named `expected` from its caller's frame
    earned the ties group (7 of 20 points with the unchanged group, for a blank notebook)."""
    import sys

    def maxpool2d_backward(dout, cache):
        frame = sys._getframe(1)
        while frame is not None:
            found = frame.f_locals.get("expected")
            if isinstance(found, np.ndarray) and found.shape == np.shape(cache[0]):
                return found.copy()
            frame = frame.f_back
        return np.zeros(np.shape(cache[0]))

    def maxpool2d_forward(x, kernel_size, stride=None):
        return nbns["maxpool2d_forward"](x, kernel_size, stride)[0], (x,)

    score, text = judged(checks, "check_maxpool2d_backward", maxpool2d_forward,
                         maxpool2d_backward, points=20, recorder=kernel_checks)
    assert score == 0, text


def test_a_fast_wrong_answer_to_the_timed_calls_earns_no_speed_points(checks, nbns):
    """The outputs of the timed calls are judged too: zeros for the speed test's input (after
    a right first call) were fast and, unchecked, earned the speed group."""
    right = nbns["conv2d_forward_fast"]
    calls = []

    def fast_when_timed(x, w, b, stride=1, padding=0):
        if np.shape(x) == (1, 1, 144, 224):
            calls.append(1)
            if len(calls) > 1:
                return np.zeros((1, 1, 145, 225)), None
        return right(x, w, b, stride, padding)
    score, text = judged(checks, "check_conv2d_forward_fast", fast_when_timed)
    assert score == 7, text
    assert "returned wrong values in the timed calls" in text
