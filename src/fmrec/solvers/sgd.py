"""Plain SGD on the squared loss, one compiled pass per epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmrec.kernels import sgd_epoch
from fmrec.kernels.sgd import SQUARED_LOSS
from fmrec.solvers.base import FMParams, Rows

# Rows visited together in one shuffled block: about 160 KiB of CSR data for
# two-feature rows, which stays in the L2 cache while the block is visited.
BLOCK_SIZE = 4096


@dataclass
class SGDSolver:
    """Per-sample SGD with a fresh shuffle every epoch.

    The rows are shuffled once at the start of training. Each epoch then visits
    blocks of ``BLOCK_SIZE`` consecutive rows in a new random block order, and
    the rows inside each block in a new random order. Every epoch is a
    different random permutation, but memory is read block by block, which
    on MovieLens 1M is several times faster than a fully random gather.
    """

    learning_rate: float
    reg_w: float
    reg_v: float
    loss: int = SQUARED_LOSS
    reg_bias: float = 0.0
    fit_bias: bool = True
    fit_linear: bool = True

    def prepare(self, rows: Rows, rng: np.random.Generator) -> Rows:
        return rows.take(rng.permutation(rows.n_rows))

    def run_epoch(
        self, rows: Rows, params: FMParams, rng: np.random.Generator
    ) -> float:
        """Update ``params`` in place; return the mean loss of the pass."""
        total = sgd_pass(
            rows,
            params,
            rng,
            self.learning_rate,
            self.reg_w,
            self.reg_v,
            self.loss,
            reg_bias=self.reg_bias,
            fit_bias=self.fit_bias,
            fit_linear=self.fit_linear,
        )
        return total / rows.n_rows


def sgd_pass(
    rows: Rows,
    params: FMParams,
    rng: np.random.Generator,
    learning_rate: float,
    reg_w: float,
    reg_v: float,
    loss: int,
    *,
    reg_bias: float = 0.0,
    fit_bias: bool = True,
    fit_linear: bool = True,
) -> float:
    """Run one SGD pass over ``rows`` in a block-wise shuffled order.

    ``loss`` is a loss code of :mod:`fmrec.kernels.sgd`, ``reg_bias`` the L2
    penalty of the bias, and ``fit_bias``/``fit_linear`` False keep the bias
    or the linear weights fixed. Updates ``params`` in place and returns the
    sum of the samples' losses seen during the pass.
    """
    order = epoch_order(rows.n_rows, rng)
    return sgd_epoch(
        rows.indptr,
        rows.indices,
        rows.data,
        rows.y,
        order,
        params.w0,
        params.w,
        params.V,
        learning_rate,
        reg_w,
        reg_v,
        loss,
        reg_bias,
        fit_bias,
        fit_linear,
    )


def epoch_order(n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Return a permutation of ``range(n_rows)`` that is shuffled block-wise.

    Blocks come in random order and each block's rows in random order.
    """
    n_blocks = -(-n_rows // BLOCK_SIZE)
    within = np.broadcast_to(
        np.arange(BLOCK_SIZE, dtype=np.int64), (n_blocks, BLOCK_SIZE)
    )
    within = rng.permuted(within, axis=1)
    starts = rng.permutation(n_blocks).astype(np.int64) * BLOCK_SIZE
    order = (starts[:, None] + within).ravel()
    return order[order < n_rows]
