"""Full-catalogue top-k ranking metrics: NDCG, recall, hit rate and MAP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from fmrec.metrics._top_k import top_k_items
from fmrec.metrics._validation import (
    as_finite_floats,
    as_indices,
    check_positive_int,
    check_same_length,
)

SKIP_NO_RELEVANT = "no relevant test items"
"""Skip reason: a known user whose test ratings are all below the threshold."""
SKIP_UNKNOWN_USER = "test rows of unknown users"
"""Skip reason: test rows with user index -1.

It counts rows, not users, because every unknown user has the same index -1.
"""

ScoreFunction = Callable[[np.ndarray], np.ndarray]
"""Maps user indices of shape (b,) to scores of shape (b, n_items)."""


@dataclass(frozen=True)
class RankingReport:
    """Means of the top-k metrics over the evaluated users.

    The four means are NaN when no user was evaluated.
    """

    k: int
    """Length of each recommendation list."""
    threshold: float
    """Minimum test rating of a relevant item."""
    ndcg: float
    """Mean NDCG@k."""
    recall: float
    """Mean recall@k."""
    hit_rate: float
    """Share of evaluated users with at least one relevant item in their top k."""
    map: float
    """Mean average precision at k."""
    n_users: int
    """Number of evaluated users."""
    skipped: dict[str, int]
    """Skip counts, of users under ``SKIP_NO_RELEVANT`` and of test rows under
    ``SKIP_UNKNOWN_USER``."""

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict, with ``None`` in place of NaN.

        The keys are ``ndcg_at_{k}``, ``recall_at_{k}``, ``hr_at_{k}``,
        ``map_at_{k}``, ``n_users`` and ``skipped``.
        """
        return {
            f"ndcg_at_{self.k}": _json_float(self.ndcg),
            f"recall_at_{self.k}": _json_float(self.recall),
            f"hr_at_{self.k}": _json_float(self.hit_rate),
            f"map_at_{self.k}": _json_float(self.map),
            "n_users": self.n_users,
            "skipped": dict(self.skipped),
        }


def ranking_metrics(
    score_users: ScoreFunction,
    seen: sp.spmatrix | sp.sparray,
    test_users: npt.ArrayLike,
    test_items: npt.ArrayLike,
    test_ratings: npt.ArrayLike,
    *,
    k: int = 10,
    threshold: float = 4.0,
    batch_size: int = 1024,
) -> RankingReport:
    """Evaluate top-k recommendations over the whole catalogue.

    Protocol, for each user with test ratings:

    1. The relevant items are the user's test items rated at least
       ``threshold``, counted once each. A user with none is skipped.
    2. Every catalogue item the user has not seen in training is ranked by
       ``score_users``, highest first. Equal scores are ordered by the lower
       item index, so the result is deterministic. The top ``k`` form the list.
    3. With binary relevance ``rel_i`` at rank ``i`` (1-based) and
       ``m = min(n_relevant, k)``:

       - NDCG@k = sum of ``rel_i / log2(i + 1)`` divided by the same sum for
         ``m`` relevant items at ranks 1..m,
       - Recall@k = hits / ``n_relevant``,
       - HR@k = 1 if there is at least one hit, else 0,
       - MAP@k = sum over hit ranks ``i`` of precision@i, divided by ``m``.

    The report holds the mean of each metric over evaluated users.

    Some relevant items can never be hit, and they still count in
    ``n_relevant``. A test item with index -1 is unknown to the model, so it
    cannot be ranked. Each such row is one relevant item, since -1 rows cannot
    be told apart. A relevant test item that ``seen`` marks for the same user
    is excluded from the ranking like any seen item.

    Parameters
    ----------
    score_users : callable
        ``score_users(user_indices)`` returns an array of shape
        ``(len(user_indices), n_items)`` with a finite score for every catalogue
        item. It is called once per batch of users, and its result is copied, not
        modified.
    seen : scipy.sparse matrix or array, shape (n_users, n_items)
        Training interactions. A stored non-zero at ``(u, i)`` removes item
        ``i`` from user ``u``'s ranking.
    test_users : array_like of int, shape (n,)
        User index of each test row, or -1 for a user unknown to the model.
        Rows with -1 are skipped and counted under ``SKIP_UNKNOWN_USER``.
    test_items : array_like of int, shape (n,)
        Item index of each test row, or -1 for an item unknown to the model.
    test_ratings : array_like of float, shape (n,)
        Observed rating of each test row.
    k : int, default 10
        Length of the recommendation list.
    threshold : float, default 4.0
        Minimum rating of a relevant test item.
    batch_size : int, default 1024
        Users scored per call of ``score_users``. Peak memory grows with
        ``batch_size * n_items``.

    Returns
    -------
    RankingReport
        Mean NDCG@k, recall@k, HR@k and MAP@k, the number of evaluated users and
        the skip counts by reason.

    Raises
    ------
    TypeError
        If ``seen`` is not a scipy sparse matrix or array, or ``score_users`` is
        not callable.
    ValueError
        If the test arrays differ in length, hold indices outside
        ``[-1, n_users)`` or ``[-1, n_items)``, or hold non-finite ratings, if
        ``k`` or ``batch_size`` is below 1 or ``threshold`` is not finite, or if
        ``score_users`` returns the wrong shape or non-finite scores.
    """
    if not callable(score_users):
        raise TypeError(f"score_users must be callable, got {type(score_users)}")
    seen_csr = _as_csr(seen)
    n_model_users, n_items = seen_csr.shape
    users = as_indices(test_users, "test_users", low=-1, high=n_model_users)
    items = as_indices(test_items, "test_items", low=-1, high=n_items)
    ratings = as_finite_floats(test_ratings, "test_ratings")
    check_same_length(test_users=users, test_items=items, test_ratings=ratings)
    check_positive_int(k, "k")
    check_positive_int(batch_size, "batch_size")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")

    relevant = _RelevantItems.from_test(users, items, ratings, threshold, n_items)
    per_user = np.empty((4, len(relevant.users)))
    # One buffer for all batches, so that no batch allocates and pages in a new
    # batch_size x n_items array.
    buffer = np.empty((min(batch_size, len(relevant.users)), n_items))
    for start in range(0, len(relevant.users), batch_size):
        batch = relevant.users[start : start + batch_size]
        scores = buffer[: len(batch)]
        _score_unseen(score_users, batch, seen_csr, out=scores)
        ranked = top_k_items(scores, k)
        hits = relevant.contains(batch, ranked)
        n_relevant = relevant.counts[start : start + batch_size]
        per_user[:, start : start + len(batch)] = _list_metrics(hits, n_relevant, k)

    means = per_user.mean(axis=1) if per_user.shape[1] else np.full(4, np.nan)
    return RankingReport(
        k=k,
        threshold=float(threshold),
        ndcg=float(means[0]),
        recall=float(means[1]),
        hit_rate=float(means[2]),
        map=float(means[3]),
        n_users=len(relevant.users),
        skipped=relevant.skipped,
    )


