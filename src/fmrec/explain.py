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

The feature groups are those of :mod:`fmrec.features.groups`. The ``time``
group counts as user side, because the recommender scores every item at the
latest training month, as part of the user's row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import numpy as np
import scipy.sparse as sp

from fmrec.features.groups import ITEM_GROUPS, USER_GROUPS
from fmrec.recommend import Recommender

logger = logging.getLogger(__name__)

Side = Literal["user", "item"]
TermKind = Literal["bias", "user", "item", "interaction"]

FOLDED_USER_GROUP = "user (from the given ratings)"
CONTEXT_GROUPS = ("time", "user_day")

# Words for each feature group in sentences.
GROUP_WORDS = {
    "user": "own ratings",
    "user_attributes": "gender, age, occupation and area",
    "implicit_user": "rated movies",
    "item": "own ratings",
    "item_attributes": "genres and decade",
    "implicit_item": "audience",
    "time": "month",
    "user_day": "day of rating",
    FOLDED_USER_GROUP: "ratings",
}

# An item whose training rating count is at least this quantile of all items'
# counts is called widely rated.
WIDELY_RATED_QUANTILE = 0.75


@dataclass(frozen=True)
class FeatureGroup:
    """A named group of FM input columns that belongs to one side."""

    name: str
    side: Side
    number: int


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
    (``similar_rated_item``, ``rated_item``, ``similar_users``,
    ``feature_match``, ``item_bias``, ``item_features``, ``user_bias`` or
    ``average``) and ``sentence`` puts it in words. ``evidence`` holds the
    facts behind the sentence, such as the rated item and its similarity.
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
    """Linear sum, inner pair sum and factor sum of one group in one row.

    ``columns`` and ``scaled`` are the group's active columns and their
    ``v_j x_j`` rows, kept for naming the column that contributes most.
    """

    group: FeatureGroup
    linear: float
    within: float
    factor_sum: np.ndarray
    columns: np.ndarray
    scaled: np.ndarray


def feature_groups(recommender: Recommender) -> list[FeatureGroup]:
    """Return the feature groups of the recommender's FM input, in column order.

    Raises
    ------
    ValueError
        If a group is neither a user, an item nor a context group, which
        means the encoder has grown a group this module does not know yet.
    """
    groups = []
    for number, name in enumerate(recommender.encoder_.group_names_):
        if name in USER_GROUPS or name in CONTEXT_GROUPS:
            side: Side = "user"
        elif name in ITEM_GROUPS:
            side = "item"
        else:
            raise ValueError(
                f"The feature group {name!r} is on neither the user nor the item "
                "side; fmrec.explain.feature_groups must learn it first."
            )
        groups.append(FeatureGroup(name, side, number))
    return groups


def explain(recommender: Recommender, user_id: int, item_id: int) -> Explanation:
    """Split the prediction for a known user and item into terms.

    The terms add up to ``recommender.predict(user_id, item_id, clip=False)``.

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
    context = _Context(recommender, item_id, parts, rated, None)
    return _finish(context, user_id, terms)


def explain_for_ratings(
    recommender: Recommender, ratings: Mapping[int, float], item_id: int
) -> Explanation:
    """Split the prediction for a new user, given by a few ratings, into terms.

    The user's bias and factors come from :meth:`Recommender.fold_in`, as in
    :meth:`Recommender.recommend_for_ratings`, and form one user-side group,
    so the terms add up to that method's score for the item.

    Raises
    ------
    KeyError
        If the item is not in the model.
    """
    item_index = _lookup_item(recommender, item_id)
    bias, factors = recommender.fold_in(dict(ratings))
    factors = np.asarray(factors, dtype=np.float64)
    user_group = FeatureGroup(FOLDED_USER_GROUP, "user", -1)
    empty = np.zeros(0, dtype=np.int64)
    user_part = _GroupPart(
        user_group, bias, 0.0, factors, empty, np.zeros((0, factors.size))
    )
    item_groups = [g for g in feature_groups(recommender) if g.side == "item"]
    item_row = _item_row(recommender, item_index)
    parts = [user_part, *_group_parts(recommender, item_row, item_groups)]
    terms = _terms(recommender.model.w0_, parts)
    rated_ids = np.fromiter(ratings.keys(), dtype=np.int64, count=len(ratings))
    rated = _liked_items(recommender, rated_ids, ratings)
    rated = rated[rated != item_index]
    context = _Context(recommender, item_id, parts, rated, ratings)
    return _finish(context, None, terms)


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
    """Return the FM input row that ``Recommender.predict`` scores for a pair."""
    encoder = recommender.encoder_
    user_row = encoder.user_rows(np.array([user_index]))
    return (user_row + _item_row(recommender, item_index)).tocsr()


def _item_row(recommender: Recommender, item_index: int) -> sp.csr_matrix:
    return recommender.encoder_.item_rows(np.array([item_index]))


def _item_factor_sums(recommender: Recommender, item_index: np.ndarray) -> np.ndarray:
    """Return ``sum_j v_j x_j`` over each item's own input row."""
    rows = recommender.encoder_.item_rows(np.asarray(item_index, dtype=np.int64))
    return np.asarray(rows @ recommender.model.V_)


