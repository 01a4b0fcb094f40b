"""Checks for estimator hyperparameters and array input."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a number inside the given interval."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and not np.isfinite(float(value)):  # type: ignore[arg-type]
        ok = False
    if ok and low is not None:
        ok = value > low if low_open else value >= low  # type: ignore[operator]
    if ok and high is not None:
        ok = value <= high  # type: ignore[operator]
    if not ok:
        left = "(" if low_open else "["
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        type_name = "an int" if integer else "a float"
        raise ValueError(
            f"The {name!r} parameter of {owner} must be {type_name} in the range "
            f"{left}{lo}, {hi}]. Got {value!r} instead."
        )


def check_matrix(X: object, name: str = "X") -> sp.csr_matrix:
    """Return ``X`` as a float64 CSR matrix, rejecting NaN or inf entries."""
    if sp.issparse(X):
        matrix = sp.csr_matrix(X, dtype=np.float64)
    else:
        array = np.asarray(X, dtype=np.float64)
        if array.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {array.shape}.")
        matrix = sp.csr_matrix(array)
    if not np.isfinite(matrix.data).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return matrix


def check_targets(y: object, n_rows: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as a finite float64 vector of length ``n_rows``."""
    targets = np.asarray(y, dtype=np.float64)
    if targets.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {targets.shape}.")
    if targets.size != n_rows:
        raise ValueError(f"{name} has {targets.size} values but X has {n_rows} rows.")
    if not np.isfinite(targets).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return targets
