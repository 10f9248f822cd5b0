"""The reference of `spatial` for the trusted grader: every layer, and the whole network.

Loaded by the hidden cell grader_trusted_reference, which the grading kernel never runs: the
trusted grader (coursetools/perimeter/verify_hidden_checks.py) judges every recorded check
against these functions. The kernel only ever holds layers.py (for the CNN checks), never the
network's loss or scores, so a student's cnn_loss cannot differentiate the reference loss.
"""

from .layers import (REFERENCE_LAYERS, np_arange, np_exp, np_log, np_maximum,  # noqa: F401
                     ref_col2im, ref_conv2d_backward, ref_conv2d_forward, ref_flatten_backward,
                     ref_flatten_forward, ref_im2col, ref_log_softmax, ref_maxpool2d_backward,
                     ref_maxpool2d_forward)


def ref_cnn_scores(P, X):
    a = ref_conv2d_forward(X, P["W1"], P["b1"], 1, 1)
    h = np_maximum(a, 0.0)
    p = ref_maxpool2d_forward(h, 2, None)
    return ref_flatten_forward(p) @ P["W2"] + P["b2"]


def ref_cnn_loss(P, X, y):
    logp = ref_log_softmax(ref_cnn_scores(P, X))
    return float(-logp[np_arange(logp.shape[0]), y].mean())


# the checks that may run after cell grader_reference; every other hidden test cell must come
# before it, or the grader fails that cell
CHECKS_AFTER_REFERENCE = ("check_cnn_gradient", "check_cnn_accuracy")
