"""New users without retraining: fold-in against the popularity list.

On MovieLens 1M, 500 random users are left out of training. Each gives 5 of
their rated movies, is folded in with ``Recommender.recommend_for_ratings``,
and gets the top 10 of the rest of the catalogue. A hit is a movie the user
rated among their remaining ratings (binary relevance). The recommender is
trained on implicit targets, 1 for a rated (user, movie) pair and 0 for
sampled unrated pairs, because ranking by predicted rating ignores which
movies a user is likely to have seen at all.
"""

import numpy as np
import pandas as pd
import pytest

from fmrec.datasets import load_movielens
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender

N_HIDDEN_USERS = 500
N_GIVEN = 5
ZEROS_PER_RATING = 4
K = 10


def implicit_targets(ratings: pd.DataFrame, zeros_per_rating: int, rng) -> pd.DataFrame:
    """Return the rated pairs with target 1 and sampled unrated pairs with 0.

    Each rating brings ``zeros_per_rating`` draws of a uniform random movie
    for the same user; draws of a movie the user rated are dropped.
    """
    users = ratings["user_id"].to_numpy()
    items = ratings["item_id"].to_numpy()
    catalogue = np.unique(items)
    draw_users = np.repeat(users, zeros_per_rating)
    draw_items = rng.choice(catalogue, draw_users.size)
    scale = int(catalogue.max()) + 1
    rated = users.astype(np.int64) * scale + items
    unrated = ~np.isin(draw_users.astype(np.int64) * scale + draw_items, rated)
    zeros = pd.DataFrame(
        {"user_id": draw_users[unrated], "item_id": draw_items[unrated], "rating": 0.0}
    )
    ones = pd.DataFrame({"user_id": users, "item_id": items, "rating": 1.0})
    return pd.concat([ones, zeros], ignore_index=True)


