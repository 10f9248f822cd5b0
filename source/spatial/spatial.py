# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # CNN spatial operations from scratch (NumPy)
#
# In this notebook you write, with plain NumPy, the forward **and** backward passes of the
# three spatial layers of a convolutional network:
#
# * **2-D convolution** (`conv2d`): a bank of small learned filters slides over the image;
# * **2-D max pooling** (`maxpool2d`): keep the largest value of every window;
# * **flatten**: turn the feature maps of each sample into one long vector for a dense layer.
#
# The semantics are exactly PyTorch's (`torch.nn.functional.conv2d`, `max_pool2d`,
# `torch.flatten(x, 1)`), so your functions give the same numbers as the real thing.
#
# **Conventions used everywhere**
#
# | name | shape | meaning |
# |---|---|---|
# | `x` | `(N, C, H, W)` | batch of `N` images, `C` channels, height `H`, width `W` ("NCHW") |
# | `w` | `(F, C, KH, KW)` | `F` filters, each `C x KH x KW` ("OIHW") |
# | `b` | `(F,)` | one bias per filter |
# | `dout` | same as the forward output | upstream gradient `dL/dout` |
#
# `stride`, `padding` and `kernel_size` are either an int (same value for height and width)
# or a pair `(along H, along W)`. Forward functions return `(out, cache)`; the backward
# function of the same layer receives that `cache` back and may store in it whatever it needs.
#
# **Points (100 in total)**
#
# | function | points |
# |---|---|
# | `conv2d_forward` | 20 |
# | `conv2d_backward` | 25 |
# | `maxpool2d_forward` | 15 |
# | `maxpool2d_backward` | 20 |
# | `flatten_forward` | 10 |
# | `flatten_backward` | 10 |
#
# **How to work**
#
# 1. Write code only where it says `YOUR CODE HERE` (replace the `raise NotImplementedError()`).
#    Do not rename the functions, do not change their signatures, do not delete or reorder cells.
# 2. Run the notebook from the top (*Kernel → Restart & Run All*). Each function is followed by a
#    **visible test** cell: make it print `... visible tests passed`.
# 3. Each visible test is followed by a cell that looks empty: it holds the **hidden tests**,
#    which are put back and run when your notebook is graded. They try many more shapes,
#    strides, paddings, ties and integer inputs than the visible tests, so test your code on
#    your own examples too.
# 4. **Never modify your inputs** (`x`, `w`, `b`, `dout`) or the `cache` in place; create new
#    arrays. Integer inputs must give floating-point results.
# 5. Loops over output positions, kernel offsets or filters are perfectly fine; correctness first.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np


def _pair(v):
    """Return (along_H, along_W) from an int or an (h, w) pair: 2 -> (2, 2), (2, 1) -> (2, 1)."""
    if isinstance(v, (tuple, list)):
        h, w = v
        return int(h), int(w)
    return int(v), int(v)


def expect_shape(name, got, expected_shape, hint):
    """Visible-test helper: fail with a clear message if `got` does not have `expected_shape`."""
    shape = tuple(np.shape(got))
    if shape != tuple(expected_shape):
        raise AssertionError(
            f"{name}: expected shape {tuple(expected_shape)}, got {shape}.\n"
            f"Likely cause: {hint}")


def expect_close(name, got, expected, hint, atol=1e-8):
    """Visible-test helper: fail with expected vs got if the values differ by more than atol."""
    expected = np.asarray(expected, dtype=float)
    expect_shape(name, got, expected.shape, hint)
    got = np.asarray(got, dtype=float)
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.max() > atol:
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
        raise AssertionError(
            f"{name}: wrong values (largest difference {diff.max():.4g} at index {idx}).\n"
            f"expected:\n{expected}\ngot:\n{got}\n"
            f"Likely cause: {hint}")


