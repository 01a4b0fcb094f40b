"""Tests for the implicit-feedback ranking protocol and its top-k metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fmrec.datasets import load_movielens
from fmrec.ranking_data import (
    TopKMetrics,
    evaluate_top_k,
    k_core,
    load_ranking_protocol,
    split_per_user,
)

LOG2_3 = math.log2(3)


def constant_scores(scores: np.ndarray):
    """Return a score function that gives every user the row of ``scores``."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return lambda users: np.tile(scores, (len(users), 1))
    return lambda users: scores[users]


def naive_metrics(scores, exclude, relevant, k):
    """Compute the five metrics user by user with plain Python loops."""
    exclude = exclude.toarray() != 0
    relevant = relevant.toarray() != 0
    per_user = []
    for user in range(relevant.shape[0]):
        relevant_items = set(np.flatnonzero(relevant[user]).tolist())
        if not relevant_items:
            continue
        candidates = [i for i in range(scores.shape[1]) if not exclude[user, i]]
        ranked = sorted(candidates, key=lambda i: (-scores[user, i], i))[:k]
        gains = [1.0 if item in relevant_items else 0.0 for item in ranked]
        dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(relevant_items), k)))
        hits = sum(gains)
        first = next((r for r, g in enumerate(gains) if g), None)
        per_user.append(
            [
                dcg / ideal,
                hits / len(relevant_items),
                1.0 if hits else 0.0,
                0.0 if first is None else 1.0 / (first + 1),
                hits / k,
            ]
        )
    return np.mean(per_user, axis=0), len(per_user)


def metric_values(metrics: TopKMetrics) -> list[float]:
    return [
        metrics.ndcg,
        metrics.recall,
        metrics.hit_rate,
        metrics.mrr,
        metrics.precision,
    ]


# ---------------------------------------------------------------- top-k metrics


def test_metrics_hand_computed():
    # Item 0 is excluded, so the list is items 1, 2, 3 with one hit (item 2) at
    # rank 2. Item 0 stays relevant, so n_rel = 3.
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    exclude = sp.csr_matrix([[1, 0, 0, 0, 0, 0]])
    relevant = sp.csr_matrix([[1, 0, 1, 0, 0, 1]])
    metrics = evaluate_top_k(constant_scores(scores), exclude, relevant, k=3)

    assert metrics.ndcg == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5))
    assert metrics.recall == pytest.approx(1 / 3)
    assert metrics.hit_rate == 1.0
    assert metrics.mrr == 0.5
    assert metrics.precision == pytest.approx(1 / 3)
    assert metrics.n_users == 1
    assert metrics.k == 3


def test_metrics_two_users_hand_computed():
    # User 0 hits at ranks 1 and 3 of 2 relevant items. User 1 has no hit.
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0]])
    exclude = sp.csr_matrix((2, 4))
    relevant = sp.csr_matrix([[1, 0, 1, 0], [0, 0, 0, 1]])
    metrics = evaluate_top_k(constant_scores(scores), exclude, relevant, k=3)
    ndcg_user0 = (1 + 0.5) / (1 + 1 / LOG2_3)

    assert metrics.ndcg == pytest.approx(ndcg_user0 / 2)
    assert metrics.recall == pytest.approx(0.5)
    assert metrics.hit_rate == 0.5
    assert metrics.mrr == 0.5
    assert metrics.precision == pytest.approx((2 / 3) / 2)
    assert metrics.n_users == 2


def test_ties_broken_by_lower_item_index():
    # All scores tie, so the list is items 0 and 1, and only item 1 is relevant.
    metrics = evaluate_top_k(
        constant_scores(np.zeros(4)),
        sp.csr_matrix((1, 4)),
        sp.csr_matrix([[0, 1, 0, 1]]),
        k=2,
    )

    assert metrics.mrr == 0.5
    assert metrics.precision == 0.5


def test_precision_divides_by_k_when_catalogue_runs_out():
    # Three of four items are excluded, so the list has one item.
    metrics = evaluate_top_k(
        constant_scores(np.arange(4.0)),
        sp.csr_matrix([[1, 1, 1, 0]]),
        sp.csr_matrix([[0, 0, 0, 1]]),
        k=10,
    )

    assert metrics.precision == 0.1
    assert metrics.ndcg == 1.0
    assert metrics.recall == 1.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 5, 10])
