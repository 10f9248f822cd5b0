"""Prove the hidden reference of `spatial` (source/spatial/grader/reference.py).

The reference, the hidden checks and the loop timing references are imported as the
modules they are (coursetools.splice.load_folder loads them exactly as a spliced hidden cell
does); the instructor's solutions come from the notebook source. Then:
  * reference == instructor solution on many random configurations (all six functions);
  * conv forward == an independent direct sum written here with plain Python loops;
  * gradients == central finite differences of the reference forward (conv, tie-free pool,
    flatten), with the graders' own numeric_grad;
  * max-pool ties == hand-written expected arrays;
  * reference == torch (conv2d, max_pool2d, flatten, unfold/fold, autograd, float64).
"""
import itertools
from pathlib import Path

import numpy as np
import pytest

from coursetools.checks import judge, record
from coursetools.checks.judge import numeric_grad
from coursetools.notebooks import instructor_namespace
from coursetools.splice import load_folder

SOURCE = Path(__file__).resolve().parents[1] / "source" / "spatial"
GRADER = SOURCE / "grader"
RTOL, ATOL = 1e-9, 1e-10


@pytest.fixture(scope="module")
def nbns():
    """The instructor's functions (setup and solution cells of the notebook source)."""
    return instructor_namespace(SOURCE / "spatial.py")


@pytest.fixture(scope="module")
def ref():
    return load_folder("spatial", GRADER, "reference")


@pytest.fixture(scope="module")
def checks(ref):
    module = load_folder("spatial", GRADER, "checks")
    module.install_reference(ref)
    return module


def close(a, b, rtol=RTOL, atol=ATOL):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.abs(a - b)
    tol = atol + rtol * np.abs(b)
    assert (err <= tol).all(), f"max err {err.max():.3g}\n{a}\n{b}"


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def random_conv_configs(n, seed):
    """Random (x, w, b, stride, padding) with at least one output position."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        N, C, F = rng.integers(1, 4, size=3)
        H, W = rng.integers(1, 9, size=2)
        KH, KW = rng.integers(1, 5, size=2)
        stride = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = int(rng.integers(0, 3)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(0, 3, 2))
        ph, pw = pair(padding)
        if H + 2 * ph < KH or W + 2 * pw < KW:
            continue
        if rng.random() < 0.2:
            x = rng.integers(-4, 5, size=(N, C, H, W))
            w = rng.integers(-4, 5, size=(F, C, KH, KW))
            b = rng.integers(-4, 5, size=F)
        else:
            x = rng.standard_normal((N, C, H, W))
            w = rng.standard_normal((F, C, KH, KW))
            b = rng.standard_normal(F)
        out.append((x, w, b, stride, padding))
    return out


def random_pool_configs(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        N, C = rng.integers(1, 4, size=2)
        H, W = rng.integers(1, 9, size=2)
        kernel = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, 2))
        r = rng.random()
        stride = None if r < 0.3 else (int(rng.integers(1, 4)) if r < 0.65
                                       else tuple(int(v) for v in rng.integers(1, 4, 2)))
        kh, kw = pair(kernel)
        if H < kh or W < kw:
            continue
        kind = rng.random()
        if kind < 0.3:
            x = rng.integers(0, 3, size=(N, C, H, W))          # many ties
        elif kind < 0.4:
            x = np.zeros((N, C, H, W))                          # everything ties
        else:
            x = rng.standard_normal((N, C, H, W))
        out.append((x, kernel, stride))
    return out


# ----------------------------------------------------------------- reference vs instructor
def test_conv_forward_matches_instructor(nbns, ref):
    for x, w, b, stride, padding in random_conv_configs(150, 1):
        out, _ = nbns["conv2d_forward"](x, w, b, stride, padding)
        close(ref.ref_conv2d_forward(x, w, b, stride, padding), out)


def test_conv_backward_matches_instructor(nbns, ref):
    rng = np.random.default_rng(2)
    for x, w, b, stride, padding in random_conv_configs(150, 3):
        out, cache = nbns["conv2d_forward"](x, w, b, stride, padding)
        dout = rng.standard_normal(out.shape)
        mine = nbns["conv2d_backward"](dout, cache)
        theirs = ref.ref_conv2d_backward(x, w, b, stride, padding, dout)
        for a, e in zip(theirs, mine):
            close(a, e)


def test_pool_forward_and_backward_match_instructor(nbns, ref):
    rng = np.random.default_rng(4)
    for x, kernel, stride in random_pool_configs(200, 5):
        out, cache = nbns["maxpool2d_forward"](x, kernel, stride)
        close(ref.ref_maxpool2d_forward(x, kernel, stride), out)
        dout = rng.standard_normal(out.shape)
        close(ref.ref_maxpool2d_backward(x, kernel, stride, dout),
              nbns["maxpool2d_backward"](dout, cache))


def test_flatten_matches_instructor(nbns, ref):
    rng = np.random.default_rng(6)
    for _ in range(50):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=4))
        x = rng.standard_normal(shape)
        out, cache = nbns["flatten_forward"](x)
        close(ref.ref_flatten_forward(x), out)
        dout = rng.standard_normal(out.shape)
        close(ref.ref_flatten_backward(x.shape, dout), nbns["flatten_backward"](dout, cache))


# ----------------------------------------------------------------- independent formulas
def direct_conv(x, w, b, stride, padding):
    """out[n,f,i,j] = b[f] + sum w[f,c,u,v] * x[n,c,i*sh+u-ph, j*sw+v-pw] (zero outside)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = [[[[0.0] * Wo for _ in range(Ho)] for _ in range(F)] for _ in range(N)]
    for n, f, i, j in itertools.product(range(N), range(F), range(Ho), range(Wo)):
        s = float(b[f])
        for c, u, v in itertools.product(range(C), range(KH), range(KW)):
            r, q = i * sh + u - ph, j * sw + v - pw
            if 0 <= r < H and 0 <= q < W:
                s += float(w[f, c, u, v]) * float(x[n, c, r, q])
        out[n][f][i][j] = s
    return np.array(out).reshape(N, F, Ho, Wo)


