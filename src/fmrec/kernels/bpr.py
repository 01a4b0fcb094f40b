"""Bayesian personalised ranking (BPR) epoch for the 2-way FM, with negative sampling.

The FM input of a (user, item) pair is a user row x_u (block at column
``user_offset``) next to an item row x_i (block at ``item_offset``), so its
output is

    y(u, i) = w0 + s_u + s_i + <q_u, q_i>

with q = sum_l v_l x_l over a row and s = sum_l w_l x_l plus the pairwise terms
inside the row. For a positive item i and a negative item j of user u, BPR
maximises log sigma(d) with d = y(u, i) - y(u, j) = s_i - s_j + <q_u, q_i - q_j>,
so w0, s_u and the user-side linear weights cancel and are never updated. The
per-sample objective is

    -log sigma(d) + 1/2 reg_w sum w_b^2 + 1/2 reg_v sum |v_l|^2,

where the linear penalty runs over the entries of rows i and j and the factor
penalty over the entries of rows u, i and j (a feature in both item rows is
penalised twice). With g = sigma(-d) the gradients are

    d/dv_a  = -g x_a (q_i - q_j) + reg_v v_a                      (a in row u)
    d/dw_b  = -g x_b + reg_w w_b,  d/dv_b = -g x_b (q_u + q_i - v_b x_b) + reg_v v_b
                                                                   (b in row i)
    d/dw_b  = +g x_b + reg_w w_b,  d/dv_b = +g x_b (q_u + q_j - v_b x_b) + reg_v v_b
                                                                   (b in row j)

and every parameter takes one step of size ``learning_rate`` along its gradient,
all computed from the parameters before the step.

Negative items are drawn for each positive pair from the items the user has no
interaction with. The sampling distribution is uniform, or proportional to the
item weights whose running sum is ``cumulative``. Up to ``max_rejections``
draws from it are rejected when they hit a positive item. After that the item
is drawn exactly from the distribution restricted to the user's non-positive
items, so sampling always ends. With
``n_candidates > 1`` that many negatives are drawn and the one the model scores
highest is used (dynamic negative sampling), which focuses the updates on the
negatives that are ranked wrongly.

Random numbers come from numba's generator, seeded at the start of each call,
so a call with the same inputs and seed gives the same result.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _contains(sorted_values, start, end, value):  # pragma: no cover - compiled
    """Return whether ``sorted_values[start:end]`` contains ``value``."""
    low = start
    high = end
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low < end and sorted_values[low] == value


@njit(cache=True, nogil=True)
def _draw(n_items, cumulative):  # pragma: no cover - compiled
    """Draw one item, uniformly or by the weights whose running sum is given."""
    if cumulative.size == 0:
        return np.random.randint(0, n_items)
    target = np.random.random() * cumulative[-1]
    item = np.searchsorted(cumulative, target, side="right")
    return min(item, n_items - 1)


@njit(cache=True, nogil=True)
def _draw_uniform_complement(positives, start, end, n_items):  # pragma: no cover
    """Draw uniformly from the items not in ``positives[start:end]`` (sorted).

    The r-th non-positive item is r plus the number of positives at or below
    it, found by one pass over the sorted positives.
    """
    item = np.random.randint(0, n_items - (end - start))
    for p in range(start, end):
        if positives[p] <= item:
            item += 1
        else:
            break
    return item


@njit(cache=True, nogil=True)
def _draw_weighted_complement(
    positives, start, end, n_items, cumulative
):  # pragma: no cover - compiled
    """Draw by weight from the items not in ``positives[start:end]`` (sorted).

    The non-positive items form the gaps between consecutive positives. The
    draw picks a point in the total weight of the gaps, walks the gaps to the
    one that contains it, and finds the item in that gap by binary search on the
    running sum. A zero total weight falls back on a uniform draw.
    """
    positive_weight = 0.0
    for p in range(start, end):
        item = positives[p]
        positive_weight += cumulative[item] - (cumulative[item - 1] if item else 0.0)
    free_weight = cumulative[-1] - positive_weight
    if not free_weight > 0.0:
        return _draw_uniform_complement(positives, start, end, n_items)
    target = np.random.random() * free_weight
    previous = -1
    last_free = -1
    for p in range(start, end + 1):
        gap_end = positives[p] if p < end else n_items
        if gap_end - previous > 1:
            last_free = gap_end - 1
            base = cumulative[previous] if previous >= 0 else 0.0
            gap_weight = cumulative[gap_end - 1] - base
            if target < gap_weight:
                item = np.searchsorted(cumulative, base + target, side="right")
                return min(max(item, previous + 1), gap_end - 1)
            target -= gap_weight
        previous = gap_end
    # Rounding can leave the target just past the last gap.
    return last_free


@njit(cache=True, nogil=True)
def sample_negative(
    positives, start, end, n_items, cumulative, max_rejections
):  # pragma: no cover - compiled
    """Draw an item outside ``positives[start:end]``; -1 when there is none.

    Returns ``(item, exact)``, where ``exact`` is True when the rejection rounds
    ran out and the item was drawn from the complement directly.
    """
    n_positive = end - start
    if n_positive >= n_items:
        return -1, False
    for _ in range(max_rejections):
        item = _draw(n_items, cumulative)
        if not _contains(positives, start, end, item):
            return item, False
    if cumulative.size == 0:
        return _draw_uniform_complement(positives, start, end, n_items), True
    return _draw_weighted_complement(positives, start, end, n_items, cumulative), True


@njit(cache=True, nogil=True)
def _row_terms(indptr, indices, data, row, offset, w, V, q):  # pragma: no cover
    """Fill ``q`` with the row's factor sum and return its scalar part s."""
    q[:] = 0.0
    total = 0.0
    squares = 0.0
    for p in range(indptr[row], indptr[row + 1]):
        j = offset + indices[p]
        x = data[p]
        total += w[j] * x
        for f in range(q.size):
            vx = V[j, f] * x
            q[f] += vx
            squares += vx * vx
    pairwise = 0.0
    for f in range(q.size):
        pairwise += q[f] * q[f]
    return total + 0.5 * (pairwise - squares)


