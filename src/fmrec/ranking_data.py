"""The implicit-feedback top-k ranking protocol on MovieLens.

:func:`load_ranking_protocol` builds the data of a common implicit-feedback
benchmark from explicit ratings:

1. Ratings of at least ``min_rating`` (default 3) become positive interactions.
   The rating value is kept for reference but plays no further part. Lower
   ratings are dropped.
2. Users and items with fewer than ``core`` (default 10) interactions are
   removed, again and again until every remaining user and item has at least
   ``core`` (the 10-core).
3. Each user's interactions are shuffled under ``seed`` and cut into train,
   validation and test parts (80/10/10 by default). See :func:`split_per_user`
   for the rounding, which gives every user at least one training item.

:meth:`RankingProtocol.evaluate` then ranks the whole catalogue for every user
with relevant items in the evaluated split and reports NDCG@k, Recall@k, HR@k,
MRR@k and Precision@k. Items the user interacted with in earlier splits are
masked: training items when scoring the validation split, and training and
validation items when scoring the test split.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fmrec.datasets import MovieLens, load_movielens
from fmrec.features.ids import IdIndex, seen_matrix
from fmrec.metrics._top_k import top_k_items

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
"""Names of the three parts of the protocol, in the order they are used."""

ScoreFunction = Callable[[np.ndarray], np.ndarray]
"""Maps user indices of shape (b,) to scores of shape (b, n_items)."""


# --- metrics -------------------------------------------------------------------------


@dataclass(frozen=True)
class TopKMetrics:
    """Means of the top-k metrics over the evaluated users (NaN when there are none)."""

    k: int
    """Length of each recommendation list."""
    ndcg: float
    """Mean NDCG@k with binary relevance."""
    recall: float
    """Mean of hits / number of relevant items."""
    hit_rate: float
    """Share of users with at least one hit (HR@k)."""
    mrr: float
    """Mean reciprocal rank of the first hit, 0 for a user without hits (MRR@k)."""
    precision: float
    """Mean of hits / k."""
    n_users: int
    """Number of evaluated users."""

    def as_dict(self) -> dict[str, Any]:
        """Return the metrics as a JSON-ready dict with keys such as ``ndcg_at_10``.

        NaN means become ``None``.
        """
        means = {
            "ndcg": self.ndcg,
            "recall": self.recall,
            "hr": self.hit_rate,
            "mrr": self.mrr,
            "precision": self.precision,
        }
        result: dict[str, Any] = {
            f"{name}_at_{self.k}": None if math.isnan(value) else value
            for name, value in means.items()
        }
        result["n_users"] = self.n_users
        return result


def evaluate_top_k(
    score_users: ScoreFunction,
    exclude: sp.spmatrix | sp.sparray,
    relevant: sp.spmatrix | sp.sparray,
    *,
    k: int = 10,
    batch_size: int = 1024,
) -> TopKMetrics:
    """Rank the whole catalogue for each user and score the top k.

    Every user with at least one stored non-zero in ``relevant`` is evaluated.
    All items except the user's ``exclude`` items are ranked by
    ``score_users``, highest first, with equal scores ordered by the lower item
    index. With binary relevance ``rel_i`` at rank ``i`` (1-based), ``n_rel``
    relevant items and ``hits`` relevant items in the top k:

    - NDCG@k = sum of ``rel_i / log2(i + 1)`` divided by the same sum for
      ``min(n_rel, k)`` relevant items at ranks 1, 2, ...,
    - Recall@k = ``hits / n_rel``,
    - HR@k = 1 if ``hits > 0``, else 0,
    - MRR@k = ``1 / i`` for the first hit at rank ``i``, else 0,
    - Precision@k = ``hits / k``, even when fewer than k items are left to rank.

    A relevant item that is also excluded cannot be hit but still counts in
    ``n_rel``.

    Parameters
    ----------
    score_users : callable
        ``score_users(user_indices)`` returns finite scores of shape
        ``(len(user_indices), n_items)``. Its result is copied, not modified.
    exclude : sparse matrix of shape (n_users, n_items)
        Items removed from each user's ranking, such as training interactions.
    relevant : sparse matrix of shape (n_users, n_items)
        Relevant items of each user, such as test interactions.
    k : int, default=10
        Length of the recommendation list.
    batch_size : int, default=1024
        Users scored per call. Peak memory grows with ``batch_size * n_items``.

    Returns
    -------
    TopKMetrics
        The means over the evaluated users.

    Raises
    ------
    ValueError
        If the matrices differ in shape, ``k`` or ``batch_size`` is below 1, or
        ``score_users`` returns the wrong shape or non-finite scores.
    """
    exclude = _binary_csr(exclude, "exclude")
    relevant = _binary_csr(relevant, "relevant")
    if exclude.shape != relevant.shape:
        raise ValueError(
            f"exclude has shape {exclude.shape} but relevant has {relevant.shape}"
        )
    for name, value in (("k", k), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")

    users = np.flatnonzero(np.diff(relevant.indptr))
    per_user = np.empty((5, users.size))
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        scores = _masked_scores(score_users, batch, exclude)
        ranked = top_k_items(scores, k)
        hits = _hits(relevant, batch, ranked)
        n_relevant = np.diff(relevant.indptr)[batch]
        per_user[:, start : start + batch.size] = _list_metrics(hits, n_relevant, k)
    means = per_user.mean(axis=1) if users.size else np.full(5, np.nan)
    return TopKMetrics(k, *(float(mean) for mean in means), n_users=int(users.size))


def _binary_csr(matrix: Any, name: str) -> sp.csr_matrix:
    """Return a CSR copy with one stored 1 per stored non-zero of ``matrix``."""
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(matrix)}")
    binary = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    binary.sum_duplicates()
    binary.eliminate_zeros()
    binary.data[:] = 1.0
    return binary


def _masked_scores(
    score_users: ScoreFunction, batch: np.ndarray, exclude: sp.csr_matrix
) -> np.ndarray:
    """Return a copy of the batch's scores with excluded items set to -inf."""
    scores = np.array(score_users(batch), dtype=np.float64)
    expected = (batch.size, exclude.shape[1])
    if scores.shape != expected:
        raise ValueError(
            f"score_users returned shape {scores.shape}, expected {expected} "
            "(one row per user, one column per catalogue item)"
        )
    finite = np.isfinite(scores)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(
            f"score_users returned a non-finite score for user {batch[row]}"
        )
    rows = exclude[batch]
    row_of_entry = np.repeat(np.arange(batch.size), np.diff(rows.indptr))
    scores[row_of_entry, rows.indices] = -np.inf
    return scores