def test_conv_forward_equals_direct_sum(ref):
    for x, w, b, stride, padding in random_conv_configs(60, 7):
        close(ref.ref_conv2d_forward(x, w, b, stride, padding), direct_conv(x, w, b, stride, padding))


def test_conv_forward_is_cross_correlation_not_convolution(ref):
    x = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]]])
    w = np.array([[[[1, 2], [0, -1]]]])
    out = ref.ref_conv2d_forward(x, w, np.array([1]), 1, 0)
    close(out, [[[[0, 2, 4], [8, 10, 12]]]])
    assert out.dtype == np.float64
    flipped = ref.ref_conv2d_forward(x, w[:, :, ::-1, ::-1], np.array([1]), 1, 0)
    assert not np.allclose(out, flipped)


@pytest.mark.parametrize("H,W,K,s,p,expected", [
    (8, 8, 3, 2, 1, (4, 4)), (8, 8, 3, 2, 0, (3, 3)), (10, 9, 3, 2, 0, (4, 4)),
    (7, 5, (3, 2), (2, 1), 0, (3, 4)), (4, 6, 3, 1, (1, 0), (4, 4)), (3, 4, (3, 4), 1, 0, (1, 1)),
])
def test_conv_output_sizes(ref, H, W, K, s, p, expected):
    KH, KW = pair(K)
    out = ref.ref_conv2d_forward(np.zeros((1, 1, H, W)), np.zeros((1, 1, KH, KW)), np.zeros(1), s, p)
    assert out.shape[2:] == expected


def central_fd(f, arr, eps=1e-6):
    return numeric_grad(f, arr, eps)


@pytest.mark.parametrize("cfg", [
    ((2, 2, 4, 5), (3, 2, 2, 3), (2, 1), (1, 0)),
    ((1, 3, 5, 5), (2, 3, 3, 3), 1, 1),
    ((2, 1, 6, 4), (2, 1, 3, 2), 2, 0),
    ((1, 2, 5, 6), (1, 2, 2, 3), (1, 2), (0, 2)),
])
def test_conv_backward_equals_finite_differences(ref, cfg):
    xs, ws, stride, padding = cfg
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    dout = rng.standard_normal(ref.ref_conv2d_forward(x, w, b, stride, padding).shape)

    def loss():
        return float((ref.ref_conv2d_forward(x, w, b, stride, padding) * dout).sum())
    dx, dw, db = ref.ref_conv2d_backward(x, w, b, stride, padding, dout)
    close(dx, central_fd(loss, x), 1e-6, 1e-6)
    close(dw, central_fd(loss, w), 1e-6, 1e-6)
    close(db, central_fd(loss, b), 1e-6, 1e-6)


