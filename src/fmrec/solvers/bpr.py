"""BPR training of an FM on implicit feedback: pairs, negative sampling, epochs.

The objective and the update rule are those of :mod:`fmrec.kernels.bpr`. Each
epoch visits every (user, positive item) pair once, in a new random order, and
draws one negative item for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fmrec.kernels.bpr import bpr_epoch
from fmrec.solvers.base import FMParams

logger = logging.getLogger(__name__)

NEGATIVE_SAMPLING = ("uniform", "popularity")


@dataclass
class PairData:
    """Implicit feedback as the BPR kernel takes it.

    ``user_block`` and ``item_block`` hold one FM input row per user and per
    item, whose columns start at ``user_offset`` and ``item_offset`` of the
    full feature space. ``positives`` is the binary users-by-items matrix of
    interactions.
    """

    user_block: sp.csr_matrix
    item_block: sp.csr_matrix
    user_offset: int
    item_offset: int
    positives: sp.csr_matrix

    def __post_init__(self) -> None:
        n_users, n_items = self.positives.shape
        if self.user_block.shape[0] != n_users:
            raise ValueError(
                f"user_block has {self.user_block.shape[0]} rows for {n_users} users."
            )
        if self.item_block.shape[0] != n_items:
            raise ValueError(
                f"item_block has {self.item_block.shape[0]} rows for {n_items} items."
            )
        positives = sp.csr_matrix(self.positives, dtype=np.float64, copy=True)
        positives.sum_duplicates()
        positives.eliminate_zeros()
        positives.sort_indices()
        self.positives = positives
        self.user_block = _sorted_csr(self.user_block)
        self.item_block = _sorted_csr(self.item_block)

    @property
    def n_features(self) -> int:
        return max(
            self.user_offset + self.user_block.shape[1],
            self.item_offset + self.item_block.shape[1],
        )


@dataclass
class EpochStats:
    """Counts and mean loss of one BPR epoch."""

    mean_loss: float
    n_updated: int
    n_exact: int


class BPRSolver:
    """Per-pair SGD on the BPR objective with bounded negative sampling.

    Parameters
    ----------
    learning_rate, reg_w, reg_v : float
        Step size and L2 penalties of :func:`fmrec.kernels.bpr.bpr_epoch`.
    negative_sampling : {"uniform", "popularity"}
        ``"popularity"`` draws negative item j with probability proportional
        to ``count_j ** popularity_exponent``, where ``count_j`` is the
        number of users with a positive interaction with j. So an item without
        interactions is never drawn, unless all of a user's non-positive items
        have weight 0; that user's draws are then uniform.
    popularity_exponent : float
        Exponent of the popularity weights.
    max_rejections : int
        Draws rejected for hitting a positive item before the exact draw from
        the user's non-positive items.
    n_candidates : int
        Negatives drawn per pair; the highest scored one is used.
    """

    def __init__(
        self,
        learning_rate: float,
        reg_w: float,
        reg_v: float,
        *,
        negative_sampling: str = "uniform",
        popularity_exponent: float = 1.0,
        max_rejections: int = 32,
        n_candidates: int = 1,
    ) -> None:
        if negative_sampling not in NEGATIVE_SAMPLING:
            raise ValueError(
                f"negative_sampling must be one of {NEGATIVE_SAMPLING}, got "
                f"{negative_sampling!r}."
            )
        self.learning_rate = learning_rate
        self.reg_w = reg_w
        self.reg_v = reg_v
        self.negative_sampling = negative_sampling
        self.popularity_exponent = popularity_exponent
        self.max_rejections = max_rejections
        self.n_candidates = n_candidates

    def prepare(self, data: PairData) -> Pairs:
        """Return the pairs to train on, leaving out users without negatives."""
        positives = data.positives
        n_items = positives.shape[1]
        counts = np.diff(positives.indptr)
        full = counts >= n_items
        users = np.repeat(np.arange(positives.shape[0], dtype=np.int64), counts)
        items = positives.indices.astype(np.int64)
        keep = ~full[users]
        n_full = int(np.count_nonzero(full & (counts > 0)))
        if n_full:
            logger.warning(
                "%d users have a positive interaction with every item, so no "
                "negative item exists for them; their %d pairs are left out.",
                n_full,
                int(np.count_nonzero(~keep)),
            )
        return Pairs(
            data,
            users[keep],
            items[keep],
            self._cumulative_weights(positives),
            n_full,
        )

    def run_epoch(
        self, pairs: Pairs, params: FMParams, rng: np.random.Generator
    ) -> EpochStats:
        """Update ``params`` in place with one pass over the pairs in random order."""
        data = pairs.data
        order = rng.permutation(pairs.users.size)
        seed = int(rng.integers(0, 2**31 - 1))
        loss, n_updated, n_exact = bpr_epoch(
            data.user_block.indptr.astype(np.int64),
            data.user_block.indices.astype(np.int64),
            data.user_block.data,
            data.user_offset,
            data.item_block.indptr.astype(np.int64),
            data.item_block.indices.astype(np.int64),
            data.item_block.data,
            data.item_offset,
            data.positives.indptr.astype(np.int64),
            data.positives.indices.astype(np.int64),
            pairs.users[order],
            pairs.items[order],
            pairs.cumulative,
            self.max_rejections,
            self.n_candidates,
            params.w,
            params.V,
            self.learning_rate,
            self.reg_w,
            self.reg_v,
            seed,
        )
        mean = loss / n_updated if n_updated else 0.0
        return EpochStats(float(mean), int(n_updated), int(n_exact))

    def _cumulative_weights(self, positives: sp.csr_matrix) -> np.ndarray:
        if self.negative_sampling == "uniform":
            return np.zeros(0)
        counts = np.bincount(positives.indices, minlength=positives.shape[1])
        weights = counts.astype(np.float64) ** self.popularity_exponent
        weights[counts == 0] = 0.0
        return np.cumsum(weights)


@dataclass
class Pairs:
    """Training pairs of a :class:`PairData` and the sampling weights."""

    data: PairData
    users: np.ndarray
    items: np.ndarray
    cumulative: np.ndarray
    n_users_without_negatives: int


def _sorted_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    matrix.sort_indices()
    return matrix
