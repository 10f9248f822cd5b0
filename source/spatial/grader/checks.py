"""The hidden checks of `spatial`: one ``check_<function>`` per graded cell.

Each hidden test cell of the notebook calls one of these, e.g.
``_grader.check_conv2d_forward(conv2d_forward)``. They are written once and run twice (see
coursetools/checks/record.py): in the grading kernel they call the student's functions on the
hidden inputs and record the results; in the trusted grader they replay the record against
the reference (reference.py, installed by the cell grader_reference) and return the verdict.
Until the reference is installed, REF gives only output SHAPES, from the public formulas:
enough to draw the hidden inputs in the kernel, nothing to compare with.

Points: GROUPS gives each check's case groups and their weights (keyed by the check's name
without "check_"); the cell's points (its notebook metadata) are split by these weights
(coursetools.checks.judge.allocate), and `make release` puts them in the points tables.
"""

import types

import numpy

from coursetools.checks.judge import (UNCHANGED, Case, Group, Memo, as_float, desc, expect_array,
                                      expect_unchanged, kw_text, numeric_grad, run_check, say,
                                      unpack)
from coursetools.checks.loader import data_path
from coursetools.checks.record import (CaseFailure, call, clean_name, nd_copy, recording, snap,
                                      timed)

from . import timing
from .cases import (ADJOINT_CASES, CNN_SHAPES, COL_CASES, CONV_CASES_PART1, CONV_CASES_PART2,
                    FLAT_CASES, GRAD_CASES, OMIT, POOL_BWD_EXTRA, POOL_CASES, POOL_ROUNDING,
                    TIE_CASES,
                    cnn_params, col_inputs, conv_inputs, data, default_rng, pair, pool_inputs)

F8 = numpy.float64
RTOL, ATOL = 1e-9, 1e-10          # float64 comparisons against the reference
FD_RTOL, FD_ATOL = 1e-6, 1e-6     # comparisons against central finite differences
FD_RTOL_FAST, FD_ATOL_FAST = 1e-6, 1e-7
ACCURACY = 0.90                   # held-out accuracy the hidden training run must reach

memo = Memo()                     # reference results, once per grader process

# ================================ groups and weights ================================
GROUPS = {
    "conv2d_forward": (
        Group("core", "core cases: N, C, F > 1, non-square inputs and kernels", 8),
        Group("stride", "strides, padding and output sizes", 5),
        Group("pairs", "(h, w) pairs for stride and padding", 4),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "inputs left unchanged", 2)),
    "conv2d_backward": (
        Group("core", "core cases and finite differences", 9),
        Group("stride", "strides, padding (cropped), overlapping windows", 6),
        Group("pairs", "(h, w) pairs for stride and padding", 5),
        Group("integer", "integer inputs (no truncated gradient)", 2),
        Group(UNCHANGED, "inputs, dout and cache unchanged, same result twice", 3)),
    "maxpool2d_forward": (
        Group("core", "core cases and the default stride", 5),
        Group("stride", "strides, overlaps and output sizes", 4),
        Group("pairs", "(h, w) pairs for kernel and stride", 3),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "input left unchanged", 2)),
    "maxpool2d_backward": (
        Group("core", "core cases and finite differences", 5),
        Group("stride", "strides, overlaps, dropped rows and columns", 4),
        Group("ties", "ties: the first maximum gets the gradient", 4),
        Group("pairs", "(h, w) pairs for kernel and stride", 2),
        Group("integer", "integer inputs (no truncated gradient)", 2),
        Group(UNCHANGED, "inputs, dout and cache unchanged, same result twice", 3)),
    "flatten_forward": (
        Group("core", "C order (channel, row, column)", 4),
        Group("shapes", "N = 1 and 1x1 shapes keep the batch axis", 3),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "input left unchanged", 2)),
    "flatten_backward": (
        Group("core", "C order (channel, row, column)", 4),
        Group("shapes", "N = 1 and 1x1 shapes", 3),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "dout and cache unchanged, same result twice", 2)),
    "im2col": (
        Group("core", "core cases: row and column order, overlapping windows", 4),
        Group("stride", "strides, padding and output sizes", 2),
        Group("pairs", "(h, w) pairs for kernel, stride and padding", 2),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "input left unchanged", 1)),
    "col2im": (
        Group("core", "core cases, overlaps add up, adjoint of im2col", 4),
        Group("stride", "strides, padding and output sizes", 2),
        Group("pairs", "(h, w) pairs for kernel, stride and padding", 2),
        Group("integer", "integer inputs", 1),
        Group(UNCHANGED, "cols left unchanged", 1)),
    "conv2d_forward_fast": (
        Group("core", "values: core cases, strides and padding", 4),
        Group("pairs", "values: (h, w) pairs and integer inputs", 2),
        Group("speed", "speed: at least 20x faster than a loop", 3, needs=("core", "pairs")),
        Group(UNCHANGED, "inputs left unchanged", 1)),
    "conv2d_backward_fast": (
        Group("core", "values: core cases, strides and padding", 4),
        Group("pairs", "values: (h, w) pairs and integer inputs", 2),
        Group("speed", "speed: at least 20x faster than a loop", 3, needs=("core", "pairs")),
        Group(UNCHANGED, "inputs, dout and cache unchanged, same result twice", 1)),
    "cnn_gradient": (
        Group("core", "loss and every gradient entry vs finite differences", 8),
        Group(UNCHANGED, "params, X and y unchanged, same result twice", 2)),
    "cnn_accuracy": (
        Group("core", "trains on data it has never seen: held-out accuracy", 1),),
}


# ============================ the reference: shapes only, until installed ============================
def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _shape_conv_forward(x, w, b, stride=1, padding=0):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    return numpy.zeros((x.shape[0], w.shape[0], _out_size(x.shape[2], w.shape[2], sh, ph),
                        _out_size(x.shape[3], w.shape[3], sw, pw)))


def _shape_pool_forward(x, kernel_size, stride=None):
    (kh, kw), (sh, sw) = pair(kernel_size), pair(kernel_size if stride is None else stride)
    return numpy.zeros((x.shape[0], x.shape[1], _out_size(x.shape[2], kh, sh, 0),
                        _out_size(x.shape[3], kw, sw, 0)))


def _shape_im2col(x, kernel_size, stride=1, padding=0):
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    n, c, h, w = x.shape
    return numpy.zeros((n * _out_size(h, kh, sh, ph) * _out_size(w, kw, sw, pw), c * kh * kw))


