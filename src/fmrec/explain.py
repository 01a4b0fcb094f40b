"""Explanations of single predictions: the FM output split into named terms.

For one input row x the 2-way FM predicts

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l.

When the columns of x are split into feature groups, each on the user side
or the item side, the sum splits exactly into

- the global bias ``w0``,
- one linear term per group, ``sum_{j in g} w_j x_j``,
- the pairs inside a group, ``1/2 (|s_g|^2 - sum_{j in g} |v_j x_j|^2)`` with
  ``s_g = sum_{j in g} v_j x_j``,
- the pairs across two groups, ``<s_g, s_h>``.

Linear and pair terms of user-side groups are the user terms, those of
item-side groups the item terms, and pairs of a user-side with an item-side
group the user-item interaction. :func:`explain` returns these terms and a
sentence built from the largest positive one.

:func:`feature_groups` is the one place that knows the column layout of the
encoder. Today it has two groups, user id and item id; a richer encoding adds
its groups there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import numpy as np
import scipy.sparse as sp

from fmrec.recommend import Recommender

logger = logging.getLogger(__name__)

Side = Literal["user", "item"]
TermKind = Literal["bias", "user", "item", "interaction"]

USER_ID_GROUP = "user id"
ITEM_ID_GROUP = "item id"
FOLDED_USER_GROUP = "user (from the given ratings)"

# An item whose training rating count is at least this quantile of all items'
# counts is called widely rated.
WIDELY_RATED_QUANTILE = 0.75


@dataclass(frozen=True)
class FeatureGroup:
    """A contiguous block of FM input columns that belongs to one side."""

    name: str
    side: Side
    start: int
    stop: int


@dataclass(frozen=True)
class Term:
    """One additive part of a prediction.

    ``kind`` is ``bias``, ``user``, ``item`` or ``interaction``; ``group``
    names the feature group, or two groups joined by " x " for a pair term.
    """

    kind: TermKind
    group: str
    value: float


@dataclass(frozen=True)
class Explanation:
    """A prediction for one (user, item) pair, split into terms.

    ``score`` is the unclipped FM output and equals the sum of ``terms`` up to
    rounding; ``prediction`` is the score clipped to the rating range.
    ``reason`` is a short code for the largest positive non-bias term
    (``similar_rated_item``, ``similar_users``, ``item_bias``, ``user_bias``,
    ``feature_match`` or ``average``) and ``sentence`` says it in words.
    ``evidence`` holds the facts behind the sentence, such as the rated item
    and its cosine similarity.
    """

    user_id: int | None
    item_id: int
    score: float
    prediction: float
    terms: tuple[Term, ...]
    reason: str
    sentence: str
    evidence: dict[str, object] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        """Return the sum of the terms of each kind."""
        sums = {"bias": 0.0, "user": 0.0, "item": 0.0, "interaction": 0.0}
        for term in self.terms:
            sums[term.kind] += term.value
        return sums


@dataclass(frozen=True)
class _GroupPart:
    """Linear sum, inner pair sum and factor sum of one group in one row."""

    group: FeatureGroup
    linear: float
    within: float
    factor_sum: np.ndarray
    n_active: int


def feature_groups(recommender: Recommender) -> list[FeatureGroup]:
    """Return the feature groups of the recommender's FM input columns.

    Raises
    ------
    ValueError
        If the groups do not cover the model's columns, which means the
        encoder has grown groups this function does not know yet.
    """
    encoder = recommender.encoder_
    n_users = len(encoder.users)
    n_items = len(encoder.items)
    groups = [
        FeatureGroup(USER_ID_GROUP, "user", 0, n_users),
        FeatureGroup(ITEM_ID_GROUP, "item", n_users, n_users + n_items),
    ]
    n_features = recommender.model.w_.size
    if groups[-1].stop != n_features:
        raise ValueError(
            f"The model has {n_features} input columns but the known feature "
            f"groups cover {groups[-1].stop}; fmrec.explain.feature_groups must "
            "learn the new encoding before it can explain this model."
        )
    return groups


def explain(recommender: Recommender, user_id: int, item_id: int) -> Explanation:
    """Split the prediction for a known user and item into terms.

    Raises
    ------
    KeyError
        If the user or the item is not in the model.
    """
    user_index = _lookup_user(recommender, user_id)
    item_index = _lookup_item(recommender, item_id)
    row = _pair_row(recommender, user_index, item_index)
    parts = _group_parts(recommender, row, feature_groups(recommender))
    terms = _terms(recommender.model.w0_, parts)
    rated = recommender.seen_[user_index].indices
    rated = rated[rated != item_index]
    return _finish(recommender, user_id, item_id, terms, rated, None)


def explain_for_ratings(
    recommender: Recommender, ratings: Mapping[int, float], item_id: int
) -> Explanation:
    """Split the prediction for a new user, given by a few ratings, into terms.

    The user's bias and factors come from :meth:`Recommender.fold_in`, as in
    :meth:`Recommender.recommend_for_ratings`, and form one user-side group.

    Raises
    ------
    KeyError
        If the item is not in the model.
    """
    item_index = _lookup_item(recommender, item_id)
    bias, factors = recommender.fold_in(dict(ratings))
    user_group = FeatureGroup(FOLDED_USER_GROUP, "user", -1, -1)
    user_part = _GroupPart(user_group, bias, 0.0, np.asarray(factors, float), 1)
    item_groups = [g for g in feature_groups(recommender) if g.side == "item"]
    item_row = recommender.encoder_.item_rows(np.array([item_index]))
    parts = [user_part, *_group_parts(recommender, item_row, item_groups)]
    terms = _terms(recommender.model.w0_, parts)
    rated_ids = np.fromiter(ratings.keys(), dtype=np.int64, count=len(ratings))
    rated = _liked_items(recommender, rated_ids, ratings)
    rated = rated[rated != item_index]
    return _finish(recommender, None, item_id, terms, rated, ratings)


def _lookup_user(recommender: Recommender, user_id: int) -> int:
    index = int(recommender.encoder_.users.lookup([user_id])[0])
    if index < 0:
        raise KeyError(f"user {user_id} is not in the model")
    return index


def _lookup_item(recommender: Recommender, item_id: int) -> int:
    index = int(recommender.encoder_.items.lookup([item_id])[0])
    if index < 0:
        raise KeyError(f"item {item_id} is not in the model")
    return index


def _pair_row(
    recommender: Recommender, user_index: int, item_index: int
) -> sp.csr_matrix:
    """Return the FM input row of one (user, item) index pair."""
    return recommender.encoder_.transform(
        np.array([user_index]), np.array([item_index])
    )


def _item_factor_sums(recommender: Recommender, item_index: np.ndarray) -> np.ndarray:
    """Return ``sum_j v_j x_j`` over each item's own input row."""
    rows = recommender.encoder_.item_rows(np.asarray(item_index, dtype=np.int64))
    return np.asarray(rows @ recommender.model.V_)


