"""The hidden cases of `spatial`: inputs, the group each case belongs to, what it exercises.

Every case is drawn from a fixed seed (regrading gives the same inputs, hence the same
grade); a case's seed is its position in its table, so new cases go at the END of a table.
The cases were chosen to expose the mistakes of shared/notes/mistake-catalog.md (the mutation
suite, gradebook_tests/mutants.py, proves each one loses points in its own cell).

Group ids (weights in checks.py): core, stride (strides, padding, output sizes), pairs
((h, w) arguments), integer (integer inputs), ties (max-pool), shapes (flatten), speed.
"""

import numpy

default_rng = numpy.random.default_rng

OMIT = object()       # "do not pass this argument" (use the default)


def pair(v):
    """(along H, along W) of an int or a pair."""
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def data(rng, shape, kind):
    """Test data of a kind: float (normal), int / int_ties (int64), negative, distinct, dropped."""
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


def kwargs_of(stride=OMIT, padding=OMIT):
    """The keyword arguments a case passes (OMIT: not passed, the default applies)."""
    kwargs = {}
    if stride is not OMIT:
        kwargs["stride"] = stride
    if padding is not OMIT:
        kwargs["padding"] = padding
    return kwargs


# ================================ conv2d ================================
# name, x shape, (F, KH, KW), stride, padding, kind, group, what the case exercises
CONV_CASES = [
    ("nonsquare_basic", (2, 3, 5, 7), (4, 3, 2), 1, 0, "float", "core",
     "H != W, KH != KW, random non-symmetric kernel, N > 1, C > 1, F != C"),
    ("single_sample_channel", (1, 1, 4, 4), (1, 2, 2), OMIT, OMIT, "float", "core",
     "N = 1, C = 1, F = 1, default stride and padding"),
    ("stride2_8x8_k3", (1, 2, 8, 8), (3, 3, 3), 2, 0, "float", "stride",
     "(8 - 3)/2 = 2.5 is not an integer: Ho = (8 - 3)//2 + 1 = 3 (floor)"),
    ("stride2_pad1_8x8_k3", (2, 2, 8, 8), (3, 3, 3), 2, 1, "float", "stride",
     "padding 1 on H and W only: Ho = (8 + 2 - 3)//2 + 1 = 4"),
    ("stride2_10x9_k3", (1, 1, 10, 9), (2, 3, 3), 2, OMIT, "float", "stride",
     "(10 - 3)/2 = 3.5: floor gives Ho = 4 (ceil would give 5)"),
    ("stride_pair_2_1", (2, 2, 7, 5), (3, 3, 2), (2, 1), 0, "float", "pairs",
     "stride=(2, 1): 2 along H (rows), 1 along W (columns); H != W"),
    ("padding_pair_1_0", (1, 3, 4, 6), (2, 3, 3), 1, (1, 0), "float", "pairs",
     "padding=(1, 0): one zero row above and below, no zero columns"),
    ("pairs_s12_p02", (2, 1, 5, 6), (2, 2, 3), (1, 2), (0, 2), "float", "pairs",
     "stride=(1, 2), padding=(0, 2): pairs are (along H, along W)"),
    ("many_filters", (3, 2, 5, 5), (5, 3, 3), 1, 1, "float", "core",
     "N = 3, C = 2, F = 5 = Wo: bias b[f] belongs to filter f (axis 1)"),
    ("kernel_covers_input", (2, 2, 3, 4), (3, 3, 4), 1, 0, "float", "core",
     "kernel as large as the input: Ho = Wo = 1"),
    ("stride3_pad2", (1, 2, 6, 7), (2, 3, 2), 3, 2, "float", "stride",
     "stride 3, padding 2: Ho = (6 + 4 - 3)//3 + 1 = 3, Wo = (7 + 4 - 2)//3 + 1 = 4"),
]
# Integer inputs follow torch: a forward pass may return integers or floats as long as the
# values are exact; a gradient must never be truncated.
INTEGER_RULE = ("integer inputs: like PyTorch, a forward pass may return integers or floats as "
                "long as the values are exact; a gradient must never be truncated: build gradient "
                "buffers as float (np.zeros(x.shape)), not np.zeros_like(x) of an integer x")
CONV_INTEGER = ("integer_inputs", (2, 2, 4, 5), (3, 2, 3), 1, 1, "int", "integer",
                "x, w and b are int64 arrays; " + INTEGER_RULE)
