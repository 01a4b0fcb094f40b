"""Containers shared by the solvers: model parameters and CSR rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fmrec.kernels import fm_predict


@dataclass
class FMParams:
    """Parameters of a 2-way FM: bias ``w0``, linear weights ``w``, factors ``V``.

    ``w0`` is a one-element array so that kernels can update it in place.
    """

    w0: np.ndarray
    w: np.ndarray
    V: np.ndarray

    @classmethod
    def initial(
        cls, n_features: int, n_factors: int, init_std: float, rng: np.random.Generator
    ) -> FMParams:
        """Return zero biases and weights with factors drawn from N(0, init_std^2)."""
        V = rng.normal(0.0, init_std, size=(n_features, n_factors))
        return cls(np.zeros(1), np.zeros(n_features), V)

    def copy(self) -> FMParams:
        return FMParams(self.w0.copy(), self.w.copy(), self.V.copy())

    def first_non_finite(self) -> str | None:
        """Return the name of the first parameter group with a NaN or inf, if any."""
        for name in ("w0", "w", "V"):
            if not np.isfinite(getattr(self, name)).all():
                return name
        return None


@dataclass
class Rows:
    """Training rows as the kernels take them: CSR arrays plus targets."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    y: np.ndarray

    @classmethod
    def from_sparse(
        cls, X: sp.spmatrix | sp.sparray, y: np.ndarray | None = None
    ) -> Rows:
        X = sp.csr_matrix(X)
        targets = np.zeros(X.shape[0]) if y is None else np.asarray(y, dtype=np.float64)
        return cls(
            np.ascontiguousarray(X.indptr, dtype=np.int64),
            np.ascontiguousarray(X.indices, dtype=np.int32),
            np.ascontiguousarray(X.data, dtype=np.float64),
            np.ascontiguousarray(targets),
        )

    @property
    def n_rows(self) -> int:
        return self.indptr.size - 1

    def take(self, rows: np.ndarray) -> Rows:
        """Return the given rows, in that order, as a new contiguous block."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Rows(indptr, self.indices[positions], self.data[positions], self.y[rows])

    def predict(self, params: FMParams) -> np.ndarray:
        return fm_predict(
            self.indptr, self.indices, self.data, params.w0[0], params.w, params.V
        )