REF = types.SimpleNamespace(
    ref_conv2d_forward=_shape_conv_forward,
    ref_conv2d_backward=lambda x, w, b, s, p, dout: (numpy.zeros(x.shape), numpy.zeros(w.shape),
                                                     numpy.zeros(w.shape[0])),
    ref_maxpool2d_forward=_shape_pool_forward,
    ref_maxpool2d_backward=lambda x, kernel_size, stride, dout: numpy.zeros(x.shape),
    ref_flatten_forward=lambda x: numpy.zeros((x.shape[0], x[0].size)),
    ref_flatten_backward=lambda x_shape, dout: numpy.zeros(x_shape),
    ref_im2col=_shape_im2col,
    ref_col2im=lambda cols, x_shape, *a, **k: numpy.zeros(x_shape),
    ref_cnn_scores=None, ref_cnn_loss=None, REFERENCE_LAYERS={},
    CHECKS_AFTER_REFERENCE=(),
)


def install_layers(layers):
    """Called by the cell grader_reference (kernel and trusted grader): the reference layers
    the CNN checks swap in."""
    REF.REFERENCE_LAYERS = layers.REFERENCE_LAYERS


def install_reference(reference):
    """Called by the cell grader_trusted_reference (trusted grader only): the whole reference."""
    for name in vars(REF):
        setattr(REF, name, getattr(reference, name))


def reference_installed():
    return REF.ref_cnn_loss is not None


def ref(name, *args):
    """REF.<name>(*args), memoised per case in the trusted grader (see ``memo`` callers)."""
    return getattr(REF, name)(*args)


# ================================ conv2d ================================
CONV_FWD_HINT = (
    "out[n, f, i, j] = b[f] + sum over c, u, v of w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v] "
    "(cross-correlation: no kernel flip); Ho = (H + 2*ph - KH)//sh + 1 (floor); pad only H "
    "and W; pairs are (along H, along W); sum over all channels; every sample n; "
    "b[f] per filter.")
CONV_DX_HINT = ("dxpad[n, c, i*sh+u, j*sw+v] += dout[n, f, i, j] * w[f, c, u, v] (the same, "
                "unflipped w as in the forward pass; += because windows overlap); then crop "
                "dx = dxpad[:, :, ph:ph+H, pw:pw+W] (p:-p is empty when p = 0); dx has x's shape.")
CONV_DW_HINT = ("dw[f, c, u, v] += dout[n, f, i, j] * xpad[n, c, i*sh+u, j*sw+v] summed over "
                "every sample n and every output position (i, j).")
CONV_DB_HINT = ("db is dout summed over axes (0, 2, 3): one value per filter, summed over N, "
                "Ho, Wo.")
SECOND_CALL = " A second call must give the same result: do not keep state or change the cache."


def _conv_forward_case(fn, fn_name, key, spec, seed, hint):
    def body(ctx):
        rng, x, w, b, kwargs, st, pd = conv_inputs(seed, spec)
        expected = memo((key, spec[0]), lambda: ref("ref_conv2d_forward", x, w, b, st, pd))
        xs, ws, bs = nd_copy(x), nd_copy(w), nd_copy(b)
        before = [snap(a) for a in (xs, ws, bs)]
        ctx["why"] = spec[-1]
        ctx["call"] = f"{fn_name}(x {desc(x)}, w {desc(w)}, b {desc(b)}{kw_text(kwargs)})"
        res = call(fn, fn_name, (xs, ws, bs), kwargs, hint)
        out, _cache = unpack(fn_name, res, ("out", "cache"))
        expect_array("out", out, expected, hint)
        for label, snapshot, arr in zip(("x", "w", "b"), before, (xs, ws, bs)):
            expect_unchanged(label, snapshot, arr, fn_name)
    return Case(spec[0], spec[6], body)


def check_conv2d_forward(conv2d_forward):
    run_check("conv2d_forward", [
        _conv_forward_case(conv2d_forward, "conv2d_forward", "conv_fwd", spec, 20240 + k,
                           CONV_FWD_HINT)
        for k, spec in enumerate(CONV_CASES_PART1)], GROUPS["conv2d_forward"])


def _conv_backward_body(ctx, fwd, bwd, names, x, w, b, kwargs, dout, expected, why, hints, rtol,
                        atol):
    fwd_name, bwd_name = names
    dx_hint, dw_hint, db_hint, fwd_hint = hints
    exp_dx, exp_dw, exp_db = expected
    xs, ws, bs = nd_copy(x), nd_copy(w), nd_copy(b)
    ctx["why"] = why
    ctx["call"] = (f"{bwd_name}(dout {desc(dout)}, cache) after {fwd_name}(x {desc(x)}, "
                   f"w {desc(w)}, b {desc(b)}{kw_text(kwargs)})")
    res = call(fwd, f"{fwd_name} (called to build the cache)", (xs, ws, bs), kwargs,
               f"{fwd_name} must work before {bwd_name} can be tested: " + fwd_hint)
    _out, cache = unpack(fwd_name, res, ("out", "cache"))
    before = [snap(a) for a in (xs, ws, bs)]       # taken after the forward pass
    cache_before = snap(cache)
    ds = nd_copy(dout)
    dout_before = snap(ds)
    for attempt in ("", " (second call with the same dout and cache)"):
        res = call(bwd, bwd_name + attempt, (ds, cache), {}, dx_hint)
        dx, dw, db = unpack(bwd_name, res, ("dx", "dw", "db"))
        for label, got, exp, hint in (("dx", dx, exp_dx, dx_hint), ("dw", dw, exp_dw, dw_hint),
                                      ("db", db, exp_db, db_hint)):
            expect_array(label + attempt, got, exp, hint + (SECOND_CALL if attempt else ""),
                         rtol, atol, kind="repeat" if attempt else "values")
        expect_unchanged("dout", dout_before, ds, bwd_name)
        expect_unchanged("cache", cache_before, cache, bwd_name)
        for label, snapshot, arr in zip(("x", "w", "b"), before, (xs, ws, bs)):
            expect_unchanged(label, snapshot, arr, bwd_name)


_PART1_NAMES = ("conv2d_forward", "conv2d_backward")
_PART1_HINTS = (CONV_DX_HINT, CONV_DW_HINT, CONV_DB_HINT, CONV_FWD_HINT)


