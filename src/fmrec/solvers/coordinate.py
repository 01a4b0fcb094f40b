"""ALS (coordinate descent) and MCMC (Gibbs sampling) for block-structured input.

Both sweep every parameter once per iteration in the order bias, linear
weights, then factor 1..k of every feature, with the conditional update of
:mod:`fmrec.kernels.relational`. ALS minimises

    sum_r (y_r - yhat_r)^2 + reg_bias w0^2
        + sum_j reg_w[g(j)] w_j^2 + sum_jf reg_v[g(j)] v_jf^2

one coordinate at a time (the penalties are totals, not per rating as in
SGD). MCMC is the Bayesian FM of libFM: y_r ~ N(yhat_r, 1/alpha),
w0 ~ N(0, 1/reg_bias) (a flat prior for reg_bias = 0),
w_j ~ N(mu_w[g], 1/lam_w[g]), v_jf ~ N(mu_v[g,f], 1/lam_v[g,f]) per feature
group g, with hyperpriors alpha ~ Gamma(1, 1), lam ~ Gamma(1, 1) and
mu ~ N(0, 1/(gamma0 lam)) (gamma0 = 1). Each iteration first draws alpha and
the group hyperparameters from their conditionals, then every parameter.
A model without a bias or without linear weights skips their sweeps (and
MCMC the hyperparameters of w), so w0 or w keep their starting value zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import log_ndtr
from scipy.stats import truncnorm

from fmrec.kernels.relational import (
    bias_sweep,
    block_linear_sweep,
    combine_blocks,
    factor_sweeps,
)
from fmrec.solvers.base import FMParams
from fmrec.solvers.blocks import Block, Blocks

# The residuals and block-row sums are updated in place by every sweep; they
# are recomputed from the parameters this often to stop rounding drift.
REFRESH_EVERY = 10

# Shape and rate of the Gamma hyperpriors, and the prior weight gamma0 of mu.
PRIOR_SHAPE = 1.0
PRIOR_RATE = 1.0
PRIOR_MEAN_WEIGHT = 1.0


@dataclass
class _BlockState:
    block: Block
    counts: np.ndarray
    col_ptr: np.ndarray
    col_rows: np.ndarray
    col_vals: np.ndarray
    QT: np.ndarray = field(default=None)
    S2T: np.ndarray = field(default=None)

    @classmethod
    def build(cls, block: Block) -> _BlockState:
        if (block.index < 0).any():
            raise ValueError("Every training row needs a row in every block.")
        csc = sp.csc_matrix(block.matrix)
        csc.sort_indices()
        counts = np.bincount(block.index, minlength=block.matrix.shape[0])
        return cls(
            block,
            counts.astype(np.float64),
            csc.indptr.astype(np.int64),
            csc.indices.astype(np.int32),
            csc.data.astype(np.float64),
        )


@dataclass
class Hyper:
    """Noise precision and per-group prior means and precisions."""

    alpha: float
    mu_w: np.ndarray
    lam_w: np.ndarray
    mu_v: np.ndarray
    lam_v: np.ndarray


class CoordinateSolver:
    """One solver object per fit; ``sample`` selects MCMC over ALS.

    With ``probit=True`` the targets are binary labels (positive or not) and
    the model is the probit FM of :meth:`_update_latent`. ``reg_bias`` is the
    bias penalty of ALS and the fixed prior precision of the bias for MCMC.
    With ``fit_bias`` or ``fit_linear`` False, w0 or w keep their values.
    """

    def __init__(
        self,
        data: Blocks,
        y: np.ndarray,
        groups: np.ndarray,
        n_groups: int,
        n_factors: int,
        *,
        sample: bool,
        reg_w: np.ndarray,
        reg_v: np.ndarray,
        probit: bool = False,
        reg_bias: float = 0.0,
        fit_bias: bool = True,
        fit_linear: bool = True,
    ) -> None:
        order = rating_order(data)
        self.data = data.take(order)
        self.y = np.asarray(y, dtype=np.float64)[order]
        self.groups = np.ascontiguousarray(groups, dtype=np.int32)
        self.n_groups = n_groups
        self.sample = sample
        self.reg_bias = float(reg_bias)
        self.fit_bias = fit_bias
        self.fit_linear = fit_linear
        self.states = [_BlockState.build(block) for block in self.data.blocks]
        self.indexes = tuple(state.block.index for state in self.states)
        self.in_order = np.array([_in_order(index) for index in self.indexes])
        self.offsets = np.array([s.block.offset for s in self.states], np.int64)
        self.group_sizes = np.bincount(self.groups, minlength=n_groups)
        self.hyper = Hyper(
            1.0,
            np.zeros(n_groups),
            np.asarray(reg_w, np.float64).copy(),
            np.zeros((n_groups, n_factors)),
            np.repeat(np.asarray(reg_v, np.float64)[:, None], n_factors, axis=1),
        )
        self.residuals = np.empty(data.n_rows)
        self.n_iterations = 0
        self.probit = probit
        if probit:
            self.labels = np.where(self.y > 0, 1.0, -1.0)
            self.y = self.labels.copy()

    def iterate(self, params: FMParams, rng: np.random.Generator) -> float:
        """Run one sweep over all parameters; return the training RMSE after it."""
        if self.n_iterations % REFRESH_EVERY == 0:
            self._refresh(params)
        self.n_iterations += 1
        if self.probit:
            self._update_latent(rng)
        if self.sample:
            self._draw_hyper(params, rng)
        if self.fit_bias:
            z = rng.standard_normal() if self.sample else 0.0
            params.w0[0] = bias_sweep(
                params.w0[0],
                self.residuals,
                self.hyper.alpha,
                self.reg_bias,
                z,
                self.sample,
            )
        if self.fit_linear:
            for state in self.states:
                self._linear(state, params, rng)
        # A model of rank 0 has no factors, and the factor kernels need one.
        if params.V.shape[1] > 0:
            self._factors(params, rng)
        return float(np.sqrt(np.mean(self.residuals**2)))

    def _update_latent(self, rng: np.random.Generator) -> None:
        """Replace the probit model's latent targets z given the labels.

        The probit FM is P(label = 1) = Phi(yhat), that is label = sign(z)
        with z ~ N(yhat, 1). MCMC draws z from that normal truncated to the
        label's side of 0; ALS takes its mean, yhat + phi(yhat)/Phi(yhat) for
        a positive label and yhat - phi(yhat)/Phi(-yhat) for a negative one
        (the E-step of EM for probit regression).
        """
        predicted = self.y - self.residuals
        if self.sample:
            positive = self.labels > 0
            # Standardised bounds of z - yhat: [-yhat, inf) or (-inf, -yhat].
            low = np.where(positive, -predicted, -np.inf)
            high = np.where(positive, np.inf, -predicted)
            offset = truncnorm.rvs(low, high, random_state=rng)
        else:
            # label * phi(yhat) / Phi(label * yhat), in logarithms so that it
            # stays finite far in the tails.
            log_density = -0.5 * predicted**2 - 0.5 * np.log(2.0 * np.pi)
            ratio = np.exp(log_density - log_ndtr(self.labels * predicted))
            offset = self.labels * ratio
        self.y = predicted + offset
        self.residuals = offset

    def _refresh(self, params: FMParams) -> None:
        """Recompute block terms and residuals from scratch (no drift)."""
        scalars = []
        factor_sums = []
        for state in self.states:
            scalar, Q, S2 = state.block.row_terms(params.w, params.V)
            # Factor-major copies keep each factor's per-row sums contiguous.
            state.QT = np.ascontiguousarray(Q.T)
            state.S2T = np.ascontiguousarray(S2.T)
            scalars.append(scalar)
            factor_sums.append(Q)
        factor_sums = tuple(factor_sums)
        predicted = combine_blocks(
            params.w0[0], self.indexes, tuple(scalars), factor_sums
        )
        np.subtract(self.y, predicted, out=self.residuals)

    def _normals(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(n) if self.sample else np.zeros(n)

    def _linear(self, state: _BlockState, params: FMParams, rng) -> None:
        h = self.hyper
        block_linear_sweep(
            state.block.index,
            state.counts,
            state.col_ptr,
            state.col_rows,
            state.col_vals,
            state.block.offset,
            self.groups,
            params.w,
            self.residuals,
            h.alpha,
            h.lam_w,
            h.mu_w,
            self._normals(state.block.n_columns, rng),
            self.sample,
        )

    def _factors(self, params: FMParams, rng) -> None:
        h = self.hyper
        states = self.states
        n_factors = params.V.shape[1]
        normals = tuple(
            self._normals(n_factors * s.block.n_columns, rng).reshape(n_factors, -1)
            for s in states
        )
        factor_sweeps(
            self.indexes,
            tuple(state.counts for state in states),
            tuple(state.col_ptr for state in states),
            tuple(state.col_rows for state in states),
            tuple(state.col_vals for state in states),
            self.offsets,
            self.groups,
            params.V,
            tuple(state.QT for state in states),
            tuple(state.S2T for state in states),
            self.residuals,
            h.alpha,
            h.lam_v,
            h.mu_v,
            normals,
            self.sample,
            self.in_order,
        )

    def _draw_hyper(self, params: FMParams, rng: np.random.Generator) -> None:
        h = self.hyper
        n = self.residuals.size
        if not self.probit:
            # The probit model fixes the noise precision of z at 1.
            # einsum, unlike the BLAS dot product, runs on this thread: BLAS
            # threads would take CPU time here without saving wall time.
            squares = float(np.einsum("i,i->", self.residuals, self.residuals))
            rate = PRIOR_RATE + squares
            h.alpha = rng.gamma((PRIOR_SHAPE + n) / 2.0, 2.0 / rate)
        if self.fit_linear:
            h.mu_w, h.lam_w = self._draw_group(params.w, h.lam_w, rng)
        for f in range(params.V.shape[1]):
            h.mu_v[:, f], h.lam_v[:, f] = self._draw_group(
                params.V[:, f], h.lam_v[:, f], rng
            )

    def _draw_group(self, values: np.ndarray, lam: np.ndarray, rng):
        """Draw (mu, lam) of every group given the group's parameters."""
        size = self.group_sizes
        total = np.bincount(self.groups, weights=values, minlength=self.n_groups)
        weight = size + PRIOR_MEAN_WEIGHT
        mu = rng.normal(total / weight, 1.0 / np.sqrt(weight * lam))
        spread = np.bincount(
            self.groups,
            weights=(values - mu[self.groups]) ** 2,
            minlength=self.n_groups,
        )
        rate = PRIOR_RATE + spread + PRIOR_MEAN_WEIGHT * mu**2
        lam = rng.gamma((PRIOR_SHAPE + size + 1.0) / 2.0, 2.0 / rate)
        return mu, lam


def rating_order(data: Blocks) -> np.ndarray:
    """Return an order of the ratings that keeps as many blocks in order as it can.

    The order does not matter to ALS or MCMC, but the kernels sum a block's
    rows faster when its ratings come row by row. The ratings are sorted by
    their row of block 0, then by their row of every block nested in it. A
    block is nested when each of its rows meets a single block-0 row, as a
    user's days meet only that user. A nested block whose rows are numbered
    in block-0 order then comes row by row too.
    """
    first = data.blocks[0].index
    nested = [b.index for b in data.blocks[1:] if _nested_in(b.index, first)]
    # np.lexsort sorts by the last key first.
    return np.lexsort((*reversed(nested), first))


def _nested_in(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Say whether every row of ``inner`` meets a single row of ``outer``."""
    if inner.size == 0:
        return True
    pairs = np.unique(np.stack([inner, outer]), axis=1)
    return pairs.shape[1] == np.unique(inner).size


def _in_order(index: np.ndarray) -> bool:
    return bool(np.all(index[1:] >= index[:-1]))
