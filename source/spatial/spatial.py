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
# **Points ({total_points} in total)**: part 1 is sections 1-6, part 2 sections 7-12. Each hidden test
# groups its cases; a group you pass earns its share of the points.
#
# <!-- points table -->
#
# Part 2 makes the convolution fast (im2col: one matrix multiplication) and trains a small CNN on
# handwritten digits with your layers. Its two fast convolution functions must be vectorised: their
# hidden tests also measure the speed (item 5 below applies to part 1 only).
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
#    arrays.
# 5. Loops over output positions, kernel offsets or filters are perfectly fine; correctness first.
# 6. Integer inputs: like PyTorch, a forward pass may return integers or floats as long as the
#    values are exact; a gradient must never be truncated: build gradient buffers as float
#    (np.zeros(x.shape)), not np.zeros_like(x) of an integer x.
# 7. Each section explains how to derive its function. When you are stuck, open the hints below it
#    one at a time (**Hint 1**, then **Hint 2**, then **The loop**): try on your own first.
# 8. Only numpy (and matplotlib for the plots) is available when your notebook is graded;
#    `requirements-student.txt` next to this notebook lists what to install.

# %% nbgrader={"grade": false, "grade_id": "check_environment", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run this cell first: it checks that the packages this notebook needs are installed
# (requirements-student.txt, next to this notebook, lists them with their versions).
import importlib.metadata
import importlib.util

for _package in ("numpy", "matplotlib"):
    if importlib.util.find_spec(_package) is None:
        print(f"missing package {_package}: install it with  %pip install -r requirements-student.txt  "
              "(in a cell of this notebook, or pip in a terminal), then restart the kernel")
    else:
        print(f"found {_package} {importlib.metadata.version(_package)}")


