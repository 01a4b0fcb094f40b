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

# The hot loops may fuse a multiply and an add into one instruction (FMA).
# That rounds once instead of twice, but reorders nothing, so results stay
# reproducible on one machine.
CONTRACT = {"contract"}


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


# Columns of the per-block-row working array of :func:`factor_sweep`: the
# sums of e_r, e_r c_r, c_r and c_r^2 over the row's ratings, the number of
# ratings, and the row's factor sum q and sum of squared terms s2. Keeping
# them side by side puts everything one non-zero needs in one cache line.
SUM_E, SUM_EC, SUM_C, SUM_CC, COUNT, Q, S2 = 0, 1, 2, 3, 4, 5, 6
ROW_WIDTH = 8


@njit(cache=True, nogil=True)
def factor_sweeps(
    indexes,
    counts,
    col_ptrs,
    col_rows,
    col_vals,
    offsets,
    groups,
    V,
    qs,
    s2s,
    residuals,
    alpha,
    lam_v,
    mu_v,
    normals,
    sample,
    in_order,
):  # pragma: no cover
    """Update every factor of every feature: for f = 1..k, block after block.

    The tuples hold one entry per block: ``indexes`` (block row of each
    rating), ``counts`` (ratings per block row), the block matrix in CSC form
    (``col_ptrs``, ``col_rows``, ``col_vals``), ``qs``/``s2s`` (arrays of
    shape (k, n_block_rows): per factor, the block rows' factor sums and sums
    of squared terms, updated in place with ``V`` and the residuals) and
    ``normals`` (shape (k, n_block_columns), N(0, 1) draws for MCMC).
    ``in_order[b]`` says that ``indexes[b]`` never decreases; block 0 must be
    in order (the caller sorts the ratings by it).
    """
    n_blocks = len(indexes)
    n_factors = V.shape[1]
    total = np.zeros(residuals.size)
    rows = _start_rows(counts[0], qs[0][0], s2s[0][0])
    _first_sums(indexes, qs, 0, residuals, total, rows)
    for f in range(n_factors):
        for b in range(n_blocks):
            q_before = qs[b][f].copy()
            s2_before = s2s[b][f].copy()
            _columns(
                f,
                col_ptrs[b],
                col_rows[b],
                col_vals[b],
                offsets[b],
                groups,
                V,
                rows,
                alpha,
                lam_v,
                mu_v,
                normals[b][f],
                sample,
            )
            qs[b][f][:] = rows[:, Q]
            s2s[b][f][:] = rows[:, S2]
            dq = qs[b][f] - q_before
            shift = 0.5 * (qs[b][f] ** 2 - q_before**2) - 0.5 * (s2s[b][f] - s2_before)
            # Apply this block's change to the residuals and, in the same pass,
            # collect the per-row sums that the next block (or factor) needs.
            if b + 1 < n_blocks:
                rows = _start_rows(counts[b + 1], qs[b + 1][f], s2s[b + 1][f])
                _apply_then_sum(
                    indexes[b],
                    dq,
                    q_before,
                    shift,
                    residuals,
                    total,
                    indexes[b + 1],
                    rows,
                    in_order[b + 1],
                )
            elif f + 1 < n_factors:
                rows = _start_rows(counts[0], qs[0][f + 1], s2s[0][f + 1])
                _apply_then_next_factor(
                    indexes, b, dq, q_before, shift, residuals, total, qs, f + 1, rows
                )
            else:
                _apply(indexes[b], dq, q_before, shift, residuals, total)


@njit(cache=True, nogil=True)
def _first_sums(indexes, qs, f, residuals, total, rows):  # pragma: no cover
    """Set ``total`` to the factor-f sums and add block 0's per-row sums."""
    total[:] = 0.0
    for b in range(len(indexes)):
        index = indexes[b]
        q = qs[b][f]
        for r in range(residuals.size):
            total[r] += q[index[r]]
    _add_row_sums(rows, indexes[0], residuals, total)


