"""The recommender: an FM over user and item ids, with catalogue and popularity.

:class:`Recommender` wraps a :class:`~fmrec.model.FactorizationMachine` with
what turning scores into lists needs: the id encoding, the items each user
rated in training (never recommended back), item titles, and a popularity
ranking for users the model has not seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fmrec.features.groups import FeatureBuilder
from fmrec.features.ids import seen_matrix
from fmrec.kernels import fm_row_terms
from fmrec.model import FactorizationMachine

logger = logging.getLogger(__name__)

ITEM_COLUMNS = ("title", "genres", "year")


@dataclass
class Recommendations:
    """A ranked list for one user.

    ``items`` has the columns ``rank``, ``item_id``, ``score``, and ``title``,
    ``genres`` and ``year`` where the catalogue has them. For a model-based
    list ``score`` is the predicted rating, unclipped; for a popularity list it
    is the number of training ratings. ``note`` explains a short list or a
    cold start.
    """

    user: int | None
    items: pd.DataFrame
    cold_start: bool
    note: str | None = None


@dataclass
class Recommender:
    """Rating predictor and top-N recommender over user and item ids.

    Fit it with :meth:`fit`; :meth:`save` and :meth:`load` persist it.
    """

    model: FactorizationMachine = field(default_factory=FactorizationMachine)
    features: tuple[str, ...] = ("user", "item")
    info: dict = field(default_factory=dict)

    def fit(
        self,
        ratings: pd.DataFrame,
        items: pd.DataFrame | None = None,
        rating_range: tuple[float, float] | None = None,
        users: pd.DataFrame | None = None,
    ) -> Recommender:
        """Train on a frame with ``user_id``, ``item_id`` and ``rating`` columns.

        ``items`` (``item_id`` plus any of ``title``, ``genres``, ``year``)
        names the recommended items and gives the item attributes; ``users``
        gives the user attributes. ``features`` names the feature groups of
        :mod:`fmrec.features.groups` to build. ``rating_range`` clips
        predictions; by default it is the range of the training ratings.
        """
        _check_ratings(ratings)
        y = ratings["rating"].to_numpy(np.float64)
        if rating_range is None:
            rating_range = (float(y.min()), float(y.max()))
            if rating_range[0] == rating_range[1]:
                raise ValueError(
                    f"All {y.size} ratings are {y[0]:g}, so the rating range "
                    "cannot be taken from them; pass rating_range=(low, high)."
                )
        encoder = FeatureBuilder(self.features).fit(ratings, users, items)
        _check_solver_features(self.model.solver, self.features)
        self.model.target_range = rating_range
        self.model.fit(encoder.transform(ratings), y, groups=encoder.column_groups_)

        user_index = encoder.users.lookup(ratings["user_id"].to_numpy())
        item_index = encoder.items.lookup(ratings["item_id"].to_numpy())
        self.encoder_ = encoder
        self.rating_range_ = rating_range
        shape = (len(encoder.users), len(encoder.items))
        self.seen_ = seen_matrix(user_index, item_index, shape, np.int8)
        self.item_counts_ = np.bincount(item_index, minlength=len(encoder.items))
        self.catalogue_ = _catalogue(encoder.items.ids, items)
        self._item_terms = None
        return self

    def predict(
        self, user_ids, item_ids, *, timestamps=None, clip: bool = True
    ) -> np.ndarray:
        """Predict ratings for pairs of original ids.

        ``user_ids``, ``item_ids`` and ``timestamps`` are equal-length
        sequences or single values, which apply to every pair; other lengths
        raise ValueError. ``timestamps`` (Unix seconds) place each pair in
        its month for models with the ``time`` group, and give it its user's
        day indicator for models with ``user_day`` where that user rated on
        that day in training. Without them the latest training month is used,
        with no day indicator, as for recommendations. An unknown user or item
        has an empty block, so the prediction falls back on the bias and the
        known side.
        """
        columns = {"user_ids": user_ids, "item_ids": item_ids}
        if timestamps is not None:
            columns["timestamps"] = timestamps
        columns = _broadcast_columns(columns)
        user_index = self.encoder_.users.lookup(columns["user_ids"])
        item_index = self.encoder_.items.lookup(columns["item_ids"])
        X = self.encoder_.blocks(user_index, item_index, columns.get("timestamps"))
        scores = self.model.decision_function(X)
        return np.clip(scores, *self.rating_range_) if clip else scores

    def score_users(self, user_index: np.ndarray) -> np.ndarray:
        """Return unclipped scores of every catalogue item for each user index."""
        rows = self.encoder_.user_rows(np.asarray(user_index, dtype=np.int64))
        return self._score_user_terms(*_row_terms(rows, self.model))

    def fold_in(
        self, ratings: dict[int, float], *, unrated_weight: float = 0.0
    ) -> tuple[float, np.ndarray]:
        """Fit a new user's bias and factors to their ratings, items held fixed.

        With the item side fixed, the FM prediction for user terms ``(b, v)``
        is ``w0 + b + s_i + <v, q_i>`` (``s_i`` and ``q_i`` from
        :func:`fmrec.kernels.fm_row_terms`), linear in ``(b, v)``. This solves
        the ridge problem ``min sum_i (r_i - w0 - s_i - b - <v, q_i>)^2 +
        m reg_w b^2 + m reg_v |v|^2`` over the ``m`` rated items in the
        model's catalogue. These penalties equal the ones SGD applies to a
        user with ``m`` ratings. Unknown item ids are ignored. A model fitted
        with ``fit_linear=False`` has no user bias, so ``b`` is then fixed
        at 0 and only ``v`` is solved for.

        With ``unrated_weight`` c > 0, every other catalogue item also counts
        as a rating of 0 with weight c, which adds ``c sum_j (w0 + s_j + b +
        <v, q_j>)^2`` over the unrated items j. This suits models trained on
        implicit feedback, with 1 for an interaction and 0 for sampled
        non-interactions: c = (zeros sampled per interaction) * m / (number
        of unrated items) weighs them as training did.
        """
        if not (np.isfinite(unrated_weight) and unrated_weight >= 0):
            raise ValueError(
                f"unrated_weight must be a finite number >= 0, got {unrated_weight!r}."
            )
        item_ids = np.fromiter(ratings.keys(), dtype=np.int64, count=len(ratings))
        values = np.fromiter(ratings.values(), dtype=np.float64, count=len(ratings))
        index = self.encoder_.items.lookup(item_ids)
        known = index >= 0
        n_factors = self.model.V_.shape[1]
        if not known.any():
            return 0.0, np.zeros(n_factors)
        item_scalar, item_factors = self._catalogue_terms()
        design = np.hstack([np.ones((known.sum(), 1)), item_factors[index[known]]])
        target = values[known] - self.model.w0_ - item_scalar[index[known]]
        m = known.sum()
        # The user's terms are in the user group, which is group 0.
        reg_w, reg_v = (np.ravel(reg)[0] for reg in self.model.regularization())
        penalty = np.r_[reg_w, np.full(n_factors, reg_v)] * m
        # Column 0 of the design is the user bias b; without linear weights
        # it is dropped, which fixes b at 0.
        first = 0 if self.model.fit_linear else 1
        design = design[:, first:]
        gram = design.T @ design + np.diag(penalty[first:])
        moment = design.T @ target
        if unrated_weight > 0:
            unrated = np.ones(item_scalar.size, dtype=bool)
            unrated[index[known]] = False
            others = np.hstack([np.ones((unrated.sum(), 1)), item_factors[unrated]])
            others = others[:, first:]
            zeros = -self.model.w0_ - item_scalar[unrated]
            gram += unrated_weight * (others.T @ others)
            moment += unrated_weight * (others.T @ zeros)
        solution = np.linalg.solve(gram, moment)
        if first == 1:
            return 0.0, solution
        return float(solution[0]), solution[1:]

    def recommend_for_ratings(
        self,
        ratings: dict[int, float],
        n: int = 10,
        *,
        exclude=(),
        unrated_weight: float = 0.0,
    ) -> Recommendations:
        """Recommend for a user who is not in the model, from a few ratings.

        The user's terms come from :meth:`fold_in` with ``unrated_weight``,
        without retraining; the rated items are never recommended. With no
        rating of a known item the result is the popularity list, flagged as
        a cold start.
        """
        _check_n(n)
        rated = list(ratings.keys())
        bias, factors = self.fold_in(ratings, unrated_weight=unrated_weight)
        if not (self.encoder_.items.lookup(np.asarray(rated, np.int64)) >= 0).any():
            note = "no rated item is known to the model"
            return self.popular(n, exclude=[*rated, *exclude], note=note)
        scores = self._score_user_terms(np.array([bias]), factors[None, :])[0]
        allowed = self._allowed(np.array([], dtype=np.int64), [*rated, *exclude])
        chosen = _top(scores, allowed, n)
        return self._result(None, chosen, scores[chosen], n, allowed.sum(), False)

    def similar_items(self, item_id: int, n: int = 10) -> pd.DataFrame:
        """Return the ``n`` items whose factor vectors are closest in cosine.

        Raises KeyError for an item id the model does not know.
        """
        _check_n(n)
        index = int(self.encoder_.items.lookup([item_id])[0])
        if index < 0:
            raise KeyError(f"item {item_id} is not in the model")
        _, factors = self._catalogue_terms()
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        similarity = factors @ factors[index] / (norms * norms[index])
        allowed = np.ones(similarity.size, dtype=bool)
        allowed[index] = False
        chosen = _top(similarity, allowed, n)
        frame = self.catalogue_.iloc[chosen].reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, chosen.size + 1))
        frame.insert(2, "similarity", similarity[chosen])
        return frame

    def _score_user_terms(
        self, user_scalar: np.ndarray, user_factors: np.ndarray
    ) -> np.ndarray:
        item_scalar, item_factors = self._catalogue_terms()
        scores = user_factors @ item_factors.T
        scores += user_scalar[:, None]
        scores += item_scalar[None, :] + self.model.w0_
        return scores

    def recommend(
        self, user_id: int | None, n: int = 10, *, exclude=()
    ) -> Recommendations:
        """Return the top ``n`` items the user has not rated in training.

        Items in ``exclude`` (original ids) are left out as well. A user who
        is None or unknown gets the popularity list, flagged as a cold start.
        """
        _check_n(n)
        index = -1 if user_id is None else int(self.encoder_.users.lookup([user_id])[0])
        if index < 0:
            note = "no user given" if user_id is None else f"user {user_id} is unknown"
            return self.popular(n, exclude=exclude, user=user_id, note=note)
        scores = self.score_users(np.array([index]))[0]
        allowed = self._allowed(self.seen_[index].indices, exclude)
        chosen = _top(scores, allowed, n)
        return self._result(user_id, chosen, scores[chosen], n, allowed.sum(), False)

    def popular(
        self, n: int = 10, *, exclude=(), user=None, note=None
    ) -> Recommendations:
        """Return the most-rated items of the training data.

        Ties in the count are broken by the smaller item id.
        """
        _check_n(n)
        allowed = self._allowed(np.array([], dtype=np.int64), exclude)
        # Item ids are sorted, so a stable sort on -count breaks ties by id.
        order = np.argsort(-self.item_counts_, kind="stable")
        chosen = order[allowed[order]][:n]
        result = self._result(
            user, chosen, self.item_counts_[chosen], n, allowed.sum(), True
        )
        if note is not None:
            result.note = f"{note}; popular items shown" + (
                f"; {result.note}" if result.note else ""
            )
        return result

    def _allowed(self, seen_index: np.ndarray, exclude) -> np.ndarray:
        allowed = np.ones(len(self.encoder_.items), dtype=bool)
        allowed[seen_index] = False
        excluded = self.encoder_.items.lookup(np.asarray(list(exclude), dtype=np.int64))
        allowed[excluded[excluded >= 0]] = False
        return allowed

    def _result(
        self, user, chosen, scores, n, n_allowed, cold_start
    ) -> Recommendations:
        frame = self.catalogue_.iloc[chosen].reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, chosen.size + 1))
        frame.insert(2, "score", np.asarray(scores, dtype=np.float64))
        note = None
        if chosen.size < n:
            note = f"only {n_allowed} unrated items are left, fewer than n={n}"
        return Recommendations(user, frame, cold_start, note)

    def _catalogue_terms(self) -> tuple[np.ndarray, np.ndarray]:
        if self._item_terms is None:
            rows = self.encoder_.item_rows(np.arange(len(self.encoder_.items)))
            self._item_terms = _row_terms(rows, self.model)
        return self._item_terms


def _row_terms(rows: sp.csr_matrix, model: FactorizationMachine):
    indices = rows.indices.astype(np.int32)
    return fm_row_terms(
        rows.indptr.astype(np.int64), indices, rows.data, model.w_, model.V_
    )


def _top(scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """Return up to ``n`` allowed indices by descending score, ties by index."""
    candidates = np.flatnonzero(allowed)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:n]]


def _catalogue(item_ids: np.ndarray, items: pd.DataFrame | None) -> pd.DataFrame:
    frame = pd.DataFrame({"item_id": item_ids})
    if items is None:
        return frame
    columns = ["item_id", *[c for c in ITEM_COLUMNS if c in items.columns]]
    return frame.merge(items[columns], on="item_id", how="left")


def _check_solver_features(solver: str, features: tuple[str, ...]) -> None:
    implicit = {"implicit_user", "implicit_item"} & set(features)
    if solver == "sgd" and implicit:
        raise ValueError(
            f"The groups {sorted(implicit)} need solver='als' or 'mcmc': SGD would "
            "copy every user's or item's whole rating list into each rating's row."
        )


def _check_ratings(ratings: pd.DataFrame) -> None:
    missing = {"user_id", "item_id", "rating"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings lacks the columns {sorted(missing)}.")
    if len(ratings) == 0:
        raise ValueError("Cannot train on zero ratings: the ratings frame is empty.")
    values = pd.to_numeric(ratings["rating"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = bad[0]
        raise ValueError(
            f"The rating column has {bad.size} missing, non-numeric or infinite "
            f"values; the first is {ratings['rating'].iloc[row]!r} at row "
            f"{ratings.index[row]!r}."
        )


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")


def _broadcast_columns(columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the columns as 1-D arrays of one length, repeating single values.

    Raises ValueError, naming the lengths, when two sequences differ in
    length or a value is not one-dimensional.
    """
    arrays = {name: np.asarray(value) for name, value in columns.items()}
    for name, array in arrays.items():
        if array.ndim > 1:
            raise ValueError(
                f"{name} must be one-dimensional, got shape {array.shape}."
            )
    lengths = {name: array.size for name, array in arrays.items() if array.ndim == 1}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} {size}" for name, size in lengths.items())
        raise ValueError(f"Lengths differ: {described}; give equal lengths.")
    n = next(iter(lengths.values()), 1)
    return {name: np.broadcast_to(array, (n,)) for name, array in arrays.items()}
