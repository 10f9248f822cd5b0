"""The mutation suite: realistic buggy submissions of `spatial`, one mistake each.

Every mutant is the instructor solution with one mistake injected into one API function
(an exact text edit of that solution cell, or a whole replacement function). ``row`` is
the row of ../shared/notes/mistake-catalog.md it realises ("3*" = a variant of row 3,
"own" = a mistake not in the catalog). A mutant must lose exactly the graded cell of its
function plus the cells listed in ``also`` (a backward cell can only be tested through the
student's own forward pass: a forward that crashes, or corrupts what it caches, costs the
backward cell too) and keep every other point.

The instructor's conv2d_*_fast answers are an optimised layout (see the notebook); the
mutants of those two functions start from the plain im2col version the notebook teaches
(PLAIN below), and replace both fast cells so that forward and backward share a cache.
"""

import re
from dataclasses import dataclass, field

FUNCTIONS = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
             "flatten_forward", "flatten_backward", "im2col", "col2im", "conv2d_forward_fast",
             "conv2d_backward_fast", "cnn_loss", "train_cnn")
# The graded cell meant to catch a mistake in each function.
TARGET = {fn: fn + "_hidden" for fn in FUNCTIONS}
TARGET.update(cnn_loss="cnn_gradient_hidden", train_cnn="cnn_accuracy_hidden")
CATALOG_ROWS = {str(r) for r in range(1, 32)}


@dataclass
class Mutant:
    description: str
    row: str
    function: str
    edits: tuple = ()
    full: str = None
    also: frozenset = field(default_factory=frozenset)
    others: dict = field(default_factory=dict)  # other cells answered differently (correctly)
    lost: float = None  # points it must lose in all (partial credit), where that matters

    @property
    def key(self):
        slug = re.sub(r"[^a-z0-9]+", "-", self.description.lower()).strip("-")
        return f"{self.function}--{slug}"[:80]

    @property
    def must_fail(self):
        return sorted({TARGET[self.function]} | set(self.also))

    def apply(self, code):
        """The instructor's answer ``code`` with this mistake in it."""
        if self.full is not None:
            return self.full.strip() + "\n"
        # Edit the body only: the docstring quotes some of the code it describes.
        cut = code.find('"""', code.find('"""') + 3) + 3 if code.count('"""') >= 2 else 0
        head, body = code[:cut], code[cut:]
        for old, new in self.edits:
            count = body.count(old)
            if count != 1:
                raise ValueError(f"mutant {self.key}: {old!r} occurs {count} times in the solution")
            body = body.replace(old, new)
        return head + body


# The plain im2col versions of the fast convolution, as the notebook text teaches them.
PLAIN = {
    "conv2d_forward_fast": '''
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1

    # im2col, written out here so that this cell does not depend on another answer cell
    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    sN, sC, sH, sW = xpad.strides
    windows = np.lib.stride_tricks.as_strided(
        xpad, shape=(N, Ho, Wo, C, KH, KW),
        strides=(sN, sh * sH, sw * sW, sC, sH, sW), writeable=False)
    cols = windows.reshape(N * Ho * Wo, C * KH * KW)         # rows (n, i, j), columns (c, u, v)

    out2d = cols @ w.reshape(F, -1).T + b                     # ONE matrix product: (N*Ho*Wo, F)
    out = out2d.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)   # -> (N, F, Ho, Wo)
    cache = (x.shape, cols, w, stride, padding)
    return out, cache
''',
    "conv2d_backward_fast": '''
def conv2d_backward_fast(dout, cache):
    x_shape, cols, w, stride, padding = cache
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape

    dout2d = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F)   # same row order as cols
    db = dout2d.sum(axis=0)
    dw = (dout2d.T @ cols).reshape(F, C, KH, KW)
    dcols = dout2d @ w.reshape(F, -1)                              # (N*Ho*Wo, C*KH*KW)

    # col2im, written out here so that this cell does not depend on another answer cell
    dcols6 = dcols.reshape(N, Ho, Wo, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for u in range(KH):
        for v in range(KW):                                        # KH*KW whole-array steps
            dxpad[:, :, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw] += dcols6[..., u, v]
    dx = dxpad[:, :, ph:ph + H, pw:pw + W].copy()
    return dx, dw, db
''',
}