def _hits(relevant: sp.csr_matrix, batch: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Mark which ranked items are relevant to their user. Entries of -1 never are."""
    n_items = relevant.shape[1]
    rows = relevant[batch]
    row_of_entry = np.repeat(np.arange(batch.size), np.diff(rows.indptr))
    keys = np.sort(row_of_entry * n_items + rows.indices)
    if keys.size == 0:
        return np.zeros(ranked.shape, dtype=bool)
    query = np.arange(batch.size)[:, None] * n_items + ranked
    position = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (keys[position] == query) & (ranked >= 0)


def _list_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Return NDCG, recall, HR, MRR and precision at k as a (5, n_users) array."""
    depth = hits.shape[1]
    rank = np.arange(1, k + 1)
    discount = 1.0 / np.log2(rank + 1)
    ideal_dcg = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    n_hits = np.count_nonzero(hits, axis=1)
    first_hit = np.argmax(hits, axis=1)
    reciprocal_rank = np.where(n_hits > 0, 1.0 / (first_hit + 1), 0.0)
    return np.stack(
        [
            hits @ discount[:depth] / ideal_dcg,
            n_hits / n_relevant,
            (n_hits > 0).astype(np.float64),
            reciprocal_rank,
            n_hits / k,
        ]
    )


# --- building the protocol ---------------------------------------------------------


@dataclass(frozen=True)
class RankingProtocol:
    """Train, validation and test interactions of the ranking protocol.

    Each frame has the columns ``user_id``, ``item_id``, ``rating``,
    ``timestamp`` (when the source has it), ``user_index`` and ``item_index``,
    sorted by user index and then item index. Indices refer to ``users`` and
    ``items``, which hold every user and item of the 10-core, so the catalogue
    contains items that a split may lack.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    users: IdIndex
    items: IdIndex
    seed: int
    min_rating: float
    core: int
    train_fraction: float

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def matrix(self, *splits: str) -> sp.csr_matrix:
        """Return the binary user-item matrix of the named splits together."""
        frames = [self._split(name) for name in splits]
        users = np.concatenate([frame["user_index"].to_numpy() for frame in frames])
        items = np.concatenate([frame["item_index"].to_numpy() for frame in frames])
        return seen_matrix(users, items, (self.n_users, self.n_items), np.float64)

    def evaluate(
        self,
        score_users: ScoreFunction,
        split: str = "test",
        *,
        k: int = 10,
        batch_size: int = 1024,
    ) -> TopKMetrics:
        """Score top-k recommendations on ``split`` ("valid" or "test").

        The items of the earlier splits are masked: ``train`` for "valid", and
        ``train`` and ``valid`` for "test". See :func:`evaluate_top_k` for the
        metrics and for ``score_users``.
        """
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        earlier = SPLITS[: SPLITS.index(split)]
        return evaluate_top_k(
            score_users,
            self.matrix(*earlier),
            self.matrix(split),
            k=k,
            batch_size=batch_size,
        )

    def summary(self) -> dict[str, Any]:
        """Return the sizes of the protocol as a JSON-ready dict."""
        sizes = {name: len(self._split(name)) for name in SPLITS}
        total = sum(sizes.values())
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": total,
            "density": total / (self.n_users * self.n_items),
            **{f"n_{name}": size for name, size in sizes.items()},
            "seed": self.seed,
            "min_rating": self.min_rating,
            "core": self.core,
            "train_fraction": self.train_fraction,
        }

    def _split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}. The splits are {SPLITS}.")
        return getattr(self, name)


def load_ranking_protocol(
    dataset: MovieLens | pd.DataFrame | str | os.PathLike[str] = "ml-1m",
    *,
    seed: int = 42,
    min_rating: float = 3.0,
    core: int = 10,
    train_fraction: float = 0.8,
) -> RankingProtocol:
    """Build the implicit-feedback ranking protocol from explicit ratings.

    Parameters
    ----------
    dataset : MovieLens, DataFrame, str or path, default="ml-1m"
        A loaded data set, a ratings frame with ``user_id``, ``item_id`` and
        ``rating`` columns, or a name or path for
        :func:`~fmrec.datasets.load_movielens`.
    seed : int, default=42
        Seed of the per-user shuffle. The same data and seed give the same split.
    min_rating : float, default=3.0
        Ratings of at least this value are positives.
    core : int, default=10
        Minimum number of interactions of every kept user and item.
    train_fraction : float, default=0.8
        Share of each user's interactions used for training. The rest is split
        evenly between validation and test, see :func:`split_per_user`.

    Returns
    -------
    RankingProtocol
        The three splits and the user and item index spaces.

    Raises
    ------
    ValueError
        If the ratings lack a required column, ``core`` is below 1,
        ``train_fraction`` is not in (0, 1), or no interactions survive.
    """
    ratings = _ratings_of(dataset)
    positives = ratings.loc[ratings["rating"].to_numpy() >= min_rating]
    positives = positives.drop_duplicates(["user_id", "item_id"], keep="last")
    core_interactions = k_core(positives, core)
    if len(core_interactions) == 0:
        raise ValueError(
            f"no interactions are left after keeping ratings >= {min_rating} and "
            f"the {core}-core. Lower min_rating or core."
        )
    users = IdIndex.fit(core_interactions["user_id"].to_numpy())
    items = IdIndex.fit(core_interactions["item_id"].to_numpy())
    indexed = core_interactions.assign(
        user_index=users.lookup(core_interactions["user_id"].to_numpy()),
        item_index=items.lookup(core_interactions["item_id"].to_numpy()),
    )
    train, valid, test = split_per_user(
        indexed, seed=seed, train_fraction=train_fraction
    )
    protocol = RankingProtocol(
        train, valid, test, users, items, seed, float(min_rating), core, train_fraction
    )
    logger.info("Built the ranking protocol: %s", protocol.summary())
    return protocol


def _ratings_of(dataset: Any) -> pd.DataFrame:
    if isinstance(dataset, MovieLens):
        ratings = dataset.ratings
    elif isinstance(dataset, pd.DataFrame):
        ratings = dataset
    else:
        ratings = load_movielens(dataset).ratings
    missing = [c for c in ("user_id", "item_id", "rating") if c not in ratings]
    if missing:
        raise ValueError(f"the ratings have no column(s) {missing}")
    return ratings


def k_core(interactions: pd.DataFrame, core: int) -> pd.DataFrame:
    """Keep the interactions whose user and item both have at least ``core`` of them.

    Removing a user lowers the counts of its items and the other way round, so
    the filter repeats until nothing changes. The result is the largest subset
    in which every user and item has at least ``core`` interactions. Rows keep
    their order and index.
    """
    if isinstance(core, bool) or not isinstance(core, (int, np.integer)) or core < 1:
        raise ValueError(f"core must be an integer >= 1, got {core!r}")
    user_codes = pd.factorize(interactions["user_id"])[0]
    item_codes = pd.factorize(interactions["item_id"])[0]
    keep = np.ones(len(interactions), dtype=bool)
    while True:
        user_counts = np.bincount(user_codes[keep], minlength=user_codes.max() + 1)
        item_counts = np.bincount(item_codes[keep], minlength=item_codes.max() + 1)
        enough = (user_counts[user_codes] >= core) & (item_counts[item_codes] >= core)
        if not (keep & ~enough).any():
            return interactions.loc[keep]
        keep &= enough


def split_per_user(
    interactions: pd.DataFrame, *, seed: int, train_fraction: float = 0.8
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Shuffle each user's interactions and cut them into train, valid and test.

    The interactions are sorted by ``(user_index, item_index)`` and given
    random keys from ``numpy.random.default_rng(seed)``, so the split depends
    only on the set of interactions and the seed. A user with ``n``
    interactions gets ``n_train = ceil(train_fraction * n)`` training items,
    computed in exact fractions, and the rest ``r = n - n_train`` is split into
    ``floor(r / 2)`` validation and ``ceil(r / 2)`` test items. So every user
    has at least one training item, and with the default 0.8 a user with at
    least 10 interactions has at least one validation and one test item.

    Returns
    -------
    tuple of DataFrame
        Train, validation and test rows, each sorted by user and item index.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    ordered = interactions.sort_values(["user_index", "item_index"], kind="stable")
    users = ordered["user_index"].to_numpy()
    keys = np.random.default_rng(seed).random(users.size)
    order = np.lexsort((keys, users))
    users = users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, users.size])
    position = np.arange(users.size) - np.repeat(starts, counts)

    fraction = Fraction(train_fraction).limit_denominator(10**6)
    n_train = -(-counts * fraction.numerator // fraction.denominator)  # ceiling
    n_valid = (counts - n_train) // 2
    train_end = np.repeat(n_train, counts)
    valid_end = train_end + np.repeat(n_valid, counts)
    shuffled = ordered.iloc[order]
    parts = (
        position < train_end,
        (position >= train_end) & (position < valid_end),
        position >= valid_end,
    )
    return tuple(
        shuffled.loc[part].sort_values(["user_index", "item_index"], kind="stable")
        for part in parts
    )