CONV_DISTINCT = ("distinct_C3_overlap", (2, 3, 6, 5), (2, 3, 2), 1, 1, "distinct", "core",
                 "C = 3, distinct values, overlapping windows: a (kh, kw, c) column order is wrong")
# Output sizes where floor, ceil, round(1 + q) (half to even) and int(q + 0.5) + 1 disagree,
# q = (H + 2p - k)/s: q = 0.5, 2.5 (round(1 + q) rounds up) and 1.5, 3.5 (round(q) + 1 does),
# each in both axes across the cases of a function.
CONV_ROUNDING = ("sizes_half_4x9_k3x2_s2", (2, 2, 4, 9), (3, 3, 2), 2, 0, "float", "stride",
                 "(4 - 3)/2 = 0.5 and (9 - 2)/2 = 3.5: Ho = (4 - 3)//2 + 1 = 1, Wo = (9 - 2)//2 "
                 "+ 1 = 4 (floor; ceil, round() or int(q + 0.5) give Ho = 2 or Wo = 5)")
CONV_INT_X = ("integer_x_float_w", (2, 2, 5, 4), (3, 2, 2), 1, 0, "int_x", "integer",
              "x is an int64 array (e.g. pixels), w and b are float: the result holds fractions; "
              + INTEGER_RULE)
CONV_CASES_PART1 = CONV_CASES + [CONV_INTEGER, CONV_ROUNDING, CONV_INT_X]   # seeds 20240 + position
CONV_CASES_PART2 = CONV_CASES + [CONV_DISTINCT, CONV_INTEGER, CONV_ROUNDING, CONV_INT_X]  # 30240 + pos.


def conv_inputs(seed, spec):
    """rng, x, w, b, kwargs, stride, padding of a conv case (stride/padding with defaults)."""
    name, xs, (f, kh, kw), stride, padding, kind, group, why = spec
    rng = default_rng(seed)
    x = data(rng, xs, "int" if kind == "int_x" else kind)
    w = data(rng, (f, xs[1], kh, kw), "float" if kind == "int_x" else kind)
    b = data(rng, (f,), "float" if kind == "int_x" else kind)
    st = 1 if stride is OMIT else stride
    pd = 0 if padding is OMIT else padding
    return rng, x, w, b, kwargs_of(stride, padding), st, pd


