"""Numbers behind the evaluation report: ranking curves, RMSE by activity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fmrec.recommend import Recommender

# Upper edges of the user-activity buckets, in training ratings per user.
ACTIVITY_EDGES = (20, 50, 100, 200, 500)


@dataclass(frozen=True)
class RankingCurves:
    """Mean NDCG@k and Recall@k for k = 1 .. max_k over the evaluated users.

    The protocol is that of :func:`fmrec.metrics.ranking_metrics`, so the
    value at each k equals what that function returns for the same k.
    """

    k: np.ndarray
    ndcg: np.ndarray
    recall: np.ndarray
    n_users: int
    threshold: float


def ranking_curves(
    recommender: Recommender,
    test: pd.DataFrame,
    *,
    max_k: int = 50,
    threshold: float = 4.0,
    batch_size: int = 1024,
) -> RankingCurves:
    """Compute NDCG@k and Recall@k for every k up to ``max_k`` in one pass.

    Each user with a test rating of at least ``threshold`` gets one ranking of
    all items they did not rate in training, by descending score with ties
    broken by the lower item index. The curves read every cut-off from it.
    A relevant test item unknown to the model counts in the user's number of
    relevant items but can never be hit.
    """
    if max_k < 1:
        raise ValueError(f"max_k must be at least 1, got {max_k}.")
    encoder = recommender.encoder_
    n_items = len(encoder.items)
    users = encoder.users.lookup(test["user_id"].to_numpy(np.int64))
    items = encoder.items.lookup(test["item_id"].to_numpy(np.int64))
    relevant = (users >= 0) & (test["rating"].to_numpy(np.float64) >= threshold)
    evaluated = np.unique(users[relevant])
    known = relevant & (items >= 0)
    keys = np.unique(users[known] * n_items + items[known])
    n_relevant = _count_by_user(evaluated, keys // n_items) + _count_by_user(
        evaluated, users[relevant & (items < 0)]
    )
    hits = np.zeros((evaluated.size, max_k), dtype=bool)
    for start in range(0, evaluated.size, batch_size):
        batch = evaluated[start : start + batch_size]
        ranked = _ranked_unseen(recommender, batch, max_k)
        found = np.isin(batch[:, None] * n_items + ranked, keys) & (ranked >= 0)
        hits[start : start + batch.size, : ranked.shape[1]] = found
    return _curves(hits, n_relevant, threshold)


def _count_by_user(evaluated: np.ndarray, user_index: np.ndarray) -> np.ndarray:
    positions = np.searchsorted(evaluated, user_index)
    return np.bincount(positions, minlength=evaluated.size)[: evaluated.size]


def _ranked_unseen(
    recommender: Recommender, batch: np.ndarray, depth: int
) -> np.ndarray:
    """Return the top ``depth`` unseen item indices per user; -1 pads short lists."""
    scores = np.array(recommender.score_users(batch), dtype=np.float64)
    seen = recommender.seen_[batch]
    rows = np.repeat(np.arange(batch.size), np.diff(seen.indptr))
    scores[rows, seen.indices] = -np.inf
    # A stable sort of the negated scores orders equal scores by item index.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    ranked_scores = np.take_along_axis(scores, order, axis=1)
    return np.where(ranked_scores > -np.inf, order, -1)


def _curves(
    hits: np.ndarray, n_relevant: np.ndarray, threshold: float
) -> RankingCurves:
    max_k = hits.shape[1]
    k = np.arange(1, max_k + 1)
    discount = 1.0 / np.log2(k + 1)
    if hits.shape[0] == 0:
        empty = np.full(max_k, np.nan)
        return RankingCurves(k, empty, empty.copy(), 0, threshold)
    dcg = np.cumsum(hits * discount, axis=1)
    ideal_prefix = np.cumsum(discount)
    n_ideal = np.minimum(n_relevant[:, None], k[None, :])
    ndcg = dcg / ideal_prefix[n_ideal - 1]
    recall = np.cumsum(hits, axis=1) / n_relevant[:, None]
    return RankingCurves(
        k, ndcg.mean(axis=0), recall.mean(axis=0), int(hits.shape[0]), threshold
    )


def rmse_by_activity(
    recommender: Recommender,
    test: pd.DataFrame,
    edges: tuple[int, ...] = ACTIVITY_EDGES,
) -> pd.DataFrame:
    """Return the test RMSE of clipped predictions per user-activity bucket.

    A user's activity is their number of training ratings. The buckets are
    ``1-20``, ``21-50`` and so on up to the last edge and beyond it, plus
    ``unknown`` for test users the model has not seen. Columns: ``bucket``,
    ``n_users``, ``n_ratings``, ``rmse``; empty buckets are left out.
    """
    users = test["user_id"].to_numpy(np.int64)
    truth = test["rating"].to_numpy(np.float64)
    predicted = recommender.predict(users, test["item_id"].to_numpy(np.int64))
    index = recommender.encoder_.users.lookup(users)
    activity = np.diff(recommender.seen_.indptr)[np.maximum(index, 0)]
    bucket = np.searchsorted(np.asarray(edges), activity, side="left") + 1
    bucket[index < 0] = 0
    labels = ["unknown", *_bucket_labels(edges)]
    rows = []
    for number, label in enumerate(labels):
        mask = bucket == number
        if not mask.any():
            continue
        error = predicted[mask] - truth[mask]
        rows.append(
            {
                "bucket": label,
                "n_users": int(np.unique(users[mask]).size),
                "n_ratings": int(mask.sum()),
                "rmse": float(np.sqrt(np.mean(error**2))),
            }
        )
    return pd.DataFrame(rows, columns=["bucket", "n_users", "n_ratings", "rmse"])


def _bucket_labels(edges: tuple[int, ...]) -> list[str]:
    lower = [1, *(edge + 1 for edge in edges)]
    labels = [f"{low}-{high}" for low, high in zip(lower, edges, strict=False)]
    labels.append(f"over {edges[-1]}")
    return labels
