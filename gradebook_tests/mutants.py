"""The mutation suite: realistic buggy submissions of `spatial`, one mistake each.

Every mutant is the instructor solution with one mistake injected into one API function
(an exact text edit of that solution cell, or a whole replacement function). ``row`` is
the row of ../shared/notes/mistake-catalog.md it realises ("3*" = a variant of row 3,
"own" = a mistake not in the catalog). A mutant must lose exactly the graded cell of its
function plus the cells listed in ``also`` (a backward cell can only be tested through the
student's own forward pass: a forward that crashes, or corrupts what it caches, costs the
backward cell too) and keep every other point.

Catalog rows 26 and 27 concern im2col, which part 2 of the assignment adds.
"""

import re
from dataclasses import dataclass, field

FUNCTIONS = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
             "flatten_forward", "flatten_backward")
CATALOG_ROWS = {str(r) for r in range(1, 26)} | {"28"}


@dataclass
class Mutant:
    description: str
    row: str
    function: str
    edits: tuple = ()
    full: str = None
    also: frozenset = field(default_factory=frozenset)

    @property
    def key(self):
        slug = re.sub(r"[^a-z0-9]+", "-", self.description.lower()).strip("-")
        return f"{self.function}--{slug}"[:80]

    @property
    def must_fail(self):
        return sorted({self.function + "_hidden"} | set(self.also))

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


MUTANTS = []


def mutant(description, row, function, *edits, full=None, also=()):
    MUTANTS.append(Mutant(description, row, function, tuple(edits), full, frozenset(also)))


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
mutant("integer result for integer inputs (extra)", "int", "conv2d_forward",
       ("out = np.zeros((N, F, Ho, Wo))", "out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)"))

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
mutant("dw = np.zeros_like(w): int truncation (extra)", "int", "conv2d_backward",
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
mutant("integer result for integer input (extra)", "int", "maxpool2d_forward",
       ("out = np.zeros((N, C, Ho, Wo))", "out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)"))
mutant("modifies the caller's x", "25", "maxpool2d_forward",
       ("    cache = (x, kernel_size, stride)",
        "    x[:, :, -1, -1] = 0\n    cache = (x, kernel_size, stride)"),
       also=["maxpool2d_backward_hidden"])

# maxpool2d_backward
ROUTE = "dx[n, c, r + u, s + v] += dout[n, c, i, j]"
mutant("gradient to every element of the window", "16", "maxpool2d_backward",
       (ROUTE, "dx[n, c, r:r + kh, s:s + kw] += dout[n, c, i, j]"))
mutant("every tie gets the full gradient", "17", "maxpool2d_backward",
       (ROUTE, "dx[n, c, r:r + kh, s:s + kw] += (window == window.max()) * dout[n, c, i, j]"))
mutant("gradient split among ties (extra)", "17*", "maxpool2d_backward",
       (ROUTE, "dx[n, c, r:r + kh, s:s + kw] += (window == window.max()) * dout[n, c, i, j]"
               " / (window == window.max()).sum()"))
mutant("last maximum instead of first (extra)", "17*", "maxpool2d_backward",
       ("k = np.argmax(window)", "k = window.size - 1 - np.argmax(window.ravel()[::-1])"))
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
       ("window = x[n, c, r:r + kh, s:s + kw]",
        "window = x[n, c, r:(H if i == Ho - 1 else r + kh), s:(W if j == Wo - 1 else s + kw)]"),
       ("u, v = divmod(int(k), kw)", "u, v = divmod(int(k), window.shape[1])"))
mutant("dx = np.zeros_like(x): int truncation (extra)", "int", "maxpool2d_backward",
       ("dx = np.zeros((N, C, H, W))", "dx = np.zeros_like(x)"))
mutant("modifies dout in place", "25", "maxpool2d_backward",
       ("    return dx", "    dout[...] = 0\n    return dx"))
mutant("writes into the cached x through a view", "25", "maxpool2d_backward",
       ("k = np.argmax(window)", "window[window < window.max()] = 0\n"
                                 "                    k = np.argmax(window)"))
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
       ("    out = x.reshape(x.shape[0], -1)\n    cache = x.shape",
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
       ("u, v = divmod(int(k), kw)", "u, v = divmod(int(k), kh)"))
mutant("flatten_backward reshapes to (N, -1)", "own", "flatten_backward",
       ("dx = dout.reshape(cache)", "dx = dout.reshape(cache[0], -1)"))
