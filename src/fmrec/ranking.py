"""Top-N ranking from implicit feedback: an FM trained with BPR.

:class:`BPRRanker` builds the user and item blocks of
:class:`~fmrec.features.groups.FeatureBuilder` from (user, item) interactions,
trains the FM on the pairwise BPR objective of :mod:`fmrec.kernels.bpr` (a
positive item should score above a sampled negative one), and ranks the
catalogue for each user by the FM output

    y(u, i) = w0 + s_u + s_i + <q_u, q_i>,

where only ``s_i + <q_u, q_i>`` differs between the items of one user.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fmrec._validation import check_number
from fmrec.exceptions import TrainingDivergedError
from fmrec.features.groups import GROUPS, TIME_GROUPS, FeatureBuilder
from fmrec.features.ids import seen_matrix
from fmrec.kernels.relational import block_row_terms
from fmrec.ranking_data import evaluate_top_k
from fmrec.solvers.base import FMParams
from fmrec.solvers.bpr import NEGATIVE_SAMPLING, BPRSolver, PairData

logger = logging.getLogger(__name__)

RANKING_GROUPS = tuple(group for group in GROUPS if group not in TIME_GROUPS)
"""Feature groups BPR can use: every group but ``time``, since the BPR pairs
compare two items for a user, not two moments."""

VALIDATION_K = 10
"""Cut-off of the validation NDCG used for early stopping."""

__all__ = ["RANKING_GROUPS", "BPREpochRecord", "BPRRanker"]


@dataclass
class BPREpochRecord:
    """Scores of one BPR epoch.

    ``train_loss`` is the mean of -log sigma(d) over the epoch's pairs, each
    computed before its step, and ``valid_ndcg`` the validation NDCG@10 after
    the epoch (None without validation data). ``n_exact_draws`` counts the
    negative draws that ran out of rejection rounds.
    """

    epoch: int
    train_loss: float
    valid_ndcg: float | None
    n_exact_draws: int
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


class BPRRanker:
    """FM ranker trained on implicit feedback with BPR and SGD.

    Parameters
    ----------
    n_factors : int, default=64
        Dimension k of the factor vectors.
    features : sequence of str, default=("user", "item")
        Feature groups of :class:`~fmrec.features.groups.FeatureBuilder`, from
        :data:`RANKING_GROUPS`. ``implicit_user`` describes a user by the items
        they interacted with, ``implicit_item`` an item by its users.
    learning_rate : float, default=0.05
        SGD step size.
    reg_w : float, default=0.01
        L2 penalty on the item-side linear weights, applied at every step a
        feature takes part in.
    reg_v : float, default=0.01
        L2 penalty on the factors, in the same sense.
    init_std : float, default=0.1
        Standard deviation of the normal distribution the factors start from.
    n_epochs : int, default=30
        Maximum number of passes over the positive pairs.
    negative_sampling : {"uniform", "popularity"}, default="uniform"
        Distribution of the negative items, see
        :class:`~fmrec.solvers.bpr.BPRSolver`.
    popularity_exponent : float, default=0.75
        Exponent of the popularity weights.
    n_candidates : int, default=1
        Negatives drawn per positive pair; the one scored highest is used.
        Values above 1 focus training on wrongly ranked negatives.
    max_rejections : int, default=32
        Rejected draws before a negative is drawn exactly from the user's
        non-positive items.
    patience : int, default=3
        With validation data, epochs without a better validation NDCG@10
        before training stops; the best epoch's parameters are kept.
    random_state : int or None, default=None
        Seed of the initialisation, the pair order and the negative draws. Two
        fits with the same integer seed are bitwise identical.

    Attributes
    ----------
    encoder_ : FeatureBuilder
        The user and item blocks and the id indexes.
    w0_, w_, V_ : float, ndarray, ndarray
        FM parameters over the encoder's columns; ``w0_`` and the user-side
        weights stay 0, since BPR does not see them.
    seen_ : scipy.sparse.csr_matrix
        Training interactions, users by items (encoder indices).
    history_ : list of BPREpochRecord
        Scores of every epoch that ran.
    best_epoch_ : int
        1-based epoch whose parameters were kept.
    n_users_without_negatives_ : int
        Users with an interaction with every item, left out of training.
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        features: tuple[str, ...] | list[str] = ("user", "item"),
        learning_rate: float = 0.05,
        reg_w: float = 0.01,
        reg_v: float = 0.01,
        init_std: float = 0.1,
        n_epochs: int = 30,
        negative_sampling: str = "uniform",
        popularity_exponent: float = 0.75,
        n_candidates: int = 1,
        max_rejections: int = 32,
        patience: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.features = features
        self.learning_rate = learning_rate
        self.reg_w = reg_w
        self.reg_v = reg_v
        self.init_std = init_std
        self.n_epochs = n_epochs
        self.negative_sampling = negative_sampling
        self.popularity_exponent = popularity_exponent
        self.n_candidates = n_candidates
        self.max_rejections = max_rejections
        self.patience = patience
        self.random_state = random_state

    def fit(
        self,
        interactions: pd.DataFrame,
        *,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        valid: pd.DataFrame | None = None,
    ) -> BPRRanker:
        """Train on positive ``interactions`` (columns ``user_id``, ``item_id``).

        ``users`` and ``items`` are the tables the attribute groups need.
        ``valid`` contains held-out interactions of the same users: each epoch is
        then scored by the validation NDCG@10 over the whole catalogue with
        the training items masked, and training stops early.

        Raises
        ------
        ValueError
            For an invalid hyperparameter or feature group, or no interactions.
        TrainingDivergedError
            When the loss or a parameter becomes NaN or infinite.
        """
        self._check_params()
        encoder = FeatureBuilder(tuple(self.features)).fit(interactions, users, items)
        user_index = encoder.users.lookup(interactions["user_id"].to_numpy())
        item_index = encoder.items.lookup(interactions["item_id"].to_numpy())
        seen = _binary_matrix(user_index, item_index, encoder)
        data = PairData(
            encoder.user_block_, encoder.item_block_, 0, encoder.item_offset, seen
        )
        rng = np.random.default_rng(self.random_state)
        params = FMParams.initial(
            encoder.n_features, self.n_factors, self.init_std, rng
        )
        solver = BPRSolver(
            self.learning_rate,
            self.reg_w,
            self.reg_v,
            negative_sampling=self.negative_sampling,
            popularity_exponent=self.popularity_exponent,
            max_rejections=self.max_rejections,
            n_candidates=self.n_candidates,
        )
        pairs = solver.prepare(data)
        score = None
        if valid is not None:
            score = _validation_score(encoder, seen, valid)
        history, best_params, best_epoch = self._run(solver, pairs, params, rng, score)

        self.encoder_ = encoder
        self.seen_ = seen
        self.w0_ = float(best_params.w0[0])
        self.w_ = best_params.w
        self.V_ = best_params.V
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.n_users_without_negatives_ = pairs.n_users_without_negatives
        return self

    def score_users(self, user_index: np.ndarray) -> np.ndarray:
        """Return the FM output of every item for each user index of the encoder."""
        user_index = np.asarray(user_index, dtype=np.int64)
        user_scalar, user_factors = self._block_terms(self.encoder_.user_block_, 0)
        item_scalar, item_factors = self._item_terms()
        scores = user_factors[user_index] @ item_factors.T
        scores += (user_scalar[user_index] + self.w0_)[:, None]
        scores += item_scalar[None, :]
        return scores

    def recommend(
        self, user_id: int, n: int = 10, *, exclude: tuple[int, ...] = ()
    ) -> pd.DataFrame:
        """Return the user's top ``n`` items outside their training items.

        The frame has the columns ``rank``, ``item_id`` and ``score``; equal
        scores are ordered by item id. Items in ``exclude`` are left out too.

        Raises
        ------
        KeyError
            If the user has no training interactions.
        """
        index = int(self.encoder_.users.lookup([user_id])[0])
        if index < 0:
            raise KeyError(f"user {user_id} has no training interactions")
        scores = self.score_users(np.array([index]))[0]
        allowed = np.ones(scores.size, dtype=bool)
        allowed[self.seen_[index].indices] = False
        excluded = self.encoder_.items.lookup(np.asarray(exclude, dtype=np.int64))
        allowed[excluded[excluded >= 0]] = False
        candidates = np.flatnonzero(allowed)
        order = np.lexsort((candidates, -scores[candidates]))[:n]
        chosen = candidates[order]
        return pd.DataFrame(
            {
                "rank": np.arange(1, chosen.size + 1),
                "item_id": self.encoder_.items.ids[chosen],
                "score": scores[chosen],
            }
        )

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "n_factors", self.n_factors, low=1, integer=True)
        check_number(owner, "learning_rate", self.learning_rate, low=0, low_open=True)
        check_number(owner, "reg_w", self.reg_w, low=0)
        check_number(owner, "reg_v", self.reg_v, low=0)
        check_number(owner, "init_std", self.init_std, low=0)
        check_number(owner, "n_epochs", self.n_epochs, low=1, integer=True)
        check_number(owner, "popularity_exponent", self.popularity_exponent, low=0)
        check_number(owner, "n_candidates", self.n_candidates, low=1, integer=True)
        check_number(owner, "max_rejections", self.max_rejections, low=0, integer=True)
        check_number(owner, "patience", self.patience, low=1, integer=True)
        if self.negative_sampling not in NEGATIVE_SAMPLING:
            raise ValueError(
                f"The 'negative_sampling' parameter of {owner} must be one of "
                f"{NEGATIVE_SAMPLING}. Got {self.negative_sampling!r} instead."
            )
        unknown = set(self.features) - set(RANKING_GROUPS)
        if unknown:
            raise ValueError(
                f"BPRRanker cannot use the feature groups {sorted(unknown)}; "
                f"choose from {RANKING_GROUPS}."
            )

    def _run(self, solver, pairs, params, rng, score):
        """Run the epochs; return the history, the kept parameters and epoch."""
        history: list[BPREpochRecord] = []
        best = (-np.inf, 0, params.copy())
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            stats = solver.run_epoch(pairs, params, rng)
            _check_finite(epoch, stats.mean_loss, params)
            ndcg = None if score is None else score(params)
            record = BPREpochRecord(
                epoch,
                stats.mean_loss,
                ndcg,
                stats.n_exact,
                time.perf_counter() - start,
            )
            history.append(record)
            logger.debug("BPR epoch %s", record)
            if ndcg is None:
                continue
            if ndcg > best[0]:
                best = (ndcg, epoch, params.copy())
            elif epoch - best[1] >= self.patience:
                logger.info(
                    "Early stopping after epoch %d; restoring epoch %d "
                    "(validation NDCG@%d %.4f).",
                    epoch,
                    best[1],
                    VALIDATION_K,
                    best[0],
                )
                break
        if score is None:
            return history, params, len(history)
        return history, best[2], best[1]

    def _block_terms(self, block: sp.csr_matrix, offset: int):
        return _row_terms(block, offset, self.w_, self.V_)

    def _item_terms(self):
        return self._block_terms(self.encoder_.item_block_, self.encoder_.item_offset)


