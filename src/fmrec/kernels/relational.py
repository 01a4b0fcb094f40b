"""Coordinate-wise kernels for ALS and MCMC on block-structured FM input.

The input rows are never formed. Each rating r points, for every block b, to
one row ``index_b[r]`` of a block matrix ``B_b`` (for example the user block:
user id, attributes and the items the user rated). The FM output of a rating
is then built from per-block-row terms,

    y_r = w0 + sum_b s_b[index_b[r]]
             + sum_f 1/2 [ (sum_b Q_b[index_b[r], f])^2 - sum_b Q_b[index_b[r], f]^2 ]

with ``Q_b[u, f] = sum_j v_jf B_b[u, j]`` and ``s_b[u]`` the linear and
within-row pairwise terms of block row u. The model is linear in every single
parameter theta: ``y_r = g_r + theta h_r``. Given the residuals
``e_r = y_r - yhat_r``, the coordinate update of theta under a Gaussian
prior N(mu, 1/lam) and noise precision alpha has the conditional posterior

    precision = alpha sum_r h_r^2 + lam
    mean      = (alpha sum_r (theta h_r + e_r) h_r + lam mu) / precision.

ALS takes ``theta = mean`` (with alpha = 1, mu = 0, lam = the L2 penalty),
which minimises the penalised squared error along that coordinate. MCMC draws
``theta = mean + z / sqrt(precision)`` with z ~ N(0, 1) given by the caller.

For a feature j of block b and the ratings r of block row u, ``h_r`` is
``B[u, j]`` for the linear weight and ``B[u, j] (a_u + c_r)`` for factor f,
where ``a_u = Q_b[u, f] - v_jf B[u, j]`` and ``c_r`` is the factor-f sum of
the other blocks. So the sums over ratings reduce to per-block-row sums of
e_r, e_r c_r, c_r and c_r^2, and each update costs O(1) per non-zero of the
block matrix. The residuals are brought up to date once per block and factor.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def draw_coordinate(
    theta, sum_eh, sum_hh, alpha, lam, mu, z, sample
):  # pragma: no cover
    """Return the conditional mean (ALS) or a draw (MCMC) for one parameter."""
    precision = alpha * sum_hh + lam
    if precision <= 0.0:
        return theta
    mean = (alpha * (theta * sum_hh + sum_eh) + lam * mu) / precision
    if not sample:
        return mean
    return mean + z / np.sqrt(precision)


@njit(cache=True, nogil=True)
def bias_sweep(w0, residuals, alpha, lam, z, sample):  # pragma: no cover
    """Update the global bias; return the new value and shift the residuals."""
    total = 0.0
    for r in range(residuals.size):
        total += residuals[r]
    new = draw_coordinate(w0, total, float(residuals.size), alpha, lam, 0.0, z, sample)
    residuals -= new - w0
    return new


@njit(cache=True, nogil=True)
def block_linear_sweep(
    index,
    counts,
    col_ptr,
    col_rows,
    col_vals,
    offset,
    groups,
    w,
    residuals,
    alpha,
    lam_w,
    mu_w,
    z,
    sample,
):  # pragma: no cover
    """Update the linear weights of one block's features, column by column."""
    n_rows = counts.size
    row_error = np.zeros(n_rows)
    for r in range(residuals.size):
        row_error[index[r]] += residuals[r]
    shift = np.zeros(n_rows)
    for j in range(col_ptr.size - 1):
        sum_eh = 0.0
        sum_hh = 0.0
        for p in range(col_ptr[j], col_ptr[j + 1]):
            u = col_rows[p]
            x = col_vals[p]
            sum_eh += x * row_error[u]
            sum_hh += x * x * counts[u]
        g = groups[offset + j]
        old = w[offset + j]
        new = draw_coordinate(
            old, sum_eh, sum_hh, alpha, lam_w[g], mu_w[g], z[j], sample
        )
        delta = new - old
        w[offset + j] = new
        for p in range(col_ptr[j], col_ptr[j + 1]):
            u = col_rows[p]
            x = col_vals[p]
            row_error[u] -= delta * x * counts[u]
            shift[u] += delta * x
    for r in range(residuals.size):
        residuals[r] -= shift[index[r]]