@pytest.mark.parametrize("shape,kernel,stride", [
    ((2, 2, 4, 6), 2, None), ((1, 2, 5, 6), 3, 1), ((2, 1, 7, 7), 3, 2),
    ((1, 2, 5, 5), 2, 2), ((2, 2, 5, 7), (2, 3), (1, 2)),
])
def test_pool_backward_equals_finite_differences_tie_free(ref, shape, kernel, stride):
    rng = np.random.default_rng(9)
    x = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5   # distinct, gaps 0.5
    dout = rng.standard_normal(ref.ref_maxpool2d_forward(x, kernel, stride).shape)

    def loss():
        return float((ref.ref_maxpool2d_forward(x, kernel, stride) * dout).sum())
    close(ref.ref_maxpool2d_backward(x, kernel, stride, dout), central_fd(loss, x), 1e-6, 1e-6)


def test_flatten_backward_equals_finite_differences(ref):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 2, 4))
    dout = rng.standard_normal((2, 24))

    def loss():
        return float((ref.ref_flatten_forward(x) * dout).sum())
    close(ref.ref_flatten_backward(x.shape, dout), central_fd(loss, x), 1e-6, 1e-6)


def test_flatten_is_c_order(ref):
    x = np.arange(24).reshape(1, 2, 3, 4)
    close(ref.ref_flatten_forward(x), [list(range(24))])
    x = np.arange(2 * 2 * 2 * 3).reshape(2, 2, 2, 3)
    out = ref.ref_flatten_forward(x)
    assert out.shape == (2, 12)
    close(out[1], np.arange(12, 24))
    close(ref.ref_flatten_backward((1, 2, 2, 3), np.arange(12.0).reshape(1, 12)),
          [[[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]])


# ----------------------------------------------------------------- ties, hand-written
TIES = [
    ([[[[3, 3], [3, 3]]]], 2, None, [[[[0.75]]]], [[[[0.75, 0], [0, 0]]]]),
    ([[[[1, 5, 2], [5, 0, 5], [3, 5, 5]]]], 3, None, [[[[-1.5]]]],
     [[[[0, -1.5, 0], [0, 0, 0], [0, 0, 0]]]]),
    ([[[[0, 1, 4, 4], [1, 1, 4, 2]]]], 2, 2, [[[[0.5, -2.25]]]],
     [[[[0, 0.5, -2.25, 0], [0, 0, 0, 0]]]]),
    ([[[[7, 7, 7], [7, 7, 7], [7, 7, 7]]]], 2, 1, [[[[0.5, 0.25], [0.125, 2.0]]]],
     [[[[0.5, 0.25, 0], [0.125, 2.0, 0], [0, 0, 0]]]]),
    ([[[[1, 2], [2, 0]]], [[[5, 1], [5, 5]]]], 2, None, [[[[0.5]]], [[[-1.5]]]],
     [[[[0, 0.5], [0, 0]]], [[[-1.5, 0], [0, 0]]]]),
    # overlapping k3 s1 with ties: (0,0) wins window 0, (0,2) wins window 1 (2 > 1)
    ([[[[2, 1, 2, 1], [2, 2, 2, 2], [1, 1, 1, 1]]]], 3, 1, [[[[0.5, 0.25]]]],
     [[[[0.5, 0, 0.25, 0], [0, 0, 0, 0], [0, 0, 0, 0]]]]),
    # 5x5 k2 s2: the largest values sit in the dropped row/column and get nothing
    ([[[[1, 1, 0, 0, 9], [1, 1, 0, 0, 9], [0, 0, 2, 2, 9], [0, 0, 2, 2, 9], [9, 9, 9, 9, 9]]]],
     2, 2, [[[[1.5, 2.5], [3.5, 4.5]]]],
     [[[[1.5, 0, 2.5, 0, 0], [0, 0, 0, 0, 0], [3.5, 0, 4.5, 0, 0], [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0]]]]),
]


@pytest.mark.parametrize("x,kernel,stride,dout,expected", TIES)
def test_pool_ties_hand_written(ref, nbns, x, kernel, stride, dout, expected):
    x = np.array(x)
    dout = np.array(dout, dtype=float)
    close(ref.ref_maxpool2d_backward(x, kernel, stride, dout), expected)
    _, cache = nbns["maxpool2d_forward"](x, kernel, stride)
    close(nbns["maxpool2d_backward"](dout, cache), expected)


def test_reference_does_not_modify_inputs(ref):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 3, 3))
    copies = [a.copy() for a in (x, w, b, dout)]
    ref.ref_conv2d_forward(x, w, b, 1, 0)
    ref.ref_conv2d_backward(x, w, b, 1, 0, dout)
    ref.ref_maxpool2d_backward(x, 2, 1, rng.standard_normal((2, 2, 4, 4)))
    for a, c in zip((x, w, b, dout), copies):
        assert np.array_equal(a, c)