def _group_parts(
    recommender: Recommender, row: sp.csr_matrix, groups: list[FeatureGroup]
) -> list[_GroupPart]:
    indices = row.indices.astype(np.int64)
    values = row.data.astype(np.float64)
    w = recommender.model.w_
    V = recommender.model.V_
    parts = []
    for group in groups:
        mask = (indices >= group.start) & (indices < group.stop)
        columns = indices[mask]
        x = values[mask]
        scaled = V[columns] * x[:, None]
        factor_sum = scaled.sum(axis=0)
        within = 0.5 * (factor_sum @ factor_sum - np.sum(scaled * scaled))
        parts.append(
            _GroupPart(group, float(w[columns] @ x), within, factor_sum, columns.size)
        )
    return parts


def _terms(w0: float, parts: list[_GroupPart]) -> tuple[Term, ...]:
    terms = [Term("bias", "global bias", float(w0))]
    for part in parts:
        terms.append(Term(part.group.side, part.group.name, part.linear))
        # A group with one active column has no pair inside it.
        if part.n_active > 1:
            terms.append(Term(part.group.side, f"{part.group.name} pairs", part.within))
    for first, second in combinations(parts, 2):
        value = float(first.factor_sum @ second.factor_sum)
        name = f"{first.group.name} x {second.group.name}"
        if first.group.side == second.group.side:
            terms.append(Term(first.group.side, name, value))
        else:
            terms.append(Term("interaction", name, value))
    return tuple(terms)


def _liked_items(
    recommender: Recommender, item_ids: np.ndarray, ratings: Mapping[int, float]
) -> np.ndarray:
    """Return indices of the known rated items, the well-rated ones if any.

    Well rated means at or above the middle of the rating range, so that a
    sentence never cites a movie the user disliked as the reason.
    """
    index = recommender.encoder_.items.lookup(item_ids)
    values = np.array([ratings[int(i)] for i in item_ids], dtype=np.float64)
    low, high = recommender.rating_range_
    known = index >= 0
    liked = known & (values >= (low + high) / 2)
    return index[liked] if liked.any() else index[known]