def _row_terms(block: sp.csr_matrix, offset: int, w: np.ndarray, V: np.ndarray):
    """Return each block row's scalar part and factor sum (see the module doc)."""
    scalar, factor_sum, _ = block_row_terms(
        block.indptr.astype(np.int64),
        block.indices.astype(np.int64),
        block.data,
        offset,
        w,
        V,
    )
    return scalar, factor_sum


def _validation_score(encoder: FeatureBuilder, seen: sp.csr_matrix, valid):
    """Return a function of the parameters that computes validation NDCG@10."""
    user_index = encoder.users.lookup(valid["user_id"].to_numpy())
    item_index = encoder.items.lookup(valid["item_id"].to_numpy())
    known = (user_index >= 0) & (item_index >= 0)
    if not known.all():
        logger.info(
            "%d validation interactions have a user or item without training "
            "interactions and are left out of the validation score.",
            int(np.count_nonzero(~known)),
        )
    relevant = _binary_matrix(user_index[known], item_index[known], encoder)

    def score(params: FMParams) -> float:
        user_scalar, user_factors = _row_terms(
            encoder.user_block_, 0, params.w, params.V
        )
        item_scalar, item_factors = _row_terms(
            encoder.item_block_, encoder.item_offset, params.w, params.V
        )

        def score_users(users: np.ndarray) -> np.ndarray:
            return user_factors[users] @ item_factors.T + item_scalar[None, :]

        return evaluate_top_k(score_users, seen, relevant, k=VALIDATION_K).ndcg

    return score


def _binary_matrix(user_index, item_index, encoder) -> sp.csr_matrix:
    shape = (len(encoder.users), len(encoder.items))
    return seen_matrix(user_index, item_index, shape, np.float64)


def _check_finite(epoch: int, loss: float, params: FMParams) -> None:
    bad = params.first_non_finite()
    if bad is None and np.isfinite(loss):
        return
    what = f"parameter {bad}" if bad else "the training loss"
    raise TrainingDivergedError(
        f"BPR diverged in epoch {epoch}: {what} became NaN or infinite. Lower "
        "learning_rate or raise reg_w/reg_v."
    )
