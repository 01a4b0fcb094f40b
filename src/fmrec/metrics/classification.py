"""Binary classification metrics: ROC AUC and log loss.

Both metrics take labels in ``{0, 1}`` or ``{-1, 1}`` (booleans count as 0 and
1), the two conventions of click data and of libFM / libSVM files. The label 1
is the positive class in both.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fmrec.metrics._validation import as_finite_floats, check_same_length

LOG_LOSS_EPS = 1e-15
"""Default clipping bound of :func:`log_loss`: probabilities are clipped to
``[eps, 1 - eps]``, so a confident wrong prediction costs at most
``-log(1e-15)``, about 34.5."""


def roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Compute the area under the ROC curve from the ranks of the scores.

    The AUC is the probability that a random positive is scored above a random
    negative. A positive and a negative with equal scores count one half, which
    gives the same value as the trapezoidal ROC area of
    ``sklearn.metrics.roc_auc_score``. The sum is computed in integers and
    divided once, so the result is the correctly rounded ratio.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in ``{0, 1}`` or ``{-1, 1}``; 1 is the positive class.
    y_score : array_like of shape (n,)
        Scores, higher for the positive class. Any monotone transform of the
        scores gives the same AUC.

    Returns
    -------
    float
        AUC in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D or differ in length, if a label is outside the
        accepted sets, if a score is NaN or infinite, or if ``y_true`` contains
        only one class, which leaves the AUC undefined.
    """
    positive = _binary_labels(y_true)
    scores = as_finite_floats(y_score, "y_score")
    check_same_length(y_true=positive, y_score=scores)
    n_positive = int(np.count_nonzero(positive))
    n_negative = positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        only = "positive (1)" if n_negative == 0 else "negative (0 or -1)"
        raise ValueError(
            f"roc_auc needs both classes in y_true, but all {positive.size} labels "
            f"are {only}, so the AUC is undefined"
        )

    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    sorted_positive = positive[order]
    # Groups of equal scores, in ascending order of score.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positives_in_group = np.add.reduceat(sorted_positive.astype(np.int64), starts)
    group_sizes = np.diff(np.r_[starts, scores.size])
    negatives_in_group = group_sizes - positives_in_group
    negatives_below = np.cumsum(negatives_in_group) - negatives_in_group

    # Twice the number of correctly ordered pairs, with tied pairs counting one.
    # The int64 dot products are exact while 2 * n_positive * n_negative < 2**63,
    # which holds for inputs of up to 4 billion rows.
    twice_correct = 2 * int(np.dot(positives_in_group, negatives_below)) + int(
        np.dot(positives_in_group, negatives_in_group)
    )
    return twice_correct / (2 * n_positive * n_negative)


def log_loss(
    y_true: npt.ArrayLike, y_prob: npt.ArrayLike, *, eps: float = LOG_LOSS_EPS
) -> float:
    """Compute the mean binary cross-entropy of predicted probabilities.

    Each probability is clipped to ``[eps, 1 - eps]`` first, so the loss stays
    finite when a prediction is exactly 0 or 1. The result equals
    ``sklearn.metrics.log_loss(y_true, np.clip(y_prob, eps, 1 - eps))``.
    Unlike scikit-learn, a ``y_true`` of one class is accepted, because the
    labels name the positive class directly and the loss is well defined.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels in ``{0, 1}`` or ``{-1, 1}``; 1 is the positive class.
    y_prob : array_like of shape (n,)
        Predicted probability of the positive class, in ``[0, 1]``.
    eps : float, default=1e-15
        Clipping bound, in ``(0, 0.5)``.

    Returns
    -------
    float
        ``-mean(t * log(p) + (1 - t) * log(1 - p))`` with ``t`` 1 for a positive
        and 0 for a negative label, and ``p`` the clipped probability.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty, if a label is
        outside the accepted sets, if a probability is NaN or outside ``[0, 1]``,
        or if ``eps`` is not in ``(0, 0.5)``.
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in the range (0, 0.5), got {eps!r}")
    positive = _binary_labels(y_true)
    probabilities = as_finite_floats(y_prob, "y_prob")
    n = check_same_length(y_true=positive, y_prob=probabilities)
    if n == 0:
        raise ValueError("y_true and y_prob are empty, so there is nothing to score")
    outside = np.flatnonzero((probabilities < 0.0) | (probabilities > 1.0))
    if outside.size:
        first = outside[0]
        raise ValueError(
            f"y_prob must contain probabilities in [0, 1], but {outside.size} "
            f"values are outside (first at position {first}: {probabilities[first]})"
        )
    clipped = np.clip(probabilities, eps, 1.0 - eps)
    log_likelihood = np.where(positive, np.log(clipped), np.log1p(-clipped))
    return float(-np.mean(log_likelihood))


def _binary_labels(y_true: npt.ArrayLike) -> np.ndarray:
    """Return a boolean array that is True for label 1, after checking the label set."""
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {labels.shape}")
    if labels.dtype == np.bool_:
        return labels
    if not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"y_true must be numeric, got dtype {labels.dtype}")
    present = set(np.unique(labels).tolist())
    if not (present <= {0, 1} or present <= {-1, 1}):
        first_labels = sorted(present)[:5]
        raise ValueError(
            f"y_true must contain labels in {{0, 1}} or in {{-1, 1}}, got "
            f"{first_labels}"
        )
    return labels == 1