def ndcg_at_k(ranked: np.ndarray, relevant: set, k: int = K) -> float:
    """Binary-relevance NDCG@k of one ranked list."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    hits = np.array([item in relevant for item in ranked[:k]], dtype=float)
    ideal = discount[: min(len(relevant), k)].sum()
    return float(hits @ discount[: hits.size] / ideal)


@pytest.fixture(scope="module")
def hidden_users(movielens_dir):
    ratings = load_movielens(movielens_dir / "ml-1m").ratings
    rng = np.random.default_rng(0)
    users = np.unique(ratings["user_id"])
    hidden = rng.choice(users, N_HIDDEN_USERS, replace=False)
    is_hidden = ratings["user_id"].isin(hidden).to_numpy()
    train = ratings.loc[~is_hidden]
    model = FactorizationMachine(
        64,
        solver="als",
        reg_w=1.0,
        reg_v=1.0,
        n_epochs=12,
        early_stopping=False,
        random_state=0,
    )
    recommender = Recommender(model).fit(
        implicit_targets(train, ZEROS_PER_RATING, rng), rating_range=(0.0, 1.0)
    )
    counts = train.groupby("item_id").size()
    # Most-rated first; equal counts by the smaller id (counts is sorted by id).
    popular = counts.sort_values(ascending=False, kind="stable").index.to_numpy()

    splits = []
    for user, frame in ratings.loc[is_hidden].groupby("user_id"):
        order = rng.permutation(len(frame))
        items = frame["item_id"].to_numpy()[order]
        splits.append((user, items[:N_GIVEN], set(items[N_GIVEN:].tolist())))
    return recommender, popular, splits


def fold_in_scores(recommender, popular, splits, unrated_weight):
    """Return the mean NDCG@10 of the folded-in lists and of popularity."""
    model_scores, popular_scores = [], []
    for _, given, relevant in splits:
        ratings = {int(item): 1.0 for item in given}
        result = recommender.recommend_for_ratings(
            ratings, n=K, unrated_weight=unrated_weight
        )
        ranked = result.items["item_id"].to_numpy()
        assert not result.cold_start
        assert not set(ranked.tolist()) & set(ratings)
        model_scores.append(ndcg_at_k(ranked, relevant))
        popular_rest = popular[~np.isin(popular, given)][:K]
        popular_scores.append(ndcg_at_k(popular_rest, relevant))
    return float(np.mean(model_scores)), float(np.mean(popular_scores))


def test_hidden_users_are_unknown_to_the_model(hidden_users):
    recommender, _, splits = hidden_users
    users = np.array([user for user, _, _ in splits])
    assert users.size == N_HIDDEN_USERS
    assert (recommender.encoder_.users.lookup(users) == -1).all()
    assert all(len(relevant) >= 15 for _, _, relevant in splits)


def test_fold_in_beats_popularity_for_new_users(hidden_users):
    recommender, popular, splits = hidden_users
    n_items = len(recommender.encoder_.items)
    # Training drew ZEROS_PER_RATING zeros per rating over the unrated movies.
    weight = ZEROS_PER_RATING * N_GIVEN / (n_items - N_GIVEN)
    folded, popularity = fold_in_scores(recommender, popular, splits, weight)
    plain, _ = fold_in_scores(recommender, popular, splits, 0.0)
    print(
        f"\nNDCG@{K} over {N_HIDDEN_USERS} new users with {N_GIVEN} ratings each: "
        f"fold-in with unrated_weight={weight:.5f} {folded:.4f}, "
        f"fold-in without it {plain:.4f}, popularity {popularity:.4f} "
        f"(ratio {folded / popularity:.3f})"
    )
    assert folded >= 1.2 * popularity
    assert folded > plain


# --- the unrated weight on hand-made data --------------------------------------------


def small_recommender():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 30, 300),
            "item_id": rng.integers(100, 120, 300),
            "rating": rng.integers(0, 2, 300).astype(float),
        }
    ).drop_duplicates(["user_id", "item_id"])
    model = FactorizationMachine(
        3, solver="als", n_epochs=5, early_stopping=False, random_state=0
    )
    return Recommender(model).fit(frame, rating_range=(0.0, 1.0))


def test_unrated_weight_solves_the_weighted_least_squares():
    recommender = small_recommender()
    ratings = {101: 1.0, 107: 1.0, 113: 0.0}
    weight = 0.3
    bias, factors = recommender.fold_in(ratings, unrated_weight=weight)

    scalar, item_factors = recommender._catalogue_terms()
    w0 = recommender.model.w0_
    rated = recommender.encoder_.items.lookup(np.array(list(ratings)))
    unrated = np.setdiff1d(np.arange(scalar.size), rated)
    reg_w, reg_v = recommender.model.regularization()
    m = len(ratings)
    n_factors = item_factors.shape[1]
    # The ridge problem as one stacked least-squares system.
    rows = [
        np.c_[np.ones(rated.size), item_factors[rated]],
        np.sqrt(weight) * np.c_[np.ones(unrated.size), item_factors[unrated]],
        np.diag(np.sqrt(m * np.r_[reg_w, np.full(n_factors, reg_v)])),
    ]
    targets = [
        np.array(list(ratings.values())) - w0 - scalar[rated],
        np.sqrt(weight) * (-w0 - scalar[unrated]),
        np.zeros(n_factors + 1),
    ]
    expected, *_ = np.linalg.lstsq(np.vstack(rows), np.concatenate(targets))
    assert bias == pytest.approx(expected[0], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(factors, expected[1:], rtol=1e-9, atol=1e-12)


def test_zero_unrated_weight_keeps_the_plain_fold_in():
    recommender = small_recommender()
    ratings = {101: 1.0, 107: 0.0}
    default = recommender.fold_in(ratings)
    explicit = recommender.fold_in(ratings, unrated_weight=0.0)
    assert default[0] == explicit[0]
    np.testing.assert_array_equal(default[1], explicit[1])


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf")])
def test_invalid_unrated_weight_raises(weight):
    recommender = small_recommender()
    with pytest.raises(ValueError, match="unrated_weight must be a finite number"):
        recommender.recommend_for_ratings({101: 1.0}, unrated_weight=weight)
