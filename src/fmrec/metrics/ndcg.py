"""Per-user NDCG of scored test ratings, with tied scores averaged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fmrec.metrics._validation import (
    as_finite_floats,
    as_indices,
    check_positive_int,
    check_same_length,
)


@dataclass(frozen=True, eq=False)
class NDCGResult:
    """NDCG@k of every evaluated user and their mean.

    ``eq=False`` because comparing array fields with ``==`` has no single truth
    value. The arrays are read-only.
    """

    mean: float
    """Mean NDCG over the evaluated users, or NaN when no user was evaluated."""
    n_users: int
    """Number of evaluated users."""
    n_skipped: int
    """Number of users with fewer than ``min_items`` test ratings."""
    per_user: np.ndarray
    """NDCG of each evaluated user, aligned with ``users``."""
    users: np.ndarray
    """Indices of the evaluated users, ascending."""


def ndcg_by_user(
    users: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    k: int = 10,
    min_items: int = 2,
) -> NDCGResult:
    """Compute NDCG@k separately for each user's test ratings.

    Each user's rows are ranked by ``y_score``, highest first. The gain of a
    row is its ``y_true`` value (linear gain, not ``2**r - 1``), and rank ``r``
    (1-based) is discounted by ``1 / log2(r + 1)`` up to rank ``k`` and by 0
    after it. Rows with equal scores form a tie group: each row of the group
    gets the group's mean gain, so the result does not depend on the input
    order. The DCG is divided by the ideal DCG@k of the user's gains sorted in
    descending order. A user whose ideal DCG is 0 scores 0. With these rules
    the value per user equals ``sklearn.metrics.ndcg_score([y_true_u],
    [y_score_u], k=k)`` with its default ``ignore_ties=False`` (checked
    against scikit-learn 1.9 in the tests).

    Parameters
    ----------
    users : array_like of int, shape (n,)
        Non-negative user index of each row, in any order.
    y_true : array_like of float, shape (n,)
        Non-negative gain of each row, usually the observed rating.
    y_score : array_like of float, shape (n,)
        Predicted score of each row.
    k : int, default 10
        Rank cutoff.
    min_items : int, default 2
        Users with fewer rows than this are skipped and counted in
        ``n_skipped``.

    Returns
    -------
    NDCGResult
        Per-user NDCG in ascending user order and its mean. ``mean`` is NaN
        when no user has ``min_items`` rows.

    Raises
    ------
    ValueError
        If the inputs differ in length or are not 1-D, if ``users`` contains
        negative or non-integer values, if ``y_true`` or ``y_score`` contains
        NaN or infinity, if ``y_true`` is negative anywhere, or if ``k`` or
        ``min_items`` is below 1.
    """
    user_index = as_indices(users, "users", low=0)
    gains = as_finite_floats(y_true, "y_true")
    scores = as_finite_floats(y_score, "y_score")
    n_rows = check_same_length(users=user_index, y_true=gains, y_score=scores)
    check_positive_int(k, "k")
    check_positive_int(min_items, "min_items")
    if n_rows and gains.min() < 0:
        raise ValueError(
            f"y_true must be non-negative gains, got minimum {gains.min()}"
        )
    if n_rows == 0:
        return _make_result(np.empty(0, np.int64), np.empty(0), n_skipped=0)

    by_score = np.lexsort((-scores, user_index))
    sorted_users = user_index[by_score]
    user_starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    user_sizes = np.diff(np.r_[user_starts, n_rows])
    segment = np.repeat(np.arange(len(user_starts)), user_sizes)
    rank_discount = _rank_discounts(n_rows, user_starts, user_sizes, k)

    dcg = _tie_averaged_dcg(segment, gains[by_score], scores[by_score], rank_discount)
    # Equal gains are interchangeable in the ideal order, so ties need no care.
    by_gain = np.lexsort((-gains, user_index))
    ideal_dcg = np.bincount(
        segment, weights=gains[by_gain] * rank_discount, minlength=len(user_starts)
    )
    ndcg = np.zeros(len(user_starts))
    np.divide(dcg, ideal_dcg, out=ndcg, where=ideal_dcg > 0)

    evaluated = user_sizes >= min_items
    return _make_result(
        sorted_users[user_starts[evaluated]],
        ndcg[evaluated],
        n_skipped=int(np.count_nonzero(~evaluated)),
    )


def _rank_discounts(
    n_rows: int, user_starts: np.ndarray, user_sizes: np.ndarray, k: int
) -> np.ndarray:
    """Return ``1 / log2(rank + 1)`` for each sorted row, or 0 past rank ``k``."""
    rank = np.arange(n_rows) - np.repeat(user_starts, user_sizes)
    depth = min(k, int(user_sizes.max()))
    table = 1.0 / np.log2(np.arange(2, depth + 2))
    discount = np.zeros(n_rows)
    within_cutoff = rank < k
    discount[within_cutoff] = table[rank[within_cutoff]]
    return discount


def _tie_averaged_dcg(
    segment: np.ndarray,
    gains: np.ndarray,
    scores: np.ndarray,
    discount: np.ndarray,
) -> np.ndarray:
    """Sum per user the DCG of rows sorted by user, then by descending score.

    A tie group is a run of equal scores within one user. Giving each of its
    rows the group's mean gain makes the group's DCG equal to
    ``mean gain * sum of the group's discounts``.
    """
    group_start = np.r_[
        True, (segment[1:] != segment[:-1]) | (scores[1:] != scores[:-1])
    ]
    group = np.cumsum(group_start) - 1
    group_gain = np.bincount(group, weights=gains)
    group_size = np.bincount(group)
    group_discount = np.bincount(group, weights=discount)
    group_dcg = group_gain / group_size * group_discount
    return np.bincount(segment[group_start], weights=group_dcg)


def _make_result(
    users: np.ndarray, per_user: np.ndarray, *, n_skipped: int
) -> NDCGResult:
    users.setflags(write=False)
    per_user.setflags(write=False)
    mean = float(per_user.mean()) if per_user.size else float("nan")
    return NDCGResult(
        mean=mean,
        n_users=int(per_user.size),
        n_skipped=n_skipped,
        per_user=per_user,
        users=users,
    )