# %% nbgrader={"grade": true, "grade_id": "grader_setup", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# This cell is intentionally empty in your copy of the notebook.
# When your work is graded, the grader fills it in (reference solution and hidden checks).
### BEGIN HIDDEN TESTS
def _make_grader():
    """Build the reference implementation and the hidden checks inside one closure.

    Every numpy function and builtin the checks use is captured here, when this cell runs
    (before any student code), so student code that later reassigns np.allclose, np.array,
    len, ... cannot change the checks. The only new global name is `_grader`.
    """
    import builtins
    import types
    import warnings
    import numpy

    # ---- captured builtins (closure variables shadow any later global reassignment) ----
    len = builtins.len
    range = builtins.range
    isinstance = builtins.isinstance
    getattr = builtins.getattr
    hasattr = builtins.hasattr
    vars = builtins.vars
    tuple = builtins.tuple
    list = builtins.list
    dict = builtins.dict
    int = builtins.int
    float = builtins.float
    bool = builtins.bool
    str = builtins.str
    bytes = builtins.bytes
    complex = builtins.complex
    repr = builtins.repr
    type = builtins.type
    zip = builtins.zip
    enumerate = builtins.enumerate
    print = builtins.print
    Exception = builtins.Exception
    AssertionError = builtins.AssertionError
    NotImplementedError = builtins.NotImplementedError
    slice = builtins.slice
    NoneType = type(None)
    inf = float("inf")

    # ---- captured numpy functions ----
    ndarray = numpy.ndarray
    nd_copy = numpy.ndarray.copy
    nd_tobytes = numpy.ndarray.tobytes
    float64 = numpy.float64
    int64 = numpy.int64
    np_array = numpy.array
    np_zeros = numpy.zeros
    np_arange = numpy.arange
    np_einsum = numpy.einsum
    np_add_at = numpy.add.at
    np_abs = numpy.abs
    np_where = numpy.where
    np_isnan = numpy.isnan
    np_unravel_index = numpy.unravel_index
    np_array2string = numpy.array2string
    np_default_rng = numpy.random.default_rng
    catch_warnings = warnings.catch_warnings
    simplefilter = warnings.simplefilter

    RTOL, ATOL = 1e-9, 1e-10          # float64 comparisons against the reference
    FD_RTOL, FD_ATOL = 1e-6, 1e-6     # comparisons against central finite differences
    FD_EPS = 1e-6
    OMIT = object()                   # "do not pass this argument" (use the default)

    # =========================== reference implementation ===========================
    # Vectorised with fancy indexing + einsum (independent of the loop-style solution).

    def pair(v):
        if isinstance(v, (tuple, list)):
            return int(v[0]), int(v[1])
        return int(v), int(v)

    def window_index(length, k, s):
        """(n_out, k) array: row t holds the input indices covered by window t."""
        n_out = (length - k) // s + 1
        return np_arange(n_out).reshape(n_out, 1) * s + np_arange(k).reshape(1, k)

    def zero_pad(x, ph, pw):
        n, c, h, w = x.shape
        xp = np_zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=float64)
        xp[:, :, ph:ph + h, pw:pw + w] = x
        return xp

    def windows(xp, kh, kw, sh, sw):
        """All windows at once: (N, C, Ho, KH, Wo, KW), plus the index tuple that made them."""
        rows = window_index(xp.shape[2], kh, sh)
        cols = window_index(xp.shape[3], kw, sw)
        idx = (slice(None), slice(None),
               rows.reshape(rows.shape[0], kh, 1, 1), cols.reshape(1, 1, cols.shape[0], kw))
        return xp[idx], idx

    def ref_conv2d_forward(x, w, b, stride=1, padding=0):
        x = np_array(x, dtype=float64)
        w = np_array(w, dtype=float64)
        b = np_array(b, dtype=float64)
        sh, sw = pair(stride)
        ph, pw = pair(padding)
        f, c, kh, kw = w.shape
        win, _ = windows(zero_pad(x, ph, pw), kh, kw, sh, sw)
        return np_einsum("ncaubv,fcuv->nfab", win, w) + b.reshape(1, f, 1, 1)

    def ref_conv2d_backward(x, w, b, stride, padding, dout):
        x = np_array(x, dtype=float64)
        w = np_array(w, dtype=float64)
        dout = np_array(dout, dtype=float64)
        sh, sw = pair(stride)
        ph, pw = pair(padding)
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        xp = zero_pad(x, ph, pw)
        win, idx = windows(xp, kh, kw, sh, sw)
        db = dout.sum(axis=(0, 2, 3))      # one value per filter
        dw = np_einsum("nfab,ncaubv->fcuv", dout, win)
        dxp = np_zeros(xp.shape, dtype=float64)
        np_add_at(dxp, idx, np_einsum("nfab,fcuv->ncaubv", dout, w))   # overlaps accumulate
        dx = dxp[:, :, ph:ph + h, pw:pw + wd].copy()
        return dx, dw, db

    def pool_geometry(x, kernel_size, stride):
        kh, kw = pair(kernel_size)
        sh, sw = pair(kernel_size) if stride is None else pair(stride)
        n, c, h, w = x.shape
        rows = window_index(h, kh, sh)
        cols = window_index(w, kw, sw)
        ho, wo = rows.shape[0], cols.shape[0]
        win = x[:, :, rows.reshape(ho, kh, 1, 1), cols.reshape(1, 1, wo, kw)]
        win = win.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, kh * kw)
        first = win.argmax(axis=4)              # FIRST maximum, row-major inside the window
        r = rows[:, 0].reshape(1, 1, ho, 1) + first // kw
        q = cols[:, 0].reshape(1, 1, 1, wo) + first % kw
        return win.max(axis=4), r, q

    def ref_maxpool2d_forward(x, kernel_size, stride=None):
        out, _, _ = pool_geometry(np_array(x, dtype=float64), kernel_size, stride)
        return out

    def ref_maxpool2d_backward(x, kernel_size, stride, dout):
        x = np_array(x, dtype=float64)
        _, r, q = pool_geometry(x, kernel_size, stride)
        n, c = x.shape[0], x.shape[1]
        dx = np_zeros(x.shape, dtype=float64)
        np_add_at(dx, (np_arange(n).reshape(n, 1, 1, 1), np_arange(c).reshape(1, c, 1, 1), r, q),
                  np_array(dout, dtype=float64))
        return dx

    def flat_position(c, h, w):
        """(C, H, W) array: column of out that receives x[n, c, h, w] (C order)."""
        return ((np_arange(c).reshape(c, 1, 1) * h + np_arange(h).reshape(1, h, 1)) * w
                + np_arange(w).reshape(1, 1, w))

    def ref_flatten_forward(x):
        x = np_array(x, dtype=float64)
        n, c, h, w = x.shape
        out = np_zeros((n, c * h * w), dtype=float64)
        out[:, flat_position(c, h, w)] = x
        return out

    def ref_flatten_backward(x_shape, dout):
        n, c, h, w = x_shape
        return np_array(dout, dtype=float64)[:, flat_position(c, h, w)]

    def numeric_grad(loss, arr):
        """Central differences of loss() w.r.t. every element of the grader-owned array arr."""
        g = np_zeros(arr.shape, dtype=float64)
        flat = arr.reshape(-1)
        gflat = g.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + FD_EPS
            plus = loss()
            flat[k] = old - FD_EPS
            minus = loss()
            flat[k] = old
            gflat[k] = (plus - minus) / (2 * FD_EPS)
        return g

    # ================================ check machinery ================================

    class CaseFailure(Exception):
        """One hidden case failed; the message says what, where and the likely cause."""

    class NotImplementedYet(Exception):
        """The student's function still raises NotImplementedError."""

    def desc(a):
        return f"{tuple(a.shape)} {a.dtype}"

    def call(fn, fn_name, args, kwargs, hint):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise NotImplementedYet(fn_name)
        except Exception as e:
            raise CaseFailure(f"{fn_name} raised {type(e).__name__}: {e}\n"
                              f"    Likely cause: {hint}")

    def unpack(what, result, names):
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = type(result).__name__
            if isinstance(result, (tuple, list)):
                got += f" of length {len(result)}"
            raise CaseFailure(f"{what} must return a tuple ({', '.join(names)}); got a {got}.")
        return result

    def as_float(what, value):
        try:
            return np_array(value, dtype=float64, copy=True)
        except Exception as e:
            raise CaseFailure(f"{what} could not be turned into a float array "
                              f"({type(e).__name__}: {e}); return a numpy array.")

    def show(a):
        return np_array2string(a, precision=4, separator=", ", suppress_small=True,
                               prefix=" " * 14)

    def expect_array(what, got, expected, hint, rtol=RTOL, atol=ATOL):
        g = as_float(what, got)
        if g.shape != expected.shape:
            raise CaseFailure(f"{what}: expected shape {tuple(expected.shape)}, "
                              f"got {tuple(g.shape)}.\n    Likely cause: {hint}")
        err = np_abs(g - expected)
        err = np_where(np_isnan(err), inf, err)
        tol = atol + rtol * np_abs(expected)
        bad = err > tol
        if bad.any():
            k = int((err - tol).argmax())
            idx = tuple(int(i) for i in np_unravel_index(k, g.shape))
            msg = (f"{what}: {int(bad.sum())} of {g.size} values wrong; largest error "
                   f"{float(err.max()):.4g}, e.g. at index {idx}: expected "
                   f"{float(expected[idx]):.6g}, got {float(g[idx]):.6g}.")
            if expected.size <= 24:
                msg += f"\n    expected: {show(expected)}\n    got:      {show(g)}"
            raise CaseFailure(msg + f"\n    Likely cause: {hint}")

    def expect_float_dtype(what, got, hint):
        dt = getattr(got, "dtype", None)
        if getattr(dt, "kind", None) != "f":
            raise CaseFailure(f"{what}: expected a floating-point numpy array, got "
                              f"{'dtype ' + str(dt) if dt is not None else type(got).__name__}."
                              f"\n    Likely cause: {hint}")

    def snap(obj, depth=0):
        """Deep snapshot: ndarrays by shape/dtype/bytes, containers recursively."""
        if isinstance(obj, ndarray):
            return ("array", (tuple(obj.shape), obj.dtype.str, nd_tobytes(nd_copy(obj))))
        if depth > 8:
            return ("deep", repr(type(obj)))
        if isinstance(obj, (tuple, list)):
            return (type(obj).__name__,
                    tuple((f"[{i}]", snap(v, depth + 1)) for i, v in enumerate(obj)))
        if isinstance(obj, dict):
            return ("dict", tuple((f"[{k!r}]", snap(v, depth + 1)) for k, v in obj.items()))
        if isinstance(obj, (int, float, complex, str, bytes, bool, NoneType)):
            return ("value", repr(obj))
        if hasattr(obj, "__dict__"):
            return ("object", tuple((f".{k}", snap(v, depth + 1)) for k, v in vars(obj).items()))
        return ("value", repr(obj))

    def first_change(a, b, path):
        if a == b:
            return None
        if a[0] == "array" and b[0] == "array":
            if a[1][:2] != b[1][:2]:
                return (f"{path} (shape/dtype changed from {a[1][0]} {a[1][1]} "
                        f"to {b[1][0]} {b[1][1]})")
            return f"{path} (values changed)"
        if (a[0] == b[0] and a[0] in ("tuple", "list", "dict", "object")
                and len(a[1]) == len(b[1])):
            for (la, va), (lb, vb) in zip(a[1], b[1]):
                if la != lb:
                    return path
                found = first_change(va, vb, path + la)
                if found:
                    return found
        return path

    def expect_unchanged(what, before, obj, who):
        where = first_change(before, snap(obj), what)
        if where:
            raise CaseFailure(
                f"{where} was modified in place by {who}.\n    Likely cause: an in-place "
                f"write (x[...] = ..., +=, .fill, .shape = ..., sorting) into an input, dout or "
                f"the cache, or a view of them. Inputs, dout and the cache must never be "
                f"modified: work on new arrays (np.zeros(...), .copy()).")

    def run_cases(fn_name, cases):
        failures = []
        for name, case in cases:
            ctx = {"call": "", "why": ""}
            try:
                with catch_warnings():
                    simplefilter("ignore")      # student warnings must not reach stderr
                    case(ctx)
            except NotImplementedYet as e:
                raise AssertionError(
                    f"{e.args[0]} is not implemented yet (it raises NotImplementedError): "
                    f"write your code where it says YOUR CODE HERE.") from None
            except CaseFailure as e:
                failures.append(f"[case '{name}'] {ctx['call']}\n    This case: {ctx['why']}."
                                f"\n    {e}")
            except Exception as e:
                failures.append(f"[case '{name}'] {ctx['call']}\n    the result could not be "
                                f"checked ({type(e).__name__}: {e}); check the types and "
                                f"shapes you return.")
        if failures:
            raise AssertionError(f"{fn_name}: {len(failures)} of {len(cases)} hidden cases "
                                 f"failed.\n\n" + "\n\n".join(failures))
        print(f"{fn_name}: all {len(cases)} hidden cases passed")

    def data(rng, shape, kind):
        if kind == "int":
            return rng.integers(-4, 5, size=shape)            # int64
        if kind == "int_ties":
            return rng.integers(0, 3, size=shape)             # int64, many ties
        if kind == "negative":
            return -1.0 - rng.random(shape)
        if kind == "distinct":
            size = 1
            for d in shape:
                size *= d
            return rng.permutation(size).reshape(shape) * 0.5 - 3.0
        if kind == "dropped":                                 # big values in dropped row/col
            x = rng.standard_normal(shape)
            x[:, :, -1, :] += 10.0
            x[:, :, :, -1] += 10.0
            return x
        return rng.standard_normal(shape)

    def kw_text(kwargs):
        return "".join(f", {k}={v!r}" for k, v in kwargs.items())

    # ================================ conv2d ================================
    # name, x shape, (F, KH, KW), stride, padding, kind, what the case exercises
    CONV_CASES = [
        ("nonsquare_basic", (2, 3, 5, 7), (4, 3, 2), 1, 0, "float",
         "H != W, KH != KW, random non-symmetric kernel, N > 1, C > 1, F != C"),
        ("single_sample_channel", (1, 1, 4, 4), (1, 2, 2), OMIT, OMIT, "float",
         "N = 1, C = 1, F = 1, default stride and padding"),
        ("stride2_8x8_k3", (1, 2, 8, 8), (3, 3, 3), 2, 0, "float",
         "(8 - 3)/2 = 2.5 is not an integer: Ho = (8 - 3)//2 + 1 = 3 (floor)"),
        ("stride2_pad1_8x8_k3", (2, 2, 8, 8), (3, 3, 3), 2, 1, "float",
         "padding 1 on H and W only: Ho = (8 + 2 - 3)//2 + 1 = 4"),
        ("stride2_10x9_k3", (1, 1, 10, 9), (2, 3, 3), 2, OMIT, "float",
         "(10 - 3)/2 = 3.5: floor gives Ho = 4 (round or ceil would give 5)"),
        ("stride_pair_2_1", (2, 2, 7, 5), (3, 3, 2), (2, 1), 0, "float",
         "stride=(2, 1): 2 along H (rows), 1 along W (columns); H != W"),
        ("padding_pair_1_0", (1, 3, 4, 6), (2, 3, 3), 1, (1, 0), "float",
         "padding=(1, 0): one zero row above and below, no zero columns"),
        ("pairs_s12_p02", (2, 1, 5, 6), (2, 2, 3), (1, 2), (0, 2), "float",
         "stride=(1, 2), padding=(0, 2): pairs are (along H, along W)"),
        ("many_filters", (3, 2, 5, 5), (5, 3, 3), 1, 1, "float",
         "N = 3, C = 2, F = 5 = Wo: bias b[f] belongs to filter f (axis 1)"),
        ("kernel_covers_input", (2, 2, 3, 4), (3, 3, 4), 1, 0, "float",
         "kernel as large as the input: Ho = Wo = 1"),
        ("stride3_pad2", (1, 2, 6, 7), (2, 3, 2), 3, 2, "float",
         "stride 3, padding 2: Ho = (6 + 4 - 3)//3 + 1 = 3, Wo = (7 + 4 - 2)//3 + 1 = 4"),
        ("integer_inputs", (2, 2, 4, 5), (3, 2, 3), 1, 1, "int",
         "x, w and b are int64 arrays: the result must be float, without truncation"),
    ]

    def conv_inputs(k, spec):
        name, xs, (f, kh, kw), stride, padding, kind, why = spec
        rng = np_default_rng(20240 + k)
        x = data(rng, xs, kind)
        w = data(rng, (f, xs[1], kh, kw), kind)
        b = data(rng, (f,), kind)
        kwargs = {}
        if stride is not OMIT:
            kwargs["stride"] = stride
        if padding is not OMIT:
            kwargs["padding"] = padding
        st = 1 if stride is OMIT else stride
        pd = 0 if padding is OMIT else padding
        return rng, x, w, b, kwargs, st, pd, why

    CONV_FWD_HINT = (
        "out[n, f, i, j] = b[f] + sum over c, u, v of w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v] "
        "(cross-correlation: no kernel flip); Ho = (H + 2*ph - KH)//sh + 1 (floor); pad only H "
        "and W; pairs are (along H, along W); sum over all channels; every sample n; "
        "b[f] per filter.")

    def check_conv2d_forward(conv2d_forward):
        cases = []
        for k, spec in enumerate(CONV_CASES):
            def case(ctx, k=k, spec=spec):
                rng, x, w, b, kwargs, st, pd, why = conv_inputs(k, spec)
                expected = ref_conv2d_forward(x, w, b, st, pd)
                xs, ws, bs = nd_copy(x), nd_copy(w), nd_copy(b)
                before = [snap(a) for a in (xs, ws, bs)]
                ctx["why"] = why
                ctx["call"] = (f"conv2d_forward(x {desc(x)}, w {desc(w)}, b {desc(b)}"
                               f"{kw_text(kwargs)})")
                res = call(conv2d_forward, "conv2d_forward", (xs, ws, bs), kwargs, CONV_FWD_HINT)
                out, _cache = unpack("conv2d_forward", res, ("out", "cache"))
                expect_array("out", out, expected, CONV_FWD_HINT)
                expect_float_dtype("out", out, "allocate out with np.zeros((N, F, Ho, Wo)) "
                                               "(float64), not np.zeros_like(x) or x.dtype.")
                for label, snapshot, arr in zip(("x", "w", "b"), before, (xs, ws, bs)):
                    expect_unchanged(label, snapshot, arr, "conv2d_forward")
            cases.append((spec[0], case))
        run_cases("conv2d_forward", cases)

    CONV_DX_HINT = ("dxpad[n, c, i*sh+u, j*sw+v] += dout[n, f, i, j] * w[f, c, u, v] (the same, "
                    "unflipped w as in the forward pass; += because windows overlap); then crop "
                    "dx = dxpad[:, :, ph:ph+H, pw:pw+W] (p:-p is empty when p = 0); dx has x's shape.")
    CONV_DW_HINT = ("dw[f, c, u, v] += dout[n, f, i, j] * xpad[n, c, i*sh+u, j*sw+v] summed over "
                    "every sample n and every output position (i, j).")
    CONV_DB_HINT = "db = dout.sum(axis=(0, 2, 3)): one value per filter, summed over N, Ho, Wo."

    def conv_backward_case(ctx, conv2d_forward, conv2d_backward, x, w, b, kwargs, st, pd, dout,
                           expected, why, rtol, atol):
        exp_dx, exp_dw, exp_db = expected
        xs, ws, bs = nd_copy(x), nd_copy(w), nd_copy(b)
        ctx["why"] = why
        ctx["call"] = (f"conv2d_backward(dout {desc(dout)}, cache) after conv2d_forward(x "
                       f"{desc(x)}, w {desc(w)}, b {desc(b)}{kw_text(kwargs)})")
        res = call(conv2d_forward, "conv2d_forward (called to build the cache)",
                   (xs, ws, bs), kwargs, "conv2d_forward must work before conv2d_backward "
                   "can be tested: " + CONV_FWD_HINT)
        _out, cache = unpack("conv2d_forward", res, ("out", "cache"))
        before = [snap(a) for a in (xs, ws, bs)]       # taken after the forward pass
        cache_before = snap(cache)
        ds = nd_copy(dout)
        dout_before = snap(ds)
        for attempt in ("", " (second call with the same dout and cache)"):
            res = call(conv2d_backward, "conv2d_backward" + attempt, (ds, cache), {},
                       CONV_DX_HINT)
            dx, dw, db = unpack("conv2d_backward", res, ("dx", "dw", "db"))
            for label, got, exp, hint in (("dx", dx, exp_dx, CONV_DX_HINT),
                                          ("dw", dw, exp_dw, CONV_DW_HINT),
                                          ("db", db, exp_db, CONV_DB_HINT)):
                expect_float_dtype(label, got, "allocate gradients with np.zeros(shape) "
                                               "(float64), not np.zeros_like of an integer array.")
                expect_array(label + attempt, got, exp, hint + (
                    " A second call must give the same result: do not keep state or change "
                    "the cache." if attempt else ""), rtol, atol)
            expect_unchanged("dout", dout_before, ds, "conv2d_backward")
            expect_unchanged("cache", cache_before, cache, "conv2d_backward")
            for label, snapshot, arr in zip(("x", "w", "b"), before, (xs, ws, bs)):
                expect_unchanged(label, snapshot, arr, "conv2d_backward")

    def check_conv2d_backward(conv2d_forward, conv2d_backward):
        cases = []
        for k, spec in enumerate(CONV_CASES):
            def case(ctx, k=k, spec=spec):
                rng, x, w, b, kwargs, st, pd, why = conv_inputs(k, spec)
                out_shape = ref_conv2d_forward(x, w, b, st, pd).shape
                dout = rng.standard_normal(out_shape)          # random, never all ones
                expected = ref_conv2d_backward(x, w, b, st, pd, dout)
                conv_backward_case(ctx, conv2d_forward, conv2d_backward, x, w, b, kwargs, st,
                                   pd, dout, expected, why, RTOL, ATOL)
            cases.append((spec[0], case))

        def fd_case(ctx):
            rng = np_default_rng(7070)
            x = rng.standard_normal((2, 2, 4, 5))
            w = rng.standard_normal((2, 2, 2, 3))
            b = rng.standard_normal(2)
            st, pd = (2, 1), (1, 0)
            dout = rng.standard_normal(ref_conv2d_forward(x, w, b, st, pd).shape)
            xf, wf, bf = nd_copy(x), nd_copy(w), nd_copy(b)

            def loss():
                return float((ref_conv2d_forward(xf, wf, bf, st, pd) * dout).sum())
            expected = (numeric_grad(loss, xf), numeric_grad(loss, wf), numeric_grad(loss, bf))
            conv_backward_case(ctx, conv2d_forward, conv2d_backward, x, w, b,
                               {"stride": st, "padding": pd}, st, pd, dout, expected,
                               "compared with central finite differences of the loss "
                               "sum(conv2d(x, w, b) * dout)", FD_RTOL, FD_ATOL)
        cases.append(("finite_differences", fd_case))
        run_cases("conv2d_backward", cases)

    # ================================ maxpool2d ================================
    # name, x shape, kernel_size, stride, kind, what the case exercises
    POOL_CASES = [
        ("k2_s2_nonsquare", (2, 3, 4, 6), 2, 2, "float",
         "kernel 2, stride 2 on a 4x6 input, N > 1, C > 1"),
        ("k3_s2_overlap", (2, 2, 7, 9), 3, 2, "float",
         "kernel 3, stride 2: windows overlap; Ho = (7 - 3)//2 + 1 = 3"),
        ("k2_s1_overlap", (1, 2, 4, 5), 2, 1, "float",
         "kernel 2, stride 1: windows overlap"),
        ("stride_omitted", (2, 2, 6, 4), 2, OMIT, "float",
         "stride not given: it defaults to kernel_size"),
        ("stride_None", (1, 1, 6, 9), 3, None, "float",
         "stride=None means stride = kernel_size"),
        ("dropped_5x5_k2_s2", (1, 2, 5, 5), 2, 2, "dropped",
         "5x5, kernel 2, stride 2: Ho = (5 - 2)//2 + 1 = 2; row 4 and column 4 are in no window "
         "(they hold the largest values here)"),
        ("pair_k23_s12", (2, 2, 5, 7), (2, 3), (1, 2), "float",
         "kernel (2, 3) and stride (1, 2) are (along H, along W)"),
        ("pair_k32_default", (1, 2, 7, 5), (3, 2), OMIT, "float",
         "kernel (3, 2) with the default stride, which is (3, 2)"),
        ("all_negative", (2, 2, 4, 4), 2, 2, "negative",
         "every value is negative: the window maximum is negative (not 0)"),
        ("integer_input", (2, 2, 6, 5), 3, 2, "int_ties",
         "int64 input with ties (results must be floating point)"),
    ]

    POOL_FWD_HINT = ("out[n, c, i, j] = max over u < kh, v < kw of x[n, c, i*sh + u, j*sw + v]; "
                     "stride defaults to kernel_size; Ho = (H - kh)//sh + 1 (floor); pairs are "
                     "(along H, along W).")

    def pool_inputs(k, spec):
        name, xs, kernel, stride, kind, why = spec
        rng = np_default_rng(31337 + k)
        x = data(rng, xs, kind)
        kwargs = {} if stride is OMIT else {"stride": stride}
        return rng, x, kernel, kwargs, (None if stride is OMIT else stride), why

    def check_maxpool2d_forward(maxpool2d_forward):
        cases = []
        for k, spec in enumerate(POOL_CASES):
            def case(ctx, k=k, spec=spec):
                rng, x, kernel, kwargs, st, why = pool_inputs(k, spec)
                expected = ref_maxpool2d_forward(x, kernel, st)
                xs = nd_copy(x)
                before = snap(xs)
                ctx["why"] = why
                ctx["call"] = (f"maxpool2d_forward(x {desc(x)}, kernel_size={kernel!r}"
                               f"{kw_text(kwargs)})")
                res = call(maxpool2d_forward, "maxpool2d_forward", (xs, kernel), kwargs,
                           POOL_FWD_HINT)
                out, _cache = unpack("maxpool2d_forward", res, ("out", "cache"))
                expect_array("out", out, expected, POOL_FWD_HINT)
                expect_float_dtype("out", out, "allocate out with np.zeros((N, C, Ho, Wo)) "
                                               "(float64), not np.zeros_like(x).")
                expect_unchanged("x", before, xs, "maxpool2d_forward")
            cases.append((spec[0], case))
        run_cases("maxpool2d_forward", cases)

    POOL_DX_HINT = ("route dout[n, c, i, j] to the FIRST maximum (row-major) of window (i, j) "
                    "of sample n, channel c only: dx[n, c, i*sh + u, j*sw + v] += dout[n, c, i, j] "
                    "with u, v = divmod(np.argmax(window), kw); += because windows overlap; "
                    "elements in no window get 0; dx is float even for integer x.")

    # hand-written ties: x, kernel, stride, dout, expected dx
    TIE_CASES = [
        ("tie_all_equal_2x2", [[[[3, 3], [3, 3]]]], 2, OMIT, [[[[0.75]]]],
         [[[[0.75, 0.0], [0.0, 0.0]]]],
         "all four values tie: only the first (top-left) gets the gradient"),
        ("tie_several_3x3", [[[[1, 5, 2], [5, 0, 5], [3, 5, 5]]]], 3, OMIT, [[[[-1.5]]]],
         [[[[0.0, -1.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]],
         "five 5s tie: only the first in row-major order, at (0, 1), gets the gradient"),
        ("tie_two_windows", [[[[0, 1, 4, 4], [1, 1, 4, 2]]]], 2, 2, [[[[0.5, -2.25]]]],
         [[[[0.0, 0.5, -2.25, 0.0], [0.0, 0.0, 0.0, 0.0]]]],
         "window 0 ties 1s at (0,1), (1,0), (1,1); window 1 ties 4s at (0,2), (0,3), (1,2)"),
        ("tie_overlap_k2_s1", [[[[7, 7, 7], [7, 7, 7], [7, 7, 7]]]], 2, 1,
         [[[[0.5, 0.25], [0.125, 2.0]]]],
         [[[[0.5, 0.25, 0.0], [0.125, 2.0, 0.0], [0.0, 0.0, 0.0]]]],
         "all equal, overlapping windows: each window's gradient goes to its own top-left"),
        ("tie_per_sample", [[[[1, 2], [2, 0]]], [[[5, 1], [5, 5]]]], 2, OMIT,
         [[[[0.5]]], [[[-1.5]]]],
         [[[[0.0, 0.5], [0.0, 0.0]]], [[[-1.5, 0.0], [0.0, 0.0]]]],
         "two samples whose first maxima are at different places"),
    ]

    def pool_backward_case(ctx, maxpool2d_forward, maxpool2d_backward, x, kernel, kwargs,
                           dout, expected, why, rtol, atol):
        xs = nd_copy(x)
        ctx["why"] = why
        ctx["call"] = (f"maxpool2d_backward(dout {desc(dout)}, cache) after maxpool2d_forward("
                       f"x {desc(x)}, kernel_size={kernel!r}{kw_text(kwargs)})")
        res = call(maxpool2d_forward, "maxpool2d_forward (called to build the cache)",
                   (xs, kernel), kwargs, "maxpool2d_forward must work before "
                   "maxpool2d_backward can be tested: " + POOL_FWD_HINT)
        _out, cache = unpack("maxpool2d_forward", res, ("out", "cache"))
        x_before = snap(xs)                            # taken after the forward pass
        cache_before = snap(cache)
        ds = nd_copy(dout)
        dout_before = snap(ds)
        for attempt in ("", " (second call with the same dout and cache)"):
            dx = call(maxpool2d_backward, "maxpool2d_backward" + attempt, (ds, cache), {},
                      POOL_DX_HINT)
            expect_float_dtype("dx", dx, "allocate dx with np.zeros(x.shape) (float64), not "
                                         "np.zeros_like(x), which is an integer array for "
                                         "integer x and truncates the gradient.")
            expect_array("dx" + attempt, dx, expected, POOL_DX_HINT + (
                " A second call must give the same result: do not keep state or change the "
                "cache." if attempt else ""), rtol, atol)
            expect_unchanged("dout", dout_before, ds, "maxpool2d_backward")
            expect_unchanged("cache", cache_before, cache, "maxpool2d_backward")
            expect_unchanged("x", x_before, xs, "maxpool2d_backward")

    POOL_BWD_EXTRA = [
        ("overlap_k3_s1", (2, 2, 5, 6), 3, 1, "float",
         "kernel 3, stride 1: an element can be the maximum of several windows (+=)"),
        ("integer_ties_k2_s2", (2, 2, 6, 6), 2, 2, "int_ties",
         "int64 input with many ties and a fractional dout"),
        ("integer_ties_k3_s1", (1, 2, 5, 5), 3, 1, "int_ties",
         "int64 input with ties, overlapping windows, fractional dout"),
    ]

    def check_maxpool2d_backward(maxpool2d_forward, maxpool2d_backward):
        cases = []
        for k, spec in enumerate(POOL_CASES + POOL_BWD_EXTRA):
            def case(ctx, k=k, spec=spec):
                rng, x, kernel, kwargs, st, why = pool_inputs(k + 100, spec)
                dout = rng.standard_normal(ref_maxpool2d_forward(x, kernel, st).shape)
                expected = ref_maxpool2d_backward(x, kernel, st, dout)
                pool_backward_case(ctx, maxpool2d_forward, maxpool2d_backward, x, kernel,
                                   kwargs, dout, expected, why, RTOL, ATOL)
            cases.append((spec[0], case))
        for spec in TIE_CASES:
            def case(ctx, spec=spec):
                name, x, kernel, stride, dout, expected, why = spec
                kwargs = {} if stride is OMIT else {"stride": stride}
                pool_backward_case(ctx, maxpool2d_forward, maxpool2d_backward,
                                   np_array(x, dtype=int64), kernel, kwargs,
                                   np_array(dout, dtype=float64), np_array(expected, dtype=float64),
                                   why, RTOL, ATOL)
            cases.append((spec[0], case))

        def fd_case(ctx):
            rng = np_default_rng(4242)
            x = data(rng, (1, 2, 4, 5), "distinct")             # no ties: values 0.5 apart
            dout = rng.standard_normal(ref_maxpool2d_forward(x, 2, 1).shape)
            xf = nd_copy(x)

            def loss():
                return float((ref_maxpool2d_forward(xf, 2, 1) * dout).sum())
            pool_backward_case(ctx, maxpool2d_forward, maxpool2d_backward, x, 2, {"stride": 1},
                               dout, numeric_grad(loss, xf),
                               "tie-free input, compared with central finite differences",
                               FD_RTOL, FD_ATOL)
        cases.append(("finite_differences", fd_case))
        run_cases("maxpool2d_backward", cases)

    # ================================ flatten ================================
    FLAT_CASES = [
        ("distinct_2x3x4x5", (2, 3, 4, 5), "distinct",
         "C > 1, H*W > 1, all values distinct: C order is (channel, row, column)"),
        ("single_sample", (1, 2, 3, 4), "float", "N = 1 must stay a (1, 24) matrix"),
        ("one_row_1x1x1x5", (1, 1, 1, 5), "float", "N = C = H = 1: result (1, 5), never (5,)"),
        ("spatial_1x1", (3, 4, 1, 1), "float", "H = W = 1: result (3, 4)"),
        ("integer_input", (2, 2, 2, 3), "int", "int64 input"),
    ]
    FLAT_HINT = ("out = x.reshape(N, C*H*W) in C order: out[n, (c*H + h)*W + w] = x[n, c, h, w]; "
                 "keep the batch axis (not reshape(-1), not squeeze); no transpose to NHWC.")
    FLAT_DX_HINT = ("dx = dout.reshape(x.shape) (C order); keep x's shape in the cache; "
                    "do not transpose.")

    def check_flatten_forward(flatten_forward):
        cases = []
        for k, spec in enumerate(FLAT_CASES):
            def case(ctx, k=k, spec=spec):
                name, shape, kind, why = spec
                x = data(np_default_rng(555 + k), shape, kind)
                expected = ref_flatten_forward(x)
                xs = nd_copy(x)
                before = snap(xs)
                ctx["why"] = why
                ctx["call"] = f"flatten_forward(x {desc(x)})"
                res = call(flatten_forward, "flatten_forward", (xs,), {}, FLAT_HINT)
                out, _cache = unpack("flatten_forward", res, ("out", "cache"))
                expect_array("out", out, expected, FLAT_HINT)
                expect_unchanged("x", before, xs, "flatten_forward")
            cases.append((spec[0], case))
        run_cases("flatten_forward", cases)

    def check_flatten_backward(flatten_forward, flatten_backward):
        cases = []
        for k, spec in enumerate(FLAT_CASES):
            def case(ctx, k=k, spec=spec):
                name, shape, kind, why = spec
                rng = np_default_rng(777 + k)
                x = data(rng, shape, kind)
                dout = rng.standard_normal((shape[0], shape[1] * shape[2] * shape[3]))
                expected = ref_flatten_backward(x.shape, dout)
                xs = nd_copy(x)
                ctx["why"] = why
                ctx["call"] = (f"flatten_backward(dout {desc(dout)}, cache) after "
                               f"flatten_forward(x {desc(x)})")
                res = call(flatten_forward, "flatten_forward (called to build the cache)",
                           (xs,), {}, FLAT_HINT)
                _out, cache = unpack("flatten_forward", res, ("out", "cache"))
                x_before = snap(xs)                    # taken after the forward pass
                cache_before = snap(cache)
                ds = nd_copy(dout)
                dout_before = snap(ds)
                for attempt in ("", " (second call with the same dout and cache)"):
                    dx = call(flatten_backward, "flatten_backward" + attempt, (ds, cache), {},
                              FLAT_DX_HINT)
                    expect_array("dx" + attempt, dx, expected, FLAT_DX_HINT)
                    expect_unchanged("dout", dout_before, ds, "flatten_backward")
                    expect_unchanged("cache", cache_before, cache, "flatten_backward")
                    expect_unchanged("x", x_before, xs, "flatten_backward")
            cases.append((spec[0], case))
        run_cases("flatten_backward", cases)

    return types.SimpleNamespace(
        check_conv2d_forward=check_conv2d_forward,
        check_conv2d_backward=check_conv2d_backward,
        check_maxpool2d_forward=check_maxpool2d_forward,
        check_maxpool2d_backward=check_maxpool2d_backward,
        check_flatten_forward=check_flatten_forward,
        check_flatten_backward=check_flatten_backward,
        ref_conv2d_forward=ref_conv2d_forward,
        ref_conv2d_backward=ref_conv2d_backward,
        ref_maxpool2d_forward=ref_maxpool2d_forward,
        ref_maxpool2d_backward=ref_maxpool2d_backward,
        ref_flatten_forward=ref_flatten_forward,
        ref_flatten_backward=ref_flatten_backward,
    )


_grader = _make_grader()
del _make_grader
### END HIDDEN TESTS

# %% [markdown]
# ## 1. Convolution: forward pass (20 points)
#
# A convolution layer holds `F` filters. Filter `f` is a small `C x KH x KW` block of weights.
# It is laid over a `KH x KW` window of the (zero-padded) input, multiplied element-wise with
# all `C` channels of that window, everything is summed, and `b[f]` is added: that is **one**
# output number. Sliding the window over the image gives the output map of filter `f`:
#
# $$\text{out}[n,f,i,j] = b[f] + \sum_{c=0}^{C-1}\sum_{u=0}^{KH-1}\sum_{v=0}^{KW-1}
#   w[f,c,u,v]\;\text{xpad}[n,c,\,i\cdot s_h+u,\,j\cdot s_w+v]$$
#
# * **Padding** `(ph, pw)`: `xpad` is `x` with `ph` rows of zeros added above *and* below and
#   `pw` columns of zeros left *and* right. Only H and W are padded, never N or C
#   (`np.pad(x, p)` pads all four axes, which is wrong; write the pad widths per axis).
# * **Stride** `(sh, sw)`: the window's top-left corner moves `sh` rows / `sw` columns at a time,
#   so output `(i, j)` reads rows `i*sh ... i*sh+KH-1` and columns `j*sw ... j*sw+KW-1` of `xpad`.
#
# ```
# x 5x5, kernel 3x3, stride 2, no padding  ->  out 2x2
#
#           column: 0 1 2 3 4               column: 0 1 2 3 4
#   row 0          [# # #] . .                      . . [# # #]
#   row 1          [# # #] . .                      . . [# # #]
#   row 2          [# # #] . .                      . . [# # #]
#   row 3           . . .  . .                      . .  . . .
#   row 4           . . .  . .                      . .  . . .
#                  -> out[0, 0]                    -> out[0, 1]   (then rows 2-4 give out[1, :])
# ```
#
# **Output size** (floor division: a window that would stick out of `xpad` is not used):
#
# $$H_o = \left\lfloor \frac{H + 2p_h - KH}{s_h} \right\rfloor + 1, \qquad
#   W_o = \left\lfloor \frac{W + 2p_w - KW}{s_w} \right\rfloor + 1$$
#
# In code: `Ho = (H + 2*ph - KH) // sh + 1`. Example: `H = W = 8`, kernel 3, stride 2, padding 1:
# `Ho = (8 + 2 - 3)//2 + 1 = 7//2 + 1 = 3 + 1 = 4`. Without padding: `(8 - 3)//2 + 1 = 3`;
# the last padded row/column is simply never reached. `ceil`, `round` or `/` give wrong sizes.
#
# **Cross-correlation, not "convolution".** Deep-learning libraries do *not* flip the kernel:
# `w[f, c, 0, 0]` multiplies the top-left element of the window. The textbook convolution
# would use `w[f, c, KH-1-u, KW-1-v]`; for a non-symmetric kernel that gives different numbers.
#
# **Worked example** (the visible test below). One sample, one channel, one filter,
# stride 1, no padding, `b = [1]`:
#
# ```
# x = [[ 1,  2,  3,  4],      w = [[1,  2],
#      [ 5,  6,  7,  8],           [0, -1]]
#      [ 9, 10, 11, 12]]
# ```
#
# `Ho = (3 - 2)//1 + 1 = 2`, `Wo = (4 - 2)//1 + 1 = 3`, and
# `out[i, j] = 1 + x[i, j] + 2*x[i, j+1] + 0*x[i+1, j] - x[i+1, j+1]`:
#
# * `out[0, 0] = 1 + 1 + 2*2 - 6 = 0`, `out[0, 1] = 1 + 2 + 2*3 - 7 = 2`, `out[0, 2] = 1 + 3 + 8 - 8 = 4`,
# * `out[1, 0] = 1 + 5 + 12 - 10 = 8`, `out[1, 1] = 1 + 6 + 14 - 11 = 10`, `out[1, 2] = 1 + 7 + 16 - 12 = 12`.
#
# So `out = [[0, 2, 4], [8, 10, 12]]` (a float array, although `x` and `w` are integers).
# With the flipped kernel `[[-1, 0], [2, 1]]` you would get `out[0, 0] = 1 - 1 + 10 + 6 = 16`.
#
# **Cache**: store what the backward pass needs, e.g. `(x, w, b, stride, padding)`.

# %% nbgrader={"grade": false, "grade_id": "conv2d_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_forward(x, w, b, stride=1, padding=0):
    """Forward pass of a 2-D convolution layer (cross-correlation, PyTorch semantics).

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, KH, KW).
        b: biases, shape (F,).
        stride: int or (sh, sw) pair: step of the window along H and along W.
        padding: int or (ph, pw) pair: zeros added on both sides of H and of W.

    Returns:
        out: float array, shape (N, F, Ho, Wo) with Ho = (H + 2*ph - KH)//sh + 1 and
             Wo = (W + 2*pw - KW)//sw + 1, where
             out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v].
        cache: anything conv2d_backward needs (e.g. the inputs, stride and padding).

    Hint: `_pair(stride)` returns the pair (sh, sw). Build xpad as a NEW zero array and
    copy x into its middle.
    Loop over the output positions (i, j) (and the filters f); the window
    xpad[:, :, i*sh:i*sh+KH, j*sw:j*sw+KW] has shape (N, C, KH, KW).
    Do not modify x, w or b.
    """
    ### BEGIN SOLUTION
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1

    # Zero-pad H and W only, into a new float array (x itself is never modified).
    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x

    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, s = i * sh, j * sw                       # top-left corner of the window
            window = xpad[:, :, r:r + KH, s:s + KW]     # (N, C, KH, KW)
            for f in range(F):
                # sum over c, u, v for all samples at once -> shape (N,)
                out[:, f, i, j] = np.sum(window * w[f], axis=(1, 2, 3)) + b[f]

    cache = (x, w, b, stride, padding)
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shape: 8x8 input, 3x3 kernel, stride 2, padding 1 -> Ho = Wo = (8 + 2 - 3)//2 + 1 = 4
rng_demo = np.random.default_rng(0)
x_demo = rng_demo.standard_normal((2, 3, 8, 8))
w_demo = rng_demo.standard_normal((5, 3, 3, 3))
b_demo = rng_demo.standard_normal(5)
out_demo, _ = conv2d_forward(x_demo, w_demo, b_demo, stride=2, padding=1)
expect_shape("conv2d_forward output (x 2x3x8x8, w 5x3x3x3, stride 2, padding 1)", out_demo,
             (2, 5, 4, 4), "out has shape (N, F, Ho, Wo) with Ho = (H + 2*ph - KH)//sh + 1 "
             "(floor division); pad H and W only.")

# Hand-worked example from the text above (integer inputs, non-symmetric kernel)
x_demo = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]]])   # (1, 1, 3, 4)
w_demo = np.array([[[[1, 2], [0, -1]]]])                               # (1, 1, 2, 2)
b_demo = np.array([1])
out_demo, _ = conv2d_forward(x_demo, w_demo, b_demo)
expect_close("conv2d_forward worked example", out_demo,
             [[[[0.0, 2.0, 4.0], [8.0, 10.0, 12.0]]]],
             "cross-correlation without flipping the kernel: "
             "out[i, j] = b + sum_{u,v} w[u, v] * x[i + u, j + v].")
