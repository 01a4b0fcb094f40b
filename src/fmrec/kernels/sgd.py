"""Stochastic gradient descent epoch for the 2-way FM, squared or logistic loss.

For one sample (x, y) with prediction p = y(x), the objective is

    loss(p, y) + 1/2 reg_bias w0^2 + 1/2 reg_w sum_j w_j^2
               + 1/2 reg_v sum_jf v_jf^2

with the regularisation of w and V applied lazily, to the features active in
the sample, and that of w0 at every step.
Two losses are available, chosen by the ``loss`` code:

- ``SQUARED_LOSS``: loss = 1/2 (p - y)^2, so dloss/dp = p - y;
- ``LOGISTIC_LOSS``: y in {-1, +1}, loss = log(1 + exp(-y p)), so
  dloss/dp = -y sigma(-y p) with sigma(t) = 1 / (1 + exp(-t)).

With g = dloss/dp the gradients are

    d/dw0   = g + reg_bias w0
    d/dw_j  = g x_j + reg_w w_j
    d/dv_jf = g x_j (q_f - v_jf x_j) + reg_v v_jf,   q_f = sum_l v_lf x_l.

Every parameter of the sample takes one step of size ``learning_rate`` along
its gradient, with ``q`` and ``g`` computed from the parameters before the
step. A model without a bias or without linear weights keeps w0 or w where
they are (zero from the start) and leaves them out of the step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fmrec.kernels.fm import row_output

SQUARED_LOSS = 0
"""Loss code of 1/2 (p - y)^2; the epoch returns the sum of (p - y)^2."""
LOGISTIC_LOSS = 1
"""Loss code of log(1 + exp(-y p)) for labels y in {-1, +1}."""


@njit(cache=True, nogil=True)
def logistic_loss_and_slope(margin, label):  # pragma: no cover - compiled
    """Return log(1 + exp(-y p)) and its derivative -y sigma(-y p) in p.

    Both are computed without overflow for any finite margin ``p``.
    """
    signed = label * margin
    if signed > 0.0:
        loss = math.log1p(math.exp(-signed))
        tail = math.exp(-signed) / (1.0 + math.exp(-signed))
    else:
        loss = -signed + math.log1p(math.exp(signed))
        tail = 1.0 / (1.0 + math.exp(signed))
    return loss, -label * tail


@njit(cache=True, nogil=True)
def sgd_epoch(
    indptr,
    indices,
    data,
    y,
    order,
    params_w0,
    w,
    V,
    learning_rate,
    reg_w,
    reg_v,
    loss=SQUARED_LOSS,
    reg_bias=0.0,
    fit_bias=True,
    fit_linear=True,
):  # pragma: no cover - compiled
    """Run one SGD pass over the rows in ``order``, updating parameters in place.

    ``params_w0`` is a one-element array so the bias is updated in place too.
    ``loss`` is ``SQUARED_LOSS`` (the default) or ``LOGISTIC_LOSS``, whose
    targets ``y`` must be -1 or +1. ``reg_bias`` is the L2 penalty of the
    bias. With ``fit_bias`` or ``fit_linear`` False the bias or the linear
    weights are never updated. Returns the sum over the pass of each sample's
    loss term, computed before that sample's step: the squared error
    (p - y)^2, or log(1 + exp(-y p)). A non-finite sum means training diverged.
    """
    n_factors = V.shape[1]
    q = np.empty(n_factors)
    total = 0.0
    for t in range(order.size):
        row = order[t]
        start = indptr[row]
        end = indptr[row + 1]

        # Forward pass: the output, with the factor sums q kept for the step.
        pred = row_output(start, end, indices, data, w, V, params_w0[0], q)
        if loss == SQUARED_LOSS:
            err = pred - y[row]
            total += err * err
        else:
            sample_loss, err = logistic_loss_and_slope(pred, y[row])
            total += sample_loss

        # Backward pass: every gradient uses q and err from before the step.
        if fit_bias:
            params_w0[0] -= learning_rate * (err + reg_bias * params_w0[0])
        for p in range(start, end):
            j = indices[p]
            x = data[p]
            if fit_linear:
                w[j] -= learning_rate * (err * x + reg_w * w[j])
            for f in range(n_factors):
                v = V[j, f]
                V[j, f] = v - learning_rate * (err * x * (q[f] - v * x) + reg_v * v)
    return total