class visible_tests:
    """`with visible_tests():` around a visible test: a function you have not written yet is
    reported in one line instead of a NotImplementedError traceback; other errors show as usual."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None or not issubclass(kind, NotImplementedError):
            return False
        while trace.tb_next is not None:
            trace = trace.tb_next
        name = trace.tb_frame.f_code.co_name
        what = name if name.isidentifier() else "a function this cell needs"
        print(f"{what} is not implemented yet (delete the raise line and write your code)")
        return True


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
# When your work is graded, the grader fills it in (the hidden checks).
### BEGIN HIDDEN TESTS
# grader module: grader/checks.py as _grader
### END HIDDEN TESTS

# %% [markdown]
# ## 1. Convolution: forward pass ({points:conv2d_forward_hidden} points)
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
# So `out = [[0, 2, 4], [8, 10, 12]]` (integer or float: the values are exact either way).
# With the flipped kernel `[[-1, 0], [2, 1]]` you would get `out[0, 0] = 1 - 1 + 10 + 6 = 16`.
#
# **Cache**: store what the backward pass needs, e.g. `(x, w, b, stride, padding)`.
#
# <details><summary>Hint 1</summary>
#
# Start with the sizes: `sh, sw = _pair(stride)`, `ph, pw = _pair(padding)`, then `Ho`, `Wo` from
# the formula above. Build `xpad` as a **new** array of zeros of shape `(N, C, H + 2*ph, W +
# 2*pw)` and copy `x` into its middle: `x` itself never changes.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Fix one output position `(i, j)`. The window `xpad[:, :, i*sh:i*sh+KH, j*sw:j*sw+KW]` has shape
# `(N, C, KH, KW)`, and filter `w[f]` has shape `(C, KH, KW)`: multiply them (broadcasting) and
# sum over the last three axes to get `out[:, f, i, j]` for all `N` samples at once.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# for i in range(Ho):
#     for j in range(Wo):
#         window = xpad[:, :, i*sh:i*sh+KH, j*sw:j*sw+KW]          # (N, C, KH, KW)
#         for f in range(F):
#             out[:, f, i, j] = (window * w[f]).sum(axis=(1, 2, 3)) + b[f]
# ```
#
# </details>

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
        out: shape (N, F, Ho, Wo) with Ho = (H + 2*ph - KH)//sh + 1 and
             Wo = (W + 2*pw - KW)//sw + 1, where
             out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]
             (xpad: x with ph zero rows above and below, pw zero columns left and right).
             Integer inputs may give integers or floats, as long as the values are exact.
        cache: anything conv2d_backward needs (e.g. the inputs, stride and padding).

    x, w and b are not modified.
    """
    ### BEGIN SOLUTION
    sh, sw = _pair(stride)  # (along H, along W)
    ph, pw = _pair(padding)  # (along H, along W)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1

    # Zero-pad H and W only, into a new float array (x itself is never modified).
    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x

    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):  # every output row
        for j in range(Wo):  # every output column
            r, s = i * sh, j * sw                       # top-left corner of the window
            window = xpad[:, :, r:r + KH, s:s + KW]     # (N, C, KH, KW)
            for f in range(F):  # every filter
                # sum over c, u, v for all samples at once -> shape (N,)
                out[:, f, i, j] = np.sum(window * w[f], axis=(1, 2, 3)) + b[f]

    cache = (x, w, b, stride, padding)
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
    print("conv2d_forward: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "conv2d_forward_hidden", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for conv2d_forward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_forward(conv2d_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Convolution: backward pass ({points:conv2d_backward_hidden} points)
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
# weight that produced `out[n, f, i, j]`, multiplied by that partial derivative; an element or a
# weight that helped produce several output numbers receives the sum of all those contributions.
# Derive `dx`, `dw` and `db` from this on the worked example below before you write code.
# `dout` and the cache are read-only: never write into them (nor into `x`, `w` stored there).
# Integer inputs: like PyTorch, a forward pass may return integers or floats as long as the
# values are exact; a gradient must never be truncated: build gradient buffers as float
# (np.zeros(x.shape)), not np.zeros_like(x) of an integer x.
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
#
# <details><summary>Hint 1</summary>
#
# Which output numbers did one input element help produce? When the stride is smaller than the
# kernel, windows overlap: an element gets contributions from several windows (and from every
# filter `f`), so gradients are **added** (`+=`, never `=`). Every sample uses the same weights,
# so `dw` and `db` sum over the batch too; `db[f]` is the sum of `dout[:, f]`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Accumulate into **new** float arrays of zeros: `dxpad` with the *padded* shape, `dw` with `w`'s
# shape. At the end crop the padding so that `dx.shape == x.shape`: `dxpad[:, :, ph:ph + H, pw:pw
# + W]`. Beware `dxpad[:, :, p:-p, p:-p]`: with `p = 0` it is `0:-0 = 0:0`, an **empty** array.
# Use the same `w[f, c, u, v]` (not flipped) as the forward pass at offset `(u, v)`.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# for every n, f, i, j and every c, u, v:
#     dxpad[n, c, i*sh+u, j*sw+v] += dout[n, f, i, j] * w[f, c, u, v]
#     dw[f, c, u, v]              += dout[n, f, i, j] * xpad[n, c, i*sh+u, j*sw+v]
# db[f] = sum over n, i, j of dout[n, f, i, j]
# dx = dxpad[:, :, ph:ph+H, pw:pw+W]
# ```
# Vectorise the inner `n, c, u, v` part like the forward pass: for one `(i, j)` and `f`,
# `dout[:, f, i, j]` has shape `(N,)` and the window `(N, C, KH, KW)`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_backward(dout, cache):
    """Backward pass of conv2d_forward.

    Args:
        dout: upstream gradient dL/dout, shape (N, F, Ho, Wo).
        cache: the cache returned by conv2d_forward (use it only as you stored it).

    Returns:
        dx: dL/dx, shape (N, C, H, W), the same as x (float, never truncated).
        dw: dL/dw, shape (F, C, KH, KW).
        db: dL/db, shape (F,).

    dout and the cache are not modified.
    """
    ### BEGIN SOLUTION
    x, w, b, stride, padding = cache
    sh, sw = _pair(stride)  # (along H, along W)
    ph, pw = _pair(padding)  # (along H, along W)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape

    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x

    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    dw = np.zeros((F, C, KH, KW))
    db = dout.sum(axis=(0, 2, 3))                        # b[f] touches every out[:, f]

    for i in range(Ho):  # every output row
        for j in range(Wo):  # every output column
            r, s = i * sh, j * sw
            window = xpad[:, :, r:r + KH, s:s + KW]      # (N, C, KH, KW)
            for f in range(F):  # every filter
                g = dout[:, f, i, j].reshape(N, 1, 1, 1)  # one upstream value per sample
                dw[f] += np.sum(g * window, axis=0)       # sum over the batch
                dxpad[:, :, r:r + KH, s:s + KW] += g * w[f]   # windows overlap: +=

    dx = dxpad[:, :, ph:ph + H, pw:pw + W]               # crop (also correct for p = 0)
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
# Hidden tests for conv2d_backward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_backward(conv2d_forward, conv2d_backward)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Max pooling: forward pass ({points:maxpool2d_forward_hidden} points)
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
# * Integer inputs: like PyTorch, a forward pass may return integers or floats as long as the
#   values are exact; a gradient must never be truncated: build gradient buffers as float
#   (np.zeros(x.shape)), not np.zeros_like(x) of an integer x.
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
#
# <details><summary>Hint 1</summary>
#
# `kh, kw = _pair(kernel_size)`; the stride is the kernel size when `stride is None`, else
# `_pair(stride)`. Compute `Ho`, `Wo` first; build `out` as a new array.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# For one output position `(i, j)` the window `x[:, :, i*sh:i*sh+kh, j*sw:j*sw+kw]` has shape
# `(N, C, kh, kw)`; its maximum over the last two axes, `.max(axis=(2, 3))`, is `out[:, :, i, j]`
# for every sample and channel at once.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# for i in range(Ho):
#     for j in range(Wo):
#         out[:, :, i, j] = x[:, :, i*sh:i*sh+kh, j*sw:j*sw+kw].max(axis=(2, 3))
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "maxpool2d_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool2d_forward(x, kernel_size, stride=None):
    """Forward pass of 2-D max pooling (PyTorch semantics, no padding).

    Args:
        x: input, shape (N, C, H, W).
        kernel_size: int or (kh, kw) pair: window size along H and along W.
        stride: int or (sh, sw) pair, or None (the default) meaning stride = kernel_size.

    Returns:
        out: shape (N, C, Ho, Wo) with Ho = (H - kh)//sh + 1 and Wo = (W - kw)//sw + 1,
             out[n, c, i, j] = max of x[n, c, i*sh:i*sh+kh, j*sw:j*sw+kw]. Integer inputs may
             give integers or floats, as long as the values are exact.
        cache: anything maxpool2d_backward needs.

    x is not modified.
    """
    ### BEGIN SOLUTION
    kh, kw = _pair(kernel_size)  # (along H, along W)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    Ho = (H - kh) // sh + 1
    Wo = (W - kw) // sw + 1

    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):  # every output row
        for j in range(Wo):  # every output column
            r, s = i * sh, j * sw
            out[:, :, i, j] = x[:, :, r:r + kh, s:s + kw].max(axis=(2, 3))

    cache = (x, kernel_size, stride)
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "maxpool2d_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
    print("maxpool2d_forward: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "maxpool2d_forward_hidden", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for maxpool2d_forward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_maxpool2d_forward(maxpool2d_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Max pooling: backward pass ({points:maxpool2d_backward_hidden} points)
#
# `out[n, c, i, j]` equals one element of its window, the maximum; the other elements do not
# influence it. Write down the partial derivative of `out[n, c, i, j]` with respect to each
# element of its window, and apply the chain rule as in section 2: where does `dout[n, c, i, j]`
# go?
#
# * **Ties** (several elements equal to the maximum, common with integer or ReLU inputs): the
#   **whole** gradient goes to the **first** maximum in row-major order (top row first, left to
#   right), as in PyTorch. A window `[[1, 1], [1, 1]]` with `dout = g` gives `[[g, 0], [0, 0]]`.
#   Splitting `g` among the ties, or giving every tie the full `g`, is wrong here.
# * Rows/columns dropped by the floor in the output size get gradient **0**.
# * Integer inputs: like PyTorch, a forward pass may return integers or floats as long as the
#   values are exact; a gradient must never be truncated: build gradient buffers as float
#   (np.zeros(x.shape)), not np.zeros_like(x) of an integer x.
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
#
# <details><summary>Hint 1</summary>
#
# The derivative is 1 for the position of the maximum and 0 elsewhere: the chain rule **routes**
# `dout[n, c, i, j]` to that one position. With overlapping windows (stride < kernel) one element
# can be the maximum of several windows: add (`+=`). Find the maximum **per sample and per
# channel**, never over a whole `(N, C, kh, kw)` block.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `np.argmax(window)` of a 2-D window returns the flat index `k` of its **first** maximum in
# row-major order, exactly the tie rule; `u, v = divmod(k, kw)` turns it into the row and column
# inside the window. Start from `dx = np.zeros(x.shape)` (float).
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# for every n, c, i, j:
#     window = x[n, c, i*sh:i*sh+kh, j*sw:j*sw+kw]
#     u, v = divmod(np.argmax(window), kw)          # the FIRST maximum (row-major)
#     dx[n, c, i*sh+u, j*sw+v] += dout[n, c, i, j]
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "maxpool2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool2d_backward(dout, cache):
    """Backward pass of maxpool2d_forward.

    Args:
        dout: upstream gradient dL/dout, shape (N, C, Ho, Wo).
        cache: the cache returned by maxpool2d_forward.

    Returns:
        dx: dL/dx, float, with x's shape (N, C, H, W). With ties, the whole gradient of a
            window goes to its FIRST maximum in row-major order (as in PyTorch); elements in
            no window (dropped rows/columns) get 0.

    dout and the cache are not modified.
    """
    ### BEGIN SOLUTION
    x, kernel_size, stride = cache
    kh, kw = _pair(kernel_size)  # (along H, along W)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape

    n_idx, c_idx = np.indices((N, C))            # every (sample, channel) pair

    dx = np.zeros((N, C, H, W))                  # float, even when x is an integer array
    for i in range(Ho):  # every output row
        for j in range(Wo):  # every output column
            r, s = i * sh, j * sw
            window = x[:, :, r:r + kh, s:s + kw].reshape(N, C, kh * kw)
            k = np.argmax(window, axis=2)        # first maximum (row-major), per (n, c)
            u, v = np.divmod(k, kw)
            # one index per (n, c) in this window, so += on fancy indices is safe here;
            # overlapping windows accumulate through the loop
            dx[n_idx, c_idx, r + u, s + v] += dout[:, :, i, j]
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "maxpool2d_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
# Hidden tests for maxpool2d_backward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_maxpool2d_backward(maxpool2d_forward, maxpool2d_backward)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Flatten: forward pass ({points:flatten_forward_hidden} points)
#
# A dense layer expects one vector per sample, so the feature maps `(N, C, H, W)` become a
# matrix `(N, D)` with `D = C*H*W`, in **C order** (channel, then row, then column; the last
# index varies fastest):
#
# $$\text{out}[n,\;(c\cdot H + h)\cdot W + w] = x[n, c, h, w]$$
#
# `N = 1` must stay a `(1, D)` matrix, and the order matters: flattening in NHWC order
# (channel last) gives the same shape with the channels interleaved, i.e. wrong numbers.
#
# **Worked example** (the visible test below): `x = np.arange(12).reshape(1, 2, 2, 3)`, i.e.
# channel 0 = `[[0, 1, 2], [3, 4, 5]]`, channel 1 = `[[6, 7, 8], [9, 10, 11]]`, gives
# `out = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]`, shape `(1, 12)`.
# NHWC order would give `[[0, 6, 1, 7, 2, 8, ...]]`.
#
# **Cache**: the backward pass only needs `x.shape`.
#
# <details><summary>Hint 1</summary>
#
# NumPy's `reshape` reads and writes elements in C order (last index fastest) by default, which
# is exactly the order above. It returns a new view; `x.shape = ...` would change the caller's
# array.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Keep the batch axis: `x.reshape(-1)`, `x.ravel()` and `np.squeeze` lose it (or lose it when `N
# = 1`). `-1` in a shape means "whatever size is left".
#
# </details>
#
# <details><summary>The code</summary>
#
# `out = x.reshape(x.shape[0], -1)` and `cache = x.shape`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "flatten_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flatten_forward(x):
    """Flatten every sample: (N, C, H, W) -> (N, C*H*W), C order (channel, row, column).

    Args:
        x: input, shape (N, C, H, W).

    Returns:
        out: shape (N, C*H*W), out[n, (c*H + h)*W + w] = x[n, c, h, w]; N = 1 gives (1, D).
        cache: what flatten_backward needs (x's shape).

    x is not modified.
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1)  # one row per sample, C order
    cache = x.shape
    return out, cache
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "flatten_forward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
# Hidden tests for flatten_forward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_flatten_forward(flatten_forward)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Flatten: backward pass ({points:flatten_backward_hidden} points)
#
# Flatten only moves numbers around: `out[n, (c*H + h)*W + w]` **is** `x[n, c, h, w]`. So the
# partial derivative of `out[n, k]` with respect to `x[n, c, h, w]` is 1 when `k = (c*H + h)*W + w`
# and 0 otherwise: what does the chain rule make of `dx[n, c, h, w]`? Returning `dout` unchanged
# (shape `(N, D)`) breaks the layer below, which expects `(N, C, H, W)`.
#
# **Worked example** (the visible test below): for `x` of shape `(1, 2, 2, 3)` and
# `dout = [[0, 1, 2, ..., 11]]`, `dx = [[[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]]`.
#
# <details><summary>Hint 1</summary>
#
# `dx[n, c, h, w] = dout[n, (c*H + h)*W + w]`: the same C order as the forward pass, read
# backwards. `x`'s shape is in the cache.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Undoing a reshape is a reshape. Do not reshape `dout` in place (`dout.shape = ...` changes the
# caller's array).
#
# </details>
#
# <details><summary>The code</summary>
#
# `dx = dout.reshape(x_shape)` with `x_shape = cache`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "flatten_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flatten_backward(dout, cache):
    """Backward pass of flatten_forward.

    Args:
        dout: upstream gradient, shape (N, C*H*W).
        cache: the cache returned by flatten_forward.

    Returns:
        dx: shape (N, C, H, W) (x's shape), dx[n, c, h, w] = dout[n, (c*H + h)*W + w].

    dout is not modified.
    """
    ### BEGIN SOLUTION
    dx = dout.reshape(cache)
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "flatten_backward_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
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
# Hidden tests for flatten_backward ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_flatten_backward(flatten_forward, flatten_backward)
### END HIDDEN TESTS

# %% [markdown]
# # Part 2: fast convolution (im2col) and a CNN that learns ({points:im2col_hidden+col2im_hidden+conv2d_forward_fast_hidden+conv2d_backward_fast_hidden+cnn_gradient_hidden+cnn_accuracy_hidden} points)
#
# Your part-1 `conv2d_forward` runs a Python loop over every output position (and filter). Each
# iteration does very little arithmetic, so almost all the time goes into the Python
# interpreter. In part 2 you remove those loops: you look at the input through a **view** that
# shows all windows at once, turn the convolution into **one matrix multiplication**, and then
# train a small convolutional network on images of handwritten digits with your own layers.
#
# | section | you write | points |
# |---|---|---|
# | 8 | `im2col(x, kernel_size, stride=1, padding=0)` | 10 |
# | 9 | `col2im(cols, x_shape, kernel_size, stride=1, padding=0)` | 10 |
# | 10 | `conv2d_forward_fast(x, w, b, stride=1, padding=0)` (values and speed) | 10 |
# | 11 | `conv2d_backward_fast(dout, cache)` (values and speed) | 10 |
# | 12a | `cnn_loss(params, X, y)` (gradient check of the whole network) | 10 |
# | 12b | `train_cnn(X_train, y_train, ...)` (held-out accuracy of at least 95%) | 10 |
#
# Same rules as in part 1 (same shapes, PyTorch semantics, never modify inputs, `dout` or the
# cache), with one new rule: **the two fast functions must be vectorised**. Their hidden tests
# measure the speed (section 10); a Python loop over output positions is too slow there.
#
# ## 7. What a NumPy array really is: memory, shape and strides
#
# An `ndarray` is a block of memory plus a description of how to read it:
#
# * `dtype` / `itemsize`: what one number is and how many bytes it takes (float64: 8 bytes);
# * `shape`: how many entries there are along each axis;
# * `strides`: how many **bytes** to jump in memory to move one step along each axis.
#
# The element `x[i, j, k]` is stored `i*strides[0] + j*strides[1] + k*strides[2]` bytes after
# the start of the block. For `x = np.arange(24.0).reshape(2, 3, 4)` (float64, C order):
#
# ```
# x.shape   = (2, 3, 4)
# x.strides = (96, 32, 8)    # 96 = 3*4*8 bytes to the next block, 32 = 4*8 to the next row,
#                            #  8 bytes to the next column
# x[1, 2, 3] is 1*96 + 2*32 + 3*8 = 184 bytes = 23 numbers after the start: its value is 23.0
# ```
#
# Many operations only write a **new description of the same memory** (a *view*, no copy, no
# matter how big the array is):
#
# * `x.T` reverses shape and strides: shape `(4, 3, 2)`, strides `(8, 32, 96)`;
# * `x[:, :, ::2]` (every other column): shape `(2, 3, 2)`, strides `(96, 32, 16)`;
# * `x.reshape(6, 4)`: strides `(32, 8)`.
#
# A reshape that cannot be described with strides, e.g. `x.T.reshape(24)`, makes a **copy**.
#
# ### All windows at once, without copying: `as_strided`
#
# `np.lib.stride_tricks.as_strided(a, shape, strides)` returns a view of `a`'s memory with the
# shape and strides **you** give. Sliding windows of length 3 over `a = np.arange(6.0)`
# (strides `(8,)`): the next window starts 8 bytes later, and inside a window the next number
# is 8 bytes later:
#
# ```
# as_strided(a, shape=(4, 3), strides=(8, 8))  ->  [[0., 1., 2.],
#                                                  [1., 2., 3.],
#                                                  [2., 3., 4.],
#                                                  [3., 4., 5.]]
# ```
#
# Twelve entries, but no new memory: the windows overlap and share the six numbers of `a`.
#
# For a convolution, take the zero-padded input `xpad` of shape `(N, C, Hp, Wp)` with strides
# `(sN, sC, sH, sW)`. Window `(i, j)` of sample `n` reads, at kernel offset `(u, v)` of channel
# `c`, the element `xpad[n, c, i*sh + u, j*sw + v]`, which is stored at byte
#
# $$n\,s_N + c\,s_C + (i s_h + u)\,s_H + (j s_w + v)\,s_W
#   \;=\; n\,s_N + i\,(s_h s_H) + j\,(s_w s_W) + c\,s_C + u\,s_H + v\,s_W .$$
#
# So the view of **shape `(N, Ho, Wo, C, KH, KW)`** with **strides
# `(sN, sh*sH, sw*sW, sC, sH, sW)`** holds every window of every sample, and costs nothing.
#
# **Why `as_strided` is dangerous.** It checks nothing:
#
# * a wrong shape or stride reads memory *outside* the array: garbage numbers, or a crash. Compute
#   `Ho`, `Wo` with the output-size formula and take the strides from the array itself
#   (`xpad.strides`); never type `8` by hand (the array may not be float64, or not contiguous);
# * overlapping windows share memory: writing into one element of the view changes every window
#   that contains it, and the array underneath. Always pass **`writeable=False`**: the view is then
#   read-only and an accidental write raises an error instead of silently corrupting data;
# * build the view on your own padded copy, never on the caller's `x`.
#
# `np.lib.stride_tricks.sliding_window_view(xpad, (KH, KW), axis=(2, 3))` is a safe, read-only
# helper that builds the same windows with stride 1, shape `(N, C, Hp-KH+1, Wp-KW+1, KH, KW)`
# (then take `[:, :, ::sh, ::sw]` and reorder the axes); you may use either. The next cell shows
# all of this; run it and compare with the text.

# %% nbgrader={"grade": false, "grade_id": "strides_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
x_demo = np.arange(24.0).reshape(2, 3, 4)
print("shape", x_demo.shape, "strides", x_demo.strides, "itemsize", x_demo.itemsize)
print("x[1, 2, 3] =", x_demo[1, 2, 3], "= number", (1 * 96 + 2 * 32 + 3 * 8) // 8, "of the block")
print("x.T strides", x_demo.T.strides, "| x[:, :, ::2] strides", x_demo[:, :, ::2].strides,
      "| views share memory:", np.shares_memory(x_demo, x_demo.T))

a_demo = np.arange(6.0)
win_demo = np.lib.stride_tricks.as_strided(a_demo, shape=(4, 3), strides=(8, 8), writeable=False)
print("windows of length 3:\n", win_demo)
print("a view of a_demo, no copy:", np.shares_memory(win_demo, a_demo))
try:
    win_demo[0, 1] = 100.0
except ValueError as err:
    print("writing into the read-only view is refused:", err)

# %% [markdown]
# ## 8. im2col: every window becomes one row ({points:im2col_hidden} points)
#
# `im2col` ("image to columns") copies the windows into a 2-D matrix `cols`:
#
# * one **row** per output position, in `(n, i, j)` order: row `(n*Ho + i)*Wo + j`;
# * one **column** per window element, in `(c, kh, kw)` order: column `(c*KH + u)*KW + v`.
#
# $$\text{cols}\big[(n H_o + i) W_o + j,\; (c\,K_H + u) K_W + v\big] =
#   \text{xpad}[n,\, c,\, i s_h + u,\, j s_w + v]$$
#
# `cols` has shape `(N*Ho*Wo, C*KH*KW)`. The column order is exactly the order of the numbers of
# one filter flattened in C order, `w.reshape(F, -1)[f]`; that is what makes the matrix product of
# section 10 right.
#
# **Worked example** (visible test). `x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]` (N = C = 1),
# kernel 2, stride 1, no padding: `Ho = Wo = 2`, four windows, each read row by row:
#
# ```
#         columns (kh, kw):  (0,0) (0,1) (1,0) (1,1)
# row 0 = window (i=0, j=0): [  1,    2,    4,    5 ]
# row 1 = window (i=0, j=1): [  2,    3,    5,    6 ]
# row 2 = window (i=1, j=0): [  4,    5,    7,    8 ]
# row 3 = window (i=1, j=1): [  5,    6,    8,    9 ]
# ```
#
# Add a second channel equal to `10 * x`: every row gets four more columns, **channel 0 first**,
# so row 0 is `[1, 2, 4, 5, 10, 20, 40, 50]`. The order `(kh, kw, c)` would give
# `[1, 10, 2, 20, 4, 40, 5, 50]`: the same numbers in the wrong places, and wrong convolutions.
# With padding 1, `x = [[1, 2], [3, 4]]` and kernel 2 give `Ho = Wo = 3`, nine rows, from
# `[0, 0, 0, 1]` (the top-left window holds three padding zeros and the 1) to `[4, 0, 0, 0]`.
#
# **Memory cost.** `cols` holds `N*Ho*Wo*C*KH*KW` numbers of 8 bytes (float64), i.e.
# `N*Ho*Wo*C*KH*KW*8` bytes: with stride 1 and padding that keeps the size, every input element
# is copied `KH*KW` times. A batch of `N = 32` images with `C = 16` channels of `32 x 32`, a
# `3 x 3` kernel, stride 1, padding 1 (`Ho = Wo = 32`):
# `32 * 32 * 32 * 16 * 3 * 3 * 8 = 37,748,736` bytes, about **37.7 MB**, for an input `x` of
# `32 * 16 * 32 * 32 * 8` bytes = 4.2 MB (9 times less). That is the price of the speed; real
# libraries process big batches in chunks or use other algorithms.
#
# <details><summary>Hint 1</summary>
#
# Section 7 built the 6-D view `(N, Ho, Wo, C, KH, KW)` of all windows without copying anything:
# element `[n, i, j, c, u, v]` is `xpad[n, c, i*sh + u, j*sw + v]`. Pad into a **new** float
# array first.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# From that view `im2col` is one reshape to `(N*Ho*Wo, C*KH*KW)`: C order puts `(n, i, j)` in the
# rows and `(c, kh, kw)` in the columns. That reshape **copies** (overlapping windows cannot be
# described by the strides of a 2-D array), and it is the only copy.
#
# </details>
#
# <details><summary>The code</summary>
#
# ```
# sN, sC, sH, sW = xpad.strides
# windows = np.lib.stride_tricks.as_strided(
#     xpad, (N, Ho, Wo, C, KH, KW), (sN, sh*sH, sw*sW, sC, sH, sW), writeable=False)
# cols = windows.reshape(N*Ho*Wo, C*KH*KW)
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true, "task": false}
def im2col(x, kernel_size, stride=1, padding=0):
    """All convolution windows of x as the rows of a matrix.

    Args:
        x: input, shape (N, C, H, W).
        kernel_size: int or (KH, KW) pair.
        stride: int or (sh, sw) pair.
        padding: int or (ph, pw) pair: zeros added on both sides of H and of W.

    Returns:
        cols: shape (N*Ho*Wo, C*KH*KW), with Ho = (H + 2*ph - KH)//sh + 1,
              Wo = (W + 2*pw - KW)//sw + 1 and
              cols[(n*Ho + i)*Wo + j, (c*KH + u)*KW + v] = xpad[n, c, i*sh + u, j*sw + v]
              (rows in (n, i, j) order, columns in (c, kh, kw) order, like w.reshape(F, -1)).

    x is not modified; no Python loop is needed.
    """
    ### BEGIN SOLUTION
    KH, KW = _pair(kernel_size)
    sh, sw = _pair(stride)  # (along H, along W)
    ph, pw = _pair(padding)  # (along H, along W)
    N, C, H, W = x.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1

    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))         # new float array: x stays intact
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    sN, sC, sH, sW = xpad.strides                           # bytes per step on each axis
    windows = np.lib.stride_tricks.as_strided(  # a view, no copy
        xpad, shape=(N, Ho, Wo, C, KH, KW),
        strides=(sN, sh * sH, sw * sW, sC, sH, sW), writeable=False)   # a view: no copy yet
    cols = windows.reshape(N * Ho * Wo, C * KH * KW)         # the one copy
    return cols
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "im2col_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
    # Shape: x 2x3x5x7, kernel (3, 2), stride (2, 1), padding (1, 0)
    #        -> Ho = (5 + 2 - 3)//2 + 1 = 3, Wo = (7 - 2)//1 + 1 = 6 -> (2*3*6, 3*3*2) = (36, 18)
    cols_demo = im2col(np.random.default_rng(4).standard_normal((2, 3, 5, 7)), (3, 2),
                       stride=(2, 1), padding=(1, 0))
    expect_shape("im2col cols (x 2x3x5x7, kernel (3, 2), stride (2, 1), padding (1, 0))", cols_demo,
                 (36, 18), "cols has shape (N*Ho*Wo, C*KH*KW); pairs are (along H, along W).")

    # Hand-worked examples from the text above
    x_demo = np.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]])                   # (1, 1, 3, 3)
    expect_close("im2col worked example (one channel)", im2col(x_demo, 2),
                 [[1.0, 2.0, 4.0, 5.0],
                  [2.0, 3.0, 5.0, 6.0],
                  [4.0, 5.0, 7.0, 8.0],
                  [5.0, 6.0, 8.0, 9.0]],
                 "one row per window (i, j), the window read row by row.")
    x_demo = np.concatenate([x_demo, 10 * x_demo], axis=1)                     # (1, 2, 3, 3)
    expect_close("im2col worked example (two channels)", im2col(x_demo, 2),
                 [[1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 40.0, 50.0],
                  [2.0, 3.0, 5.0, 6.0, 20.0, 30.0, 50.0, 60.0],
                  [4.0, 5.0, 7.0, 8.0, 40.0, 50.0, 70.0, 80.0],
                  [5.0, 6.0, 8.0, 9.0, 50.0, 60.0, 80.0, 90.0]],
                 "columns in (c, kh, kw) order: all of channel 0 first (view shape "
                 "(N, Ho, Wo, C, KH, KW)), not (kh, kw, c).")
    expect_close("im2col worked example (padding 1)",
                 im2col(np.array([[[[1, 2], [3, 4]]]]), 2, padding=1),
                 [[0.0, 0.0, 0.0, 1.0],
                  [0.0, 0.0, 1.0, 2.0],
                  [0.0, 0.0, 2.0, 0.0],
                  [0.0, 1.0, 0.0, 3.0],
                  [1.0, 2.0, 3.0, 4.0],
                  [2.0, 0.0, 4.0, 0.0],
                  [0.0, 3.0, 0.0, 0.0],
                  [3.0, 4.0, 0.0, 0.0],
                  [4.0, 0.0, 0.0, 0.0]],
                 "pad H and W with zeros on both sides first: Ho = (2 + 2 - 2)//1 + 1 = 3.")
    print("im2col: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "im2col_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for im2col ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_im2col(im2col)
### END HIDDEN TESTS

# %% [markdown]
# ## 9. col2im: back to the image, adding up the overlaps ({points:col2im_hidden} points)
#
# In the backward pass you receive `dcols = dL/dcols` (the shape of `cols`) and need
# `dx = dL/dx`. Every entry of `cols` is a **copy** of one element of `xpad`, and an element that
# lies in several windows has several copies. The gradient of a value that was copied is the
# **sum** of the gradients of all its copies; then the padding is cropped so that `dx` has the
# shape `x_shape`.
#
# **Accumulate! The fancy-indexing trap.** It is tempting to build index arrays `idx` for all
# entries at once and write `dxpad[idx] += dcols`. That is wrong when windows overlap:
# `a[idx] += v` means `a[idx] = a[idx] + v`; NumPy reads all of `a[idx]`, adds `v`, and writes the
# results back, so for an index that appears several times only **one** update survives:
#
# ```
# a = np.zeros(3); a[[0, 0, 1]] += 1            ->  [1., 1., 0.]   one update of a[0] is lost
# a = np.zeros(3); np.add.at(a, [0, 0, 1], 1)   ->  [2., 1., 0.]   unbuffered: correct
# ```
#
# `np.add.at(a, idx, values)` is unbuffered: it adds every entry, repeats included. The hints
# below show a second correct way, faster and without index arrays.
#
# **col2im is the adjoint (transpose) of im2col, not its inverse.** `im2col` is linear:
# `cols = A x` for a huge 0/1 matrix `A` with a single 1 per row. The backward pass of a linear map
# is its transpose, `dx = A^T dcols`, and that is `col2im`. Hence, for any `x` and any `c` of the
# right shapes,
#
# $$\langle \text{im2col}(x),\, c\rangle = \langle x,\, \text{col2im}(c)\rangle,
#   \qquad \langle a, b\rangle = \texttt{np.sum(a * b)},$$
#
# a test you can run on random arrays (the visible test does). `col2im(im2col(x))` is **not** `x`:
# each element is multiplied by the number of windows that contain it.
#
# **Worked example** (visible test). `x_shape = (1, 1, 3, 3)`, kernel 2, stride 1, `dcols` all ones
# (4 x 4): each element of `dx` counts the windows that contain it,
#
# ```
# dx = [[1, 2, 1],
#       [2, 4, 2],       the centre is in all 4 windows;
#       [1, 2, 1]]       with dxpad[idx] += dcols it would get 1
# ```
#
# With padding 1 and `x_shape = (1, 1, 2, 2)` (nine 2 x 2 windows on the 4 x 4 padded input), every
# element of `x` is in 4 windows: `dx = [[4, 4], [4, 4]]` after cropping.
#
# <details><summary>Hint 1</summary>
#
# Undo the reshape of `im2col` first: `cols.reshape(N, Ho, Wo, C, KH, KW)` puts the window
# element `(c, u, v)` of output position `(n, i, j)` on its own axes.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Fix one kernel offset `(u, v)`: the rows `i*sh + u` (`i = 0 .. Ho-1`) are all different, so the
# strided slice `dxpad[:, :, u : u + sh*(Ho-1) + 1 : sh, v : v + sw*(Wo-1) + 1 : sw]` (shape `(N,
# C, Ho, Wo)`) has no repeated element and `+=` on it is exact. Only `KH*KW` iterations (9 for a
# 3 x 3 kernel), each on whole arrays.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# for every n, i, j, c, u, v:
#     dxpad[n, c, i*sh + u, j*sw + v] += dcols[(n*Ho + i)*Wo + j, (c*KH + u)*KW + v]
# dx = dxpad[:, :, ph:ph + H, pw:pw + W]
# ```
# Vectorised: the loop over `u, v` only, each step adding the `(N, C, Ho, Wo)` block
# `cols6[:, :, :, :, u, v]` (after moving the axes to `(N, C, Ho, Wo, KH, KW)`) to the strided
# slice
# of Hint 2.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "col2im", "locked": false, "schema_version": 3, "solution": true, "task": false}
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """Adjoint of im2col: add every entry of cols back to the input position it was copied from.

    Args:
        cols: shape (N*Ho*Wo, C*KH*KW), rows in (n, i, j) order, columns in (c, kh, kw) order.
        x_shape: (N, C, H, W), the shape of the input of im2col.
        kernel_size, stride, padding: as for im2col (int or pair).

    Returns:
        dx: float, shape x_shape: every element of x receives the sum of the entries of cols
            that were copied from it (all windows; they overlap when the stride is smaller
            than the kernel); padding cropped. The adjoint of im2col:
            np.sum(im2col(x, ...) * cols) == np.sum(x * col2im(cols, x.shape, ...)).

    cols is not modified.
    """
    ### BEGIN SOLUTION
    KH, KW = _pair(kernel_size)
    sh, sw = _pair(stride)  # (along H, along W)
    ph, pw = _pair(padding)  # (along H, along W)
    N, C, H, W = x_shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1

    # row (n, i, j), column (c, u, v)  ->  (N, C, Ho, Wo, KH, KW)
    cols6 = cols.reshape(N, Ho, Wo, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for u in range(KH):
        for v in range(KW):
            # rows u, u + sh, ..., u + (Ho-1)*sh are all different: += on this slice is exact
            dxpad[:, :, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw] += cols6[..., u, v]
    dx = dxpad[:, :, ph:ph + H, pw:pw + W].copy()           # crop (also right for p = 0)
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "col2im_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
    # Shape: the gradient has x's shape (padding cropped)
    dx_demo = col2im(np.ones((36, 18)), (2, 3, 5, 7), (3, 2), stride=(2, 1), padding=(1, 0))
    expect_shape("col2im dx (x_shape (2, 3, 5, 7), kernel (3, 2), stride (2, 1), padding (1, 0))",
                 dx_demo, (2, 3, 5, 7), "dx has shape x_shape: crop with dxpad[:, :, ph:ph+H, pw:pw+W].")

    # Hand-worked examples from the text above
    expect_close("col2im worked example (overlapping windows)", col2im(np.ones((4, 4)), (1, 1, 3, 3), 2),
                 [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]],
                 "overlapping windows must ADD UP: dxpad[idx] += cols with repeated indices keeps "
                 "only one update; use np.add.at or a loop over the KH*KW offsets.")
    expect_close("col2im worked example (padding 1)", col2im(np.ones((9, 4)), (1, 1, 2, 2), 2, padding=1),
                 [[[[4.0, 4.0], [4.0, 4.0]]]],
                 "accumulate on the padded array, then crop the padding (ph:ph+H, not p:-p).")

    # The adjoint identity <im2col(x), c> == <x, col2im(c)> on random arrays (uses your im2col too)
    rng_demo = np.random.default_rng(5)
    x_demo = rng_demo.standard_normal((2, 3, 6, 5))
    c_demo = rng_demo.standard_normal(im2col(x_demo, (3, 2), stride=(2, 1), padding=1).shape)
    lhs_demo = np.sum(im2col(x_demo, (3, 2), stride=(2, 1), padding=1) * c_demo)
    rhs_demo = np.sum(x_demo * col2im(c_demo, x_demo.shape, (3, 2), stride=(2, 1), padding=1))
    assert abs(lhs_demo - rhs_demo) <= 1e-9 * (1 + abs(lhs_demo)), (
        f"adjoint identity: <im2col(x), c> = {lhs_demo:.10g} but <x, col2im(c)> = {rhs_demo:.10g}. "
        "Likely cause: col2im does not add every entry back to the element it was copied from "
        "(or im2col is wrong: check its tests first).")
    print("col2im: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "col2im_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for col2im ({points} points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_col2im(col2im)
### END HIDDEN TESTS

# %% [markdown]
# ## 10. Fast convolution, forward: one matrix multiplication ({points:conv2d_forward_fast_hidden} points)
#
# Row `r = (n*Ho + i)*Wo + j` of `cols` is the window under `out[n, :, i, j]`, flattened in
# `(c, kh, kw)` order, and row `f` of `w.reshape(F, -1)` is filter `f` flattened in the same
# order. The convolution formula of section 1 is their dot product plus the bias:
#
# $$\text{out}[n, f, i, j] = b[f] + \sum_k \text{cols}[r, k]\; \texttt{w.reshape(F, -1)}[f, k]$$
#
# For all positions and all filters at once, that is **one** matrix product (write down the shapes
# of both factors: which one is transposed?). The product runs in optimised compiled code (BLAS),
# which is where the speed comes from.
#
# **Speed is graded.** The hidden tests time your function against a loop version written like
# the part-1 solution (Python loops over `i`, `j` and `f`, NumPy inside) on `x` of shape
# `(1, 1, 144, 224)` and `w` of shape `(1, 1, 2, 2)`, padding 1 (145 x 225 = 32,625 output
# positions),
# calling the two alternately and keeping the best of several runs. Yours must be **at least 20
# times
# faster**. Almost all the time of the loop version is Python overhead, a few microseconds per
# iteration. A vectorised version is typically 100 to 300 times faster; a Python loop over the
# output positions, even one that only copies each window, is at most about 10 times faster and
# fails. Loops over the `KH*KW` kernel offsets or over the filters are fine.
#
# **Cache**: whatever the backward pass needs, e.g. `(x.shape, cols, w, stride, padding)`; keeping
# `cols` saves rebuilding it.
#
# <details><summary>Hint 1</summary>
#
# `cols` is `(N*Ho*Wo, C*KH*KW)` and `w.reshape(F, -1)` is `(F, C*KH*KW)`: their product with one
# of them transposed is `(N*Ho*Wo, F)`, one row per output position, one column per filter; `+ b`
# adds the bias to every row (broadcasting).
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# The rows are in `(n, i, j)` order and the filter is the **last** axis: reshape to `(N, Ho, Wo,
# F)`, then move `F` to axis 1. `out2d.reshape(N, F, Ho, Wo)` has the right shape and wrong
# numbers.
#
# </details>
#
# <details><summary>The code</summary>
#
# ```
# cols  = im2col(x, (KH, KW), stride, padding)          # (N*Ho*Wo, C*KH*KW)
# out2d = cols @ w.reshape(F, -1).T + b                 # (N*Ho*Wo, F)
# out   = out2d.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_fast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    """Vectorised conv2d_forward: same arguments, same semantics, same output.

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, KH, KW).
        b: biases, shape (F,).
        stride, padding: int or (h, w) pair.

    Returns:
        out: shape (N, F, Ho, Wo), equal to conv2d_forward's output.
        cache: anything conv2d_backward_fast needs.

    No Python loop over output positions (the speed is tested). x, w and b are not modified.
    """
    ### BEGIN SOLUTION
    # Instructor's optimised version (students write the im2col + matmul of the text).
    # Stride 1: with x laid out as (C, N*Hp*Wp), the window element at kernel offset
    # (u, v) of EVERY output position sits u*Wp + v further on, so the column matrix is
    # KH*KW contiguous block copies and the product needs no transposes of cols.
    # Other strides: im2col through a read-only as_strided view.
    sh, sw = _pair(stride)  # (along H, along W)
    ph, pw = _pair(padding)  # (along H, along W)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = (Hp - KH) // sh + 1, (Wp - KW) // sw + 1
    dtype = np.result_type(x.dtype, w.dtype, b.dtype, np.float32)
    wmat = w.reshape(F, C * KH * KW).astype(dtype, copy=False)
    if (sh, sw) == (1, 1):
        # Layout (C, N*Hp*Wp): the window at kernel offset (u, v) of every output
        # position is ONE contiguous slice starting u*Wp + v further on.
        xpad = np.zeros((C, N, Hp, Wp), dtype=dtype)
        xpad[:, :, ph:ph + H, pw:pw + W] = x.transpose(1, 0, 2, 3)
        flat = xpad.reshape(C, N * Hp * Wp)
        L = N * Hp * Wp - (KH - 1) * Wp - (KW - 1)
        cols = np.empty((C, KH, KW, L), dtype=dtype)
        for u in range(KH):
            for v in range(KW):
                cols[:, u, v] = flat[:, u * Wp + v:u * Wp + v + L]
        cols = cols.reshape(C * KH * KW, L)
        full = np.empty((F, N * Hp * Wp), dtype=dtype)
        np.matmul(wmat, cols, out=full[:, :L])
        out = np.empty((N, F, Ho, Wo), dtype=dtype)
        np.add(full.reshape(F, N, Hp, Wp)[:, :, :Ho, :Wo].transpose(1, 0, 2, 3),
               b.reshape(1, F, 1, 1), out=out)
        return out, ("shift", x.shape, w, b, (ph, pw), cols)
    # General strides: im2col through an as_strided window view.
    xpad = np.zeros((N, Hp, Wp, C), dtype=dtype)
    xpad[:, ph:ph + H, pw:pw + W, :] = x.transpose(0, 2, 3, 1)
    s0, s1, s2, s3 = xpad.strides
    win = np.lib.stride_tricks.as_strided(
        xpad, (N, Ho, Wo, C, KH, KW), (s0, s1 * sh, s2 * sw, s3, s1, s2), writeable=False)
    cols = win.reshape(N * Ho * Wo, C * KH * KW)
    out = (cols @ wmat.T).reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2) + b.reshape(1, F, 1, 1)
    return out, ("strided", x.shape, w, b, (sh, sw, ph, pw), cols)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_fast_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
    # Shape: 8x8 input, 3x3 kernel, stride 2, padding 1 -> Ho = Wo = (8 + 2 - 3)//2 + 1 = 4
    rng_demo = np.random.default_rng(6)
    out_demo, _ = conv2d_forward_fast(rng_demo.standard_normal((2, 3, 8, 8)),
                                      rng_demo.standard_normal((5, 3, 3, 3)),
                                      rng_demo.standard_normal(5), stride=2, padding=1)
    expect_shape("conv2d_forward_fast output (x 2x3x8x8, w 5x3x3x3, stride 2, padding 1)", out_demo,
                 (2, 5, 4, 4), "out has shape (N, F, Ho, Wo): reshape the (N*Ho*Wo, F) product to "
                 "(N, Ho, Wo, F), then transpose(0, 3, 1, 2).")

    # Hand-worked example of section 1 (integer inputs, non-symmetric kernel)
    out_demo, _ = conv2d_forward_fast(np.array([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]]]),
                                      np.array([[[[1, 2], [0, -1]]]]), np.array([1]))
    expect_close("conv2d_forward_fast worked example of section 1", out_demo,
                 [[[[0.0, 2.0, 4.0], [8.0, 10.0, 12.0]]]],
                 "cross-correlation without flipping the kernel; rows of cols in (n, i, j) order "
                 "and columns in (c, kh, kw) order, like w.reshape(F, -1).")

    # Two filters and two channels: a wrong reshape of the product mixes filters and positions
    x_demo = np.arange(1.0, 19.0).reshape(1, 2, 3, 3)
    w_demo = np.array([[[[1.0]], [[0.0]]], [[[0.0]], [[-1.0]]]])          # (2, 2, 1, 1)
    out_demo, _ = conv2d_forward_fast(x_demo, w_demo, np.array([0.5, 0.0]))
    expect_close("conv2d_forward_fast 1x1 kernels (filter 0 = channel 0 + 0.5, filter 1 = -channel 1)",
                 out_demo, [[[[1.5, 2.5, 3.5], [4.5, 5.5, 6.5], [7.5, 8.5, 9.5]],
                             [[-10.0, -11.0, -12.0], [-13.0, -14.0, -15.0], [-16.0, -17.0, -18.0]]]],
                 "out2d has shape (N*Ho*Wo, F) with rows (n, i, j): reshape to (N, Ho, Wo, F) and "
                 "transpose(0, 3, 1, 2); out2d.reshape(N, F, Ho, Wo) is wrong.")
    print("conv2d_forward_fast: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "conv2d_forward_fast_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for conv2d_forward_fast ({points} points: values and speed) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_forward_fast(conv2d_forward_fast)
### END HIDDEN TESTS

# %% [markdown]
# ## 11. Fast convolution, backward ({points:conv2d_backward_fast_hidden} points)
#
# The forward pass is `out2d = cols @ Wm.T + b` with `Wm = w.reshape(F, -1)`: a linear layer
# applied to every row of `cols`. So the backward pass is that of a linear layer, followed by
# `col2im` to send the gradient of `cols` back to the image (the linear layer's backward pass is
# given in section 12, `linear_backward`: read it). The rules of part 1 hold: `dx` has `x`'s shape,
# `dout` and the cache are never modified, a second call gives the same result. The speed is graded
# like the forward pass: at least 20 times faster than a part-1 style backward loop over `i`, `j`
# and `f`, on the same input as in section 10.
#
# **Worked example** (visible test): the one of section 2, `x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]`,
# `w = [[1, 2], [3, 4]]`, `dout = [[1, 0], [0, 2]]` gives `dx = [[1, 2, 0], [3, 6, 4], [0, 6, 8]]`,
# `dw = [[11, 14], [20, 23]]`, `db = [3]`.
#
# <details><summary>Hint 1</summary>
#
# Bring `dout` into the layout of `out2d`: rows in the `(n, i, j)` order of `cols`, one column
# per filter, i.e. the inverse of the forward pass's last line. Call it `dout2d`, shape
# `(N*Ho*Wo, F)`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# As for a linear layer `out2d = cols @ Wm.T + b`: `db` sums `dout2d` over its rows, `dw` is a
# product of `dout2d` and `cols` (check the shapes: `(F, N*Ho*Wo) @ (N*Ho*Wo, C*KH*KW)`; the
# product does the sum over the batch and all positions), `dcols` is a product of `dout2d` and
# `Wm`, and `col2im` turns `dcols` into `dx`.
#
# </details>
#
# <details><summary>The code</summary>
#
# ```
# dout2d = dout.transpose(0, 2, 3, 1).reshape(N*Ho*Wo, F)
# db     = dout2d.sum(axis=0)
# dw     = (dout2d.T @ cols).reshape(F, C, KH, KW)
# dcols  = dout2d @ w.reshape(F, -1)
# dx     = col2im(dcols, x.shape, (KH, KW), stride, padding)
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_fast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_backward_fast(dout, cache):
    """Vectorised conv2d_backward: same results as conv2d_backward.

    Args:
        dout: upstream gradient, shape (N, F, Ho, Wo).
        cache: the cache returned by conv2d_forward_fast.

    Returns:
        dx: shape (N, C, H, W) (padding cropped), dw: shape (F, C, KH, KW), db: shape (F,).

    No Python loop over output positions (the speed is tested). dout and the cache are not
    modified.
    """
    ### BEGIN SOLUTION
    # Instructor's optimised version: same algebra as the text (dw = dout2d^T cols,
    # dcols = dout2d Wm, col2im), in the layout chosen by conv2d_forward_fast.
    kind, (N, C, H, W), w, b, geo, cols = cache
    F, _, KH, KW = w.shape
    dtype = cols.dtype
    wmat = w.reshape(F, C * KH * KW).astype(dtype, copy=False)
    db = dout.sum(axis=(0, 2, 3)).astype(dtype)
    if kind == "shift":
        ph, pw = geo
        Hp, Wp = H + 2 * ph, W + 2 * pw
        Ho, Wo = Hp - KH + 1, Wp - KW + 1
        L = cols.shape[1]
        g = np.zeros((F, N, Hp, Wp), dtype=dtype)
        g[:, :, :Ho, :Wo] = dout.transpose(1, 0, 2, 3)
        g = g.reshape(F, N * Hp * Wp)[:, :L]
        dw = (g @ cols.T).reshape(w.shape)
        dcols = (wmat.T @ g).reshape(C, KH, KW, L)
        dflat = np.zeros((C, N * Hp * Wp), dtype=dtype)
        for u in range(KH):
            for v in range(KW):
                dflat[:, u * Wp + v:u * Wp + v + L] += dcols[:, u, v]
        dx = dflat.reshape(C, N, Hp, Wp)[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)
        return np.ascontiguousarray(dx), dw, db
    sh, sw, ph, pw = geo
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = dout.shape[2], dout.shape[3]
    g = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F).astype(dtype, copy=False)
    dw = (g.T @ cols).reshape(w.shape)
    dcols = (g @ wmat).reshape(N, Ho, Wo, C, KH, KW)
    dxpad = np.zeros((N, C, Hp, Wp), dtype=dtype)
    for u in range(KH):
        for v in range(KW):
            dxpad[:, :, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw] += \
                dcols[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    return dxpad[:, :, ph:ph + H, pw:pw + W].copy(), dw, db
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_fast_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
    # Shapes: with padding 1 the gradient is cropped back to x's shape
    rng_demo = np.random.default_rng(7)
    x_demo = rng_demo.standard_normal((2, 3, 6, 5))
    w_demo = rng_demo.standard_normal((4, 3, 3, 2))
    out_demo, cache_demo = conv2d_forward_fast(x_demo, w_demo, rng_demo.standard_normal(4),
                                               stride=(2, 1), padding=1)
    dx_demo, dw_demo, db_demo = conv2d_backward_fast(rng_demo.standard_normal(out_demo.shape),
                                                     cache_demo)
    expect_shape("conv2d_backward_fast dx", dx_demo, x_demo.shape,
                 "dx must have x's shape: crop the padding.")
    expect_shape("conv2d_backward_fast dw", dw_demo, w_demo.shape, "dw has w's shape (F, C, KH, KW).")
    expect_shape("conv2d_backward_fast db", db_demo, (4,), "db = dout.sum(axis=(0, 2, 3)).")

    # Hand-worked example of section 2 (no padding, overlapping windows)
    _, cache_demo = conv2d_forward_fast(np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]]),
                                        np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.array([0.0]))
    dx_demo, dw_demo, db_demo = conv2d_backward_fast(np.array([[[[1.0, 0.0], [0.0, 2.0]]]]), cache_demo)
    expect_close("conv2d_backward_fast dx (worked example)", dx_demo,
                 [[[[1.0, 2.0, 0.0], [3.0, 6.0, 4.0], [0.0, 6.0, 8.0]]]],
                 "dcols = dout2d @ w.reshape(F, -1), then col2im: overlaps add up (the centre gets "
                 "4 + 2); with padding 0 do not crop with p:-p.")
    expect_close("conv2d_backward_fast dw (worked example)", dw_demo, [[[[11.0, 14.0], [20.0, 23.0]]]],
                 "dw = (dout2d.T @ cols).reshape(F, C, KH, KW) with dout2d rows in (n, i, j) order.")
    expect_close("conv2d_backward_fast db (worked example)", db_demo, [3.0],
                 "db = dout.sum(axis=(0, 2, 3)).")
    print("conv2d_backward_fast: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "conv2d_backward_fast_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for conv2d_backward_fast ({points} points: values and speed) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_conv2d_backward_fast(conv2d_forward_fast, conv2d_backward_fast)
### END HIDDEN TESTS

# %% [markdown]
# ## 12. A CNN that learns to read digits ({points:cnn_gradient_hidden+cnn_accuracy_hidden} points)
#
# Time to use your layers. The file `digits.npz`, handed out with this notebook, holds 1,797
# handwritten digits, 8 x 8 pixels with values 0 to 16 (the UCI "Optical Recognition of Handwritten
# Digits" set, as shipped by scikit-learn; no download). The next cell scales them to [0, 1], adds
# the channel axis and holds out 20% of them (359 images, fixed random split) as a **test set**
# that is never used for training.
#
# The network:
#
# ```
# X (N, 1, 8, 8)
#  -> conv: 8 filters 3x3, stride 1, padding 1   (W1 (8, 1, 3, 3), b1 (8,))  -> (N, 8, 8, 8)
#  -> ReLU                                                                    -> (N, 8, 8, 8)
#  -> max-pool 2x2 (stride 2)                                                 -> (N, 8, 4, 4)
#  -> flatten                                                                 -> (N, 128)
#  -> linear                                      (W2 (128, 10), b2 (10,))    -> scores (N, 10)
#  -> softmax cross-entropy with the labels y (N,), averaged over the batch   -> loss (a float)
# ```
#
# The parameters live in a dict `params` with exactly the keys `"W1"`, `"b1"`, `"W2"`, `"b2"` and
# the shapes above; `init_cnn_params(seed)` creates them (random weights, zero biases). ReLU, the
# linear layer and the softmax cross-entropy are given in the cell after the data: read them, they
# follow the same `forward -> (out, cache)`, `backward(dout, cache)` pattern as your layers.

# %% nbgrader={"grade": false, "grade_id": "digits_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
digits = np.load("digits.npz")                         # handed out with this notebook
X_all = digits["images"].reshape(-1, 1, 8, 8) / 16.0   # (1797, 1, 8, 8), pixels 0..16 -> [0, 1]
y_all = digits["target"].astype(np.int64)              # (1797,) integer labels 0..9
split_order = np.random.default_rng(2024).permutation(len(y_all))   # fixed split
n_test = len(y_all) // 5                               # 20% held out
X_test, y_test = X_all[split_order[:n_test]], y_all[split_order[:n_test]]
X_train, y_train = X_all[split_order[n_test:]], y_all[split_order[n_test:]]
print(f"train: X {X_train.shape}, y {y_train.shape}; test: X {X_test.shape}, y {y_test.shape}")

# %% nbgrader={"grade": false, "grade_id": "cnn_given_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def relu_forward(x):
    """ReLU: out = max(x, 0) element-wise. Returns (out, cache)."""
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    """dx = dout where the forward input was > 0, else 0 (the 'ReLU mask')."""
    x = cache
    return dout * (x > 0)


def linear_forward(x, W, b):
    """Dense layer: x (N, D) @ W (D, M) + b (M,) -> out (N, M). Returns (out, cache)."""
    return x @ W + b, (x, W)


def linear_backward(dout, cache):
    """Returns dx = dout @ W.T (N, D), dW = x.T @ dout (D, M), db = dout.sum(axis=0) (M,)."""
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy of scores (N, K) for integer labels y (N,).

    Returns (loss, dscores): loss = -mean over n of log softmax(scores[n])[y[n]] (a float) and
    dscores = dloss/dscores = (softmax(scores) - onehot(y)) / N, shape (N, K).
    """
    shifted = scores - scores.max(axis=1, keepdims=True)          # avoids overflow in exp
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = scores.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1.0
    return float(loss), dscores / N


def init_cnn_params(seed=0):
    """Parameters of the CNN: He-style random weights, zero biases."""
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((8, 1, 3, 3)) * np.sqrt(2.0 / 9),    # fan-in 1*3*3
        "b1": np.zeros(8),
        "W2": rng.standard_normal((128, 10)) * np.sqrt(1.0 / 128),     # fan-in 128
        "b2": np.zeros(10),
    }