assert np.asarray(out_demo).dtype.kind == "f", (
    f"conv2d_forward: integer inputs must give a float array, got dtype {np.asarray(out_demo).dtype}. "
    "Likely cause: out allocated with np.zeros_like(x); use np.zeros((N, F, Ho, Wo)).")
print("conv2d_forward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "conv2d_forward_hidden", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for conv2d_forward (20 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_forward(conv2d_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Convolution: backward pass (25 points)
#
# Given `dout = dL/dout` (shape `(N, F, Ho, Wo)`), compute `dx`, `dw`, `db`.
# Start from the forward formula and look at **one** output number:
#
# $$\text{out}[n,f,i,j] = b[f] + \sum_{c,u,v} w[f,c,u,v]\;\text{xpad}[n,c,\,i s_h+u,\,j s_w+v]$$
#
# Its partial derivatives are
#
# * w.r.t. `xpad[n, c, i*sh+u, j*sw+v]`: `w[f, c, u, v]`;
# * w.r.t. `w[f, c, u, v]`: `xpad[n, c, i*sh+u, j*sw+v]`;
# * w.r.t. `b[f]`: `1`.
#
# By the chain rule, `dout[n, f, i, j]` flows back to **every** `xpad` element and **every**
# weight that produced `out[n, f, i, j]`, multiplied by that partial derivative. Summing over all
# `n, f, i, j` gives the loop version:
#
# ```
# for every n, f, i, j and every c, u, v:
#     dxpad[n, c, i*sh+u, j*sw+v] += dout[n, f, i, j] * w[f, c, u, v]
#     dw[f, c, u, v]              += dout[n, f, i, j] * xpad[n, c, i*sh+u, j*sw+v]
# db[f] = sum over n, i, j of dout[n, f, i, j]          # db = dout.sum(axis=(0, 2, 3))
# dx = dxpad[:, :, ph:ph+H, pw:pw+W]                     # crop the padding
# ```
#
# Points that are easy to get wrong:
#
# * **`+=`, never `=`.** When the stride is smaller than the kernel, windows overlap and one
#   input element receives contributions from several windows (and from every filter `f`).
# * **`dw` sums over the batch**: every sample contributes to the same weights; so does `db`.
# * **Use the same `w[f, c, u, v]`** (not flipped) that the forward pass used at offset `(u, v)`.
# * **Crop the padding** so that `dx.shape == x.shape`. Beware `dxpad[:, :, p:-p, p:-p]`: with
#   `p = 0` this is `0:-0 = 0:0`, an **empty** array. Write `ph:ph + H` instead.
# * `dout` and the cache are read-only: never write into them (nor into `x`, `w` stored there).
#
# **Worked example** (the visible test below): one sample/channel/filter, stride 1, no padding,
#
# ```
# x = [[1, 2, 3],     w = [[1, 2],     dout = [[1, 0],
#      [4, 5, 6],          [3, 4]]             [0, 2]]
#      [7, 8, 9]]
# ```
#
# * `dx`: `dout[0,0] = 1` puts `1*w` on the top-left 2x2 block, `dout[1,1] = 2` puts `2*w` on
#   the bottom-right 2x2 block; they overlap at the centre, where the values add:
#   `dx = [[1, 2, 0], [3, 4+2, 4], [0, 6, 8]] = [[1, 2, 0], [3, 6, 4], [0, 6, 8]]`.
# * `dw[u, v] = 1*x[u, v] + 2*x[1+u, 1+v]`: `dw = [[1+10, 2+12], [4+16, 5+18]] = [[11, 14], [20, 23]]`.
# * `db = 1 + 0 + 0 + 2 = [3]`.

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_backward(dout, cache):
    """Backward pass of conv2d_forward.

    Args:
        dout: upstream gradient dL/dout, shape (N, F, Ho, Wo).
        cache: the cache returned by conv2d_forward (use it only as you stored it).

    Returns:
        dx: shape (N, C, H, W), the same as x (padding cropped off).
        dw: shape (F, C, KH, KW).
        db: shape (F,), db = dout.sum(axis=(0, 2, 3)).
        where, for every n, f, i, j, c, u, v:
            dxpad[n, c, i*sh+u, j*sw+v] += dout[n, f, i, j] * w[f, c, u, v]
            dw[f, c, u, v]              += dout[n, f, i, j] * xpad[n, c, i*sh+u, j*sw+v]

    Hint: loop over (i, j) (and f) as in the forward pass, accumulate with += into NEW
    float arrays (np.zeros), then crop dx = dxpad[:, :, ph:ph+H, pw:pw+W] (not p:-p).
    Do not modify dout or the cache.
    """
    ### BEGIN SOLUTION
    x, w, b, stride, padding = cache
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape

    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x

    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    dw = np.zeros((F, C, KH, KW))
    db = dout.sum(axis=(0, 2, 3))                        # b[f] touches every out[:, f]

    for i in range(Ho):
        for j in range(Wo):
            r, s = i * sh, j * sw
            window = xpad[:, :, r:r + KH, s:s + KW]      # (N, C, KH, KW)
            for f in range(F):
                g = dout[:, f, i, j].reshape(N, 1, 1, 1)  # one upstream value per sample
                dw[f] += np.sum(g * window, axis=0)       # sum over the batch
                dxpad[:, :, r:r + KH, s:s + KW] += g * w[f]   # windows overlap: +=

    dx = dxpad[:, :, ph:ph + H, pw:pw + W]               # crop (also correct for p = 0)
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shape: with padding 1 the gradient must be cropped back to x's shape
rng_demo = np.random.default_rng(1)
x_demo = rng_demo.standard_normal((2, 3, 6, 5))
w_demo = rng_demo.standard_normal((4, 3, 3, 2))
b_demo = rng_demo.standard_normal(4)
out_demo, cache_demo = conv2d_forward(x_demo, w_demo, b_demo, stride=1, padding=1)
dx_demo, dw_demo, db_demo = conv2d_backward(rng_demo.standard_normal(out_demo.shape), cache_demo)
expect_shape("conv2d_backward dx", dx_demo, x_demo.shape,
             "dx must have x's shape: crop the padding with dxpad[:, :, ph:ph+H, pw:pw+W].")
expect_shape("conv2d_backward dw", dw_demo, w_demo.shape, "dw has w's shape (F, C, KH, KW).")
expect_shape("conv2d_backward db", db_demo, b_demo.shape, "db = dout.sum(axis=(0, 2, 3)).")

# Hand-worked example from the text above (no padding, overlapping windows)
x_demo = np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]])
w_demo = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
b_demo = np.array([0.0])
_, cache_demo = conv2d_forward(x_demo, w_demo, b_demo)
dx_demo, dw_demo, db_demo = conv2d_backward(np.array([[[[1.0, 0.0], [0.0, 2.0]]]]), cache_demo)
expect_close("conv2d_backward dx (worked example)", dx_demo,
             [[[[1.0, 2.0, 0.0], [3.0, 6.0, 4.0], [0.0, 6.0, 8.0]]]],
             "dxpad[i+u, j+v] += dout[i, j] * w[u, v] with += (the centre gets 4 + 2); "
             "with padding 0 do not crop with p:-p (empty).")