@dataclass(frozen=True)
class _RelevantItems:
    """Relevant test items of the evaluated users, stored for fast lookup."""

    users: np.ndarray
    """Evaluated user indices, ascending."""
    counts: np.ndarray
    """``n_relevant`` of each evaluated user, unknown items included."""
    keys: np.ndarray
    """Sorted ``user * n_items + item`` of each known relevant item."""
    n_items: int
    skipped: dict[str, int]

    @classmethod
    def from_test(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        threshold: float,
        n_items: int,
    ) -> _RelevantItems:
        known_user = users >= 0
        relevant_row = known_user & (ratings >= threshold)
        evaluated = np.unique(users[relevant_row])
        n_with_tests = len(np.unique(users[known_user]))

        # Duplicate test rows of one item count once; -1 items cannot be merged.
        known_item = relevant_row & (items >= 0)
        keys = np.unique(users[known_item] * n_items + items[known_item])
        unknown_item = relevant_row & (items < 0)
        counts = np.bincount(
            np.searchsorted(evaluated, keys // n_items), minlength=len(evaluated)
        ) + np.bincount(
            np.searchsorted(evaluated, users[unknown_item]), minlength=len(evaluated)
        )
        skipped = {
            SKIP_NO_RELEVANT: n_with_tests - len(evaluated),
            SKIP_UNKNOWN_USER: int(np.count_nonzero(~known_user)),
        }
        return cls(evaluated, counts, keys, n_items, skipped)

    def contains(self, users: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """Mark which ranked items of each user are relevant, -1 entries never.

        ``ranked`` has one row per entry of ``users``.
        """
        if self.keys.size == 0:
            return np.zeros(ranked.shape, dtype=bool)
        query = users[:, None] * self.n_items + ranked
        position = np.searchsorted(self.keys, query)
        position = np.minimum(position, self.keys.size - 1)
        return (self.keys[position] == query) & (ranked >= 0)


def _as_csr(seen: Any) -> sp.csr_matrix:
    if not sp.issparse(seen):
        raise TypeError(
            f"seen must be a scipy.sparse matrix or array, got {type(seen)}"
        )
    if seen.ndim != 2:
        raise ValueError(f"seen must be 2-D, got shape {seen.shape}")
    return sp.csr_matrix(seen)


def _score_unseen(
    score_users: ScoreFunction,
    batch: np.ndarray,
    seen: sp.csr_matrix,
    *,
    out: np.ndarray,
) -> None:
    """Write the scores of ``batch`` into ``out``, with seen items set to -inf."""
    raw = np.asarray(score_users(batch))
    expected = (len(batch), seen.shape[1])
    if raw.shape != expected:
        raise ValueError(
            f"score_users returned shape {raw.shape}, expected {expected} "
            "(one row per user, one column per catalogue item)"
        )
    if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number):
        raise ValueError(f"score_users must return numbers, got dtype {raw.dtype}")
    # A copy, because the caller may return a cached array that masking would alter.
    np.copyto(out, raw)
    finite = np.isfinite(out)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(
            f"score_users returned a non-finite score for user {batch[row]}"
        )
    rows = seen[batch]
    row_of_entry = np.repeat(np.arange(len(batch)), np.diff(rows.indptr))
    stored_nonzero = rows.data != 0
    out[row_of_entry[stored_nonzero], rows.indices[stored_nonzero]] = -np.inf


def _list_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Return NDCG, recall, HR and AP at k as rows of a (4, n_users) array."""
    depth = hits.shape[1]
    rank = np.arange(1, k + 1)
    discount = 1.0 / np.log2(rank + 1)
    n_ideal = np.minimum(n_relevant, k)
    ideal_dcg = np.cumsum(discount)[n_ideal - 1]
    n_hits = np.count_nonzero(hits, axis=1)
    precision = np.cumsum(hits, axis=1) / rank[:depth]
    return np.stack(
        [
            hits @ discount[:depth] / ideal_dcg,
            n_hits / n_relevant,
            (n_hits > 0).astype(np.float64),
            (precision * hits).sum(axis=1) / n_ideal,
        ]
    )


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else value
