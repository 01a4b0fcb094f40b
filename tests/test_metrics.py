"""Tests for fmrec.metrics against hand-computed values, scikit-learn and a
naive per-user reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score

from fmrec.metrics import (
    SKIP_NO_RELEVANT,
    SKIP_UNKNOWN_USER,
    NDCGResult,
    mae,
    ndcg_by_user,
    ranking_metrics,
    rmse,
)

LOG2_3 = math.log2(3)

# ---------------------------------------------------------------- rmse / mae


def test_rmse_mae_hand_computed():
    y_true = [1.0, 2.0, 3.0, 4.0]
    y_pred = [2.0, 2.0, 5.0, 3.0]  # errors 1, 0, 2, -1

    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(6 / 4), abs=1e-15)
    assert mae(y_true, y_pred) == pytest.approx(1.0, abs=1e-15)


def test_rmse_mae_clip_hand_computed():
    y_true = [1.0, 5.0, 4.0]
    y_pred = [0.0, 6.0, 3.5]

    # Clipped predictions are 1, 5, 3.5, so the errors are 0, 0, -0.5.
    assert rmse(y_true, y_pred, clip=(1, 5)) == pytest.approx(
        math.sqrt(0.25 / 3), abs=1e-15
    )
    assert mae(y_true, y_pred, clip=(1, 5)) == pytest.approx(0.5 / 3, abs=1e-15)
    # Unclipped errors are -1, 1, -0.5.
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(2.25 / 3), abs=1e-15)
    assert mae(y_true, y_pred) == pytest.approx(2.5 / 3, abs=1e-15)


def test_clip_leaves_truth_alone():
    # A truth of 0 outside the clip range stays 0 while the prediction becomes 1.
    assert rmse([0.0], [0.0], clip=(1.0, 5.0)) == 1.0
    assert mae([0.0], [0.0], clip=(1.0, 5.0)) == 1.0


@pytest.mark.parametrize("clip", [None, (1.0, 5.0), (2.5, 3.5)])
def test_rmse_mae_match_sklearn(clip):
    rng = np.random.default_rng(7)
    y_true = rng.integers(1, 6, size=500).astype(float)
    y_pred = rng.normal(3.0, 1.5, size=500)
    clipped = y_pred if clip is None else np.clip(y_pred, *clip)

    expected_rmse = math.sqrt(mean_squared_error(y_true, clipped))
    expected_mae = mean_absolute_error(y_true, clipped)

    assert rmse(y_true, y_pred, clip=clip) == pytest.approx(expected_rmse, abs=1e-12)
    assert mae(y_true, y_pred, clip=clip) == pytest.approx(expected_mae, abs=1e-12)


def test_rmse_returns_python_float():
    assert type(rmse(np.ones(3), np.zeros(3))) is float
    assert type(mae(np.ones(3), np.zeros(3))) is float


@pytest.mark.parametrize("metric", [rmse, mae])
def test_rating_metric_rejects_length_mismatch(metric):
    with pytest.raises(ValueError, match="y_true has 3, y_pred has 2"):
        metric([1, 2, 3], [1, 2])


@pytest.mark.parametrize("metric", [rmse, mae])
def test_rating_metric_rejects_empty(metric):
    with pytest.raises(ValueError, match="empty"):
        metric([], [])


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rating_metric_rejects_non_finite(metric, bad):
    with pytest.raises(ValueError, match="y_pred must be finite"):
        metric([1.0, 2.0], [1.0, bad])
    with pytest.raises(ValueError, match="y_true must be finite"):
        metric([bad, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("clip", [(5.0, 1.0), (np.nan, 5.0), (1.0, np.inf)])
def test_rating_metric_rejects_bad_clip(clip):
    with pytest.raises(ValueError, match="clip"):
        rmse([1.0], [1.0], clip=clip)


def test_rating_metric_rejects_2d():
    with pytest.raises(ValueError, match="1-D"):
        rmse(np.ones((2, 2)), np.ones((2, 2)))


# ------------------------------------------------------------------ ndcg_by_user


def _ndcg_of_single_user(gains, scores, k):
    return ndcg_by_user(np.zeros(len(gains), dtype=int), gains, scores, k=k)


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_ndcg_by_user_matches_sklearn_with_ties(k):
    rng = np.random.default_rng(k)
    n_users = 60
    sizes = rng.integers(1, 30, size=n_users)
    # Sparse, non-contiguous user indices in shuffled row order.
    user_ids = rng.choice(10_000, size=n_users, replace=False)
    users = np.repeat(user_ids, sizes)
    gains = rng.integers(1, 6, size=users.size).astype(float)
    scores = rng.integers(0, 4, size=users.size).astype(float)
    order = rng.permutation(users.size)
    users, gains, scores = users[order], gains[order], scores[order]

    result = ndcg_by_user(users, gains, scores, k=k, min_items=2)

    assert np.array_equal(result.users, np.sort(user_ids[sizes >= 2]))
    assert result.n_users == np.count_nonzero(sizes >= 2)
    assert result.n_skipped == np.count_nonzero(sizes < 2)
    for user, value in zip(result.users, result.per_user, strict=True):
        rows = users == user
        expected = ndcg_score([gains[rows]], [scores[rows]], k=k)
        assert value == pytest.approx(expected, abs=1e-12), f"user {user}"
    assert result.mean == pytest.approx(result.per_user.mean(), abs=1e-15)


def test_ndcg_by_user_matches_sklearn_with_zero_gains():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 40, size=600)
    gains = rng.integers(0, 3, size=600).astype(float)
    scores = rng.integers(0, 3, size=600).astype(float)

    result = ndcg_by_user(users, gains, scores, k=5)

    for user, value in zip(result.users, result.per_user, strict=True):
        rows = users == user
        expected = ndcg_score([gains[rows]], [scores[rows]], k=5)
        assert value == pytest.approx(expected, abs=1e-12), f"user {user}"


def test_ndcg_single_item_user_skipped():
    users = np.array([4, 9, 9])
    result = ndcg_by_user(users, [5.0, 3.0, 1.0], [0.1, 0.2, 0.3], min_items=2)

    assert result.n_skipped == 1
    assert result.n_users == 1
    assert result.users.tolist() == [9]


def test_ndcg_single_item_user_kept_with_min_items_1():
    result = ndcg_by_user([4], [5.0], [0.1], min_items=1)

    assert result.users.tolist() == [4]
    assert result.per_user.tolist() == [1.0]


def test_ndcg_all_equal_gains_is_one():
    result = _ndcg_of_single_user([4.0] * 5, [0.3, 0.9, 0.1, 0.5, 0.2], k=3)

    assert result.per_user[0] == pytest.approx(1.0, abs=1e-15)


def test_ndcg_all_equal_scores_averages_ties():
    gains = [3.0, 1.0, 2.0]
    scores = [0.5, 0.5, 0.5]

    # Every position gets the mean gain 2. With k=2 only ranks 1 and 2 count.
    dcg_k2 = 2.0 * (1.0 + 1.0 / LOG2_3)
    ideal_k2 = 3.0 + 2.0 / LOG2_3
    assert _ndcg_of_single_user(gains, scores, k=2).per_user[0] == pytest.approx(
        dcg_k2 / ideal_k2, abs=1e-15
    )

    dcg_k3 = 2.0 * (1.0 + 1.0 / LOG2_3 + 0.5)
    ideal_k3 = 3.0 + 2.0 / LOG2_3 + 1.0 * 0.5
    assert _ndcg_of_single_user(gains, scores, k=3).per_user[0] == pytest.approx(
        dcg_k3 / ideal_k3, abs=1e-15
    )


def test_ndcg_partial_tie_group_across_cutoff():
    # Ranks: item a alone at 1, then b and c tied at 2-3, and k=2 keeps rank 2 only.
    gains = [1.0, 4.0, 2.0]
    scores = [0.9, 0.5, 0.5]

    dcg = 1.0 + 3.0 * (1.0 / LOG2_3)
    ideal = 4.0 + 2.0 / LOG2_3
    assert _ndcg_of_single_user(gains, scores, k=2).per_user[0] == pytest.approx(
        dcg / ideal, abs=1e-15
    )


def test_ndcg_perfect_ranking_is_one():
    result = _ndcg_of_single_user([3.0, 2.0, 1.0], [3.0, 2.0, 1.0], k=3)

    assert result.per_user[0] == pytest.approx(1.0, abs=1e-15)


def test_ndcg_reversed_ranking_hand_computed():
    result = _ndcg_of_single_user([3.0, 2.0, 1.0], [1.0, 2.0, 3.0], k=3)

    dcg = 1.0 + 2.0 / LOG2_3 + 3.0 / 2.0
    ideal = 3.0 + 2.0 / LOG2_3 + 1.0 / 2.0
    assert result.per_user[0] == pytest.approx(dcg / ideal, abs=1e-15)


def test_ndcg_zero_ideal_dcg_scores_zero():
    result = ndcg_by_user([1, 1, 2, 2], [0.0, 0.0, 1.0, 0.0], [0.2, 0.1, 0.2, 0.1])

    assert result.per_user.tolist() == [0.0, 1.0]
    assert result.mean == 0.5


def test_ndcg_result_is_read_only():
    result = ndcg_by_user([0, 0], [1.0, 2.0], [0.1, 0.2])

    assert isinstance(result, NDCGResult)
    with pytest.raises(ValueError):
        result.per_user[0] = 0.0
    with pytest.raises(ValueError):
        result.users[0] = 1


def test_ndcg_empty_input_gives_nan_mean():
    result = ndcg_by_user(np.array([], dtype=int), [], [])

    assert math.isnan(result.mean)
    assert result.n_users == 0
    assert result.n_skipped == 0
    assert result.per_user.size == 0


def test_ndcg_all_users_skipped_gives_nan_mean():
    result = ndcg_by_user([0, 1], [1.0, 2.0], [0.1, 0.2], min_items=2)

    assert math.isnan(result.mean)
    assert result.n_skipped == 2


def test_ndcg_rejects_length_mismatch():
    with pytest.raises(ValueError, match="users has 2, y_true has 2, y_score has 1"):
        ndcg_by_user([0, 0], [1.0, 2.0], [0.1])


def test_ndcg_rejects_negative_gain():
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_by_user([0, 0], [1.0, -2.0], [0.1, 0.2])


def test_ndcg_rejects_negative_user():
    with pytest.raises(ValueError, match="users must be >= 0"):
        ndcg_by_user([0, -1], [1.0, 2.0], [0.1, 0.2])


def test_ndcg_rejects_float_users():
    with pytest.raises(ValueError, match="integer"):
        ndcg_by_user([0.0, 1.0], [1.0, 2.0], [0.1, 0.2])


def test_ndcg_rejects_nan_score():
    with pytest.raises(ValueError, match="y_score must be finite"):
        ndcg_by_user([0, 0], [1.0, 2.0], [0.1, np.nan])


@pytest.mark.parametrize("option", [{"k": 0}, {"min_items": 0}, {"k": 2.0}])
def test_ndcg_rejects_bad_options(option):
    with pytest.raises(ValueError):
        ndcg_by_user([0, 0], [1.0, 2.0], [0.1, 0.2], **option)


# --------------------------------------------------------------- ranking_metrics


def _naive_ranking_metrics(scores, seen, users, items, ratings, k, threshold):
    """Evaluate user by user with plain Python sorting, as a reference."""
    seen = seen.toarray() != 0
    n_items = scores.shape[1]
    totals = {"ndcg": 0.0, "recall": 0.0, "hit_rate": 0.0, "map": 0.0}
    n_evaluated = 0
    n_no_relevant = 0
    for user in sorted(set(users.tolist()) - {-1}):
        rows = [r for r in range(len(users)) if users[r] == user]
        relevant_known = {
            int(items[r]) for r in rows if ratings[r] >= threshold and items[r] >= 0
        }
        n_unknown = sum(1 for r in rows if ratings[r] >= threshold and items[r] < 0)
        n_relevant = len(relevant_known) + n_unknown
        if n_relevant == 0:
            n_no_relevant += 1
            continue
        n_evaluated += 1
        candidates = [i for i in range(n_items) if not seen[user, i]]
        candidates.sort(key=lambda i: (-scores[user, i], i))
        top = candidates[:k]
        hit_flags = [item in relevant_known for item in top]
        dcg = sum(1 / math.log2(rank + 2) for rank, h in enumerate(hit_flags) if h)
        n_ideal = min(n_relevant, k)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(n_ideal))
        n_hits = sum(hit_flags)
        precision_sum = 0.0
        running_hits = 0
        for rank, hit in enumerate(hit_flags, start=1):
            if hit:
                running_hits += 1
                precision_sum += running_hits / rank
        totals["ndcg"] += dcg / ideal
        totals["recall"] += n_hits / n_relevant
        totals["hit_rate"] += 1.0 if n_hits else 0.0
        totals["map"] += precision_sum / n_ideal
    means = {name: total / n_evaluated for name, total in totals.items()}
    skipped = {
        SKIP_NO_RELEVANT: n_no_relevant,
        SKIP_UNKNOWN_USER: int(np.count_nonzero(users == -1)),
    }
    return means, n_evaluated, skipped


def _random_ranking_case(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, n_test = 40, 25, 300
    # Few distinct score values, so ties are common, also at the cutoff.
    scores = rng.integers(0, 5, size=(n_users, n_items)).astype(float)
    seen = sp.random(n_users, n_items, density=0.3, random_state=seed, format="csr")
    # Users 0 and 1 have seen almost everything, so fewer than k items remain.
    dense_seen = seen.toarray()
    dense_seen[0, 2:] = 1.0
    dense_seen[1, :] = 1.0
    seen = sp.csr_matrix(dense_seen)
    users = rng.integers(-1, n_users, size=n_test)
    items = rng.integers(-1, n_items, size=n_test)
    ratings = rng.integers(1, 6, size=n_test).astype(float)
    return scores, seen, users, items, ratings


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 10, 30])
@pytest.mark.parametrize("batch_size", [1, 7, 1024])
def test_ranking_metrics_match_naive_reference(seed, k, batch_size):
    scores, seen, users, items, ratings = _random_ranking_case(seed)

    report = ranking_metrics(
        lambda batch: scores[batch],
        seen,
        users,
        items,
        ratings,
        k=k,
        threshold=4.0,
        batch_size=batch_size,
    )
    expected, n_evaluated, skipped = _naive_ranking_metrics(
        scores, seen, users, items, ratings, k, 4.0
    )

    assert report.n_users == n_evaluated
    assert report.skipped == skipped
    assert report.ndcg == pytest.approx(expected["ndcg"], abs=1e-12)
    assert report.recall == pytest.approx(expected["recall"], abs=1e-12)
    assert report.hit_rate == pytest.approx(expected["hit_rate"], abs=1e-12)
    assert report.map == pytest.approx(expected["map"], abs=1e-12)


def test_ranking_metrics_continuous_scores_match_naive_reference():
    rng = np.random.default_rng(11)
    scores = rng.normal(size=(30, 50))
    seen = sp.random(30, 50, density=0.2, random_state=11, format="csr")
    users = rng.integers(0, 30, size=200)
    items = rng.integers(0, 50, size=200)
    ratings = rng.integers(1, 6, size=200).astype(float)

    report = ranking_metrics(
        lambda batch: scores[batch], seen, users, items, ratings, k=5, batch_size=8
    )
    expected, n_evaluated, _ = _naive_ranking_metrics(
        scores, seen, users, items, ratings, 5, 4.0
    )

    assert report.n_users == n_evaluated
    assert report.ndcg == pytest.approx(expected["ndcg"], abs=1e-12)
    assert report.recall == pytest.approx(expected["recall"], abs=1e-12)
    assert report.hit_rate == pytest.approx(expected["hit_rate"], abs=1e-12)
    assert report.map == pytest.approx(expected["map"], abs=1e-12)


def _tiny_case():
    """Three known users and 5 items, hand-computed below with k=2."""
    scores = np.array(
        [
            [1.0, 3.0, 3.0, 0.0, 2.0],
            [5.0, 5.0, 5.0, 5.0, 5.0],
            [0.0, 1.0, 2.0, 3.0, 4.0],
        ]
    )
    seen = sp.csr_matrix(
        np.array(
            [
                [0, 0, 0, 1, 0],
                [0, 1, 0, 0, 0],
                [0, 0, 0, 0, 0],
            ]
        )
    )
    users = np.array([0, 0, 1, -1, 2, -1])
    items = np.array([2, 4, 0, 1, 3, 0])
    ratings = np.array([5.0, 4.0, 5.0, 5.0, 3.0, 2.0])
    return scores, seen, users, items, ratings


def test_ranking_metrics_tiny_case_hand_computed():
    report = ranking_metrics(
        lambda batch: _tiny_case()[0][batch], *_tiny_case()[1:], k=2
    )

    # User 0: unseen items 0, 1, 2, 4 score 1, 3, 3, 2. Items 1 and 2 tie, so
    # the list is [1, 2]. Relevant {2, 4}: one hit at rank 2.
    ndcg_0 = (1 / LOG2_3) / (1 + 1 / LOG2_3)
    recall_0, hit_0, ap_0 = 0.5, 1.0, (1 / 2) / 2
    # User 1: unseen items 0, 2, 3, 4 all tie, so the list is [0, 2].
    # Relevant {0}: a hit at rank 1.
    ndcg_1, recall_1, hit_1, ap_1 = 1.0, 1.0, 1.0, 1.0
    # User 2 rated only below the threshold and the -1 rows are unknown users.
    assert report.n_users == 2
    assert report.skipped == {SKIP_NO_RELEVANT: 1, SKIP_UNKNOWN_USER: 2}
    assert report.ndcg == pytest.approx((ndcg_0 + ndcg_1) / 2, abs=1e-15)
    assert report.recall == pytest.approx((recall_0 + recall_1) / 2, abs=1e-15)
    assert report.hit_rate == pytest.approx((hit_0 + hit_1) / 2, abs=1e-15)
    assert report.map == pytest.approx((ap_0 + ap_1) / 2, abs=1e-15)
    assert report.k == 2
    assert report.threshold == 4.0


def test_ranking_report_as_dict():
    report = ranking_metrics(
        lambda batch: _tiny_case()[0][batch], *_tiny_case()[1:], k=2
    )

    as_dict = report.as_dict()

    assert list(as_dict) == [
        "ndcg_at_2",
        "recall_at_2",
        "hr_at_2",
        "map_at_2",
        "n_users",
        "skipped",
    ]
    assert as_dict["ndcg_at_2"] == report.ndcg
    assert as_dict["recall_at_2"] == 0.75
    assert as_dict["hr_at_2"] == 1.0
    assert as_dict["map_at_2"] == 0.625
    assert as_dict["n_users"] == 2
    assert as_dict["skipped"] == {SKIP_NO_RELEVANT: 1, SKIP_UNKNOWN_USER: 2}


def _one_user_report(scores, relevant_item, *, k, seen=None):
    scores = np.asarray(scores, dtype=float)[None, :]
    if seen is None:
        seen = sp.csr_matrix((1, scores.shape[1]))
    return ranking_metrics(
        lambda batch: scores[batch],
        seen,
        np.array([0]),
        np.array([relevant_item]),
        np.array([5.0]),
        k=k,
    )


def test_ranking_ties_prefer_lower_item_index():
    # All scores tie, so the list is items [0, 1].
    at_rank_2 = _one_user_report(np.zeros(6), 1, k=2)
    outside = _one_user_report(np.zeros(6), 2, k=2)

    assert at_rank_2.ndcg == pytest.approx(1 / LOG2_3, abs=1e-15)
    assert at_rank_2.map == 0.5
    assert outside.hit_rate == 0.0


def test_ranking_ties_at_cutoff_prefer_lower_item_index():
    # Item 5 ranks first, then item 0, then the tie among 1..4 is cut at item 1.
    scores = [1.0, 0.0, 0.0, 0.0, 0.0, 2.0]

    assert _one_user_report(scores, 1, k=3).map == pytest.approx(1 / 3, abs=1e-15)
    for item in (2, 3, 4):
        assert _one_user_report(scores, item, k=3).hit_rate == 0.0


def test_ranking_seen_items_excluded():
    # Item 0 scores highest but was seen, so item 1 moves to rank 1.
    seen = sp.csr_matrix(np.array([[1, 0, 0]]))

    assert _one_user_report([9.0, 1.0, 0.0], 1, k=1, seen=seen).ndcg == 1.0
    assert _one_user_report([9.0, 1.0, 0.0], 0, k=3, seen=seen).hit_rate == 0.0


def test_ranking_explicit_zero_in_seen_is_not_seen():
    seen = sp.csr_matrix(
        (np.array([0.0]), (np.array([0]), np.array([0]))), shape=(1, 3)
    )

    assert seen.nnz == 1
    assert _one_user_report([9.0, 1.0, 0.0], 0, k=1, seen=seen).ndcg == 1.0


def test_ranking_fewer_unseen_items_than_k():
    # Only item 2 is unseen. The relevant item 0 is seen, so nothing can hit.
    seen = sp.csr_matrix(np.array([[1, 1, 0]]))

    report = _one_user_report([3.0, 2.0, 1.0], 0, k=3, seen=seen)

    assert report.n_users == 1
    assert report.hit_rate == 0.0
    assert report.ndcg == 0.0
    assert report.map == 0.0


def test_ranking_unknown_item_counts_as_miss():
    scores = np.array([[3.0, 2.0, 1.0]])
    seen = sp.csr_matrix((1, 3))

    report = ranking_metrics(
        lambda batch: scores[batch],
        seen,
        np.array([0, 0, 0]),
        np.array([0, -1, -1]),
        np.array([5.0, 4.0, 5.0]),
        k=2,
    )

    # Three relevant items (item 0 and two unknown ones), one hit at rank 1.
    assert report.recall == pytest.approx(1 / 3, abs=1e-15)
    assert report.ndcg == pytest.approx(1 / (1 + 1 / LOG2_3), abs=1e-15)
    assert report.map == pytest.approx(1 / 2, abs=1e-15)
    assert report.hit_rate == 1.0


def test_ranking_duplicate_test_rows_count_once():
    scores = np.array([[3.0, 2.0, 1.0]])

    report = ranking_metrics(
        lambda batch: scores[batch],
        sp.csr_matrix((1, 3)),
        np.array([0, 0]),
        np.array([0, 0]),
        np.array([5.0, 5.0]),
        k=2,
    )

    assert report.recall == 1.0
    assert report.ndcg == 1.0


def test_ranking_no_evaluated_users_gives_nan_and_none():
    scores = np.zeros((2, 3))

    report = ranking_metrics(
        lambda batch: scores[batch],
        sp.csr_matrix((2, 3)),
        np.array([0, -1]),
        np.array([0, 1]),
        np.array([1.0, 5.0]),
    )

    assert report.n_users == 0
    assert math.isnan(report.ndcg)
    assert math.isnan(report.map)
    assert report.skipped == {SKIP_NO_RELEVANT: 1, SKIP_UNKNOWN_USER: 1}
    assert report.as_dict()["ndcg_at_10"] is None


def test_ranking_does_not_modify_returned_scores():
    scores = np.array([[3.0, 2.0, 1.0]])
    seen = sp.csr_matrix(np.array([[1, 0, 0]]))

    ranking_metrics(lambda batch: scores, seen, [0], [1], [5.0], k=1)

    assert scores.tolist() == [[3.0, 2.0, 1.0]]


def test_ranking_calls_score_users_per_batch():
    scores = np.zeros((5, 4))
    batches = []

    def score_users(batch):
        batches.append(batch.tolist())
        return scores[batch]

    ranking_metrics(
        score_users,
        sp.csr_matrix((5, 4)),
        np.array([4, 0, 2, 3, 0]),
        np.zeros(5, dtype=int),
        np.full(5, 5.0),
        batch_size=2,
    )

    assert batches == [[0, 2], [3, 4]]


def test_ranking_rejects_wrong_score_shape():
    with pytest.raises(ValueError, match=r"shape \(1, 2\), expected \(1, 3\)"):
        ranking_metrics(
            lambda batch: np.zeros((len(batch), 2)),
            sp.csr_matrix((1, 3)),
            [0],
            [0],
            [5.0],
        )


def test_ranking_rejects_nan_scores():
    with pytest.raises(ValueError, match="non-finite score for user 1"):
        ranking_metrics(
            lambda batch: np.full((len(batch), 3), np.nan),
            sp.csr_matrix((2, 3)),
            [1],
            [0],
            [5.0],
        )


def test_ranking_rejects_out_of_range_indices():
    def score_users(batch):
        return np.zeros((len(batch), 3))

    seen = sp.csr_matrix((2, 3))
    with pytest.raises(ValueError, match="test_users must be < 2"):
        ranking_metrics(score_users, seen, [2], [0], [5.0])
    with pytest.raises(ValueError, match="test_items must be < 3"):
        ranking_metrics(score_users, seen, [0], [3], [5.0])
    with pytest.raises(ValueError, match="test_items must be >= -1"):
        ranking_metrics(score_users, seen, [0], [-2], [5.0])


def test_ranking_rejects_dense_seen():
    with pytest.raises(TypeError, match="scipy.sparse"):
        ranking_metrics(
            lambda b: np.zeros((len(b), 3)), np.zeros((1, 3)), [0], [0], [5.0]
        )


def test_ranking_rejects_length_mismatch():
    with pytest.raises(ValueError, match="test_ratings has 1"):
        ranking_metrics(
            lambda b: np.zeros((len(b), 3)),
            sp.csr_matrix((1, 3)),
            [0, 0],
            [0, 1],
            [5.0],
        )


@pytest.mark.parametrize(
    "option", [{"k": 0}, {"batch_size": 0}, {"threshold": float("nan")}]
)
def test_ranking_rejects_bad_options(option):
    with pytest.raises(ValueError):
        ranking_metrics(
            lambda b: np.zeros((len(b), 3)),
            sp.csr_matrix((1, 3)),
            [0],
            [0],
            [5.0],
            **option,
        )