def _conv_backward_cases(fwd, bwd, names, hints, specs, base, key, fd_rtol, fd_atol):
    cases = []
    for k, spec in enumerate(specs):
        def body(ctx, k=k, spec=spec):
            rng, x, w, b, kwargs, st, pd = conv_inputs(base + k, spec)
            dout = rng.standard_normal(_shape_conv_forward(x, w, b, st, pd).shape)  # never ones
            expected = memo((key, spec[0]), lambda: ref("ref_conv2d_backward", x, w, b, st, pd, dout))
            _conv_backward_body(ctx, fwd, bwd, names, x, w, b, kwargs, dout, expected, spec[-1],
                                hints, RTOL, ATOL)
        cases.append(Case(spec[0], spec[6], body))
    return cases


def _conv_fd_case(fwd, bwd, names, hints, key):
    def body(ctx):
        rng = default_rng(7070)
        x = rng.standard_normal((2, 2, 4, 5))
        w = rng.standard_normal((2, 2, 2, 3))
        b = rng.standard_normal(2)
        st, pd = 2, 1
        dout = rng.standard_normal(_shape_conv_forward(x, w, b, st, pd).shape)

        def expected():
            xf, wf, bf = nd_copy(x), nd_copy(w), nd_copy(b)

            def loss():
                return float((ref("ref_conv2d_forward", xf, wf, bf, st, pd) * dout).sum())
            return numeric_grad(loss, xf), numeric_grad(loss, wf), numeric_grad(loss, bf)
        _conv_backward_body(ctx, fwd, bwd, names, x, w, b, {"stride": st, "padding": pd}, dout,
                            memo((key, "finite_differences"), expected),
                            "compared with central finite differences of the loss "
                            "sum(conv2d(x, w, b) * dout)", hints, FD_RTOL, FD_ATOL)
    return Case("finite_differences", "core", body)


def check_conv2d_backward(conv2d_forward, conv2d_backward):
    cases = _conv_backward_cases(conv2d_forward, conv2d_backward, _PART1_NAMES, _PART1_HINTS,
                                 CONV_CASES_PART1, 20240, "conv_bwd", FD_RTOL, FD_ATOL)
    cases.append(_conv_fd_case(conv2d_forward, conv2d_backward, _PART1_NAMES, _PART1_HINTS,
                               "conv_bwd"))
    run_check("conv2d_backward", cases, GROUPS["conv2d_backward"])


# ================================ maxpool2d ================================
POOL_FWD_HINT = ("out[n, c, i, j] = max over u < kh, v < kw of x[n, c, i*sh + u, j*sw + v]; "
                 "stride defaults to kernel_size; Ho = (H - kh)//sh + 1 (floor); pairs are "
                 "(along H, along W).")
POOL_DX_HINT = ("route dout[n, c, i, j] to the FIRST maximum (row-major) of window (i, j) "
                "of sample n, channel c only: dx[n, c, i*sh + u, j*sw + v] += dout[n, c, i, j] "
                "with u, v = divmod(np.argmax(window), kw); += because windows overlap; "
                "elements in no window get 0; dx is float even for integer x.")


def check_maxpool2d_forward(maxpool2d_forward):
    cases = []
    for k, spec in enumerate(POOL_CASES + POOL_ROUNDING):
        def body(ctx, k=k, spec=spec):
            rng, x, kernel, kwargs, st = pool_inputs(31337 + k, spec)
            expected = memo(("pool_fwd", spec[0]), lambda: ref("ref_maxpool2d_forward", x, kernel, st))
            xs = nd_copy(x)
            before = snap(xs)
            ctx["why"] = spec[-1]
            ctx["call"] = f"maxpool2d_forward(x {desc(x)}, kernel_size={kernel!r}{kw_text(kwargs)})"
            res = call(maxpool2d_forward, "maxpool2d_forward", (xs, kernel), kwargs, POOL_FWD_HINT)
            out, _cache = unpack("maxpool2d_forward", res, ("out", "cache"))
            expect_array("out", out, expected, POOL_FWD_HINT)
            expect_unchanged("x", before, xs, "maxpool2d_forward")
        cases.append(Case(spec[0], spec[5], body))
    run_check("maxpool2d_forward", cases, GROUPS["maxpool2d_forward"])


def _pool_backward_body(ctx, fwd, bwd, x, kernel, kwargs, dout, expected, why, rtol, atol):
    xs = nd_copy(x)
    ctx["why"] = why
    ctx["call"] = (f"maxpool2d_backward(dout {desc(dout)}, cache) after maxpool2d_forward("
                   f"x {desc(x)}, kernel_size={kernel!r}{kw_text(kwargs)})")
    res = call(fwd, "maxpool2d_forward (called to build the cache)", (xs, kernel), kwargs,
               "maxpool2d_forward must work before maxpool2d_backward can be tested: "
               + POOL_FWD_HINT)
    _out, cache = unpack("maxpool2d_forward", res, ("out", "cache"))
    x_before = snap(xs)                            # taken after the forward pass
    cache_before = snap(cache)
    ds = nd_copy(dout)
    dout_before = snap(ds)
    for attempt in ("", " (second call with the same dout and cache)"):
        dx = call(bwd, "maxpool2d_backward" + attempt, (ds, cache), {}, POOL_DX_HINT)
        expect_array("dx" + attempt, dx, expected, POOL_DX_HINT + (SECOND_CALL if attempt else ""),
                     rtol, atol, kind="repeat" if attempt else "values")
        expect_unchanged("dout", dout_before, ds, "maxpool2d_backward")
        expect_unchanged("cache", cache_before, cache, "maxpool2d_backward")
        expect_unchanged("x", x_before, xs, "maxpool2d_backward")