def test_metrics_match_naive_reference(seed, k):
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    # Rounded scores give many ties.
    scores = np.round(rng.normal(size=(n_users, n_items)), 1)
    exclude = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3)
    relevant = sp.csr_matrix(rng.random((n_users, n_items)) < 0.15)
    expected, n_evaluated = naive_metrics(scores, exclude, relevant, k)
    metrics = evaluate_top_k(
        constant_scores(scores), exclude, relevant, k=k, batch_size=7
    )

    assert metrics.n_users == n_evaluated
    assert metric_values(metrics) == pytest.approx(expected.tolist(), abs=1e-12)


def test_users_without_relevant_items_are_skipped():
    relevant = sp.csr_matrix([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    seen_users = []

    def score(users):
        seen_users.extend(users.tolist())
        return np.zeros((len(users), 3))

    metrics = evaluate_top_k(score, sp.csr_matrix((3, 3)), relevant)

    assert metrics.n_users == 1
    assert seen_users == [1]


def test_no_evaluated_users_gives_nan():
    metrics = evaluate_top_k(
        constant_scores(np.zeros(2)), sp.csr_matrix((2, 2)), sp.csr_matrix((2, 2))
    )

    assert metrics.n_users == 0
    assert math.isnan(metrics.ndcg)
    assert metrics.as_dict()["ndcg_at_10"] is None


def test_metrics_as_dict_keys():
    metrics = TopKMetrics(5, 0.1, 0.2, 0.3, 0.4, 0.5, n_users=7)

    assert metrics.as_dict() == {
        "ndcg_at_5": 0.1,
        "recall_at_5": 0.2,
        "hr_at_5": 0.3,
        "mrr_at_5": 0.4,
        "precision_at_5": 0.5,
        "n_users": 7,
    }


def test_scores_are_not_modified():
    scores = np.array([[1.0, 2.0, 3.0]])
    evaluate_top_k(
        lambda users: scores, sp.csr_matrix([[0, 0, 1]]), sp.csr_matrix([[1, 0, 0]])
    )

    assert scores.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    "score, message",
    [
        (lambda users: np.zeros((len(users), 2)), r"shape \(1, 2\), expected \(1, 3\)"),
        (lambda users: np.full((len(users), 3), np.nan), "non-finite score for user 0"),
    ],
)
def test_rejects_bad_scores(score, message):
    with pytest.raises(ValueError, match=message):
        evaluate_top_k(score, sp.csr_matrix((1, 3)), sp.csr_matrix([[1, 0, 0]]))


def test_rejects_invalid_arguments():
    score = constant_scores(np.zeros(3))
    relevant = sp.csr_matrix([[1, 0, 0]])

    with pytest.raises(ValueError, match="exclude has shape"):
        evaluate_top_k(score, sp.csr_matrix((2, 3)), relevant)
    with pytest.raises(ValueError, match="k must be >= 1"):
        evaluate_top_k(score, sp.csr_matrix((1, 3)), relevant, k=0)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        evaluate_top_k(score, sp.csr_matrix((1, 3)), relevant, batch_size=1.5)
    with pytest.raises(TypeError, match="relevant must be a scipy sparse"):
        evaluate_top_k(score, sp.csr_matrix((1, 3)), np.ones((1, 3)))


# ---------------------------------------------------------------- k-core


def naive_k_core(frame: pd.DataFrame, core: int) -> pd.DataFrame:
    while True:
        user_counts = frame.groupby("user_id")["item_id"].transform("size")
        item_counts = frame.groupby("item_id")["user_id"].transform("size")
        keep = (user_counts >= core) & (item_counts >= core)
        if keep.all():
            return frame
        frame = frame[keep]


def test_k_core_repeats_until_stable():
    # Users 1-3 rate items a and b, and user 4 rates a and c. With core 2, item c
    # has one rating and goes, so user 4 is left with one rating and goes too.
    # Item a keeps three ratings.
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3, 3, 4, 4],
            "item_id": ["a", "b", "a", "b", "a", "b", "a", "c"],
        }
    )
    core = k_core(frame, 2)

    assert core.index.tolist() == [0, 1, 2, 3, 4, 5]