def _group_start(recommender: Recommender, group: FeatureGroup) -> int:
    """Return the first column of a group; its columns are contiguous."""
    return int(np.argmax(recommender.encoder_.column_groups_ == group.number))


def _group_parts(
    recommender: Recommender, row: sp.csr_matrix, groups: list[FeatureGroup]
) -> list[_GroupPart]:
    row.sum_duplicates()
    indices = row.indices.astype(np.int64)
    values = row.data.astype(np.float64)
    column_groups = recommender.encoder_.column_groups_[indices]
    w = recommender.model.w_
    V = recommender.model.V_
    parts = []
    for group in groups:
        mask = column_groups == group.number
        columns = indices[mask]
        x = values[mask]
        scaled = V[columns] * x[:, None]
        factor_sum = scaled.sum(axis=0)
        within = float(0.5 * (factor_sum @ factor_sum - np.sum(scaled * scaled)))
        linear = float(w[columns] @ x)
        parts.append(_GroupPart(group, linear, within, factor_sum, columns, scaled))
    return parts


def _terms(w0: float, parts: list[_GroupPart]) -> tuple[Term, ...]:
    terms = [Term("bias", "global bias", float(w0))]
    for part in parts:
        terms.append(Term(part.group.side, part.group.name, part.linear))
        # A group with one active column has no pair inside it.
        if part.columns.size > 1:
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


@dataclass(frozen=True)
class _Context:
    """Facts that the sentence of an explanation may draw on."""

    recommender: Recommender
    item_id: int
    parts: list[_GroupPart]
    rated: np.ndarray
    ratings: Mapping[int, float] | None

    def part(self, name: str) -> _GroupPart:
        return next(part for part in self.parts if part.group.name == name)


def _finish(
    context: _Context, user_id: int | None, terms: tuple[Term, ...]
) -> Explanation:
    recommender = context.recommender
    score = float(sum(term.value for term in terms))
    prediction = float(np.clip(score, *recommender.rating_range_))
    reason, sentence, evidence = _describe(context, terms)
    return Explanation(
        user_id, context.item_id, score, prediction, terms, reason, sentence, evidence
    )


def _describe(
    context: _Context, terms: tuple[Term, ...]
) -> tuple[str, str, dict[str, object]]:
    """Build the reason code, sentence and evidence from the largest term."""
    candidates = [term for term in terms if term.kind != "bias" and term.value > 0]
    if not candidates:
        w0 = context.recommender.model.w0_
        return (
            "average",
            "No single term lifts this prediction much above the average "
            f"rating of {w0:.2f}.",
            {},
        )
    top = max(candidates, key=lambda term: term.value)
    if top.kind == "interaction":
        return _describe_interaction(context, top)
    if top.kind == "item":
        return _describe_item(context, top)
    return (
        "user_bias",
        f"You rate movies above average: your user terms add {top.value:+.2f} "
        "to every prediction for you.",
        {"term": top.group},
    )