# %% [markdown]
# ### 12a. Loss and gradients of the whole network ({points:cnn_gradient_hidden} points)
#
# `cnn_loss(params, X, y)` runs the forward pass layer by layer, **keeping every cache**, then the
# backward pass in **reverse order**, each layer receiving the gradient produced by the layer
# after it (the chain rule, one layer at a time).
#
# It returns `(loss, grads)`, `grads` a dict with the same keys and shapes as `params`. Use your
# fast
# convolution (your part-1 `conv2d_forward`/`conv2d_backward` would give the same numbers, only
# slower) and your part-1 max-pool and flatten. Do not modify `params`, `X` or `y`.
#
# **How it is graded.** The hidden test compares `loss` and **every single gradient entry** (all
# 1,370 parameters) with central finite differences `(L(p + eps) - L(p - eps)) / (2 eps)`,
# `eps = 1e-6`, of the loss of a reference network, on tiny batches in float64. During that test
# your `cnn_loss` runs with the reference layers in place of yours, so a bug in one of your layers
# costs points only in that layer's cell (it will still spoil the training below).
#
# **Worked example** (visible test). With `W2 = 0` and `b2 = 0` all 10 scores are 0, the softmax is
# uniform (0.1 each) and `loss = ln 10 = 2.302585...` whatever the images.
# `dscores = (0.1 - onehot(y)) / N`, so for `N = 2`, `y = [0, 2]`:
# `db2 = [-0.4, 0.1, -0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]`, and `dW1 = 0`, `db1 = 0`, because
# the
# gradient that reaches the convolution is `dscores @ W2.T = 0`. The visible test also compares a
# few
# of your gradients with finite differences of **your own** loss.
#
# <details><summary>Hint 1</summary>
#
# Forward: `conv2d_forward_fast` (stride 1, padding 1), `relu_forward`, `maxpool2d_forward`
# (kernel 2), `flatten_forward`, `linear_forward`, then `softmax_cross_entropy`, which already
# returns `dscores`. Keep every cache in its own variable.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Backward: the same layers in reverse order, each `*_backward` getting the gradient of its
# output and its own cache. The parameter gradients come out of `linear_backward` (`dW2`, `db2`)
# and `conv2d_backward_fast` (`dW1`, `db1`); the gradient with respect to `X` is not needed.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# loss, dscores = softmax_cross_entropy(scores, y)
# dflat, dW2, db2 = linear_backward(dscores, <cache of linear_forward>)
# dpool  = flatten_backward(dflat, <cache of flatten_forward>)
# drelu  = maxpool2d_backward(dpool, <cache of maxpool2d_forward>)
# dconv  = relu_backward(drelu, <cache of relu_forward>)     # the ReLU mask
# _, dW1, db1 = conv2d_backward_fast(dconv, <cache of conv2d_forward_fast>)
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "cnn_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cnn_loss(params, X, y):
    """Loss and gradients of conv(8, 3x3, pad 1) -> ReLU -> max-pool 2 -> flatten -> linear -> softmax CE.

    Args:
        params: dict with "W1" (8, 1, 3, 3), "b1" (8,), "W2" (128, 10), "b2" (10,).
        X: images, shape (N, 1, 8, 8).
        y: integer labels, shape (N,).

    Returns:
        loss: float, the mean softmax cross-entropy over the batch.
        grads: dict with the same keys and shapes as params (dloss/dparam).

    params, X and y are not modified.
    """
    ### BEGIN SOLUTION
    # forward pass, keeping every cache
    conv, conv_cache = conv2d_forward_fast(X, params["W1"], params["b1"], stride=1, padding=1)
    relu, relu_cache = relu_forward(conv)                         # (N, 8, 8, 8)
    pool, pool_cache = maxpool2d_forward(relu, 2)                  # (N, 8, 4, 4)
    flat, flat_cache = flatten_forward(pool)                       # (N, 128)
    scores, lin_cache = linear_forward(flat, params["W2"], params["b2"])   # (N, 10)
    loss, dscores = softmax_cross_entropy(scores, y)          # mean loss, dL/dscores

    # backward pass, in reverse order
    dflat, dW2, db2 = linear_backward(dscores, lin_cache)
    dpool = flatten_backward(dflat, flat_cache)
    drelu = maxpool2d_backward(dpool, pool_cache)
    dconv = relu_backward(drelu, relu_cache)                       # the ReLU mask
    _dX, dW1, db1 = conv2d_backward_fast(dconv, conv_cache)
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    return loss, grads
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "cnn_loss_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
with visible_tests():
    # Shapes, and the hand-worked example from the text above (W2 = 0, b2 = 0)
    params_demo = init_cnn_params(1)
    params_demo["W2"] = np.zeros((128, 10))
    loss_demo, grads_demo = cnn_loss(params_demo, X_train[:2], np.array([0, 2]))
    for key_demo in ("W1", "b1", "W2", "b2"):
        expect_shape(f"cnn_loss grads[{key_demo!r}]", grads_demo[key_demo], params_demo[key_demo].shape,
                     "grads must have the same keys and shapes as params.")
    expect_close("cnn_loss loss with W2 = 0, b2 = 0 (ln 10)", loss_demo, np.log(10.0),
                 "the loss is the MEAN softmax cross-entropy (softmax_cross_entropy); with all scores "
                 "0 every class has probability 0.1.")
    expect_close("cnn_loss grads['b2'] with W2 = 0, y = [0, 2]", grads_demo["b2"],
                 [-0.4, 0.1, -0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
                 "db2 = dscores.sum(axis=0) with dscores = (softmax - onehot(y)) / N.")
    expect_close("cnn_loss grads['W1'] with W2 = 0", grads_demo["W1"], np.zeros((8, 1, 3, 3)),
                 "no gradient can reach the convolution when W2 = 0 (dflat = dscores @ W2.T = 0).")
    expect_close("cnn_loss grads['b1'] with W2 = 0", grads_demo["b1"], np.zeros(8),
                 "no gradient can reach the convolution when W2 = 0.")

    # Finite-difference spot check of a few gradient entries against YOUR loss
    rng_demo = np.random.default_rng(8)
    params_demo = init_cnn_params(2)
    params_demo["b1"] = 0.1 * rng_demo.standard_normal(8)
    X_demo, y_demo = X_train[:3], y_train[:3]
    _, grads_demo = cnn_loss(params_demo, X_demo, y_demo)
    for key_demo in ("W1", "b1", "W2", "b2"):
        for _ in range(3):
            idx_demo = tuple(int(rng_demo.integers(s)) for s in params_demo[key_demo].shape)
            plus_demo = {k: v.copy() for k, v in params_demo.items()}
            minus_demo = {k: v.copy() for k, v in params_demo.items()}
            plus_demo[key_demo][idx_demo] += 1e-6
            minus_demo[key_demo][idx_demo] -= 1e-6
            num_demo = (cnn_loss(plus_demo, X_demo, y_demo)[0]
                        - cnn_loss(minus_demo, X_demo, y_demo)[0]) / 2e-6
            expect_close(f"cnn_loss grads[{key_demo!r}]{list(idx_demo)} vs finite differences of your loss",
                         grads_demo[key_demo][idx_demo], num_demo,
                         "the backward pass does not match the forward pass: reverse order, the right "
                         "cache for each layer, the ReLU mask, db1 from conv2d_backward_fast.", atol=1e-6)
    print("cnn_loss: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "grader_reference", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# This cell is intentionally empty in your copy of the notebook.
# When your work is graded, the grader fills it in (the reference implementation).
### BEGIN HIDDEN TESTS
# grader module: grader/layers.py as _grader_layers
_grader.install_layers(_grader_layers)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "grader_trusted_reference", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# This cell is intentionally empty in your copy of the notebook (and never runs in your kernel).
### BEGIN HIDDEN TESTS
# grader module: grader/reference.py as _grader_reference
_grader.install_reference(_grader_reference)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "cnn_gradient_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for cnn_loss ({points} points: whole-network gradient check) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_cnn_gradient(cnn_loss)
### END HIDDEN TESTS

# %% [markdown]
# ### 12b. Training with minibatch SGD ({points:cnn_accuracy_hidden} points)
#
# Stochastic gradient descent, plain: start from `init_cnn_params(seed)`, create **one** generator
# `rng = np.random.default_rng(seed)` for the whole run, and for each of the `epochs` passes over
# the training set:
#
# 1. shuffle: `perm = rng.permutation(N)`;
# 2. the step size of epoch `e` (`e = 0, 1, ..., epochs-1`) is `lr_e = lr * (1 - e / epochs)`: it
#    decreases linearly from `lr` to `lr / epochs`, so that the last steps are small and the
#    parameters settle instead of jumping around;
# 3. cut `perm` into minibatches of `batch_size` indices (the last one may be smaller);
# 4. for each minibatch: `loss, grads = cnn_loss(params, X_train[idx], y_train[idx])`, then
#    `params[k] = params[k] - lr_e * grads[k]` for every key `k`, and append `loss` to
#    `loss_history` (one float per step).
#
# With the defaults (16 epochs of 45 batches of 32, `lr = 0.3`: 720 steps) training takes several
# seconds and reaches about 97% on the test set.
#
# **How it is graded.** The next (locked) cell trains your network with the defaults, so that you
# can see it learn. The hidden test then calls your `train_cnn` on digits it has never seen, with
# their labels renamed (digit 3 might be called "7"), and with its own `epochs`, `batch_size`, `lr`
# and `seed`: your function must train on its arguments, not on the notebook's data. During that
# run the reference layers replace yours, so a bug in one of your layers costs points only in that
# layer's cell. The trained parameters must classify the other digits (renamed the same way) with
# **at least 90% accuracy**, measured with the reference forward pass. A second run trains on 100
# digits with *random* labels: nothing to generalise, so plain SGD must fit them by heart (at least
# 60% of them right; chance is 10%). Training must finish well within a minute (the grader stops
# any cell after 60 s).
#
# <details><summary>Hint 1</summary>
#
# One generator for the whole run, created once before the first epoch: `rng =
# np.random.default_rng(seed)`; the parameters from `init_cnn_params(seed)`. `N // batch_size`
# full batches and one smaller last batch when `N` is not a multiple.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Slicing the permutation gives the indices of a minibatch: `idx = perm[start:start +
# batch_size]` for `start = 0, batch_size, 2*batch_size, ...`; `X_train[idx]`, `y_train[idx]` are
# that minibatch. Build new arrays when updating: `params[k] = params[k] - lr_e * grads[k]`.
#
# </details>
#
# <details><summary>The loop</summary>
#
# ```
# params, rng, loss_history = init_cnn_params(seed), np.random.default_rng(seed), []
# for e in range(epochs):
#     perm = rng.permutation(N)
#     lr_e = lr * (1 - e / epochs)
#     for start in range(0, N, batch_size):
#         idx = perm[start:start + batch_size]
#         loss, grads = cnn_loss(params, X_train[idx], y_train[idx])
#         for k in params:
#             params[k] = params[k] - lr_e * grads[k]
#         loss_history.append(loss)
# ```
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "train_cnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_cnn(X_train, y_train, epochs=16, batch_size=32, lr=0.3, seed=0):
    """Train the CNN with minibatch SGD.

    Args:
        X_train: images, shape (N, 1, 8, 8); y_train: integer labels, shape (N,).
        epochs: passes over the training set; batch_size: samples per step;
        lr: initial step size; epoch e (0-based) uses lr * (1 - e / epochs).
        seed: seed of init_cnn_params and of the shuffling generator.

    Returns:
        params: the trained parameters (dict like init_cnn_params(seed)).
        loss_history: list with the minibatch loss of every step (floats).

    """
    ### BEGIN SOLUTION
    params = init_cnn_params(seed)                             # seeded initial weights
    rng = np.random.default_rng(seed)
    N = X_train.shape[0]
    loss_history = []
    for epoch in range(epochs):
        perm = rng.permutation(N)                                  # new order every epoch
        lr_epoch = lr * (1 - epoch / epochs)                       # linear decay
        for start in range(0, N, batch_size):  # one minibatch per step
            idx = perm[start:start + batch_size]  # this minibatch (the last may be smaller)
            loss, grads = cnn_loss(params, X_train[idx], y_train[idx])  # this minibatch
            for key in params:
                params[key] = params[key] - lr_epoch * grads[key]  # one SGD step
            loss_history.append(float(loss))
    return params, loss_history
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_cnn_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Trains the network with the default settings (the hidden test trains it again, on other data).
import time

params_cnn, loss_history = None, None          # stay None if train_cnn fails
with visible_tests():
    t_start = time.perf_counter()
    params_cnn, loss_history = train_cnn(X_train, y_train)
    t_train = time.perf_counter() - t_start
    print(f"train_cnn: {len(loss_history)} SGD steps in {t_train:.1f} s; "
          f"loss {np.mean(loss_history[:20]):.3f} (first 20 steps) -> "
          f"{np.mean(loss_history[-20:]):.3f} (last 20 steps)")
    for key_demo in ("W1", "b1", "W2", "b2"):
        expect_shape(f"train_cnn params[{key_demo!r}]", params_cnn[key_demo],
                     init_cnn_params()[key_demo].shape, "return the dict of parameters you trained.")
    assert len(loss_history) == 16 * int(np.ceil(len(y_train) / 32)), (
        f"train_cnn: expected one loss per step, 16 epochs x {int(np.ceil(len(y_train) / 32))} "
        f"batches = {16 * int(np.ceil(len(y_train) / 32))} values, got {len(loss_history)}. "
        "Likely cause: wrong loop bounds (the last, smaller batch counts too).")
    assert np.mean(loss_history[-20:]) < 0.5 * np.mean(loss_history[:20]), (
        "train_cnn: the loss did not go down (first 20 steps "
        f"{np.mean(loss_history[:20]):.3f}, last 20 steps {np.mean(loss_history[-20:]):.3f}). "
        "Likely cause: parameters not updated (params[k] = params[k] - lr_e * grads[k]), wrong sign, "
        "or wrong gradients (check the cnn_loss tests).")
    print("train_cnn: visible tests passed")


# %% nbgrader={"grade": true, "grade_id": "cnn_accuracy_hidden", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Hidden tests for train_cnn ({points} points: it learns digits it has never seen) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_grader.check_cnn_accuracy(train_cnn)
### END HIDDEN TESTS

# %% [markdown]
# ### What the network learned
#
# The next cell plots the training loss (every step, and a running mean over 20 steps), computes
# the accuracy on the held-out test set with your layers, and shows some of the test digits the
# network gets wrong, with the true label and the prediction.

# %% nbgrader={"grade": false, "grade_id": "cnn_report", "locked": true, "schema_version": 3, "solution": false, "task": false}
import matplotlib.pyplot as plt


def cnn_scores(params, X):
    """Class scores (N, 10) of the CNN: the forward pass only, with your layers."""
    conv, _ = conv2d_forward_fast(X, params["W1"], params["b1"], stride=1, padding=1)
    relu, _ = relu_forward(conv)
    pool, _ = maxpool2d_forward(relu, 2)
    flat, _ = flatten_forward(pool)
    scores, _ = linear_forward(flat, params["W2"], params["b2"])
    return scores


if globals().get("params_cnn") is None or not globals().get("loss_history"):
    print("No trained network yet: implement train_cnn (section 12b) and cnn_loss (12a), then run "
          "the cells of section 12 from the top (digits_data, then the train_cnn test cell); "
          "this report needs their params_cnn and loss_history.")
else:
    with visible_tests():
        pred_test = np.argmax(cnn_scores(params_cnn, X_test), axis=1)
        n_right = int(np.sum(pred_test == y_test))
        print(f"held-out test accuracy: {n_right / len(y_test):.2%} ({n_right}/{len(y_test)} digits)")

        steps = np.arange(len(loss_history))
        running = np.convolve(loss_history, np.ones(20) / 20, mode="valid")
        plt.figure(figsize=(7, 3))
        plt.plot(steps, loss_history, lw=0.6, alpha=0.5, label="minibatch loss")
        plt.plot(steps[19:], running, lw=2, label="running mean (20 steps)")
        plt.xlabel("SGD step")
        plt.ylabel("cross-entropy")
        plt.title("Training loss")
        plt.legend()
        plt.tight_layout()

        wrong = np.flatnonzero(pred_test != y_test)[:10]
        if len(wrong):
            fig, axes = plt.subplots(1, len(wrong), figsize=(1.3 * len(wrong), 1.8), squeeze=False)
            for ax, k in zip(axes[0], wrong):
                ax.imshow(X_test[k, 0], cmap="gray_r")
                ax.set_title(f"true {y_test[k]}\npred {pred_test[k]}", fontsize=9)
                ax.axis("off")
            fig.suptitle("Misclassified test digits", fontsize=10)
            fig.tight_layout()
