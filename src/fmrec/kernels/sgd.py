"""Stochastic gradient descent epoch for the squared-loss 2-way FM.

For one sample (x, y) with prediction p = y(x) and error e = p - y, the loss
1/2 e^2 + 1/2 reg_w sum_j w_j^2 + 1/2 reg_v sum_jf v_jf^2 (regularisation
applied lazily, to the features active in the sample) has the gradients

    d/dw0   = e
    d/dw_j  = e x_j + reg_w w_j
    d/dv_jf = e x_j (q_f - v_jf x_j) + reg_v v_jf,   q_f = sum_l v_lf x_l.

Every parameter of the sample takes one step of size ``learning_rate`` along
its gradient, with ``q`` and ``e`` computed from the parameters before the
step. The bias w0 is not regularised.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sgd_epoch(
    indptr, indices, data, y, order, params_w0, w, V, learning_rate, reg_w, reg_v
):  # pragma: no cover - compiled
    """Run one SGD pass over the rows in ``order``, updating parameters in place.

    ``params_w0`` is a one-element array so the bias is updated in place too.
    Returns the sum of squared errors seen during the pass (each computed
    before that sample's step); a non-finite sum means training diverged.
    """
    n_factors = V.shape[1]
    q = np.empty(n_factors)
    sse = 0.0
    for t in range(order.size):
        row = order[t]
        start = indptr[row]
        end = indptr[row + 1]

        # Forward pass: linear part, factor sums q and the squared terms.
        pred = params_w0[0]
        q[:] = 0.0
        squares = 0.0
        for p in range(start, end):
            j = indices[p]
            x = data[p]
            pred += w[j] * x
            for f in range(n_factors):
                vx = V[j, f] * x
                q[f] += vx
                squares += vx * vx
        pairwise = 0.0
        for f in range(n_factors):
            pairwise += q[f] * q[f]
        pred += 0.5 * (pairwise - squares)
        err = pred - y[row]
        sse += err * err

        # Backward pass: every gradient uses q and err from before the step.
        params_w0[0] -= learning_rate * err
        for p in range(start, end):
            j = indices[p]
            x = data[p]
            w[j] -= learning_rate * (err * x + reg_w * w[j])
            for f in range(n_factors):
                v = V[j, f]
                V[j, f] = v - learning_rate * (err * x * (q[f] - v * x) + reg_v * v)
    return sse
