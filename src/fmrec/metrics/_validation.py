"""Input checks shared by the metric functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def as_vector(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Convert ``values`` to a 1-D array, raising ValueError for other shapes."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def as_finite_floats(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Convert ``values`` to a 1-D float64 array and reject NaN and infinity."""
    array = as_vector(values, name)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"{name} must be finite, but {bad.size} values are not "
            f"(first at position {bad[0]}: {array[bad[0]]})"
        )
    return array


def as_indices(
    values: npt.ArrayLike, name: str, *, low: int, high: int | None = None
) -> np.ndarray:
    """Convert ``values`` to a 1-D int64 array of indices in ``[low, high)``.

    ``high=None`` sets no upper bound.
    """
    array = as_vector(values, name)
    if array.size == 0:
        # An empty list converts to float64, which is harmless when nothing is in it.
        return array.astype(np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must contain integer indices, got dtype {array.dtype}"
        )
    array = array.astype(np.int64, copy=False)
    smallest = int(array.min())
    if smallest < low:
        raise ValueError(f"{name} must be >= {low}, got {smallest}")
    largest = int(array.max())
    if high is not None and largest >= high:
        raise ValueError(f"{name} must be < {high}, got {largest}")
    return array


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays``, raising ValueError that lists them."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"inputs must have the same length, but {listed}")
    return next(iter(lengths.values()))


def check_positive_int(value: int, name: str) -> None:
    """Raise ValueError unless ``value`` is an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
