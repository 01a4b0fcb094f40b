"""Tests for roc_auc and log_loss against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from fmrec.metrics import log_loss, roc_auc
from fmrec.metrics.classification import LOG_LOSS_EPS

# ---------------------------------------------------------------- roc_auc


def test_roc_auc_hand_computed_without_ties():
    # Pairs (positive score, negative score): (0.8, 0.1) (0.8, 0.9) (0.8, 0.5)
    # (0.4, 0.1) (0.4, 0.9) (0.4, 0.5): 3 of 6 ordered correctly.
    y_true = [1, 0, 1, 0, 0]
    y_score = [0.8, 0.1, 0.4, 0.9, 0.5]

    assert roc_auc(y_true, y_score) == 0.5


def test_roc_auc_ties_count_half():
    # The positives score 2 and 1, the negatives 1 and 0. The pairs (2,1) (2,0)
    # and (1,0) are correct and (1,1) is tied, so AUC = (3 + 0.5) / 4.
    y_true = [1, 1, 0, 0]
    y_score = [2.0, 1.0, 1.0, 0.0]

    assert roc_auc(y_true, y_score) == 3.5 / 4


def test_roc_auc_all_scores_equal_is_half():
    assert roc_auc([0, 1, 1, 0, 1], [3.0] * 5) == 0.5


def test_roc_auc_perfect_and_reversed():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0


def test_roc_auc_accepts_minus_one_and_bool_labels():
    y_score = [0.8, 0.1, 0.4, 0.9, 0.5]
    expected = roc_auc([1, 0, 1, 0, 0], y_score)

    assert roc_auc([1, -1, 1, -1, -1], y_score) == expected
    assert roc_auc([True, False, True, False, False], y_score) == expected
    assert roc_auc(np.array([1.0, 0.0, 1.0, 0.0, 0.0]), y_score) == expected


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_matches_sklearn_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    y_true = rng.integers(0, 2, size=n)
    # Scores on a coarse grid give many ties within and across classes.
    y_score = rng.integers(0, 7, size=n) + 0.5 * y_true * rng.integers(0, 2, size=n)

    assert roc_auc(y_true, y_score) == pytest.approx(
        roc_auc_score(y_true, y_score), abs=1e-15
    )


def test_roc_auc_matches_sklearn_on_continuous_scores():
    rng = np.random.default_rng(11)
    y_true = rng.integers(0, 2, size=5000)
    y_score = rng.normal(size=5000) + y_true

    assert roc_auc(y_true, y_score) == pytest.approx(
        roc_auc_score(y_true, y_score), abs=1e-15
    )


def test_roc_auc_invariant_under_monotone_transform():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=300)
    y_score = rng.normal(size=300)

    assert roc_auc(y_true, y_score) == roc_auc(y_true, np.exp(y_score))


def test_roc_auc_returns_python_float():
    assert type(roc_auc([0, 1], [0.2, 0.7])) is float


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0], [-1, -1]])
def test_roc_auc_rejects_one_class(labels):
    with pytest.raises(ValueError, match="needs both classes"):
        roc_auc(labels, np.linspace(0, 1, len(labels)))


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, 2], r"labels in \{0, 1\} or in \{-1, 1\}, got \[0, 1, 2\]"),
        ([-1, 0, 1], r"got \[-1, 0, 1\]"),
        ([0.0, 0.5], r"got \[0.0, 0.5\]"),
        (["a", "b"], "must be numeric"),
    ],
)
def test_roc_auc_rejects_other_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(labels, np.zeros(len(labels)))


def test_roc_auc_rejects_nan_score():
    with pytest.raises(ValueError, match="y_score must be finite"):
        roc_auc([0, 1], [0.1, np.nan])


def test_roc_auc_rejects_length_mismatch():
    with pytest.raises(ValueError, match="y_true has 3, y_score has 2"):
        roc_auc([0, 1, 1], [0.1, 0.2])


def test_roc_auc_rejects_2d_labels():
    with pytest.raises(ValueError, match="y_true must be 1-D"):
        roc_auc([[0, 1]], [[0.1, 0.2]])


# ---------------------------------------------------------------- log_loss


def test_log_loss_hand_computed():
    y_true = [1, 0, 1]
    y_prob = [0.9, 0.2, 0.5]
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3

    assert log_loss(y_true, y_prob) == pytest.approx(expected, rel=1e-15)


def test_log_loss_clips_certain_predictions():
    # A wrong certain prediction costs -log(eps) for a positive. For a negative
    # it costs -log(1 - (1 - eps)), where 1 - eps is rounded to float64 first.
    upper = 1.0 - LOG_LOSS_EPS

    assert log_loss([1], [0.0]) == pytest.approx(-math.log(LOG_LOSS_EPS), rel=1e-15)
    assert log_loss([0], [1.0]) == pytest.approx(-math.log1p(-upper), rel=1e-15)
    assert log_loss([1], [1.0]) == pytest.approx(-math.log(upper), rel=1e-15)
    assert log_loss([0], [0.0]) == pytest.approx(-math.log1p(-LOG_LOSS_EPS), rel=1e-15)


def test_log_loss_custom_eps():
    assert log_loss([1], [0.0], eps=0.1) == pytest.approx(-math.log(0.1), rel=1e-15)


@pytest.mark.parametrize("eps", [LOG_LOSS_EPS, 1e-7, 0.01])
def test_log_loss_matches_sklearn_on_same_clipping(eps):
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, size=4000)
    y_prob = rng.uniform(size=4000)
    y_prob[:50] = 0.0
    y_prob[50:100] = 1.0
    expected = sklearn_log_loss(y_true, np.clip(y_prob, eps, 1 - eps))

    assert log_loss(y_true, y_prob, eps=eps) == pytest.approx(expected, rel=1e-12)


def test_log_loss_minus_one_labels_match_zero_one():
    y_prob = [0.9, 0.2, 0.5, 0.7]

    assert log_loss([1, -1, 1, -1], y_prob) == log_loss([1, 0, 1, 0], y_prob)


def test_log_loss_accepts_one_class():
    # The labels name the positive class, so one class is well defined.
    assert log_loss([1, 1], [0.5, 0.25]) == pytest.approx(
        -(math.log(0.5) + math.log(0.25)) / 2, rel=1e-15
    )
    assert log_loss([0], [0.25]) == pytest.approx(-math.log(0.75), rel=1e-15)


@pytest.mark.parametrize("y_prob", [[0.5, 1.5], [-0.1, 0.5]])
def test_log_loss_rejects_probability_outside_unit_interval(y_prob):
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        log_loss([0, 1], y_prob)


def test_log_loss_rejects_nan_probability():
    with pytest.raises(ValueError, match="y_prob must be finite"):
        log_loss([0, 1], [np.nan, 0.5])


@pytest.mark.parametrize("eps", [0.0, 0.5, -1e-3])
def test_log_loss_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match=r"eps must be in the range \(0, 0.5\)"):
        log_loss([0, 1], [0.5, 0.5], eps=eps)


def test_log_loss_rejects_empty_input():
    with pytest.raises(ValueError, match="empty"):
        log_loss([], [])


def test_log_loss_rejects_other_labels():
    with pytest.raises(ValueError, match=r"got \[0, 2\]"):
        log_loss([0, 2], [0.5, 0.5])