def test_k_core_chain_removal():
    # With core 2, item z has one rating, so user 3 drops to one rating, which
    # drops item y to one rating, which drops user 2, and so on down the chain.
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3, 3],
            "item_id": ["w", "x", "x", "y", "y", "z"],
        }
    )

    assert len(k_core(frame, 2)) == 0


@pytest.mark.parametrize("seed", range(3))
def test_k_core_matches_naive_reference(seed):
    rng = np.random.default_rng(seed)
    # Squared uniform draws make a few users and items much more active.
    frame = pd.DataFrame(
        {
            "user_id": (rng.random(1500) ** 2 * 60).astype(int),
            "item_id": (rng.random(1500) ** 2 * 150).astype(int),
        }
    ).drop_duplicates()
    expected = naive_k_core(frame, 8)

    assert 0 < len(expected) < len(frame)
    assert k_core(frame, 8).index.tolist() == expected.index.tolist()


def test_k_core_rejects_bad_core():
    with pytest.raises(ValueError, match="core must be an integer >= 1"):
        k_core(pd.DataFrame({"user_id": [1], "item_id": [1]}), 0)


# ---------------------------------------------------------------- per-user split


def user_frame(counts: dict[int, int]) -> pd.DataFrame:
    users = np.repeat(list(counts), list(counts.values()))
    items = np.concatenate([np.arange(n) for n in counts.values()])
    return pd.DataFrame({"user_index": users, "item_index": items})


@pytest.mark.parametrize(
    "n, sizes",
    [
        (1, (1, 0, 0)),
        (2, (2, 0, 0)),
        (5, (4, 0, 1)),
        (7, (6, 0, 1)),
        (10, (8, 1, 1)),
        (11, (9, 1, 1)),
        (15, (12, 1, 2)),
        (20, (16, 2, 2)),
        (23, (19, 2, 2)),
        (100, (80, 10, 10)),
    ],
)
def test_split_sizes_per_user(n, sizes):
    parts = split_per_user(user_frame({0: n}), seed=1)

    assert tuple(len(part) for part in parts) == sizes


def test_split_partitions_each_user():
    frame = user_frame({0: 10, 1: 37, 2: 12, 5: 64})
    parts = split_per_user(frame, seed=3)
    train, valid, test = (pair_set(part) for part in parts)

    assert train.isdisjoint(valid)
    assert train.isdisjoint(test)
    assert valid.isdisjoint(test)
    assert train | valid | test == pair_set(frame)
    assert parts[0]["user_index"].value_counts().sort_index().tolist() == [
        8,
        30,
        10,
        52,
    ]