def _finish(
    recommender: Recommender,
    user_id: int | None,
    item_id: int,
    terms: tuple[Term, ...],
    rated: np.ndarray,
    ratings: Mapping[int, float] | None,
) -> Explanation:
    score = float(sum(term.value for term in terms))
    prediction = float(np.clip(score, *recommender.rating_range_))
    reason, sentence, evidence = _describe(recommender, item_id, terms, rated, ratings)
    return Explanation(
        user_id, item_id, score, prediction, terms, reason, sentence, evidence
    )


def _describe(
    recommender: Recommender,
    item_id: int,
    terms: tuple[Term, ...],
    rated: np.ndarray,
    ratings: Mapping[int, float] | None,
) -> tuple[str, str, dict[str, object]]:
    """Build the reason code, sentence and evidence from the largest term."""
    candidates = [term for term in terms if term.kind != "bias" and term.value > 0]
    if not candidates:
        w0 = recommender.model.w0_
        return (
            "average",
            "No single term lifts this prediction much above the average "
            f"rating of {w0:.2f}.",
            {},
        )
    top = max(candidates, key=lambda term: term.value)
    if top.kind == "interaction":
        return _describe_interaction(recommender, item_id, top, rated, ratings)
    if top.kind == "item":
        return _describe_item(recommender, item_id, top)
    return (
        "user_bias",
        f"You rate movies above average: your user terms add {top.value:+.2f} "
        "to every prediction for you.",
        {"term": top.group},
    )


def _describe_interaction(
    recommender: Recommender,
    item_id: int,
    top: Term,
    rated: np.ndarray,
    ratings: Mapping[int, float] | None,
) -> tuple[str, str, dict[str, object]]:
    user_group, item_group = top.group.split(" x ", 1)
    if item_group == ITEM_ID_GROUP and user_group in (USER_ID_GROUP, FOLDED_USER_GROUP):
        if rated.size:
            return _describe_similar_rated(recommender, item_id, top, rated, ratings)
    if item_group == ITEM_ID_GROUP:
        return (
            "similar_users",
            f"Popular with users like you: users who share your {user_group} "
            f"rate this movie highly ({top.value:+.2f}).",
            {"term": top.group},
        )
    return (
        "feature_match",
        f"Your {user_group} matches this movie's {item_group} ({top.value:+.2f}).",
        {"term": top.group},
    )


def _describe_similar_rated(
    recommender: Recommender,
    item_id: int,
    top: Term,
    rated: np.ndarray,
    ratings: Mapping[int, float] | None,
) -> tuple[str, str, dict[str, object]]:
    """Name the rated item whose factors are closest in cosine to the item's."""
    target_index = recommender.encoder_.items.lookup([item_id])
    target = _item_factor_sums(recommender, target_index)[0]
    factors = _item_factor_sums(recommender, rated)
    norms = np.linalg.norm(factors, axis=1) * np.linalg.norm(target)
    norms[norms == 0] = 1.0
    similarity = factors @ target / norms
    best = int(np.argmax(similarity))
    rated_id = int(recommender.encoder_.items.ids[rated[best]])
    title = _title(recommender, rated_id)
    rating_text = ""
    if ratings is not None:
        rating_text = f" {ratings[rated_id]:g} out of {recommender.rating_range_[1]:g}"
    sentence = (
        f"Because you rated {title}{rating_text}: of the movies you rated, its "
        "factor vector is the most similar to this movie's (cosine similarity "
        f"{similarity[best]:.2f}), and the match of your tastes with this movie "
        f"adds {top.value:+.2f}."
    )
    evidence = {
        "term": top.group,
        "rated_item_id": rated_id,
        "rated_title": title,
        "similarity": float(similarity[best]),
    }
    return "similar_rated_item", sentence, evidence


def _describe_item(
    recommender: Recommender, item_id: int, top: Term
) -> tuple[str, str, dict[str, object]]:
    index = int(recommender.encoder_.items.lookup([item_id])[0])
    counts = recommender.item_counts_
    n_ratings = int(counts[index])
    widely_rated = bool(n_ratings >= np.quantile(counts, WIDELY_RATED_QUANTILE))
    evidence = {"term": top.group, "n_ratings": n_ratings, "widely_rated": widely_rated}
    if widely_rated:
        sentence = (
            f"Widely rated and liked: {n_ratings} ratings in training, and "
            f"users rate it above average ({top.value:+.2f})."
        )
    else:
        sentence = (
            f"Users rate this movie above average ({top.value:+.2f}), from "
            f"{n_ratings} ratings in training."
        )
    return "item_bias", sentence, evidence


def _title(recommender: Recommender, item_id: int) -> str:
    catalogue = recommender.catalogue_
    if "title" in catalogue.columns:
        index = int(recommender.encoder_.items.lookup([item_id])[0])
        title = catalogue["title"].iloc[index]
        if isinstance(title, str) and title:
            return title
    return f"item {item_id}"