@njit(cache=True, nogil=True)
def _item_steps(
    indptr,
    indices,
    data,
    row,
    offset,
    w,
    V,
    q_user,
    q_item,
    sign,
    step,
    reg_w,
    reg_v,
    delta_w,
    delta_V,
):  # pragma: no cover - compiled
    """Store the steps of one item row's parameters in ``delta_w``/``delta_V``.

    ``sign`` is -g for the positive row and +g for the negative row, and
    ``step`` is the learning rate.
    """
    position = 0
    for p in range(indptr[row], indptr[row + 1]):
        j = offset + indices[p]
        x = data[p]
        delta_w[position] = -step * (sign * x + reg_w * w[j])
        for f in range(q_user.size):
            v = V[j, f]
            gradient = sign * x * (q_user[f] + q_item[f] - v * x) + reg_v * v
            delta_V[position, f] = -step * gradient
        position += 1


@njit(cache=True, nogil=True)
def _apply_item_steps(
    indptr, indices, row, offset, w, V, delta_w, delta_V
):  # pragma: no cover - compiled
    """Add the steps stored by :func:`_item_steps` to the row's parameters."""
    position = 0
    for p in range(indptr[row], indptr[row + 1]):
        j = offset + indices[p]
        w[j] += delta_w[position]
        for f in range(V.shape[1]):
            V[j, f] += delta_V[position, f]
        position += 1