def check_maxpool2d_backward(maxpool2d_forward, maxpool2d_backward):
    cases = []
    for k, spec in enumerate(POOL_CASES + POOL_BWD_EXTRA + POOL_ROUNDING):
        def body(ctx, k=k, spec=spec):
            rng, x, kernel, kwargs, st = pool_inputs(31337 + k + 100, spec)
            dout = rng.standard_normal(_shape_pool_forward(x, kernel, st).shape)
            expected = memo(("pool_bwd", spec[0]),
                            lambda: ref("ref_maxpool2d_backward", x, kernel, st, dout))
            _pool_backward_body(ctx, maxpool2d_forward, maxpool2d_backward, x, kernel, kwargs,
                                dout, expected, spec[-1], RTOL, ATOL)
        cases.append(Case(spec[0], spec[5], body))
    for spec in TIE_CASES:
        def body(ctx, spec=spec):
            name, x, kernel, stride, dout, why = spec
            kwargs = {} if stride is OMIT else {"stride": stride}
            x, dout = numpy.array(x, dtype=numpy.int64), numpy.array(dout, dtype=F8)
            st = None if stride is OMIT else stride
            expected = memo(("pool_tie", name),
                            lambda: ref("ref_maxpool2d_backward", x, kernel, st, dout))
            _pool_backward_body(ctx, maxpool2d_forward, maxpool2d_backward, x, kernel, kwargs,
                                dout, expected, why, RTOL, ATOL)
        cases.append(Case(spec[0], "ties", body))

    def fd_body(ctx):
        rng = default_rng(4242)
        x = data(rng, (1, 2, 4, 5), "distinct")             # no ties: values 0.5 apart
        dout = rng.standard_normal(_shape_pool_forward(x, 2, 1).shape)

        def expected():
            xf = nd_copy(x)

            def loss():
                return float((ref("ref_maxpool2d_forward", xf, 2, 1) * dout).sum())
            return numeric_grad(loss, xf)
        _pool_backward_body(ctx, maxpool2d_forward, maxpool2d_backward, x, 2, {"stride": 1},
                            dout, memo(("pool_bwd", "finite_differences"), expected),
                            "tie-free input, compared with central finite differences",
                            FD_RTOL, FD_ATOL)
    cases.append(Case("finite_differences", "core", fd_body))
    run_check("maxpool2d_backward", cases, GROUPS["maxpool2d_backward"])


# ================================ flatten ================================
FLAT_HINT = ("out = x.reshape(N, C*H*W) in C order: out[n, (c*H + h)*W + w] = x[n, c, h, w]; "
             "keep the batch axis (not reshape(-1), not squeeze); no transpose to NHWC.")
FLAT_DX_HINT = ("dx = dout.reshape(x.shape) (C order); keep x's shape in the cache; "
                "do not transpose.")


def check_flatten_forward(flatten_forward):
    cases = []
    for k, spec in enumerate(FLAT_CASES):
        def body(ctx, k=k, spec=spec):
            name, shape, kind, group, why = spec
            x = data(default_rng(555 + k), shape, kind)
            expected = memo(("flat_fwd", name), lambda: ref("ref_flatten_forward", x))
            xs = nd_copy(x)
            before = snap(xs)
            ctx["why"] = why
            ctx["call"] = f"flatten_forward(x {desc(x)})"
            res = call(flatten_forward, "flatten_forward", (xs,), {}, FLAT_HINT)
            out, _cache = unpack("flatten_forward", res, ("out", "cache"))
            expect_array("out", out, expected, FLAT_HINT)
            expect_unchanged("x", before, xs, "flatten_forward")
        cases.append(Case(spec[0], spec[3], body))
    run_check("flatten_forward", cases, GROUPS["flatten_forward"])


def check_flatten_backward(flatten_forward, flatten_backward):
    cases = []
    for k, spec in enumerate(FLAT_CASES):
        def body(ctx, k=k, spec=spec):
            name, shape, kind, group, why = spec
            rng = default_rng(777 + k)
            x = data(rng, shape, kind)
            dout = rng.standard_normal((shape[0], shape[1] * shape[2] * shape[3]))
            expected = memo(("flat_bwd", name), lambda: ref("ref_flatten_backward", x.shape, dout))
            xs = nd_copy(x)
            ctx["why"] = why
            ctx["call"] = f"flatten_backward(dout {desc(dout)}, cache) after flatten_forward(x {desc(x)})"
            res = call(flatten_forward, "flatten_forward (called to build the cache)", (xs,), {},
                       FLAT_HINT)
            _out, cache = unpack("flatten_forward", res, ("out", "cache"))
            x_before = snap(xs)                    # taken after the forward pass
            cache_before = snap(cache)
            ds = nd_copy(dout)
            dout_before = snap(ds)
            for attempt in ("", " (second call with the same dout and cache)"):
                dx = call(flatten_backward, "flatten_backward" + attempt, (ds, cache), {},
                          FLAT_DX_HINT)
                expect_array("dx" + attempt, dx, expected, FLAT_DX_HINT,
                             kind="repeat" if attempt else "values")
                expect_unchanged("dout", dout_before, ds, "flatten_backward")
                expect_unchanged("cache", cache_before, cache, "flatten_backward")
                expect_unchanged("x", x_before, xs, "flatten_backward")
        cases.append(Case(spec[0], spec[3], body))
    run_check("flatten_backward", cases, GROUPS["flatten_backward"])


# ================================ im2col / col2im ================================
IM2COL_HINT = (
    "cols[(n*Ho + i)*Wo + j, (c*KH + u)*KW + v] = xpad[n, c, i*sh + u, j*sw + v]: rows in "
    "(n, i, j) order, columns in (c, kh, kw) order (as in w.reshape(F, -1)); "
    "Ho = (H + 2*ph - KH)//sh + 1 (floor); pad H and W only, on both sides; pairs are "
    "(along H, along W); the window view is (N, Ho, Wo, C, KH, KW) with strides "
    "(sN, sh*sH, sw*sW, sC, sH, sW) of xpad.")
COL2IM_HINT = (
    "dxpad[n, c, i*sh + u, j*sw + v] += cols[(n*Ho + i)*Wo + j, (c*KH + u)*KW + v] for every "
    "entry (overlapping windows ADD UP: dxpad[idx] += cols with repeated fancy indices keeps "
    "only one of them; use np.add.at or a loop over the KH*KW offsets adding strided "
    "slices), then crop dx = dxpad[:, :, ph:ph+H, pw:pw+W] (shape x_shape; not p:-p).")