# ================================ maxpool2d ================================
# name, x shape, kernel_size, stride, kind, group, what the case exercises
POOL_CASES = [
    ("k2_s2_nonsquare", (2, 3, 4, 6), 2, 2, "float", "core",
     "kernel 2, stride 2 on a 4x6 input, N > 1, C > 1"),
    ("k3_s2_overlap", (2, 2, 7, 9), 3, 2, "float", "stride",
     "kernel 3, stride 2: windows overlap; Ho = (7 - 3)//2 + 1 = 3"),
    ("k2_s1_overlap", (1, 2, 4, 5), 2, 1, "float", "stride",
     "kernel 2, stride 1: windows overlap"),
    ("stride_omitted", (2, 2, 6, 4), 2, OMIT, "float", "core",
     "stride not given: it defaults to kernel_size"),
    ("stride_None", (1, 1, 6, 9), 3, None, "float", "core",
     "stride=None means stride = kernel_size"),
    ("dropped_5x5_k2_s2", (1, 2, 5, 5), 2, 2, "dropped", "stride",
     "5x5, kernel 2, stride 2: Ho = (5 - 2)//2 + 1 = 2; row 4 and column 4 are in no window "
     "(they hold the largest values here)"),
    ("pair_k23_s12", (2, 2, 5, 7), (2, 3), (1, 2), "float", "pairs",
     "kernel (2, 3) and stride (1, 2) are (along H, along W)"),
    ("pair_k32_default", (1, 2, 7, 5), (3, 2), OMIT, "float", "pairs",
     "kernel (3, 2) with the default stride, which is (3, 2)"),
    ("all_negative", (2, 2, 4, 4), 2, 2, "negative", "core",
     "every value is negative: the window maximum is negative (not 0)"),
    ("integer_input", (2, 2, 6, 5), 3, 2, "int_ties", "integer",
     "int64 input with ties; " + INTEGER_RULE),
]
# see CONV_ROUNDING; forward: seeds after POOL_CASES, backward: after POOL_BWD_EXTRA
POOL_ROUNDING = [
    ("sizes_7x5_k2_s2", (1, 2, 7, 5), 2, 2, "float", "stride",
     "(7 - 2)/2 = 2.5 and (5 - 2)/2 = 1.5: Ho = 3, Wo = 2 (floor; ceil and int(q + 0.5) give "
     "4 and 3, round(1 + q) gives 4 for Ho, round(q) + 1 gives 3 for Wo)"),
    ("sizes_9x3_k2_s2", (2, 1, 9, 3), 2, OMIT, "float", "stride",
     "(9 - 2)/2 = 3.5 and (3 - 2)/2 = 0.5: Ho = 4, Wo = 1 (floor; e.g. a 3x3 input with "
     "kernel 2 gives a 1x1 output, as in torch)"),
]
# backward only: name, x shape, kernel_size, stride, kind, group, what
POOL_BWD_EXTRA = [
    ("overlap_k3_s1", (2, 2, 5, 6), 3, 1, "float", "stride",
     "kernel 3, stride 1: an element can be the maximum of several windows (+=)"),
    ("integer_ties_k2_s2", (2, 2, 6, 6), 2, 2, "int_ties", "integer",
     "int64 input with many ties and a fractional dout; " + INTEGER_RULE),
    ("integer_ties_k3_s1", (1, 2, 5, 5), 3, 1, "int_ties", "integer",
     "int64 input with ties, overlapping windows, fractional dout; " + INTEGER_RULE),
]
# hand-written ties: name, x, kernel, stride, dout, what. Their expected dx comes from the
# reference (proven against hand-written arrays in gradebook_tests/test_reference.py): an
# expected array here would be in the grading kernel, where a student's function can read it.
TIE_CASES = [
    ("tie_all_equal_2x2", [[[[3, 3], [3, 3]]]], 2, OMIT, [[[[0.75]]]],
     "all four values tie: only the first (top-left) gets the gradient"),
    ("tie_several_3x3", [[[[1, 5, 2], [5, 0, 5], [3, 5, 5]]]], 3, OMIT, [[[[-1.5]]]],
     "five 5s tie: only the first in row-major order, at (0, 1), gets the gradient"),
    ("tie_two_windows", [[[[0, 1, 4, 4], [1, 1, 4, 2]]]], 2, 2, [[[[0.5, -2.25]]]],
     "window 0 ties 1s at (0,1), (1,0), (1,1); window 1 ties 4s at (0,2), (0,3), (1,2)"),
    ("tie_overlap_k2_s1", [[[[7, 7, 7], [7, 7, 7], [7, 7, 7]]]], 2, 1,
     [[[[0.5, 0.25], [0.125, 2.0]]]],
     "all equal, overlapping windows: each window's gradient goes to its own top-left"),
    ("tie_per_sample", [[[[1, 2], [2, 0]]], [[[5, 1], [5, 5]]]], 2, OMIT,
     [[[[0.5]]], [[[-1.5]]]],
     "two samples whose first maxima are at different places"),
]


def pool_inputs(seed, spec):
    """rng, x, kernel, kwargs, stride (None for the default) of a pool case."""
    name, xs, kernel, stride, kind, group, why = spec
    rng = default_rng(seed)
    x = data(rng, xs, kind)
    kwargs = {} if stride is OMIT else {"stride": stride}
    return rng, x, kernel, kwargs, (None if stride is OMIT else stride)


# ================================ flatten ================================
# name, x shape, kind, group, what
FLAT_CASES = [
    ("distinct_2x3x4x5", (2, 3, 4, 5), "distinct", "core",
     "C > 1, H*W > 1, all values distinct: C order is (channel, row, column)"),
    ("single_sample", (1, 2, 3, 4), "float", "shapes", "N = 1 must stay a (1, 24) matrix"),
    ("one_row_1x1x1x5", (1, 1, 1, 5), "float", "shapes", "N = C = H = 1: result (1, 5), never (5,)"),
    ("spatial_1x1", (3, 4, 1, 1), "float", "shapes", "H = W = 1: result (3, 4)"),
    ("integer_input", (2, 2, 2, 3), "int", "integer", "int64 input; " + INTEGER_RULE),
]