@njit(cache=True, nogil=True)
def bpr_epoch(
    user_indptr,
    user_indices,
    user_data,
    user_offset,
    item_indptr,
    item_indices,
    item_data,
    item_offset,
    positive_indptr,
    positive_items,
    pair_users,
    pair_items,
    cumulative,
    max_rejections,
    n_candidates,
    w,
    V,
    learning_rate,
    reg_w,
    reg_v,
    seed,
):  # pragma: no cover - compiled
    """Run one BPR pass over the (user, positive item) pairs in the given order.

    ``positive_indptr``/``positive_items`` list each user's positive items in
    ascending order (a CSR matrix of users by items). ``cumulative`` is the
    running sum of the item sampling weights, or empty for uniform sampling.
    ``w`` and ``V`` are updated in place.

    Returns
    -------
    loss : float
        Sum of -log sigma(d) over the updated pairs, before each step.
    n_updated : int
        Pairs that found a negative item and took a step.
    n_exact : int
        Negative draws that needed the exact draw from the complement.
    """
    np.random.seed(seed)
    n_items = item_indptr.size - 1
    n_factors = V.shape[1]
    q_user = np.empty(n_factors)
    q_pos = np.empty(n_factors)
    q_neg = np.empty(n_factors)
    q_candidate = np.empty(n_factors)
    widest = 0
    for row in range(n_items):
        widest = max(widest, item_indptr[row + 1] - item_indptr[row])
    pos_dw = np.empty(widest)
    pos_dV = np.empty((widest, n_factors))
    neg_dw = np.empty(widest)
    neg_dV = np.empty((widest, n_factors))
    loss = 0.0
    n_updated = 0
    n_exact = 0
    for t in range(pair_users.size):
        user = pair_users[t]
        positive = pair_items[t]
        start = positive_indptr[user]
        end = positive_indptr[user + 1]
        _row_terms(
            user_indptr, user_indices, user_data, user, user_offset, w, V, q_user
        )

        # Negative item: the best scored of n_candidates draws.
        negative = -1
        s_neg = 0.0
        best = -np.inf
        for _ in range(n_candidates):
            candidate, exact = sample_negative(
                positive_items, start, end, n_items, cumulative, max_rejections
            )
            if candidate < 0:
                break
            if exact:
                n_exact += 1
            s_candidate = _row_terms(
                item_indptr,
                item_indices,
                item_data,
                candidate,
                item_offset,
                w,
                V,
                q_candidate,
            )
            score = s_candidate
            for f in range(n_factors):
                score += q_user[f] * q_candidate[f]
            if negative < 0 or score > best:
                best = score
                negative = candidate
                s_neg = s_candidate
                q_neg[:] = q_candidate
        if negative < 0:
            continue

        s_pos = _row_terms(
            item_indptr, item_indices, item_data, positive, item_offset, w, V, q_pos
        )
        difference = s_pos - s_neg
        for f in range(n_factors):
            difference += q_user[f] * (q_pos[f] - q_neg[f])
        # -log sigma(d) and g = sigma(-d), without overflow.
        if difference > 0.0:
            loss += math.log1p(math.exp(-difference))
            g = math.exp(-difference) / (1.0 + math.exp(-difference))
        else:
            loss += -difference + math.log1p(math.exp(difference))
            g = 1.0 / (1.0 + math.exp(difference))
        n_updated += 1

        _item_steps(
            item_indptr,
            item_indices,
            item_data,
            positive,
            item_offset,
            w,
            V,
            q_user,
            q_pos,
            -g,
            learning_rate,
            reg_w,
            reg_v,
            pos_dw,
            pos_dV,
        )
        _item_steps(
            item_indptr,
            item_indices,
            item_data,
            negative,
            item_offset,
            w,
            V,
            q_user,
            q_neg,
            g,
            learning_rate,
            reg_w,
            reg_v,
            neg_dw,
            neg_dV,
        )
        for p in range(user_indptr[user], user_indptr[user + 1]):
            a = user_offset + user_indices[p]
            x = user_data[p]
            for f in range(n_factors):
                v = V[a, f]
                gradient = -g * x * (q_pos[f] - q_neg[f]) + reg_v * v
                V[a, f] = v - learning_rate * gradient
        _apply_item_steps(
            item_indptr, item_indices, positive, item_offset, w, V, pos_dw, pos_dV
        )
        _apply_item_steps(
            item_indptr, item_indices, negative, item_offset, w, V, neg_dw, neg_dV
        )
    return loss, n_updated, n_exact