def check_im2col(im2col):
    cases = []
    for k, spec in enumerate(COL_CASES):
        def body(ctx, k=k, spec=spec):
            rng, x, kernel, kwargs, st, pd = col_inputs(6100 + k, spec)
            expected = memo(("im2col", spec[0]), lambda: ref("ref_im2col", x, kernel, st, pd))
            xs = nd_copy(x)
            before = snap(xs)
            ctx["why"] = spec[-1]
            ctx["call"] = f"im2col(x {desc(x)}, kernel_size={kernel!r}{kw_text(kwargs)})"
            cols = call(im2col, "im2col", (xs, kernel), kwargs, IM2COL_HINT)
            g = as_float("cols", cols)
            kh, kw = pair(kernel)
            rows, c = expected.shape[0], x.shape[1]
            if g.shape == expected.shape[::-1] and g.shape != expected.shape:
                raise CaseFailure(f"cols has shape {tuple(g.shape)}, the transpose of the "
                                  f"expected {tuple(expected.shape)}.\n    Likely cause: "
                                  f"one ROW per output position (n, i, j), one COLUMN per "
                                  f"window element (c, kh, kw).", signature=("transposed",))
            if c > 1 and g.shape == expected.shape and not recording():
                khkwc = expected.reshape(rows, c, kh, kw).transpose(0, 2, 3, 1).reshape(
                    rows, c * kh * kw)
                if not (numpy.abs(g - expected) <= ATOL).all() and (
                        numpy.abs(g - khkwc) <= ATOL).all():
                    raise CaseFailure(
                        "the columns are in (kh, kw, c) order: cols[r, (u*KW + v)*C + c].\n"
                        "    Likely cause: the window view has shape (N, Ho, Wo, KH, KW, C) "
                        "(channels last). The columns must follow w.reshape(F, -1), i.e. "
                        "(c, kh, kw): view (N, Ho, Wo, C, KH, KW).", signature=("khkwc",))
            expect_array("cols", cols, expected, IM2COL_HINT)
            expect_unchanged("x", before, xs, "im2col")
        cases.append(Case(spec[0], spec[6], body))
    run_check("im2col", cases, GROUPS["im2col"])


def check_col2im(col2im):
    cases = []
    for k, spec in enumerate(COL_CASES):
        def body(ctx, k=k, spec=spec):
            rng, x, kernel, kwargs, st, pd = col_inputs(6200 + k, spec)
            shape = tuple(int(d) for d in x.shape)
            rows, ncol = _shape_im2col(x, kernel, st, pd).shape
            cols = rng.standard_normal((rows, ncol))
            expected = memo(("col2im", spec[0]), lambda: ref("ref_col2im", cols, shape, kernel, st, pd))
            cs = nd_copy(cols)
            before = snap(cs)
            ctx["why"] = spec[-1]
            ctx["call"] = (f"col2im(cols {desc(cols)}, x_shape={shape!r}, "
                           f"kernel_size={kernel!r}{kw_text(kwargs)})")
            dx = call(col2im, "col2im", (cs, shape, kernel), kwargs, COL2IM_HINT)
            expect_array("dx", dx, expected, COL2IM_HINT)
            expect_unchanged("cols", before, cs, "col2im")
        cases.append(Case(spec[0], spec[6], body))
    for k, (name, xs, kernel, st, pd, group, why) in enumerate(ADJOINT_CASES):
        def body(ctx, k=k, name=name, xs=xs, kernel=kernel, st=st, pd=pd, why=why):
            rng = default_rng(6300 + k)
            x = rng.standard_normal(xs)
            c = rng.standard_normal(_shape_im2col(x, kernel, st, pd).shape)
            ctx["why"] = why + ": <im2col(x), c> == <x, col2im(c)> (col2im is the adjoint)"
            ctx["call"] = (f"col2im(c {desc(c)}, x_shape={tuple(xs)!r}, kernel_size="
                           f"{kernel!r}, stride={st!r}, padding={pd!r})")
            dx = call(col2im, "col2im", (nd_copy(c), tuple(xs), kernel),
                      {"stride": st, "padding": pd}, COL2IM_HINT)
            if recording():
                return
            lhs = memo(("col2im", name), lambda: float((ref("ref_im2col", x, kernel, st, pd) * c).sum()))
            g = as_float("dx", dx)
            if g.shape != x.shape:
                raise CaseFailure(f"dx: expected shape {tuple(x.shape)} (x_shape), got "
                                  f"{tuple(g.shape)}.\n    Likely cause: {COL2IM_HINT}",
                                  signature=("shape", "dx", "values", COL2IM_HINT))
            rhs = float((x * g).sum())
            if not abs(lhs - rhs) <= 1e-9 * (1.0 + abs(lhs)):
                raise CaseFailure(
                    f"<im2col(x), c> = {lhs:.10g} (reference im2col) but <x, col2im(c)> = "
                    f"{rhs:.10g}: your col2im is not the transpose of im2col.\n"
                    f"    Likely cause: {COL2IM_HINT}", signature=("adjoint",))
        cases.append(Case(name, group, body))
    run_check("col2im", cases, GROUPS["col2im"])


# ================================ conv2d fast ================================
FAST_FWD_HINT = (
    "out = (cols @ w.reshape(F, -1).T + b).reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2) with "
    "cols = im2col(x, (KH, KW), stride, padding) (rows (n, i, j), columns (c, kh, kw)); "
    "reshaping the (N*Ho*Wo, F) product directly to (N, F, Ho, Wo) mixes positions and "
    "filters; cross-correlation (no kernel flip); Ho = (H + 2*ph - KH)//sh + 1.")
FAST_DX_HINT = (
    "dout2d = dout.transpose(0, 2, 3, 1).reshape(N*Ho*Wo, F) (same row order as cols); "
    "dcols = dout2d @ w.reshape(F, -1); dx = col2im(dcols, x.shape, ...): overlaps add up "
    "(no dx[idx] += with repeated indices), padding cropped, dx has x's shape.")
FAST_DW_HINT = ("dw = (dout2d.T @ cols).reshape(F, C, KH, KW) with dout2d = "
                "dout.transpose(0, 2, 3, 1).reshape(N*Ho*Wo, F): sums over n, i, j.")
_FAST_NAMES = ("conv2d_forward_fast", "conv2d_backward_fast")
_FAST_HINTS = (FAST_DX_HINT, FAST_DW_HINT, CONV_DB_HINT, FAST_FWD_HINT)


def _fast_group(spec):
    return "pairs" if spec[6] in ("pairs", "integer") else "core"


def _projector(seed, shapes):
    """project(output) -> one number per array of the output: its dot product with a fixed
    random array. The grader recomputes it from the reference output of the same input."""
    probes = [default_rng(seed + k).standard_normal(s) for k, s in enumerate(shapes)]

    def project(out):
        parts = out if isinstance(out, (tuple, list)) else (out,)
        found = []
        for k, probe in enumerate(probes):
            try:
                found.append(float(numpy.vdot(numpy.asarray(parts[k], dtype=F8).reshape(probe.shape),
                                              probe)))
            except Exception:
                found.append(float("nan"))
        return found
    return project, probes


