"""Rating-prediction metrics: root mean squared error and mean absolute error."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fmrec.metrics._validation import as_finite_floats, check_same_length


def _errors(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    clip: tuple[float, float] | None,
) -> np.ndarray:
    """Validate both inputs, clip the predictions and return ``y_pred - y_true``."""
    truth = as_finite_floats(y_true, "y_true")
    predicted = as_finite_floats(y_pred, "y_pred")
    n = check_same_length(y_true=truth, y_pred=predicted)
    if n == 0:
        raise ValueError("y_true and y_pred are empty, so there is nothing to score")
    if clip is not None:
        low, high = clip
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(
                f"clip must be finite (low, high) with low <= high, got {clip}"
            )
        predicted = np.clip(predicted, low, high)
    return predicted - truth


def rmse(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    clip: tuple[float, float] | None = None,
) -> float:
    """Compute the root mean squared error of rating predictions.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Observed ratings.
    y_pred : array_like of shape (n,)
        Predicted ratings.
    clip : tuple of (float, float), optional
        ``(low, high)`` bounds applied to the predictions before scoring, for
        example the rating scale ``(1.0, 5.0)``. The observed ratings are never
        clipped.

    Returns
    -------
    float
        ``sqrt(mean((y_pred - y_true) ** 2))``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length, are empty or contain NaN or
        infinity, or if ``clip`` is not a finite pair with ``low <= high``.
    """
    errors = _errors(y_true, y_pred, clip)
    return float(np.sqrt(np.mean(errors * errors)))


def mae(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    clip: tuple[float, float] | None = None,
) -> float:
    """Compute the mean absolute error of rating predictions.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Observed ratings.
    y_pred : array_like of shape (n,)
        Predicted ratings.
    clip : tuple of (float, float), optional
        ``(low, high)`` bounds applied to the predictions before scoring. The
        observed ratings are never clipped.

    Returns
    -------
    float
        ``mean(abs(y_pred - y_true))``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length, are empty or contain NaN or
        infinity, or if ``clip`` is not a finite pair with ``low <= high``.
    """
    errors = _errors(y_true, y_pred, clip)
    return float(np.mean(np.abs(errors)))