MUTANTS = []


def mutant(description, row, function, *edits, full=None, also=(), lost=None):
    others = {}
    if function in PLAIN:
        if full is None:  # edit the plain im2col version, not the optimised one
            full = Mutant(description, row, function, tuple(edits)).apply(PLAIN[function])
        others = {fn: code for fn, code in PLAIN.items() if fn != function}
    MUTANTS.append(Mutant(description, row, function, tuple(edits), full, frozenset(also), others,
                          lost))


# conv2d_forward
mutant("kernel flipped (true convolution)", "1", "conv2d_forward",
       ("window * w[f]", "window * w[f, :, ::-1, ::-1]"))
mutant("output size with ceil", "2", "conv2d_forward",
       ("Ho = (H + 2 * ph - KH) // sh + 1", "Ho = -(-(H + 2 * ph - KH) // sh) + 1"),
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = -(-(W + 2 * pw - KW) // sw) + 1"),
       also=["conv2d_backward_hidden"])
mutant("output size with round()", "2", "conv2d_forward",
       ("Ho = (H + 2 * ph - KH) // sh + 1", "Ho = int(round((H + 2 * ph - KH) / sh)) + 1"),
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = int(round((W + 2 * pw - KW) / sw)) + 1"),
       also=["conv2d_backward_hidden"])
mutant("output size with true division", "2", "conv2d_forward",
       ("Ho = (H + 2 * ph - KH) // sh + 1", "Ho = (H + 2 * ph - KH) / sh + 1"),
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = (W + 2 * pw - KW) / sw + 1"),
       also=["conv2d_backward_hidden"])
mutant("np.pad(x, p) pads N and C too", "3", "conv2d_forward",
       ("xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))\n"
        "    xpad[:, :, ph:ph + H, pw:pw + W] = x",
        "xpad = np.pad(x, ph).astype(float)"),
       also=["conv2d_backward_hidden"])
mutant("padding on one side only (extra)", "3*", "conv2d_forward",
       ("xpad[:, :, ph:ph + H, pw:pw + W] = x", "xpad[:, :, :H, :W] = x"))
mutant("stride ignored when indexing windows", "4", "conv2d_forward",
       ("r, s = i * sh, j * sw", "r, s = i, j"))
mutant("no sum over input channels", "5", "conv2d_forward",
       ("np.sum(window * w[f], axis=(1, 2, 3))", "np.sum(window[:, 0] * w[f, 0], axis=(1, 2))"))
mutant("only sample 0 processed", "6", "conv2d_forward",
       ("out[:, f, i, j] = np.sum(window * w[f], axis=(1, 2, 3)) + b[f]",
        "out[0, f, i, j] = np.sum(window[0] * w[f]) + b[f]"))
mutant("bias broadcast along the last axis (out += b)", "7", "conv2d_forward",
       (" + b[f]", ""), ("    cache = (x, w, b, stride, padding)",
                         "    out += b\n    cache = (x, w, b, stride, padding)"),
       also=["conv2d_backward_hidden"])
mutant("bias per sample (out[n] += b[n])", "7", "conv2d_forward",
       (" + b[f]", ""), ("    cache = (x, w, b, stride, padding)",
                         "    out += b[:N].reshape(-1, 1, 1, 1)\n"
                         "    cache = (x, w, b, stride, padding)"))
mutant("bias forgotten (extra)", "7*", "conv2d_forward", (" + b[f]", ""))
mutant("stride pair read as (w, h)", "8", "conv2d_forward",
       ("sh, sw = _pair(stride)", "sw, sh = _pair(stride)"))
mutant("padding pair read as (w, h)", "8", "conv2d_forward",
       ("ph, pw = _pair(padding)", "pw, ph = _pair(padding)"))
mutant("square input assumed (Wo from H)", "28", "conv2d_forward",
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = (H + 2 * ph - KH) // sh + 1"))
mutant("square kernel assumed (KW = KH)", "28", "conv2d_forward",
       ("F, _, KH, KW = w.shape", "F, _, KH, _ = w.shape\n    KW = KH"),
       also=["conv2d_backward_hidden"])
mutant("modifies the caller's b", "25", "conv2d_forward",
       ("    cache = (x, w, b, stride, padding)",
        "    b[...] = 0\n    cache = (x, w, b, stride, padding)"))
mutant("out with x's dtype: int x times float w truncated", "30*", "conv2d_forward",
       ("out = np.zeros((N, F, Ho, Wo))", "out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)"))
mutant("stride and padding taken as ints only (no pairs)", "31", "conv2d_forward",
       ("sh, sw = _pair(stride)  # (along H, along W)\n    ph, pw = _pair(padding)",
        "sh = sw = int(stride)\n    ph = pw = int(padding)"),
       also=["conv2d_backward_hidden"], lost=4 + 5)  # only the (h, w) pairs groups

# conv2d_backward
mutant("dx: = instead of += (overlaps)", "9", "conv2d_backward",
       ("dxpad[:, :, r:r + KH, s:s + KW] += g * w[f]", "dxpad[:, :, r:r + KH, s:s + KW] = g * w[f]"))
mutant("dw: = instead of += (extra)", "9*", "conv2d_backward",
       ("dw[f] += np.sum(g * window, axis=0)", "dw[f] = np.sum(g * window, axis=0)"))
mutant("crop with p:-p", "10", "conv2d_backward",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W]", "dx = dxpad[:, :, ph:-ph, pw:-pw]"))
mutant("dx returned still padded", "11", "conv2d_backward",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W]", "dx = dxpad"))
mutant("db from sample 0", "12", "conv2d_backward",
       ("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))"))
mutant("db over wrong axes (0, 1, 2)", "12", "conv2d_backward",
       ("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(0, 1, 2))"))
mutant("db per sample (2, 3)", "12", "conv2d_backward",
       ("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))"))
mutant("dw keeps only the last sample", "13", "conv2d_backward",
       ("dw[f] += np.sum(g * window, axis=0)", "dw[f] += (g * window)[-1]"))
mutant("dx with flipped kernel", "14", "conv2d_backward",
       ("+= g * w[f]", "+= g * w[f, :, ::-1, ::-1]"))
mutant("stride pair read as (w, h) in backward", "8", "conv2d_backward",
       ("sh, sw = _pair(stride)", "sw, sh = _pair(stride)"))
mutant("padding pair read as (w, h) in backward", "8", "conv2d_backward",
       ("ph, pw = _pair(padding)", "pw, ph = _pair(padding)"))
mutant("square kernel assumed in backward", "28", "conv2d_backward",
       ("F, _, KH, KW = w.shape", "F, _, KH, _ = w.shape\n    KW = KH"))
mutant("square input assumed in crop", "28", "conv2d_backward",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W]", "dx = dxpad[:, :, ph:ph + H, pw:pw + H]"))
mutant("modifies dout in place", "25", "conv2d_backward",
       ("    return dx, dw, db", "    dout[:, :, 0, 0] = 0.0\n    return dx, dw, db"))
mutant("dw aliases the cached w (dw = w; dw[...] = 0)", "25", "conv2d_backward",
       ("dw = np.zeros((F, C, KH, KW))", "dw = w\n    dw[...] = 0"))
mutant("dw = np.zeros_like(w): int truncation (extra)", "30", "conv2d_backward",
       ("dw = np.zeros((F, C, KH, KW))", "dw = np.zeros_like(w)"),
       ("dw[f] += np.sum(g * window, axis=0)", "dw[f] = dw[f] + np.sum(g * window, axis=0)"))

# maxpool2d_forward
mutant("stride assumed equal to the window", "15", "maxpool2d_forward",
       ("sh, sw = _pair(kernel_size if stride is None else stride)", "sh, sw = kh, kw"))
mutant("default stride 1 instead of kernel (extra)", "15*", "maxpool2d_forward",
       ("_pair(kernel_size if stride is None else stride)", "_pair(1 if stride is None else stride)"))
mutant("pool output size with ceil (extra)", "2*", "maxpool2d_forward",
       ("Ho = (H - kh) // sh + 1", "Ho = -(-(H - kh) // sh) + 1"),
       ("Wo = (W - kw) // sw + 1", "Wo = -(-(W - kw) // sw) + 1"))
mutant("kernel pair read as (w, h)", "8", "maxpool2d_forward",
       ("kh, kw = _pair(kernel_size)", "kw, kh = _pair(kernel_size)"))
mutant("pool stride pair read as (w, h)", "8", "maxpool2d_forward",
       ("sh, sw = _pair(", "sw, sh = _pair("))
mutant("square input assumed (Wo from H)", "28", "maxpool2d_forward",
       ("Wo = (W - kw) // sw + 1", "Wo = (H - kh) // sh + 1"),
       also=["maxpool2d_backward_hidden"])
mutant("running max initialised with 0 (extra)", "max0", "maxpool2d_forward",
       ("x[:, :, r:r + kh, s:s + kw].max(axis=(2, 3))",
        "np.maximum(x[:, :, r:r + kh, s:s + kw].max(axis=(2, 3)), 0)"))
mutant("modifies the caller's x", "25", "maxpool2d_forward",
       ("    cache = (x, kernel_size, stride)",
        "    x[:, :, -1, -1] = 0\n    cache = (x, kernel_size, stride)"),
       also=["maxpool2d_backward_hidden"])

# maxpool2d_backward
ROUTE = "dx[n_idx, c_idx, r + u, s + v] += dout[:, :, i, j]"
WINDOW = "window = x[:, :, r:r + kh, s:s + kw].reshape(N, C, kh * kw)"
GRAD = "dout[:, :, i, j][:, :, None, None]"
TIES = "(window == window.max(axis=2, keepdims=True)).reshape(N, C, kh, kw)"
mutant("gradient to every element of the window", "16", "maxpool2d_backward",
       (ROUTE, f"dx[:, :, r:r + kh, s:s + kw] += {GRAD}"))
mutant("every tie gets the full gradient", "17", "maxpool2d_backward",
       (ROUTE, f"dx[:, :, r:r + kh, s:s + kw] += {TIES} * {GRAD}"))
mutant("gradient split among ties (extra)", "17*", "maxpool2d_backward",
       (ROUTE, f"dx[:, :, r:r + kh, s:s + kw] += {TIES} * {GRAD} / {TIES}.sum(axis=(2, 3), keepdims=True)"))
mutant("last maximum instead of first (extra)", "17*", "maxpool2d_backward",
       ("k = np.argmax(window, axis=2)", "k = kh * kw - 1 - np.argmax(window[:, :, ::-1], axis=2)"))
mutant("argmax over the whole (N, C, window) block", "18", "maxpool2d_backward", full='''
def maxpool2d_backward(dout, cache):
    x, kernel_size, stride = cache
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H, W))
    for i in range(Ho):
        for j in range(Wo):
            r, s = i * sh, j * sw
            block = x[:, :, r:r + kh, s:s + kw]
            _, _, u, v = np.unravel_index(np.argmax(block), block.shape)
            dx[:, :, r + u, s + v] += dout[:, :, i, j]
    return dx
''')
mutant("= instead of += for overlapping windows", "19", "maxpool2d_backward",
       (ROUTE, ROUTE.replace("+=", "=")))
mutant("stride ignored in backward", "20", "maxpool2d_backward",
       ("r, s = i * sh, j * sw", "r, s = i, j"))
mutant("stride assumed equal to kernel in backward (extra)", "20*", "maxpool2d_backward",
       ("r, s = i * sh, j * sw", "r, s = i * kh, j * kw"))
mutant("last window stretched to the border (leak)", "21", "maxpool2d_backward",
       (WINDOW, "block = x[:, :, r:(H if i == Ho - 1 else r + kh), s:(W if j == Wo - 1 else s + kw)]\n"
                "            window = block.reshape(N, C, -1)"),
       ("u, v = np.divmod(k, kw)", "u, v = np.divmod(k, block.shape[3])"))
mutant("dx = np.zeros_like(x): int truncation (extra)", "30", "maxpool2d_backward",
       ("dx = np.zeros((N, C, H, W))", "dx = np.zeros_like(x)"))
mutant("modifies dout in place", "25", "maxpool2d_backward",
       ("    return dx", "    dout[...] = 0\n    return dx"))
mutant("writes into the cached x through a view", "25", "maxpool2d_backward",
       (WINDOW, "view = x[:, :, r:r + kh, s:s + kw]\n"
                "            view[view < view.max()] = 0\n"
                "            window = view.reshape(N, C, kh * kw)"))
mutant("square kernel assumed in backward", "28", "maxpool2d_backward",
       ("kh, kw = _pair(kernel_size)", "kh = kw = _pair(kernel_size)[0]"))
mutant("stride pair read as (w, h) in backward", "8", "maxpool2d_backward",
       ("sh, sw = _pair(", "sw, sh = _pair("))

# flatten
mutant("reshape(-1) loses the batch axis", "22", "flatten_forward",
       ("out = x.reshape(x.shape[0], -1)", "out = x.reshape(-1)"))
mutant("squeeze drops N = 1 (extra)", "22*", "flatten_forward",
       ("out = x.reshape(x.shape[0], -1)", "out = x.reshape(x.shape[0], -1).squeeze()"))
mutant("NHWC order", "23", "flatten_forward",
       ("out = x.reshape(x.shape[0], -1)", "out = x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)"))
mutant("Fortran order (extra)", "23*", "flatten_forward",
       ("out = x.reshape(x.shape[0], -1)", 'out = x.reshape(x.shape[0], -1, order="F")'))
mutant("x.shape = ... reshapes the caller's x", "25", "flatten_forward",
       ("    out = x.reshape(x.shape[0], -1)  # one row per sample, C order\n    cache = x.shape",
        "    cache = x.shape\n    x.shape = (x.shape[0], -1)\n    out = x"))
mutant("square input assumed (C*H*H)", "28", "flatten_forward",
       ("out = x.reshape(x.shape[0], -1)",
        "out = x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[2])"),
       also=["flatten_backward_hidden"])
mutant("returns dout without reshaping", "24", "flatten_backward",
       ("dx = dout.reshape(cache)", "dx = dout"))
mutant("NHWC order in backward (extra)", "23*", "flatten_backward",
       ("dx = dout.reshape(cache)",
        "N, C, H, W = cache\n    dx = dout.reshape(N, H, W, C).transpose(0, 3, 1, 2)"))
mutant("Fortran order in backward (extra)", "23*", "flatten_backward",
       ("dx = dout.reshape(cache)", 'dx = dout.reshape(cache, order="F")'))
mutant("dout.shape = ... reshapes the caller's dout", "25", "flatten_backward",
       ("dx = dout.reshape(cache)", "dout.shape = cache\n    dx = dout"))


# ---- our own, from questions students ask about CS231n-style conv / pool backward ----
mutant("padding added once, not on both sides", "own", "conv2d_forward",
       ("Ho = (H + 2 * ph - KH) // sh + 1", "Ho = (H + ph - KH) // sh + 1"),
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = (W + pw - KW) // sw + 1"),
       ("xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))", "xpad = np.zeros((N, C, H + ph, W + pw))"),
       ("xpad[:, :, ph:ph + H, pw:pw + W] = x", "xpad[:, :, ph:, pw:] = x"))
mutant("dx cropped from the top-left corner", "own", "conv2d_backward",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W]", "dx = dxpad[:, :, :H, :W]"))
mutant("db summed over everything (a scalar)", "own", "conv2d_backward",
       ("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum()"))
mutant("dw averaged over the batch", "own", "conv2d_backward",
       ("    return dx, dw, db", "    dw = dw / N\n    return dx, dw, db"))
mutant("average pooling instead of max", "own", "maxpool2d_forward",
       ("x[:, :, r:r + kh, s:s + kw].max(axis=(2, 3))", "x[:, :, r:r + kh, s:s + kw].mean(axis=(2, 3))"))
mutant("argmax position decoded with kh instead of kw", "own", "maxpool2d_backward",
       ("u, v = np.divmod(k, kw)", "u, v = np.divmod(k, kh)"))
mutant("flatten_backward reshapes to (N, -1)", "own", "flatten_backward",
       ("dx = dout.reshape(cache)", "dx = dout.reshape(cache[0], -1)"))

# ---- part 2: im2col, col2im, fast convolution, the CNN ----
mutant("column order (kh, kw, c)", "27", "im2col",
       ("shape=(N, Ho, Wo, C, KH, KW),\n        strides=(sN, sh * sH, sw * sW, sC, sH, sW)",
        "shape=(N, Ho, Wo, KH, KW, C),\n        strides=(sN, sh * sH, sw * sW, sH, sW, sC)"))
mutant("dxpad[idx] += cols, repeated fancy indices", "26", "col2im", full='''
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    KH, KW = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x_shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    r = (np.arange(Ho) * sh).reshape(Ho, 1, 1, 1) + np.arange(KH).reshape(1, 1, KH, 1)
    q = (np.arange(Wo) * sw).reshape(1, Wo, 1, 1) + np.arange(KW).reshape(1, 1, 1, KW)
    cols6 = cols.reshape(N, Ho, Wo, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    dxpad[:, :, r, q] += cols6           # buffered: repeated (r, q) pairs are added once
    return dxpad[:, :, ph:ph + H, pw:pw + W].copy()
''')
mutant("= instead of += per kernel offset (extra)", "26*", "col2im",
       ("v:v + sw * (Wo - 1) + 1:sw] += cols6[..., u, v]",
        "v:v + sw * (Wo - 1) + 1:sw] = cols6[..., u, v]"))
mutant("stride ignored in the window view", "4", "im2col",
       ("strides=(sN, sh * sH, sw * sW, sC, sH, sW), writeable=False)   # a view",
        "strides=(sN, sH, sW, sC, sH, sW), writeable=False)   # a view"))
mutant("padding (1, 0) read as (0, 1)", "8", "im2col",
       ("ph, pw = _pair(padding)", "pw, ph = _pair(padding)"))
mutant("no crop (padded dx returned)", "11", "col2im",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W].copy()", "dx = dxpad"))
mutant("crop with p:-p (extra)", "10", "col2im",
       ("dx = dxpad[:, :, ph:ph + H, pw:pw + W].copy()", "dx = dxpad[:, :, ph:-ph, pw:-pw].copy()"))
mutant("square kernel assumed (KW = KH)", "28", "im2col",
       ("KH, KW = _pair(kernel_size)", "KH = KW = _pair(kernel_size)[0]"))
mutant("square input assumed (Wo from H)", "28", "col2im",
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = (H + 2 * ph - KH) // sh + 1"))
mutant("square input assumed (Wo from H)", "28", "conv2d_forward_fast",
       ("Wo = (W + 2 * pw - KW) // sw + 1", "Wo = (H + 2 * ph - KH) // sh + 1"),
       also=["conv2d_backward_fast_hidden"])
mutant("square kernel assumed (KW = KH)", "28", "conv2d_backward_fast",
       ("F, _, KH, KW = w.shape", "F, _, KH, _ = w.shape\n    KW = KH"))
mutant("loop over output positions (im2col by a loop)", "speed", "conv2d_forward_fast",
       full='''
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    cols6 = np.empty((N, Ho, Wo, C, KH, KW))
    for i in range(Ho):
        for j in range(Wo):
            cols6[:, i, j] = xpad[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
    cols = cols6.reshape(N * Ho * Wo, C * KH * KW)
    out2d = cols @ w.reshape(F, -1).T + b
    out = out2d.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    return out, (x.shape, cols, w, stride, padding)
''')
mutant("loop over output positions (matmul per position, extra)", "speed",
       "conv2d_forward_fast", full='''
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    xpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    wmat = w.reshape(F, -1).T
    cols6 = np.empty((N, Ho, Wo, C, KH, KW))
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xpad[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
            cols6[:, i, j] = window
            out[:, :, i, j] = window.reshape(N, -1) @ wmat + b
    return out, (x.shape, cols6.reshape(N * Ho * Wo, -1), w, stride, padding)
''')
mutant("loop over output positions in the col2im part", "speed", "conv2d_backward_fast",
       ("    for u in range(KH):\n        for v in range(KW):                                        "
        "# KH*KW whole-array steps\n            dxpad[:, :, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * "
        "(Wo - 1) + 1:sw] += dcols6[..., u, v]",
        "    for i in range(Ho):\n        for j in range(Wo):\n            dxpad[:, :, i * sh:i * sh"
        " + KH, j * sw:j * sw + KW] += dcols6[:, :, i, j]"))
mutant("kernel flipped (true convolution)", "1", "conv2d_forward_fast",
       ("out2d = cols @ w.reshape(F, -1).T + b", "out2d = cols @ w[:, :, ::-1, ::-1].reshape(F, -1).T + b"))
mutant("out2d.reshape(N, F, Ho, Wo) without transpose (extra)", "fwd*", "conv2d_forward_fast",
       ("out = out2d.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)", "out = out2d.reshape(N, F, Ho, Wo)"))
mutant("db over wrong axes (0, 1, 2)", "12", "conv2d_backward_fast",
       ("db = dout2d.sum(axis=0)", "db = dout.sum(axis=(0, 1, 2))"))
mutant("dw from cols.T @ dout2d (extra)", "13*", "conv2d_backward_fast",
       ("dw = (dout2d.T @ cols).reshape(F, C, KH, KW)", "dw = (cols.T @ dout2d).reshape(F, C, KH, KW)"))
mutant("modifies dout in place (extra)", "25", "conv2d_backward_fast",
       ("    return dx, dw, db", "    dout[:, :, 0, 0] = 0.0\n    return dx, dw, db"))
mutant("ReLU backward mask missing", "relu", "cnn_loss",
       ("dconv = relu_backward(drelu, relu_cache)", "dconv = drelu"))
mutant("gradient of b1 forgotten (zeros)", "b1", "cnn_loss",
       ('"b1": db1,', '"b1": np.zeros_like(db1),'))
mutant("training does not learn (lr 0)", "lr0", "train_cnn",
       ("params[key] = params[key] - lr_epoch * grads[key]",
        "params[key] = params[key] - 0.0 * grads[key]"))


# Output sizes (catalog rows 2 and 29): every formula that differs from floor((H + 2p - k)/s) + 1
# for some q = (H + 2p - k)/s, in every function that computes an output size.
SIZE_FORMULAS = [
    ("output size with ceil", "2", "-(-({a}) // {s}) + 1"),
    ("output size with round(1 + q) (half to even)", "29", "round(1 + ({a}) / {s})"),
    ("output size with int(q + 0.5) + 1", "29", "int(({a}) / {s} + 0.5) + 1"),
    ("output size with round()", "2", "int(round(({a}) / {s})) + 1"),
]
SIZE_LINES = {  # function: (the two lines of its solution, as (name, numerator, stride))
    "conv2d_forward": (("Ho", "H + 2 * ph - KH", "sh"), ("Wo", "W + 2 * pw - KW", "sw")),
    "maxpool2d_forward": (("Ho", "H - kh", "sh"), ("Wo", "W - kw", "sw")),
    "im2col": (("Ho", "H + 2 * ph - KH", "sh"), ("Wo", "W + 2 * pw - KW", "sw")),
    "col2im": (("Ho", "H + 2 * ph - KH", "sh"), ("Wo", "W + 2 * pw - KW", "sw")),
    "conv2d_forward_fast": (("Ho", "H + 2 * ph - KH", "sh"), ("Wo", "W + 2 * pw - KW", "sw")),
}
# a backward test builds its cache with the student's forward, which crashes on a too large
# output (max-pool's backward takes the size from dout and is not affected)
SIZE_ALSO = {"conv2d_forward": ["conv2d_backward_hidden"],
             "conv2d_forward_fast": ["conv2d_backward_fast_hidden"]}
_done = {(m.function, m.description) for m in MUTANTS}
for _fn, _lines in SIZE_LINES.items():
    for _what, _row, _formula in SIZE_FORMULAS:
        if (_fn, _what) in _done or (_fn, _what.replace("output", "pool output") + " (extra)") in _done:
            continue
        mutant(_what, _row, _fn,
               *[(f"{name} = ({a}) // {s} + 1", f"{name} = {_formula.format(a=a, s=s)}")
                 for name, a, s in _lines], also=SIZE_ALSO.get(_fn, ()))