def _judge_timed_values(fn_name, projected, rounds, fresh, reference, project, probes):
    """The outputs of the timed calls were the reference's (replay only)."""
    per = len(probes)
    if len(projected) != rounds * per:
        raise CaseFailure(f"{fn_name}: the timed calls left no usable record.",
                          signature=("timed values",))
    for i in range(rounds):
        expected = reference(fresh())
        got = projected[i * per:(i + 1) * per]
        for k, (e, g) in enumerate(zip(project(expected), got)):
            scale = 1.0 + numpy.linalg.norm(probes[k]) * numpy.linalg.norm(
                numpy.asarray(expected[k], dtype=F8))
            if not abs(e - g) <= 1e-8 * scale:
                raise CaseFailure(f"{fn_name} returned wrong values in the timed calls (round "
                                  f"{i + 1}); a fast answer must also be right.\n    Likely "
                                  f"cause: a shortcut for this input, or a result kept from an "
                                  f"earlier call.", signature=("timed values",))


def _judge_speed(fn_name, best_s, best_r, rounds, ho, wo):
    if not best_r > 1e-3:
        raise CaseFailure(f"the timer does not work (loop reference measured {best_r:.3g} s);"
                          f" do not reassign time.perf_counter.", signature=("timer",))
    ratio = best_r / best_s if best_s > 0 else float("inf")
    line = (f"{fn_name} speed: {best_s * 1e3:.2f} ms, loop reference {best_r * 1e3:.1f} ms "
            f"(best of {rounds}): {ratio:.1f}x faster, at least {timing.SPEEDUP:.0f}x required")
    say(line)
    if ratio < timing.SPEEDUP:
        raise CaseFailure(line + ".\n    Likely cause: " + timing.SLOW_HINT.format(ho * wo),
                          signature=("slow",))


def check_conv2d_forward_fast(conv2d_forward_fast):
    cases = []
    for k, spec in enumerate(CONV_CASES_PART2):
        case = _conv_forward_case(conv2d_forward_fast, "conv2d_forward_fast", "fast_fwd", spec,
                                  30240 + k, FAST_FWD_HINT)
        cases.append(Case(case.name, _fast_group(spec), case.body))

    def speed_body(ctx):
        rng, x, w, b = timing.speed_inputs(5150)
        ho, wo = timing.speed_geometry()
        ctx["why"] = (f"at least {timing.SPEEDUP:.0f}x faster than a loop over (i, j, f) like "
                      f"the part-1 solution; Ho*Wo = {ho * wo} output positions")
        ctx["call"] = (f"conv2d_forward_fast(x {desc(x)}, w {desc(w)}, b {desc(b)}, "
                       f"stride={timing.SPEED_STRIDE}, padding={timing.SPEED_PAD}), timed")
        xs, ws, bs = nd_copy(x), nd_copy(w), nd_copy(b)
        args, kwargs = (xs, ws, bs), {"stride": timing.SPEED_STRIDE, "padding": timing.SPEED_PAD}
        call(conv2d_forward_fast, "conv2d_forward_fast", args, kwargs, FAST_FWD_HINT, values=False)
        project, probes = _projector(5153, [(x.shape[0], w.shape[0], ho, wo)])

        def fresh():
            return rng.standard_normal(x.shape), nd_copy(w), nd_copy(b)
        result = timed(lambda: timing.time_against(
            lambda a: call(conv2d_forward_fast, "conv2d_forward_fast", a, kwargs, FAST_FWD_HINT),
            lambda: timing.loop_cost_forward(x, w, b, timing.SPEED_STRIDE, timing.SPEED_PAD),
            fresh, lambda out: project(out[0] if isinstance(out, tuple) else out)))
        best_s, best_r, rounds = result[0], result[1], int(result[2])
        if not recording():
            _judge_timed_values("conv2d_forward_fast", result[3:], rounds, fresh,
                                lambda a: (ref("ref_conv2d_forward", *a, timing.SPEED_STRIDE,
                                               timing.SPEED_PAD),), project, probes)
        _judge_speed("conv2d_forward_fast", best_s, best_r, rounds, ho, wo)
    cases.append(Case("speed", "speed", speed_body))
    run_check("conv2d_forward_fast", cases, GROUPS["conv2d_forward_fast"])


def check_conv2d_backward_fast(conv2d_forward_fast, conv2d_backward_fast):
    cases = [Case(c.name, _fast_group(spec), c.body) for c, spec in zip(
        _conv_backward_cases(conv2d_forward_fast, conv2d_backward_fast, _FAST_NAMES, _FAST_HINTS,
                             CONV_CASES_PART2, 30240, "fast_bwd", FD_RTOL_FAST, FD_ATOL_FAST),
        CONV_CASES_PART2)]

    def speed_body(ctx):
        rng, x, w, b = timing.speed_inputs(5160)
        ho, wo = timing.speed_geometry()
        dout = rng.standard_normal((timing.SPEED_X[0], timing.SPEED_W[0], ho, wo))
        ctx["why"] = (f"at least {timing.SPEEDUP:.0f}x faster than the part-1 style backward "
                      f"loop over (i, j, f); Ho*Wo = {ho * wo} output positions")
        ctx["call"] = (f"conv2d_backward_fast(dout {desc(dout)}, cache) after "
                       f"conv2d_forward_fast(x {desc(x)}, w {desc(w)}, b {desc(b)}, "
                       f"stride={timing.SPEED_STRIDE}, padding={timing.SPEED_PAD}), timed")
        kwargs = {"stride": timing.SPEED_STRIDE, "padding": timing.SPEED_PAD}
        res = call(conv2d_forward_fast, "conv2d_forward_fast (called to build the cache)",
                   (nd_copy(x), nd_copy(w), nd_copy(b)), kwargs,
                   "conv2d_forward_fast must work before conv2d_backward_fast can be timed.",
                   values=False)
        _out, cache = unpack("conv2d_forward_fast", res, ("out", "cache"))
        ds = nd_copy(dout)
        call(conv2d_backward_fast, "conv2d_backward_fast", (ds, cache), {}, FAST_DX_HINT,
             values=False)
        project, probes = _projector(5163, [x.shape, w.shape, (w.shape[0],)])

        def fresh():
            return rng.standard_normal(dout.shape), cache
        result = timed(lambda: timing.time_against(
            lambda a: call(conv2d_backward_fast, "conv2d_backward_fast", a, {}, FAST_DX_HINT),
            lambda: timing.loop_cost_backward(x, w, timing.SPEED_STRIDE, timing.SPEED_PAD, dout),
            fresh, project))
        best_s, best_r, rounds = result[0], result[1], int(result[2])
        if not recording():
            _judge_timed_values("conv2d_backward_fast", result[3:], rounds, fresh,
                                lambda a: ref("ref_conv2d_backward", x, w, b, timing.SPEED_STRIDE,
                                              timing.SPEED_PAD, a[0]), project, probes)
        _judge_speed("conv2d_backward_fast", best_s, best_r, rounds, ho, wo)
    cases.append(Case("speed", "speed", speed_body))
    run_check("conv2d_backward_fast", cases, GROUPS["conv2d_backward_fast"])


