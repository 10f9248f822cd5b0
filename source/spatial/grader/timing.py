"""The speed checks of the fast convolution: loop timing references and interleaved timing.

The loop references cost what a part-1 style convolution costs (a Python loop over the
output positions and filters, numpy inside, on the same windows) but compute nothing of use:
they are in the grading kernel while every hidden check runs (the cell grader_setup loads
this module with the checks), where a student's function can find them (sys.modules, gc,
code objects). A real convolution here was returned as their own by blank notebooks (59
points), with or without a guard around it. Each window is combined with the kernel by an
addition where a convolution multiplies: the same numpy work per iteration, no convolution
(nor a max-pool, im2col, ...) to recover from the result.

Every timing round calls the student's function on fresh inputs (``time_against``): a
function that caches its results (keyed by the input's bytes) is timed like any other.
"""

import gc

import numpy

# bound when the grading kernel started, before any student cell (a student who replaces
# numpy.zeros or time.perf_counter later cannot slow the reference down or stop the clock)
from coursetools.checks.record import clock, np_zeros

SPEEDUP = 20.0                    # required speed-up over the loop reference
MIN_ROUNDS, MAX_ROUNDS = 3, 7     # timing rounds (best of), stop early once fast enough
STUDENT_BUDGET = 8.0              # seconds of student calls after which timing stops

# Input of the speed checks: the loop reference takes ~0.1 s (forward) / ~0.2 s (backward),
# almost all of it Python overhead, one iteration per output position and filter. With one
# sample, channel and filter and a small kernel, a loop over the 32,625 output positions is
# at most ~10x faster than the reference (copying one window costs ~0.5 us), while
# vectorised solutions, also memory-hungry ones (np.add.at, outer products), are > 60x faster.
SPEED_X, SPEED_W, SPEED_STRIDE, SPEED_PAD = (1, 1, 144, 224), (1, 1, 2, 2), 1, 1
SLOW_HINT = (
    "a Python loop over the output positions (i, j) ({} of them here), even with NumPy "
    "inside, or over samples and positions. Build all windows at once (im2col with "
    "as_strided) and use ONE matrix multiply (and col2im with a loop over the KH*KW kernel "
    "offsets, or np.add.at, in the backward pass). Loops over the kernel offsets or over "
    "the filters are fine.")


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def loop_cost_forward(x, w, b, stride, padding):
    """Timing reference: the part-1 forward loop (i, j, f), NumPy inside, with an addition
    where the convolution multiplies (see the module docstring): its cost, not its values."""
    sh, sw = _pair(stride)              # the loop's own copy (timing only)
    ph, pw = _pair(padding)             # the loop's own copy (timing only)
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (wd + 2 * pw - kw) // sw + 1
    xp = np_zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    out = np_zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            for k in range(f):
                out[:, k, i, j] = (window + w[k]).sum(axis=(1, 2, 3)) + b[k]
    return out


def loop_cost_backward(x, w, stride, padding, dout):
    """Timing reference: the part-1 backward loop (i, j, f), NumPy inside, with additions
    where the gradients multiply (see the module docstring): its cost, not its values."""
    sh, sw = _pair(stride)              # the loop's own copy (timing only)
    ph, pw = _pair(padding)             # the loop's own copy (timing only)
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    xp = np_zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    dxp = np_zeros(xp.shape)
    dw = np_zeros(w.shape)
    db = dout.sum(axis=(0, 2, 3))       # timing only: the loop's cost, not the answer
    for i in range(ho):
        for j in range(wo):
            r, s = i * sh, j * sw
            window = xp[:, :, r:r + kh, s:s + kw]
            for k in range(f):
                g = dout[:, k, i, j].reshape(n, 1, 1, 1)
                dw[k] += (g + window).sum(axis=0)
                dxp[:, :, r:r + kh, s:s + kw] += g + w[k]
    return dxp[:, :, ph:ph + h, pw:pw + wd], dw, db


def time_against(student_call, ref_call, fresh, project=None):
    """Interleaved best-of timing; returns (best student s, best reference s, rounds,
    *project(output of round 1), *project(output of round 2), ...).

    ``student_call(args)`` is timed on ``fresh()``, new arguments made before each round
    (outside the timed part): the same input twice would let a cache answer. ``project`` turns
    each round's output into a few numbers (outside the timed part) that the grader checks
    against the reference: a fast wrong answer (zeros for this input's shape) does not count.
    """
    projected = []
    gc.collect()
    best_s = best_r = float("inf")
    spent = 0.0
    rounds = 0
    for rnd in range(MAX_ROUNDS):
        rounds += 1
        args = fresh()
        if rnd % 2 == 0:
            t0 = clock()
            ref_call()
            t1 = clock()
            out = student_call(args)
            t2 = clock()
            tr, ts = t1 - t0, t2 - t1
        else:
            t0 = clock()
            out = student_call(args)
            t1 = clock()
            ref_call()
            t2 = clock()
            ts, tr = t1 - t0, t2 - t1
        if project is not None:
            projected.extend(project(out))
        best_r = min(best_r, tr)
        best_s = min(best_s, ts)
        spent += ts
        if rounds >= MIN_ROUNDS and best_r >= SPEEDUP * best_s:
            break
        if spent > STUDENT_BUDGET:
            break
    return (best_s, best_r, rounds, *projected)


def speed_inputs(seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(SPEED_X)
    w = rng.standard_normal(SPEED_W)
    b = rng.standard_normal(SPEED_W[0])
    return rng, x, w, b


def speed_geometry():
    _, _, h, wd = SPEED_X
    _, _, kh, kw = SPEED_W
    return ((h + 2 * SPEED_PAD - kh) // SPEED_STRIDE + 1,
            (wd + 2 * SPEED_PAD - kw) // SPEED_STRIDE + 1)