def _describe_interaction(
    context: _Context, top: Term
) -> tuple[str, str, dict[str, object]]:
    user_group, item_group = top.group.split(" x ", 1)
    evidence: dict[str, object] = {"term": top.group}
    if user_group == "implicit_user":
        return _describe_rated_column(context, top, item_group)
    if item_group == "item" and user_group in ("user", FOLDED_USER_GROUP):
        if context.rated.size:
            return _describe_similar_rated(context, top)
    if user_group == "user_attributes":
        return (
            "similar_users",
            "Popular with users like you: users of your gender, age, occupation "
            f"or area rate movies like this one highly ({top.value:+.2f}).",
            evidence,
        )
    if item_group == "implicit_item":
        sentence = f"Rated highly by users whose tastes match yours ({top.value:+.2f})."
    elif user_group == "time":
        sentence = f"Rated higher in the latest training months ({top.value:+.2f})."
    elif item_group == "item_attributes":
        sentence = f"Its genres and decade match your tastes ({top.value:+.2f})."
    elif item_group == "item":
        sentence = f"Your tastes match this movie ({top.value:+.2f})."
    else:
        sentence = (
            f"Your {_phrase(user_group)} match this movie's {_phrase(item_group)} "
            f"({top.value:+.2f})."
        )
    return "feature_match", sentence, evidence


def _describe_rated_column(
    context: _Context, top: Term, item_group: str
) -> tuple[str, str, dict[str, object]]:
    """Name the rated item of the implicit-feedback group that adds the most."""
    recommender = context.recommender
    implicit = context.part("implicit_user")
    contributions = implicit.scaled @ context.part(item_group).factor_sum
    best = int(np.argmax(contributions))
    start = _group_start(recommender, implicit.group)
    rated_id = int(recommender.encoder_.items.ids[implicit.columns[best] - start])
    title = _title(recommender, rated_id)
    sentence = (
        f"Because you rated {title}: of the movies you rated, it adds the most "
        f"({contributions[best]:+.2f}) to this prediction."
    )
    evidence = {
        "term": top.group,
        "rated_item_id": rated_id,
        "rated_title": title,
        "contribution": float(contributions[best]),
    }
    return "rated_item", sentence, evidence


def _describe_similar_rated(
    context: _Context, top: Term
) -> tuple[str, str, dict[str, object]]:
    """Name the rated item whose factors are closest in cosine to the item's."""
    recommender = context.recommender
    target_index = recommender.encoder_.items.lookup([context.item_id])
    target = _item_factor_sums(recommender, target_index)[0]
    factors = _item_factor_sums(recommender, context.rated)
    norms = np.linalg.norm(factors, axis=1) * np.linalg.norm(target)
    norms[norms == 0] = 1.0
    similarity = factors @ target / norms
    best = int(np.argmax(similarity))
    rated_id = int(recommender.encoder_.items.ids[context.rated[best]])
    title = _title(recommender, rated_id)
    rating_text = ""
    if context.ratings is not None:
        high = recommender.rating_range_[1]
        rating_text = f" {context.ratings[rated_id]:g} out of {high:g}"
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


def _describe_item(context: _Context, top: Term) -> tuple[str, str, dict[str, object]]:
    recommender = context.recommender
    if top.group != "item":
        return (
            "item_features",
            f"Rated above average because of its {_phrase(top.group)} "
            f"({top.value:+.2f}).",
            {"term": top.group},
        )
    index = int(recommender.encoder_.items.lookup([context.item_id])[0])
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


def _phrase(group: str) -> str:
    """Return words for a term's group: one group, "g pairs" or "a x b"."""
    words: list[str] = []
    for name in group.removesuffix(" pairs").split(" x "):
        word = GROUP_WORDS.get(name, name.replace("_", " "))
        if word not in words:
            words.append(word)
    return " and ".join(words)


def _title(recommender: Recommender, item_id: int) -> str:
    catalogue = recommender.catalogue_
    if "title" in catalogue.columns:
        index = int(recommender.encoder_.items.lookup([item_id])[0])
        title = catalogue["title"].iloc[index]
        if isinstance(title, str) and title:
            return title
    return f"item {item_id}"