# ================================ the CNN ================================
_MISSING = object()


def with_reference_layers(fn, thunk):
    """Run thunk() with the layer names of fn's module bound to the reference layers."""
    g = getattr(fn, "__globals__", None)
    if not isinstance(g, dict):
        return thunk()
    layers = REF.REFERENCE_LAYERS
    saved = {k: g.get(k, _MISSING) for k in layers}
    try:
        for k, v in layers.items():
            g[k] = v
        return thunk()
    finally:
        for k, v in saved.items():
            if v is _MISSING:
                g.pop(k, None)
            else:
                g[k] = v


GRAD_HINTS = {
    "loss": "loss, dscores = softmax_cross_entropy(scores, y): the MEAN cross-entropy over "
            "the batch of the network conv(pad 1) -> ReLU -> max-pool 2 -> flatten -> linear.",
    "W2": "dW2 comes from linear_backward(dscores, cache): x.T @ dscores, where x is the "
          "flattened pooled activation (N, 128) of the same forward pass.",
    "b2": "db2 = dscores.sum(axis=0), from linear_backward.",
    "W1": "backward in reverse order: linear -> flatten -> max-pool -> ReLU (relu_backward: "
          "no gradient where the conv output was <= 0) -> conv2d_backward_fast; each "
          "backward gets the cache of its own forward call.",
    "b1": "db1 is the third result of conv2d_backward_fast, after the ReLU mask "
          "(relu_backward) has been applied to the gradient.",
}


def _keys_text(d):
    """The keys of a student's dict as a verdict may show them: the expected ones it has, and
    how many others (their text comes from code that ran with the reference in reach)."""
    known = [repr(k) for k, _ in CNN_SHAPES if k in d]
    others = len(d) - len(known)
    return ", ".join(known + ([f"{others} other key{'s' if others != 1 else ''}"] if others else []))


def check_cnn_gradient(cnn_loss):
    cases = []
    for name, seed, n, why in GRAD_CASES:
        def body(ctx, name=name, seed=seed, n=n, why=why):
            rng = default_rng(seed)
            P = cnn_params(rng)
            X = rng.standard_normal((n, 1, 8, 8))
            y = rng.integers(0, 10, size=n)

            def expected():
                Pf = {k: nd_copy(v) for k, v in P.items()}
                grads = {k: numeric_grad(lambda: REF.ref_cnn_loss(Pf, X, y), Pf[k])
                         for k, _ in CNN_SHAPES}
                return REF.ref_cnn_loss(P, X, y), grads
            ref_loss, ref_grads = memo(("cnn_grad", name), expected) if not recording() else (0.0, {})
            Ps = {k: nd_copy(v) for k, v in P.items()}
            Xs, ys = nd_copy(X), nd_copy(y)
            before = [snap(a) for a in (Ps, Xs, ys)]
            ctx["why"] = (why + "; your cnn_loss is run with the reference layers in place "
                          "of yours, gradients compared with central finite differences of "
                          "the reference loss")
            ctx["call"] = (f"cnn_loss(params {{W1 (8, 1, 3, 3), b1 (8,), W2 (128, 10), "
                           f"b2 (10,)}}, X {desc(X)}, y {y.tolist()!r})")
            for attempt in ("", " (second call with the same arguments)"):
                res = with_reference_layers(cnn_loss, lambda: call(
                    cnn_loss, "cnn_loss" + attempt, (Ps, Xs, ys), {}, GRAD_HINTS["W1"]))
                loss, grads = unpack("cnn_loss", res, ("loss", "grads"))
                kind = "repeat" if attempt else "values"
                expect_array("loss" + attempt, loss, numpy.array(ref_loss, dtype=F8),
                             GRAD_HINTS["loss"], 1e-9, 1e-12, kind=kind)
                if not isinstance(grads, dict):
                    raise CaseFailure(f"grads must be a dict with the keys 'W1', 'b1', "
                                      f"'W2', 'b2'; got a {type(grads).__name__}.",
                                      signature=("grads type",))
                for key, shape in CNN_SHAPES:
                    if key not in grads:
                        raise CaseFailure(f"grads has no key {key!r} (keys: "
                                          f"{_keys_text(grads)}).\n    Likely "
                                          f"cause: grads must have the keys of params.",
                                          signature=("grads keys",))
                for key, shape in CNN_SHAPES:
                    if not recording():
                        expect_array(f"grads[{key!r}]" + attempt, grads[key], ref_grads[key],
                                     GRAD_HINTS[key], FD_RTOL_FAST, FD_ATOL_FAST, kind=kind)
                for label, snapshot, arr in zip(("params", "X", "y"), before, (Ps, Xs, ys)):
                    expect_unchanged(label, snapshot, arr, "cnn_loss")
        cases.append(Case(name, "core", body))
    run_check("cnn_loss", cases, GROUPS["cnn_gradient"])