def pair_set(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user_index"], frame["item_index"], strict=True))


def test_split_depends_on_seed_not_row_order():
    frame = user_frame({0: 30, 1: 30})
    first = split_per_user(frame, seed=5)
    shuffled = split_per_user(frame.sample(frac=1.0, random_state=9), seed=5)
    other = split_per_user(frame, seed=6)

    for left, right in zip(first, shuffled, strict=True):
        assert left.index.tolist() == right.index.tolist()
    assert first[2].index.tolist() != other[2].index.tolist()


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        split_per_user(user_frame({0: 3}), seed=0, train_fraction=1.0)


# ---------------------------------------------------------------- protocol


def synthetic_ratings(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 6000
    return pd.DataFrame(
        {
            "user_id": rng.integers(100, 160, n),
            "item_id": rng.integers(1000, 1100, n),
            "rating": rng.integers(1, 6, n).astype(float),
            "timestamp": rng.integers(0, 10**9, n),
        }
    ).drop_duplicates(["user_id", "item_id"])


def test_protocol_on_synthetic_ratings():
    ratings = synthetic_ratings()
    protocol = load_ranking_protocol(ratings, seed=0, core=5)
    positives = naive_k_core(ratings[ratings["rating"] >= 3], 5)
    together = pd.concat([protocol.train, protocol.valid, protocol.test])

    assert len(together) == len(positives)
    assert set(together["user_id"]) == set(positives["user_id"])
    assert (together["rating"] >= 3).all()
    assert protocol.users.ids.tolist() == sorted(set(positives["user_id"]))
    assert protocol.items.ids.tolist() == sorted(set(positives["item_id"]))
    assert (
        protocol.train["user_id"].to_numpy()
        == protocol.users.ids[protocol.train["user_index"]]
    ).all()
    assert (
        protocol.test["item_id"].to_numpy()
        == protocol.items.ids[protocol.test["item_index"]]
    ).all()


def test_protocol_drops_repeated_pairs():
    ratings = pd.DataFrame(
        {"user_id": [1, 1, 1], "item_id": [5, 5, 6], "rating": [4.0, 5.0, 2.0]}
    )
    protocol = load_ranking_protocol(ratings, core=1)

    assert protocol.train[["user_id", "item_id", "rating"]].values.tolist() == [
        [1, 5, 5.0]
    ]


def test_protocol_matrix_and_masks():
    protocol = load_ranking_protocol(synthetic_ratings(1), seed=2, core=5)
    valid = protocol.matrix("valid")

    def prefer_valid_items(users):
        return valid[users].toarray()

    # Scoring validation items highest gives perfect validation metrics, and on
    # the test split those items are masked, so they cannot take list places.
    on_valid = protocol.evaluate(prefer_valid_items, "valid", k=1)
    on_test = protocol.evaluate(prefer_valid_items, "test", k=1)
    exclude = protocol.matrix("train", "valid")
    expected = evaluate_top_k(prefer_valid_items, exclude, protocol.matrix("test"), k=1)

    assert on_valid.precision == 1.0
    assert metric_values(on_test) == metric_values(expected)
    assert protocol.matrix("train", "valid", "test").nnz == sum(
        len(frame) for frame in (protocol.train, protocol.valid, protocol.test)
    )


def test_protocol_rejects_bad_split_and_empty_result():
    protocol = load_ranking_protocol(synthetic_ratings(), core=5)

    with pytest.raises(ValueError, match="split must be 'valid' or 'test'"):
        protocol.evaluate(constant_scores(np.zeros(protocol.n_items)), "train")
    with pytest.raises(ValueError, match="no interactions are left"):
        load_ranking_protocol(synthetic_ratings(), core=10_000)


def test_protocol_movielens_1m(movielens_dir):
    ratings = load_movielens(movielens_dir / "ml-1m").ratings
    protocol = load_ranking_protocol(ratings, seed=42)
    expected = naive_k_core(ratings[ratings["rating"] >= 3], 10)
    splits = (protocol.train, protocol.valid, protocol.test)
    together = pd.concat(splits)

    assert protocol.n_users == expected["user_id"].nunique()
    assert protocol.n_items == expected["item_id"].nunique()
    assert len(together) == len(expected)
    assert together.groupby("user_id").size().min() >= 10
    assert together.groupby("item_id").size().min() >= 10
    for split in splits:
        assert split["user_index"].nunique() == protocol.n_users
    per_user = together.groupby("user_index").size().to_numpy()
    n_train = np.ceil(per_user * 0.8 - 1e-9).astype(int)
    assert protocol.train.groupby("user_index").size().tolist() == n_train.tolist()
    assert (
        protocol.valid.groupby("user_index").size().tolist()
        == ((per_user - n_train) // 2).tolist()
    )


def test_movielens_popularity_matches_naive_reference(movielens_dir):
    protocol = load_ranking_protocol(load_movielens(movielens_dir / "ml-1m"), seed=42)
    exclude = protocol.matrix("train", "valid")
    counts = np.asarray(protocol.matrix("train").sum(axis=0)).ravel()
    scores = np.tile(counts, (protocol.n_users, 1))
    # Only the first 150 users, to keep the Python reference quick.
    relevant = protocol.matrix("test")
    relevant = sp.csr_matrix(
        relevant.multiply(np.arange(protocol.n_users)[:, None] < 150)
    )
    expected, n_evaluated = naive_metrics(scores, exclude, relevant, 10)
    metrics = evaluate_top_k(constant_scores(counts), exclude, relevant)

    assert n_evaluated == 150
    assert metric_values(metrics) == pytest.approx(expected.tolist(), abs=1e-12)
