"""The reference layers of `spatial`: what the grading kernel may hold for the CNN checks.

The cell grader_reference loads this module into the kernel after every layer check has run
and its record is sealed: the CNN checks swap these layers (REFERENCE_LAYERS, with the
notebook's signatures) in for the student's own. The whole network's reference (the loss the
gradient check differentiates, the scores the accuracy check counts) is in reference.py, which
only the trusted grader loads (cell grader_trusted_reference). Everything here is vectorised
with fancy indexing, einsum and np.add.at, independent of the loop and as_strided solutions,
and proven against them, finite differences and torch in gradebook_tests/test_reference.py.
"""
import numpy

float64 = F8 = numpy.float64
np_array, np_zeros, np_arange = numpy.array, numpy.zeros, numpy.arange
np_einsum, np_add_at = numpy.einsum, numpy.add.at
np_maximum, np_exp, np_log = numpy.maximum, numpy.exp, numpy.log


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


# ---- part 2: im2col / col2im ----


def geometry(x_shape, kernel_size, stride, padding):
    n, c, h, w = (int(d) for d in x_shape)
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    rows = window_index(h + 2 * ph, kh, sh)            # (Ho, KH)
    cols = window_index(w + 2 * pw, kw, sw)            # (Wo, KW)
    ho, wo = rows.shape[0], cols.shape[0]
    # index arrays broadcasting to (Ho, Wo, KH, KW)
    idx = (rows.reshape(ho, 1, kh, 1), cols.reshape(1, wo, 1, kw))
    return (n, c, h, w, kh, kw, ph, pw, ho, wo), idx


def ref_im2col(x, kernel_size, stride=1, padding=0):
    x = np_array(x, dtype=F8)
    (n, c, h, w, kh, kw, ph, pw, ho, wo), (r, q) = geometry(x.shape, kernel_size, stride,
                                                            padding)
    xp = np_zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=F8)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    g = xp[:, :, r, q]                                  # (N, C, Ho, Wo, KH, KW)
    return g.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


def ref_col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    (n, c, h, w, kh, kw, ph, pw, ho, wo), (r, q) = geometry(x_shape, kernel_size, stride,
                                                            padding)
    g = np_array(cols, dtype=F8).reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
    dxp = np_zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=F8)
    np_add_at(dxp, (slice(None), slice(None), r, q), g)     # overlaps accumulate
    return dxp[:, :, ph:ph + h, pw:pw + w].copy()


# ---- the CNN (same architecture as the notebook) ----

def ref_log_softmax(scores):
    s = scores - scores.max(axis=1, keepdims=True)
    return s - np_log(np_exp(s).sum(axis=1, keepdims=True))


# ---- reference layers with the notebook's signatures, swapped in while cnn_loss is checked ----

def sw_conv_forward(x, w, b, stride=1, padding=0):
    x, w, b = (np_array(a, dtype=F8) for a in (x, w, b))
    return ref_conv2d_forward(x, w, b, stride, padding), (x, w, b, stride, padding)


def sw_conv_backward(dout, cache):
    x, w, b, stride, padding = cache
    return ref_conv2d_backward(x, w, b, stride, padding, dout)


def sw_pool_forward(x, kernel_size, stride=None):
    x = np_array(x, dtype=F8)
    return ref_maxpool2d_forward(x, kernel_size, stride), (x, kernel_size, stride)


def sw_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    return ref_maxpool2d_backward(x, kernel_size, stride, dout)


def sw_flatten_forward(x):
    return ref_flatten_forward(x), tuple(x.shape)


def sw_flatten_backward(dout, cache):
    return ref_flatten_backward(cache, dout)


def sw_relu_forward(x):
    x = np_array(x, dtype=F8)
    return np_maximum(x, 0.0), x


def sw_relu_backward(dout, cache):
    return np_array(dout, dtype=F8) * (cache > 0)


def sw_linear_forward(x, W, b):
    x, W, b = (np_array(a, dtype=F8) for a in (x, W, b))
    return x @ W + b, (x, W)


def sw_linear_backward(dout, cache):
    x, W = cache
    dout = np_array(dout, dtype=F8)
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def sw_softmax_cross_entropy(scores, y):
    logp = ref_log_softmax(np_array(scores, dtype=F8))
    n = logp.shape[0]
    rows = np_arange(n)
    loss = float(-logp[rows, y].mean())
    d = np_exp(logp)
    d[rows, y] -= 1.0
    return loss, d / n


REFERENCE_LAYERS = {
    "conv2d_forward_fast": sw_conv_forward, "conv2d_backward_fast": sw_conv_backward,
    "conv2d_forward": sw_conv_forward, "conv2d_backward": sw_conv_backward,
    "maxpool2d_forward": sw_pool_forward, "maxpool2d_backward": sw_pool_backward,
    "flatten_forward": sw_flatten_forward, "flatten_backward": sw_flatten_backward,
    "relu_forward": sw_relu_forward, "relu_backward": sw_relu_backward,
    "linear_forward": sw_linear_forward, "linear_backward": sw_linear_backward,
    "softmax_cross_entropy": sw_softmax_cross_entropy,
    "im2col": ref_im2col, "col2im": ref_col2im,
}