# The accuracy check trains the student's train_cnn on data it cannot have seen: a hidden
# subset of the digits, with the ten labels renamed by a hidden permutation, and evaluates
# the result on the rest (same renaming) with the reference forward pass. Parameters trained
# elsewhere (pasted in) classify the real digits, not the renamed ones, and fail.
# A renaming can be undone, though: pasted parameters that classify the real digits, with
# the columns of W2 and b2 re-ordered by how they label X_train (a confusion matrix), pass
# that case without any training. So a second case trains on a few digits with RANDOM
# labels, which no parameters made elsewhere can know: only a function that really fits its
# arguments gets them right (the correct SGD learns them by heart: 96-100% measured; 60% is
# required, chance is 10%).
TRAIN_SEED = 97531
TRAIN_SIZE = 1200
TRAIN_ARGS = {"epochs": 8, "batch_size": 32, "lr": 0.3, "seed": 11}
ACC_HINT = ("the network does not learn enough: check that train_cnn trains on its arguments "
            "X_train, y_train (not on the notebook's global data), honours epochs, batch_size, lr "
            "and seed, reshuffles every epoch, and updates params[k] = params[k] - lr_e * "
            "grads[k] for all four keys with lr_e = lr * (1 - e / epochs).")


RANDOM_SEED, RANDOM_SIZE = 24680, 100
RANDOM_ARGS = {"epochs": 60, "batch_size": 10, "lr": 0.3, "seed": 5}
RANDOM_ACCURACY = 0.60
RANDOM_HINT = ("train_cnn does not fit its training data: check that it trains on its arguments "
               "X_train, y_train (not on the notebook's data or parameters made elsewhere), "
               "honours epochs, batch_size, lr and seed, and updates params[k] = params[k] - "
               "lr_e * grads[k] for all four keys.")


def random_label_digits():
    """(X, y): a hidden handful of digits with random labels (nothing to generalise)."""
    with numpy.load(data_path("digits.npz")) as f:
        X = numpy.asarray(f["images"], dtype=F8).reshape(-1, 1, 8, 8) / 16.0
    rng = default_rng(RANDOM_SEED)
    pick = rng.permutation(X.shape[0])[:RANDOM_SIZE]
    return X[pick], rng.integers(0, 10, size=RANDOM_SIZE)


def hidden_digits():
    """(X_train, y_train, X_test, y_test): hidden subset and label renaming of digits.npz."""
    with numpy.load(data_path("digits.npz")) as f:
        X = numpy.asarray(f["images"], dtype=F8).reshape(-1, 1, 8, 8) / 16.0
        y = numpy.asarray(f["target"], dtype=numpy.int64)
    rng = default_rng(TRAIN_SEED)
    order = rng.permutation(y.shape[0])
    rename = rng.permutation(10)
    train, test = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
    return X[train], rename[y[train]], X[test], rename[y[test]]


def held_out_accuracy(params, X, y):
    """(accuracy, text) of params on (X, y) with the reference forward pass, or (None, why)."""
    if params is None:
        return None, "train_cnn returned no parameters (None)"
    if not isinstance(params, dict):
        return None, f"params must be a dict; got a {type(params).__name__}"
    P = {}
    for key, shape in CNN_SHAPES:
        if key not in params:
            return None, f"params has no key {key!r}"
        try:
            P[key] = numpy.array(params[key], dtype=F8, copy=True)
        except Exception as e:
            return None, (f"params[{key!r}] is not a float array ({type(e).__name__}); got "
                          f"{clean_name(type(params[key]).__name__)}")
        if P[key].shape != shape:
            return None, f"params[{key!r}] has shape {tuple(P[key].shape)}, expected {shape}"
        if not numpy.isfinite(P[key]).all():
            return None, (f"params[{key!r}] contains nan or inf: the training diverged "
                          f"(learning rate too large, or wrong gradients)")
    right = int((REF.ref_cnn_scores(P, X).argmax(axis=1) == y).sum())
    acc = right / y.shape[0]
    return acc, f"held-out accuracy {acc:.2%} ({right}/{y.shape[0]})"


def check_cnn_accuracy(train_cnn):
    def body(ctx):
        X_train, y_train, X_test, y_test = memo(("digits",), hidden_digits)
        ctx["why"] = (f"train_cnn on {TRAIN_SIZE} digits whose labels 0-9 are renamed by a "
                      f"hidden permutation, with the reference layers in place of yours; then "
                      f"the {y_test.shape[0]} other digits (renamed the same way) are "
                      f"classified with the reference forward pass: at least {ACCURACY:.0%} "
                      f"needed")
        ctx["call"] = (f"train_cnn(X_train {desc(X_train)}, y_train {desc(y_train)}"
                       f"{kw_text(TRAIN_ARGS)})")
        res = with_reference_layers(train_cnn, lambda: call(
            train_cnn, "train_cnn", (nd_copy(X_train), nd_copy(y_train)), dict(TRAIN_ARGS),
            ACC_HINT))
        params, _history = unpack("train_cnn", res, ("params", "loss_history"))
        if recording():
            return
        acc, text = held_out_accuracy(params, X_test, y_test)
        say(f"train_cnn: {text}" if acc is not None else f"train_cnn: {text}")
        if acc is None or acc < ACCURACY:
            raise CaseFailure(f"{text}; at least {ACCURACY:.0%} required.\n    Likely cause: "
                              f"{ACC_HINT}", signature=("accuracy",))
    def random_body(ctx):
        X, y = memo(("random_labels",), random_label_digits)
        ctx["why"] = (f"train_cnn on {RANDOM_SIZE} digits with RANDOM labels, with the reference "
                      f"layers in place of yours: nothing to generalise, the network must learn "
                      f"them by heart; then the same {RANDOM_SIZE} digits are classified with the "
                      f"reference forward pass: at least {RANDOM_ACCURACY:.0%} needed (chance: 10%)")
        ctx["call"] = f"train_cnn(X_train {desc(X)}, y_train {desc(y)}{kw_text(RANDOM_ARGS)})"
        res = with_reference_layers(train_cnn, lambda: call(
            train_cnn, "train_cnn", (nd_copy(X), nd_copy(y)), dict(RANDOM_ARGS), RANDOM_HINT))
        params, _history = unpack("train_cnn", res, ("params", "loss_history"))
        if recording():
            return
        acc, text = held_out_accuracy(params, X, y)
        text = text.replace("held-out accuracy", "accuracy on its random-label training data")
        say(f"train_cnn: {text}")
        if acc is None or acc < RANDOM_ACCURACY:
            raise CaseFailure(f"{text}; at least {RANDOM_ACCURACY:.0%} required.\n    Likely cause: "
                              f"{RANDOM_HINT}", signature=("random labels",))
    run_check("train_cnn", [Case("held_out_accuracy", "core", body),
                            Case("random_labels", "core", random_body)], GROUPS["cnn_accuracy"])
