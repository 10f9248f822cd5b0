"""A correct but deliberately slow student: explicit Python loops over every index.

Each answer is the code a student would type into the solution cell of the same name.
The hidden tests must give it full marks well inside the per-cell time limit.
"""

CONV2D_FORWARD = '''
def conv2d_forward(x, w, b, stride=1, padding=0):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    total = float(b[f])
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                r = i * sh + u - ph
                                s = j * sw + v - pw
                                if 0 <= r < H and 0 <= s < W:
                                    total += float(w[f, c, u, v]) * float(x[n, c, r, s])
                    out[n, f, i, j] = total
    return out, (x, w, b, (sh, sw), (ph, pw))
'''

CONV2D_BACKWARD = '''
def conv2d_backward(dout, cache):
    x, w, b, (sh, sw), (ph, pw) = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(b.shape)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = float(dout[n, f, i, j])
                    db[f] += g
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                r = i * sh + u - ph
                                s = j * sw + v - pw
                                if 0 <= r < H and 0 <= s < W:
                                    dx[n, c, r, s] += float(w[f, c, u, v]) * g
                                    dw[f, c, u, v] += float(x[n, c, r, s]) * g
    return dx, dw, db
'''

MAXPOOL2D_FORWARD = '''
def maxpool2d_forward(x, kernel_size, stride=None):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    N, C, H, W = x.shape
    Ho = (H - kh) // sh + 1
    Wo = (W - kw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best = None
                    for u in range(kh):
                        for v in range(kw):
                            value = x[n, c, i * sh + u, j * sw + v]
                            if best is None or value > best:
                                best = value
                    out[n, c, i, j] = best
    return out, (x, (kh, kw), (sh, sw))
'''

MAXPOOL2D_BACKWARD = '''
def maxpool2d_backward(dout, cache):
    x, (kh, kw), (sh, sw) = cache
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, where = None, None
                    for u in range(kh):
                        for v in range(kw):
                            value = x[n, c, i * sh + u, j * sw + v]
                            if best is None or value > best:
                                best, where = value, (i * sh + u, j * sw + v)
                    dx[n, c, where[0], where[1]] += dout[n, c, i, j]
    return dx
'''

FLATTEN_FORWARD = '''
def flatten_forward(x):
    N = x.shape[0]
    D = 1
    for size in x.shape[1:]:
        D *= size
    out = np.zeros((N, D))
    for n in range(N):
        k = 0
        for c in range(x.shape[1]):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    out[n, k] = x[n, c, i, j]
                    k += 1
    return out, x.shape
'''

FLATTEN_BACKWARD = '''
def flatten_backward(dout, cache):
    shape = cache
    dx = np.zeros(shape)
    for n in range(shape[0]):
        k = 0
        for c in range(shape[1]):
            for i in range(shape[2]):
                for j in range(shape[3]):
                    dx[n, c, i, j] = dout[n, k]
                    k += 1
    return dx
'''

ANSWERS = {
    "conv2d_forward": CONV2D_FORWARD,
    "conv2d_backward": CONV2D_BACKWARD,
    "maxpool2d_forward": MAXPOOL2D_FORWARD,
    "maxpool2d_backward": MAXPOOL2D_BACKWARD,
    "flatten_forward": FLATTEN_FORWARD,
    "flatten_backward": FLATTEN_BACKWARD,
}
