"""Prediction kernels for the 2-way Factorization Machine.

The model scores a feature vector x of length n as

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l

and the pairwise term is computed in O(k n_nonzero) time with the identity

    sum_{j<l} <v_j, v_l> x_j x_l
        = 1/2 sum_f [ (sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2 ].

Rows are given in compressed sparse row (CSR) form: ``indptr``, ``indices``
and ``data`` as in ``scipy.sparse.csr_matrix``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def fm_predict(indptr, indices, data, w0, w, V):  # pragma: no cover - compiled
    """Return the FM output for every CSR row."""
    n_rows = indptr.size - 1
    out = np.empty(n_rows)
    sums = np.empty(V.shape[1])
    for row in range(n_rows):
        out[row] = row_output(
            indptr[row], indptr[row + 1], indices, data, w, V, w0, sums
        )
    return out


@njit(cache=True, nogil=True)
def fm_row_terms(indptr, indices, data, w, V):  # pragma: no cover - compiled
    """Split each CSR row's FM output into a scalar part and a factor sum.

    For a row x this returns ``(s, q)`` with ``s = sum_j w_j x_j`` plus the
    pairwise terms inside the row, and ``q = sum_j v_j x_j``. When a full FM
    input is the concatenation of two disjoint blocks a (say, user features)
    and b (item features), its output is ``w0 + s_a + s_b + <q_a, q_b>``, which
    is how whole user-by-item score matrices are built without forming rows.
    """
    n_rows = indptr.size - 1
    scalar = np.empty(n_rows)
    factor_sum = np.empty((n_rows, V.shape[1]))
    for row in range(n_rows):
        scalar[row] = row_output(
            indptr[row], indptr[row + 1], indices, data, w, V, 0.0, factor_sum[row]
        )
    return scalar, factor_sum


@njit(cache=True, nogil=True, inline="always")
def row_output(start, end, indices, data, w, V, bias, sums):  # pragma: no cover
    """Return ``bias`` plus the FM terms of the CSR entries ``start:end``.

    ``sums`` (length k) is overwritten with the row's factor sums
    ``q_f = sum_j v_jf x_j``, which the SGD step reuses.
    """
    n_factors = V.shape[1]
    total = bias
    sums[:] = 0.0
    squares = 0.0
    for p in range(start, end):
        j = indices[p]
        x = data[p]
        total += w[j] * x
        for f in range(n_factors):
            vx = V[j, f] * x
            sums[f] += vx
            squares += vx * vx
    pairwise = 0.0
    for f in range(n_factors):
        pairwise += sums[f] * sums[f]
    return total + 0.5 * (pairwise - squares)