# ================================ im2col / col2im ================================
# name, x shape, kernel_size, stride, padding, kind, group, what
COL_CASES = [
    ("nonsquare_C3_distinct", (2, 3, 5, 7), (3, 2), 1, 0, "distinct", "core",
     "H != W, KH != KW, N = 2, C = 3 with all values distinct: rows (n, i, j), "
     "columns (c, kh, kw)"),
    ("defaults_N1_C1", (1, 1, 4, 4), 2, OMIT, OMIT, "distinct", "core",
     "N = C = 1, kernel_size an int, default stride 1 and padding 0"),
    ("stride2_pad1_8x8_k3", (2, 2, 8, 8), 3, 2, 1, "distinct", "stride",
     "stride 2, padding 1: Ho = Wo = (8 + 2 - 3)//2 + 1 = 4"),
    ("stride2_floor_10x9_k3", (1, 2, 10, 9), 3, 2, 0, "float", "stride",
     "(10 - 3)/2 = 3.5: Ho = 4 (floor), Wo = (9 - 3)//2 + 1 = 4"),
    ("stride_pair_2_1", (2, 2, 7, 5), (3, 2), (2, 1), 0, "distinct", "pairs",
     "stride=(2, 1): 2 along H (rows), 1 along W (columns); H != W"),
    ("padding_pair_1_0", (1, 3, 4, 6), (3, 3), 1, (1, 0), "distinct", "pairs",
     "padding=(1, 0): one zero row above and below, no zero columns"),
    ("pairs_s12_p02", (2, 1, 5, 6), (2, 3), (1, 2), (0, 2), "distinct", "pairs",
     "stride=(1, 2), padding=(0, 2): pairs are (along H, along W)"),
    ("kernel_covers_input", (2, 2, 3, 4), (3, 4), 1, 0, "distinct", "core",
     "kernel as large as the input: Ho = Wo = 1, one row per sample"),
    ("stride3_pad2", (1, 2, 6, 7), (3, 2), 3, 2, "float", "stride",
     "stride 3, padding 2: Ho = (6 + 4 - 3)//3 + 1 = 3, Wo = (7 + 4 - 2)//3 + 1 = 4"),
    ("overlap_k3_s1_pad1", (2, 2, 6, 5), 3, 1, 1, "distinct", "core",
     "stride 1 < kernel 3: windows overlap, an element of x appears in up to 9 rows"),
    ("integer_input", (2, 2, 4, 5), (2, 3), 1, 1, "int", "integer",
     "x is an int64 array; " + INTEGER_RULE),
    # see CONV_ROUNDING
    ("sizes_7x5_k2_s2", (1, 2, 7, 5), 2, 2, 0, "distinct", "stride",
     "(7 - 2)/2 = 2.5 and (5 - 2)/2 = 1.5: Ho = 3, Wo = 2 (floor, not ceil or rounded)"),
    ("sizes_8x5_k3x2_s2_p1", (2, 1, 8, 5), (3, 2), 2, 1, "distinct", "stride",
     "(8 + 2 - 3)/2 = 3.5 and (5 + 2 - 2)/2 = 2.5: Ho = 4, Wo = 3 (floor, not ceil or rounded)"),
]
# col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>, on random x and c
# name, x shape, kernel_size, stride, padding, group, what
ADJOINT_CASES = [
    ("adjoint_overlap_k3_s1_pad1", (2, 3, 6, 5), (3, 2), 1, 1, "core",
     "random x and c, overlapping windows, padding 1"),
    ("adjoint_stride_pair_pad_pair", (1, 2, 7, 8), (2, 3), (2, 1), (1, 0), "pairs",
     "random x and c, stride (2, 1), padding (1, 0)"),
]


def col_inputs(seed, spec):
    """rng, x, kernel, kwargs, stride, padding of an im2col/col2im case."""
    name, xs, kernel, stride, padding, kind, group, why = spec
    rng = default_rng(seed)
    x = data(rng, xs, kind)
    st = 1 if stride is OMIT else stride
    pd = 0 if padding is OMIT else padding
    return rng, x, kernel, kwargs_of(stride, padding), st, pd


# ================================ the CNN ================================
CNN_SHAPES = (("W1", (8, 1, 3, 3)), ("b1", (8,)), ("W2", (128, 10)), ("b2", (10,)))
# name, seed, batch size, what
GRAD_CASES = [
    ("tiny_batch_N3", 8080, 3, "3 random 8x8 images, random parameters, float64"),
    ("single_image_N1", 8081, 1, "one image (N = 1): the mean over the batch is that image"),
]


def cnn_params(rng):
    return {"W1": rng.standard_normal((8, 1, 3, 3)) * 0.5,
            "b1": rng.standard_normal(8) * 0.1,
            "W2": rng.standard_normal((128, 10)) * 0.3,
            "b2": rng.standard_normal(10) * 0.1}