PART1_CHECKS = [("check_conv2d_forward", ("conv2d_forward",)),
                ("check_conv2d_backward", ("conv2d_forward", "conv2d_backward")),
                ("check_maxpool2d_forward", ("maxpool2d_forward",)),
                ("check_maxpool2d_backward", ("maxpool2d_forward", "maxpool2d_backward")),
                ("check_flatten_forward", ("flatten_forward",)),
                ("check_flatten_backward", ("flatten_forward", "flatten_backward"))]


def record_and_replay(checks, check, args):
    """Record a check as the kernel does, then judge the record as the trusted grader does."""
    records = []
    with record.capturing(records):
        getattr(checks, check)(*args)
    assert len(records) == 1
    with record.replaying(records[0]):
        getattr(checks, check)(*[None] * len(args))
    return records[0], judge.LAST["verdict"]


def test_recorded_checks_pass_for_instructor_solution(nbns, checks):
    for check, fns in PART1_CHECKS:
        _, verdict = record_and_replay(checks, check, [nbns[f] for f in fns])
        assert verdict.score(20) == 20, verdict.text(20)


def test_replay_fails_zeros_and_a_tampered_record(nbns, checks):
    """The verdict comes from the reference: wrong numbers fail however the record is made."""

    def zeros_forward(x, w, b, stride=1, padding=0):
        out = nbns["conv2d_forward"](x, w, b, stride, padding)[0]
        return np.zeros_like(out), None
    _, verdict = record_and_replay(checks, "check_conv2d_forward", [zeros_forward])
    assert verdict.score(20) == 0 and "values wrong" in verdict.text(20)

    rec, verdict = record_and_replay(checks, "check_flatten_forward", [nbns["flatten_forward"]])
    assert verdict.score(10) == 10
    first = next(iter(rec["cases"]))
    event = rec["cases"][first][0]               # ["call", name, result, changed]
    out = event[2][1][0]                         # the tuple's first item: ["array", dtype, shape, b64]
    swapped = np.frombuffer(__import__("base64").b64decode(out[3]), dtype=out[1])[::-1].copy()
    out[3] = __import__("base64").b64encode(swapped.tobytes()).decode()
    with record.replaying(rec):
        checks.check_flatten_forward(None)
    verdict = judge.LAST["verdict"]
    assert verdict.score(10) < 10 and first in verdict.text(10)
    del rec["cases"][first][0]                   # a record with a call missing
    with record.replaying(rec):
        checks.check_flatten_forward(None)
    assert "the record has no flatten_forward here" in judge.LAST["verdict"].text(10)


# ----------------------------------------------------------------- torch
TORCH_CONV = [
    ((2, 3, 5, 7), (4, 3, 3, 2), 1, 0),
    ((1, 2, 8, 8), (3, 2, 3, 3), 2, 1),
    ((2, 2, 7, 5), (3, 2, 3, 2), (2, 1), 0),
    ((1, 3, 4, 6), (2, 3, 3, 3), 1, (1, 0)),
    ((2, 1, 5, 6), (2, 1, 2, 3), (1, 2), (0, 2)),
    ((1, 2, 6, 7), (2, 2, 3, 2), 3, 2),
    ((3, 2, 10, 9), (5, 2, 3, 3), 2, 0),
]