@njit(cache=True, nogil=True)
def _apply(index, dq, q_before, shift, residuals, total):  # pragma: no cover
    for r in range(residuals.size):
        u = index[r]
        residuals[r] -= dq[u] * (total[r] - q_before[u]) + shift[u]
        total[r] += dq[u]


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _apply_then_next_factor(
    indexes, b, dq, q_before, shift, residuals, total, qs, f, rows
):  # pragma: no cover
    """Apply the last block's change, then start factor f in the same pass:
    set ``total`` to the factor-f sums and add block 0's per-row sums (block
    0 is in order; see :func:`_apply_then_sum`)."""
    index = indexes[b]
    first = indexes[0]
    first_q = qs[0][f]
    current = first[0] if residuals.size else 0
    sum_e = sum_ec = sum_c = sum_cc = 0.0
    for r in range(residuals.size):
        u = index[r]
        residuals[r] -= dq[u] * (total[r] - q_before[u]) + shift[u]
        value = 0.0
        for block in range(len(indexes)):
            value += qs[block][f][indexes[block][r]]
        total[r] = value
        v = first[r]
        if v != current:
            _store(rows[current], sum_e, sum_ec, sum_c, sum_cc)
            sum_e = sum_ec = sum_c = sum_cc = 0.0
            current = v
        error = residuals[r]
        other = value - first_q[v]
        sum_e += error
        sum_ec += error * other
        sum_c += other
        sum_cc += other * other
    if residuals.size:
        _store(rows[current], sum_e, sum_ec, sum_c, sum_cc)


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _apply_then_sum(
    index, dq, q_before, shift, residuals, total, next_index, next_rows, in_order
):  # pragma: no cover
    """Apply one block's change to the residuals and sum the next block's rows.

    The block's part of the output is q c + q^2/2 - s2/2 per rating, with c
    the other blocks' factor sum, so a rating of row u moves by
    dq c + (q^2 - q_before^2)/2 - (s2 - s2_before)/2.

    When ``next_index`` is in order, a row's ratings are consecutive, so
    their sums are kept in local variables and stored once per row. Adding
    each rating to the row in memory instead makes every addition wait for
    the previous store, which measured 1.5 to 2 times slower on MovieLens 1M.
    Both add the same numbers in the same order, so the results are identical.

    This run-sum loop is written out here and in
    :func:`_apply_then_next_factor`: a shared helper that returned the sums
    as a tuple made a whole MCMC iteration about 35% slower.
    """
    if not in_order:
        for r in range(residuals.size):
            u = index[r]
            residuals[r] -= dq[u] * (total[r] - q_before[u]) + shift[u]
            total[r] += dq[u]
            v = next_index[r]
            _accumulate(next_rows[v], residuals[r], total[r] - next_rows[v, Q])
        return
    current = next_index[0] if residuals.size else 0
    sum_e = sum_ec = sum_c = sum_cc = 0.0
    for r in range(residuals.size):
        u = index[r]
        residuals[r] -= dq[u] * (total[r] - q_before[u]) + shift[u]
        total[r] += dq[u]
        v = next_index[r]
        if v != current:
            _store(next_rows[current], sum_e, sum_ec, sum_c, sum_cc)
            sum_e = sum_ec = sum_c = sum_cc = 0.0
            current = v
        error = residuals[r]
        other = total[r] - next_rows[v, Q]
        sum_e += error
        sum_ec += error * other
        sum_c += other
        sum_cc += other * other
    if residuals.size:
        _store(next_rows[current], sum_e, sum_ec, sum_c, sum_cc)


@njit(cache=True, nogil=True, inline="always")
def _store(row, sum_e, sum_ec, sum_c, sum_cc):  # pragma: no cover
    """Add one row's collected sums to its working-array row."""
    row[SUM_E] += sum_e
    row[SUM_EC] += sum_ec
    row[SUM_C] += sum_c
    row[SUM_CC] += sum_cc


@njit(cache=True, nogil=True)
def _start_rows(counts, q, s2):  # pragma: no cover
    rows = np.zeros((counts.size, ROW_WIDTH))
    rows[:, COUNT] = counts
    rows[:, Q] = q
    rows[:, S2] = s2
    return rows


@njit(cache=True, nogil=True)
def _add_row_sums(rows, index, residuals, total):  # pragma: no cover
    for r in range(residuals.size):
        u = index[r]
        _accumulate(rows[u], residuals[r], total[r] - rows[u, Q])


@njit(cache=True, nogil=True, inline="always")
def _accumulate(row, error, other):  # pragma: no cover
    """Add one rating's residual and other-blocks factor sum to its row's sums."""
    row[SUM_E] += error
    row[SUM_EC] += error * other
    row[SUM_C] += other
    row[SUM_CC] += other * other


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _columns(
    f,
    col_ptr,
    col_rows,
    col_vals,
    offset,
    groups,
    V,
    rows,
    alpha,
    lam_v,
    mu_v,
    z,
    sample,
):  # pragma: no cover
    for j in range(col_ptr.size - 1):
        old = V[offset + j, f]
        sum_eh = 0.0
        sum_hh = 0.0
        for p in range(col_ptr[j], col_ptr[j + 1]):
            row = rows[col_rows[p]]
            x = col_vals[p]
            a = row[Q] - old * x
            sum_eh += x * (a * row[SUM_E] + row[SUM_EC])
            sum_hh += x * x * (a * (a * row[COUNT] + 2.0 * row[SUM_C]) + row[SUM_CC])
        g = groups[offset + j]
        new = draw_coordinate(
            old, sum_eh, sum_hh, alpha, lam_v[g, f], mu_v[g, f], z[j], sample
        )
        delta = new - old
        if delta == 0.0:
            continue
        V[offset + j, f] = new
        square_change = new * new - old * old
        # Every rating of row u moves by delta * x * (a + c_r); keep the
        # per-row residual sums exact for the next column.
        for p in range(col_ptr[j], col_ptr[j + 1]):
            row = rows[col_rows[p]]
            x = col_vals[p]
            a = row[Q] - old * x
            step = delta * x
            row[SUM_E] -= step * (a * row[COUNT] + row[SUM_C])
            row[SUM_EC] -= step * (a * row[SUM_C] + row[SUM_CC])
            row[Q] += step
            row[S2] += square_change * x * x


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