expect_close("conv2d_backward dw (worked example)", dw_demo, [[[[11.0, 14.0], [20.0, 23.0]]]],
             "dw[u, v] += dout[i, j] * xpad[i+u, j+v], summed over all (i, j) and samples.")
expect_close("conv2d_backward db (worked example)", db_demo, [3.0],
             "db = dout.sum(axis=(0, 2, 3)).")
print("conv2d_backward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "conv2d_backward_hidden", "locked": true, "points": 25, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for conv2d_backward (25 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_backward(conv2d_forward, conv2d_backward)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Max pooling: forward pass (15 points)
#
# Max pooling keeps the largest value of every `kh x kw` window, for each sample and each
# channel separately (channels are **not** mixed, `C` stays `C`); it has no weights:
#
# $$\text{out}[n,c,i,j] = \max_{0\le u<k_h,\;0\le v<k_w} x[n,c,\,i s_h+u,\,j s_w+v]$$
#
# * `stride` defaults to `kernel_size` (`stride=None`): non-overlapping windows. A smaller
#   stride makes windows overlap, e.g. kernel 3, stride 2 or kernel 2, stride 1.
# * No padding. Output size with floor division: `Ho = (H - kh)//sh + 1`, `Wo = (W - kw)//sw + 1`.
#   Trailing rows/columns that do not fill a whole window are **dropped**: for a 5x5 input with
#   kernel 2, stride 2, `Ho = (5 - 2)//2 + 1 = 2`; windows cover rows 0-3 and columns 0-3,
#   and row 4 / column 4 never reach the output.
# * `kernel_size=(2, 3)`, `stride=(1, 2)` mean 2 rows x 3 columns, stepping 1 row / 2 columns.
# * The result is a float array, also for integer `x`.
#
# **Worked example** (the visible test below), kernel 2, default stride 2:
#
# ```
# x = [[1, 3 | 2, 0],
#      [4, 2 | 1, 5],      out = [[max(1,3,4,2), max(2,0,1,5)],    = [[4, 5],
#      ------+------              [max(0,1,3,3), max(7,2,6,6)]]       [3, 7]]
#      [0, 1 | 7, 2],
#      [3, 3 | 6, 6]]
# ```
#
# **Cache**: the backward pass needs `x`, the kernel size and the stride.

# %% nbgrader={"grade": false, "grade_id": "maxpool2d_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool2d_forward(x, kernel_size, stride=None):
    """Forward pass of 2-D max pooling (PyTorch semantics, no padding).

    Args:
        x: input, shape (N, C, H, W).
        kernel_size: int or (kh, kw) pair: window size along H and along W.
        stride: int or (sh, sw) pair, or None (the default) meaning stride = kernel_size.

    Returns:
        out: float array, shape (N, C, Ho, Wo) with Ho = (H - kh)//sh + 1 and
             Wo = (W - kw)//sw + 1, out[n, c, i, j] = max of x[n, c, i*sh:i*sh+kh, j*sw:j*sw+kw].
        cache: anything maxpool2d_backward needs.

    Hint: `_pair(kernel_size)` returns (kh, kw); for the stride use kernel_size when stride is None.
    Loop over (i, j); window.max(axis=(2, 3)) handles all n and c at once.
    Do not modify x.
    """
    ### BEGIN SOLUTION
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    Ho = (H - kh) // sh + 1
    Wo = (W - kw) // sw + 1

    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, s = i * sh, j * sw
            out[:, :, i, j] = x[:, :, r:r + kh, s:s + kw].max(axis=(2, 3))

    cache = (x, kernel_size, stride)
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "maxpool2d_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shapes: 5x7 input, kernel 3, stride 2 -> (5-3)//2+1 = 2, (7-3)//2+1 = 3;
#         5x5 input, kernel 2, default stride 2 -> 2x2 (last row and column dropped)
x_demo = np.random.default_rng(2).standard_normal((2, 3, 5, 7))
out_demo, _ = maxpool2d_forward(x_demo, 3, stride=2)
expect_shape("maxpool2d_forward output (x 2x3x5x7, kernel 3, stride 2)", out_demo, (2, 3, 2, 3),
             "Ho = (H - kh)//sh + 1 (floor); the stride is not always the kernel size.")
out_demo, _ = maxpool2d_forward(x_demo[:, :, :, :5], 2)
expect_shape("maxpool2d_forward output (x 2x3x5x5, kernel 2, default stride)", out_demo,
             (2, 3, 2, 2), "stride=None means stride = kernel_size; floor division drops row 4.")

# Hand-worked example from the text above (integer input)
x_demo = np.array([[[[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 2], [3, 3, 6, 6]]]])
out_demo, _ = maxpool2d_forward(x_demo, 2)
expect_close("maxpool2d_forward worked example", out_demo, [[[[4.0, 5.0], [3.0, 7.0]]]],
             "out[i, j] = max of the 2x2 window starting at (i*2, j*2).")
assert np.asarray(out_demo).dtype.kind == "f", (
    f"maxpool2d_forward: integer input must give a float array, got dtype {np.asarray(out_demo).dtype}. "
    "Likely cause: out allocated with np.zeros_like(x); use np.zeros((N, C, Ho, Wo)).")
print("maxpool2d_forward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "maxpool2d_forward_hidden", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for maxpool2d_forward (15 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_maxpool2d_forward(maxpool2d_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Max pooling: backward pass (20 points)
#
# `out[n, c, i, j]` equals one element of its window, the maximum; the other elements do not
# influence it. So its derivative is 1 for that element and 0 for all others, and the chain
# rule **routes** `dout[n, c, i, j]` to the position of the maximum:
#
# ```
# for every n, c, i, j:
#     window = x[n, c, i*sh:i*sh+kh, j*sw:j*sw+kw]
#     u, v = position of the FIRST maximum of window (row-major)
#     dx[n, c, i*sh+u, j*sw+v] += dout[n, c, i, j]
# ```
#
# * **Ties** (several elements equal to the maximum, common with integer or ReLU inputs): the
#   **whole** gradient goes to the **first** maximum in row-major order (top row first, left to
#   right), as in PyTorch. `np.argmax(window)` returns exactly that flat index `k`; then
#   `u, v = divmod(k, kw)`. A window `[[1, 1], [1, 1]]` with `dout = g` gives `[[g, 0], [0, 0]]`.
#   Splitting `g` among the ties, or giving every tie the full `g`, is wrong here.
# * Take the argmax **per sample and per channel**, never over a whole `(N, C, kh, kw)` block.
# * **Overlapping windows** (stride < kernel): one element can be the maximum of several
#   windows, so gradients accumulate with `+=`.
# * Rows/columns dropped by the floor in the output size get gradient **0**.
# * `dx` is a **float** array with `x`'s shape, also when `x` is an integer array:
#   `np.zeros_like(x)` would be an integer array and silently truncate `0.75` to `0`.
#
# **Worked example** (the visible test below), kernel 2 (stride 2), integer `x`:
#
# ```
# x = [[1, 1 | 0, 2],      dout = [[0.5, 0.25]]     dx = [[0.5, 0, 0, 0.25],
#      [1, 1 | 2, 1]]                                     [0,   0, 0, 0   ]]
# ```
#
# The left window is all 1s: the first one, `x[0, 0]`, gets `0.5`. The right window
# `[[0, 2], [2, 1]]` has two 2s; the first in row-major order is at `(0, 1)` of the window,
# i.e. `x[0, 3]`, which gets `0.25`.

# %% nbgrader={"grade": false, "grade_id": "maxpool2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool2d_backward(dout, cache):
    """Backward pass of maxpool2d_forward.

    Args:
        dout: upstream gradient dL/dout, shape (N, C, Ho, Wo).
        cache: the cache returned by maxpool2d_forward.

    Returns:
        dx: float array with x's shape (N, C, H, W): each dout[n, c, i, j] is added to the
            position of the FIRST maximum (row-major) of window (i, j) of x[n, c];
            all other positions (and dropped rows/columns) receive 0.

    Hint: dx = np.zeros(x.shape) (float). For each n, c, i, j:
    k = np.argmax(window); u, v = divmod(k, kw); dx[n, c, i*sh+u, j*sw+v] += dout[n, c, i, j].
    Do not modify dout or the cache.
    """
    ### BEGIN SOLUTION
    x, kernel_size, stride = cache
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape

    dx = np.zeros((N, C, H, W))                  # float, even when x is an integer array
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    r, s = i * sh, j * sw
                    window = x[n, c, r:r + kh, s:s + kw]
                    k = np.argmax(window)        # first maximum in row-major order
                    u, v = divmod(int(k), kw)
                    dx[n, c, r + u, s + v] += dout[n, c, i, j]   # windows may overlap
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "maxpool2d_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shape: dx has x's shape, also when the last row/column is dropped (5x5, kernel 2)
x_demo = np.random.default_rng(3).standard_normal((2, 3, 5, 5))
out_demo, cache_demo = maxpool2d_forward(x_demo, 2)
dx_demo = maxpool2d_backward(np.ones_like(out_demo), cache_demo)
expect_shape("maxpool2d_backward dx", dx_demo, x_demo.shape,
             "dx = np.zeros(x.shape); dropped rows/columns simply keep 0.")

# Hand-worked example from the text above (integer input with ties, fractional dout)
x_demo = np.array([[[[1, 1, 0, 2], [1, 1, 2, 1]]]])
_, cache_demo = maxpool2d_forward(x_demo, 2)
dx_demo = maxpool2d_backward(np.array([[[[0.5, 0.25]]]]), cache_demo)
expect_close("maxpool2d_backward worked example", dx_demo,
             [[[[0.5, 0.0, 0.0, 0.25], [0.0, 0.0, 0.0, 0.0]]]],
             "the whole gradient goes to the FIRST maximum (row-major) of each window; "
             "dx must be a float array (np.zeros(x.shape), not np.zeros_like(x)).")
print("maxpool2d_backward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "maxpool2d_backward_hidden", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for maxpool2d_backward (20 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_maxpool2d_backward(maxpool2d_forward, maxpool2d_backward)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Flatten: forward pass (10 points)
#
# A dense layer expects one vector per sample, so the feature maps `(N, C, H, W)` become a
# matrix `(N, D)` with `D = C*H*W`, in **C order** (channel, then row, then column; the last
# index varies fastest):
#
# $$\text{out}[n,\;(c\cdot H + h)\cdot W + w] = x[n, c, h, w]$$
#
# In NumPy this is `x.reshape(N, -1)` (NumPy's default order is C order). Traps:
#
# * `x.reshape(-1)` or `x.ravel()` loses the batch axis; `np.squeeze` turns `N = 1` into a
#   vector: `N = 1` must stay a `(1, D)` matrix.
# * Transposing to NHWC first (`x.transpose(0, 2, 3, 1)`) interleaves the channels: same
#   shape, wrong order.
#
# **Worked example** (the visible test below): `x = np.arange(12).reshape(1, 2, 2, 3)`, i.e.
# channel 0 = `[[0, 1, 2], [3, 4, 5]]`, channel 1 = `[[6, 7, 8], [9, 10, 11]]`, gives
# `out = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]`, shape `(1, 12)`.
# NHWC order would give `[[0, 6, 1, 7, 2, 8, ...]]`.
#
# **Cache**: the backward pass only needs `x.shape`.

# %% nbgrader={"grade": false, "grade_id": "flatten_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flatten_forward(x):
    """Flatten every sample: (N, C, H, W) -> (N, C*H*W), C order (channel, row, column).

    Args:
        x: input, shape (N, C, H, W).

    Returns:
        out: shape (N, C*H*W), out[n, (c*H + h)*W + w] = x[n, c, h, w]; N = 1 gives (1, D).
        cache: what flatten_backward needs (x's shape).

    Hint: one reshape that keeps the batch axis. Do not modify x (no x.shape = ...).
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1)
    cache = x.shape
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "flatten_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shape: (2, 3, 4, 5) -> (2, 60)
out_demo, _ = flatten_forward(np.zeros((2, 3, 4, 5)))
expect_shape("flatten_forward output (x 2x3x4x5)", out_demo, (2, 60),
             "keep the batch axis: reshape to (N, C*H*W), not reshape(-1).")

# Hand-worked example from the text above
out_demo, _ = flatten_forward(np.arange(12).reshape(1, 2, 2, 3))
expect_close("flatten_forward worked example", out_demo,
             [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]],
             "C order (channel, row, column) with the batch axis kept: x.reshape(N, -1); "
             "no NHWC transpose, no squeeze.")
print("flatten_forward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "flatten_forward_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for flatten_forward (10 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_flatten_forward(flatten_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Flatten: backward pass (10 points)
#
# Flatten only moves numbers around: `out[n, (c*H + h)*W + w]` **is** `x[n, c, h, w]`. So the
# gradient of `x[n, c, h, w]` is `dout[n, (c*H + h)*W + w]`, i.e. `dout` reshaped back to `x`'s
# shape **in the same C order**: `dx = dout.reshape(x_shape)`, with `x_shape` taken from the
# cache. Returning `dout` unchanged (shape `(N, D)`) breaks the layer below, which expects
# `(N, C, H, W)`. Do not reshape `dout` in place (`dout.shape = ...` changes the caller's array).
#
# **Worked example** (the visible test below): for `x` of shape `(1, 2, 2, 3)` and
# `dout = [[0, 1, 2, ..., 11]]`, `dx = [[[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]]`.

# %% nbgrader={"grade": false, "grade_id": "flatten_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flatten_backward(dout, cache):
    """Backward pass of flatten_forward.

    Args:
        dout: upstream gradient, shape (N, C*H*W).
        cache: the cache returned by flatten_forward.

    Returns:
        dx: shape (N, C, H, W) (x's shape), dx[n, c, h, w] = dout[n, (c*H + h)*W + w].

    Hint: reshape in the same (C) order as the forward pass. Do not modify dout.
    """
    ### BEGIN SOLUTION
    dx = dout.reshape(cache)
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "flatten_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Shape: dx has x's shape
out_demo, cache_demo = flatten_forward(np.zeros((2, 3, 4, 5)))
dx_demo = flatten_backward(np.ones((2, 60)), cache_demo)
expect_shape("flatten_backward dx (x 2x3x4x5)", dx_demo, (2, 3, 4, 5),
             "reshape dout back to x's shape, stored in the cache.")

# Hand-worked example from the text above
_, cache_demo = flatten_forward(np.zeros((1, 2, 2, 3)))
dx_demo = flatten_backward(np.arange(12.0).reshape(1, 12), cache_demo)
expect_close("flatten_backward worked example", dx_demo,
             [[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [[6.0, 7.0, 8.0], [9.0, 10.0, 11.0]]]],
             "dx = dout.reshape(x_shape) in C order (no transpose).")
print("flatten_backward: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "flatten_backward_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for flatten_backward (10 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_flatten_backward(flatten_forward, flatten_backward)
### END HIDDEN TESTS