@pytest.mark.parametrize("xs,ws,stride,padding", TORCH_CONV)
def test_conv_matches_torch(ref, xs, ws, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    out = ref.ref_conv2d_forward(x, w, b, stride, padding)
    close(out, tout.detach().numpy())
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    dx, dw, db = ref.ref_conv2d_backward(x, w, b, stride, padding, dout)
    close(dx, tx.grad.numpy())
    close(dw, tw.grad.numpy())
    close(db, tb.grad.numpy())


def test_conv_random_configs_match_torch(ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    for x, w, b, stride, padding in random_conv_configs(60, 14):
        tx, tw, tb = (torch.tensor(np.asarray(a, dtype=float), requires_grad=True) for a in (x, w, b))
        tout = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
        close(ref.ref_conv2d_forward(x, w, b, stride, padding), tout.detach().numpy())
        dout = rng.standard_normal(tuple(tout.shape))
        tout.backward(torch.tensor(dout))
        for mine, t in zip(ref.ref_conv2d_backward(x, w, b, stride, padding, dout),
                           (tx.grad, tw.grad, tb.grad)):
            close(mine, t.numpy())


def test_pool_random_configs_match_torch_including_ties(ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    for x, kernel, stride in random_pool_configs(200, 16):
        tx = torch.tensor(np.asarray(x, dtype=float), requires_grad=True)
        tout = torch.nn.functional.max_pool2d(tx, kernel, stride=stride)
        close(ref.ref_maxpool2d_forward(x, kernel, stride), tout.detach().numpy())
        dout = rng.standard_normal(tuple(tout.shape))
        tout.backward(torch.tensor(dout))
        close(ref.ref_maxpool2d_backward(x, kernel, stride, dout), tx.grad.numpy())


@pytest.mark.parametrize("x,kernel,stride,dout,expected", TIES)
def test_pool_ties_match_torch(ref, x, kernel, stride, dout, expected):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(np.array(x, dtype=float), requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, kernel, stride=stride)
    tout.backward(torch.tensor(np.array(dout, dtype=float)))
    close(tx.grad.numpy(), expected)      # torch also routes to the first maximum


def test_flatten_matches_torch(ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    for shape in [(2, 3, 4, 5), (1, 2, 3, 4), (3, 4, 1, 1), (1, 1, 1, 5)]:
        x = rng.standard_normal(shape)
        tx = torch.tensor(x, requires_grad=True)
        tout = torch.flatten(tx, 1)
        close(ref.ref_flatten_forward(x), tout.detach().numpy())
        dout = rng.standard_normal(tuple(tout.shape))
        tout.backward(torch.tensor(dout))
        close(ref.ref_flatten_backward(x.shape, dout), tx.grad.numpy())


# ---------------------------------------------------------------- part 2 (im2col, CNN)

@pytest.fixture(scope="module")
def fast():
    """The loop timing references of the speed checks."""
    return load_folder("spatial", GRADER, "timing")


def test_im2col_col2im_reference_match_instructor_and_are_adjoint(nbns, ref):
    rng = np.random.default_rng(2026)
    for x, w, b, stride, padding in random_conv_configs(120, 11):
        kernel = w.shape[2:]
        cols = ref.ref_im2col(x, kernel, stride, padding)
        close(cols, nbns["im2col"](x, kernel, stride, padding))
        c = rng.standard_normal(cols.shape)
        dx = ref.ref_col2im(c, x.shape, kernel, stride, padding)
        close(dx, nbns["col2im"](c, x.shape, kernel, stride, padding))
        # adjoint: <im2col(x), c> == <x, col2im(c)>
        lhs, rhs = float((cols * c).sum()), float((np.asarray(x, dtype=float) * dx).sum())
        assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)), (lhs, rhs)


def test_im2col_column_order_matches_w_reshape(ref, nbns):
    """cols @ w.reshape(F, -1).T (+ b) is the convolution (the instructor's part-1 loops):
    the (c, kh, kw) column order."""
    for x, w, b, stride, padding in random_conv_configs(60, 12):
        cols = ref.ref_im2col(x, w.shape[2:], stride, padding)
        out, _ = nbns["conv2d_forward"](x, w, b, stride, padding)
        n, f, ho, wo = out.shape
        via = (cols @ np.asarray(w, dtype=float).reshape(f, -1).T + b).reshape(n, ho, wo, f)
        close(via.transpose(0, 3, 1, 2), out)


def test_loop_timing_references_cost_what_the_part1_loops_cost(nbns, fast):
    """A fair timing reference: as slow as the instructor's part-1 loops on the speed inputs
    (interleaved, best of 5; the speed test asks for 20x, the loops are within 3x)."""
    import time

    rng, x, w, b = fast.speed_inputs(5)
    st, pd = fast.SPEED_STRIDE, fast.SPEED_PAD
    out, cache = nbns["conv2d_forward"](x, w, b, st, pd)
    dout = rng.standard_normal(out.shape)
    pairs = [(lambda: fast.loop_cost_forward(x, w, b, st, pd),
              lambda: nbns["conv2d_forward"](x, w, b, st, pd)),
             (lambda: fast.loop_cost_backward(x, w, st, pd, dout),
              lambda: nbns["conv2d_backward"](dout, cache))]
    for timing_loop, part1 in pairs:
        best = [float("inf"), float("inf")]
        for _ in range(5):
            for k, fn in enumerate((timing_loop, part1)):
                t0 = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - t0)
        assert 1 / 3 < best[0] / best[1] < 3, best


def test_loop_timing_references_compute_no_convolution(ref, fast):
    """They are in the grading kernel while the value checks run: nothing a student's
    function could return as its own (a convolution, a max-pool, im2col)."""
    cases = load_folder("spatial", GRADER, "cases")
    for k, spec in enumerate(cases.CONV_CASES_PART2):          # the hidden cases themselves
        _, x, w, b, _, stride, padding = cases.conv_inputs(30240 + k, spec)
        x, w, b = (np.asarray(a, dtype=float) for a in (x, w, b))
        out = fast.loop_cost_forward(x, w, b, stride, padding)
        assert np.isclose(out, ref.ref_conv2d_forward(x, w, b, stride, padding)).mean() < 0.5
        dout = np.random.default_rng(k).standard_normal(out.shape)
        got = fast.loop_cost_backward(x, w, stride, padding, dout)
        exp = ref.ref_conv2d_backward(x, w, b, stride, padding, dout)
        assert np.isclose(got[0], exp[0]).mean() < 0.5 and np.isclose(got[1], exp[1]).mean() < 0.5


def test_instructor_fast_conv_matches_reference(nbns, ref):
    rng = np.random.default_rng(6)
    for x, w, b, stride, padding in random_conv_configs(150, 14):
        out, cache = nbns["conv2d_forward_fast"](x, w, b, stride, padding)
        close(out, ref.ref_conv2d_forward(x, w, b, stride, padding))
        dout = rng.standard_normal(out.shape)
        got = nbns["conv2d_backward_fast"](dout, cache)
        for g, e in zip(got, ref.ref_conv2d_backward(x, w, b, stride, padding, dout)):
            close(g, e)


def test_cnn_reference_loss_gradient_by_finite_differences_and_torch(ref):
    """The reference loss the gradient check uses is the network's true loss."""
    rng = np.random.default_rng(7)
    P = {"W1": rng.standard_normal((8, 1, 3, 3)) * 0.3, "b1": rng.standard_normal(8) * 0.1,
         "W2": rng.standard_normal((128, 10)) * 0.1, "b2": rng.standard_normal(10) * 0.1}
    X = rng.random((3, 1, 8, 8))
    y = np.array([1, 7, 3])
    torch = pytest.importorskip("torch")
    T = {k: torch.tensor(v, requires_grad=True) for k, v in P.items()}
    xt = torch.tensor(X)
    a = torch.nn.functional.conv2d(xt, T["W1"], T["b1"], padding=1).relu()
    a = torch.nn.functional.max_pool2d(a, 2).flatten(1) @ T["W2"] + T["b2"]
    loss = torch.nn.functional.cross_entropy(a, torch.tensor(y))
    loss.backward()
    assert abs(ref.ref_cnn_loss(P, X, y) - loss.item()) < 1e-12
    eps = 1e-6
    for key in ("W1", "b2"):
        flat = P[key].reshape(-1)
        for k in range(0, flat.size, max(1, flat.size // 7)):
            old = flat[k]
            flat[k] = old + eps
            plus = ref.ref_cnn_loss(P, X, y)
            flat[k] = old - eps
            minus = ref.ref_cnn_loss(P, X, y)
            flat[k] = old
            assert abs((plus - minus) / (2 * eps) - T[key].grad.reshape(-1)[k].item()) < 1e-6


def test_im2col_matches_torch_unfold_and_col2im_matches_fold(ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    for x, w, b, stride, padding in random_conv_configs(60, 15):
        x = np.asarray(x, dtype=float)
        kernel = w.shape[2:]
        st, pd = pair(stride), pair(padding)
        cols = ref.ref_im2col(x, kernel, stride, padding)
        unf = torch.nn.functional.unfold(torch.tensor(x), kernel, padding=pd, stride=st).numpy()
        close(cols, unf.transpose(0, 2, 1).reshape(cols.shape))
        c = rng.standard_normal(cols.shape)
        n, L = x.shape[0], cols.shape[0] // x.shape[0]
        folded = torch.nn.functional.fold(torch.tensor(c.reshape(n, L, -1).transpose(0, 2, 1)),
                                          x.shape[2:], kernel, padding=pd, stride=st).numpy()
        close(ref.ref_col2im(c, x.shape, kernel, stride, padding), folded)