@njit(cache=True, nogil=True)
def block_factor_sweep(
    f,
    index,
    counts,
    col_ptr,
    col_rows,
    col_vals,
    offset,
    groups,
    V,
    Q,
    S2,
    residuals,
    factor_total,
    alpha,
    lam_v,
    mu_v,
    z,
    sample,
):  # pragma: no cover
    """Update factor f of one block's features, column by column.

    ``Q`` and ``S2`` are the block's per-row factor sums and sums of squared
    terms; ``factor_total[r]`` is the factor-f sum over all blocks for rating
    r. All three and the residuals are updated in place.
    """
    n_rows = counts.size
    sum_e = np.zeros(n_rows)
    sum_ec = np.zeros(n_rows)
    sum_c = np.zeros(n_rows)
    sum_cc = np.zeros(n_rows)
    for r in range(residuals.size):
        u = index[r]
        c = factor_total[r] - Q[u, f]
        sum_e[u] += residuals[r]
        sum_ec[u] += residuals[r] * c
        sum_c[u] += c
        sum_cc[u] += c * c
    q_before = Q[:, f].copy()
    s2_before = S2[:, f].copy()

    for j in range(col_ptr.size - 1):
        old = V[offset + j, f]
        sum_eh = 0.0
        sum_hh = 0.0
        for p in range(col_ptr[j], col_ptr[j + 1]):
            u = col_rows[p]
            x = col_vals[p]
            a = Q[u, f] - old * x
            sum_eh += x * (a * sum_e[u] + sum_ec[u])
            sum_hh += x * x * (a * a * counts[u] + 2.0 * a * sum_c[u] + sum_cc[u])
        g = groups[offset + j]
        new = draw_coordinate(
            old, sum_eh, sum_hh, alpha, lam_v[g, f], mu_v[g, f], z[j], sample
        )
        delta = new - old
        V[offset + j, f] = new
        # Every rating of row u moves by delta * x * (a + c_r); keep the
        # per-row residual sums exact for the next column.
        for p in range(col_ptr[j], col_ptr[j + 1]):
            u = col_rows[p]
            x = col_vals[p]
            a = Q[u, f] - old * x
            sum_e[u] -= delta * x * (a * counts[u] + sum_c[u])
            sum_ec[u] -= delta * x * (a * sum_c[u] + sum_cc[u])
            Q[u, f] += delta * x
            S2[u, f] += (new * new - old * old) * x * x

    # The block's part of the output is Q c + Q^2/2 - S2/2 per rating.
    for r in range(residuals.size):
        u = index[r]
        dq = Q[u, f] - q_before[u]
        c = factor_total[r] - q_before[u]
        change = dq * c + 0.5 * (Q[u, f] ** 2 - q_before[u] ** 2)
        change -= 0.5 * (S2[u, f] - s2_before[u])
        residuals[r] -= change
        factor_total[r] += dq


@njit(cache=True, nogil=True)
def block_row_terms(indptr, indices, data, offset, w, V):  # pragma: no cover
    """Return per-row linear+within-row terms, factor sums and squared sums."""
    n_rows = indptr.size - 1
    n_factors = V.shape[1]
    scalar = np.zeros(n_rows)
    Q = np.zeros((n_rows, n_factors))
    S2 = np.zeros((n_rows, n_factors))
    for u in range(n_rows):
        total = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            j = offset + indices[p]
            x = data[p]
            total += w[j] * x
            for f in range(n_factors):
                vx = V[j, f] * x
                Q[u, f] += vx
                S2[u, f] += vx * vx
        for f in range(n_factors):
            total += 0.5 * (Q[u, f] * Q[u, f] - S2[u, f])
        scalar[u] = total
    return scalar, Q, S2


@njit(cache=True, nogil=True)
def combine_blocks(w0, indexes, scalars, factor_sums):  # pragma: no cover
    """Return the FM output per rating from per-block-row terms.

    ``indexes``, ``scalars`` and ``factor_sums`` are tuples with one entry per
    block; an index of -1 means the rating has no row in that block.
    """
    n = indexes[0].size
    n_factors = factor_sums[0].shape[1]
    out = np.full(n, w0)
    total = np.empty(n_factors)
    for r in range(n):
        total[:] = 0.0
        squares = 0.0
        for b in range(len(indexes)):
            u = indexes[b][r]
            if u < 0:
                continue
            out[r] += scalars[b][u]
            for f in range(n_factors):
                q = factor_sums[b][u, f]
                total[f] += q
                squares += q * q
        cross = 0.0
        for f in range(n_factors):
            cross += total[f] * total[f]
        out[r] += 0.5 * (cross - squares)
    return out


@njit(cache=True, nogil=True)
def factor_totals(f, indexes, factor_sums, out):  # pragma: no cover
    """Fill ``out[r]`` with the factor-f sum over all blocks of rating r."""
    for r in range(out.size):
        total = 0.0
        for b in range(len(indexes)):
            total += factor_sums[b][indexes[b][r], f]
        out[r] = total
