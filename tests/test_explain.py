"""Explanations: terms that add up to the prediction, and the sentence chosen."""

import numpy as np
import pandas as pd
import pytest

from fmrec.explain import explain, explain_for_ratings, feature_groups
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender
from fmrec.split import random_split
from service_helpers import trained_models

RICH_FEATURES = ("user", "item", "user_attributes", "item_attributes", "time")
IMPLICIT_FEATURES = ("user", "item", "implicit_user", "item_attributes")


def random_pairs(recommender, n, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.choice(recommender.encoder_.users.ids, n)
    items = rng.choice(recommender.encoder_.items.ids, n)
    return list(zip(users.tolist(), items.tolist(), strict=True))


def check_sums(recommender, pairs):
    for user, item in pairs:
        explanation = explain(recommender, user, item)
        score = recommender.predict(user, item, clip=False)[0]
        total = sum(term.value for term in explanation.terms)
        assert abs(total - score) < 1e-9, (user, item)
        assert abs(explanation.score - score) < 1e-9
        assert abs(sum(explanation.totals().values()) - score) < 1e-9
        assert explanation.prediction == pytest.approx(
            recommender.predict(user, item)[0], abs=1e-9
        )


@pytest.fixture(scope="module")
def id_model(movielens_dir):
    return trained_models(str(movielens_dir))[0]


@pytest.fixture(scope="module")
def ml100k(movielens_dir):
    from fmrec.datasets import load_movielens

    return load_movielens(movielens_dir / "ml-100k")


def fit_features(dataset, features, solver):
    train, _ = random_split(dataset.ratings, 0.2, 42)
    model = FactorizationMachine(8, solver=solver, n_epochs=4, random_state=0)
    recommender = Recommender(model, features=features)
    return recommender.fit(train, dataset.items, (1.0, 5.0), users=dataset.users)


def test_id_model_terms_sum_to_prediction(id_model):
    check_sums(id_model, random_pairs(id_model, 300))


def test_id_model_groups(id_model):
    explanation = explain(id_model, 1, 50)
    assert [(t.kind, t.group) for t in explanation.terms] == [
        ("bias", "global bias"),
        ("user", "user"),
        ("item", "item"),
        ("interaction", "user x item"),
    ]
    assert [g.name for g in feature_groups(id_model)] == ["user", "item"]


def test_rich_features_terms_sum_to_prediction(ml100k):
    recommender = fit_features(ml100k, RICH_FEATURES, "sgd")
    check_sums(recommender, random_pairs(recommender, 150, seed=1))
    groups = {term.group: term.kind for term in explain(recommender, 4, 50).terms}
    assert groups["user_attributes x item"] == "interaction"
    assert groups["item_attributes x time"] == "interaction"
    assert groups["user x user_attributes"] == "user"
    assert groups["item x item_attributes"] == "item"
    assert groups["item_attributes pairs"] == "item"


def test_implicit_features_terms_sum_to_prediction(ml100k):
    recommender = fit_features(ml100k, IMPLICIT_FEATURES, "als")
    check_sums(recommender, random_pairs(recommender, 150, seed=2))
    ratings = {50: 5.0, 181: 4.0, 1: 1.0}
    result = recommender.recommend_for_ratings(ratings, 10)
    for item, score in zip(result.items["item_id"], result.items["score"], strict=True):
        explanation = explain_for_ratings(recommender, ratings, int(item))
        assert abs(explanation.score - score) < 1e-9


def test_new_user_terms_sum_to_fold_in_score(id_model):
    ratings = {50: 5.0, 172: 4.0, 98: 4.5, 1: 2.0}
    result = id_model.recommend_for_ratings(ratings, 20)
    for item, score in zip(result.items["item_id"], result.items["score"], strict=True):
        explanation = explain_for_ratings(id_model, ratings, int(item))
        assert explanation.user_id is None
        assert abs(sum(t.value for t in explanation.terms) - score) < 1e-9
        kinds = {t.group: t.kind for t in explanation.terms}
        assert kinds["user (from the given ratings) x item"] == "interaction"


def test_unknown_ids_raise_key_error(id_model):
    with pytest.raises(KeyError, match="user 999999"):
        explain(id_model, 999999, 50)
    with pytest.raises(KeyError, match="item 999999"):
        explain(id_model, 1, 999999)
    with pytest.raises(KeyError, match="item 999999"):
        explain_for_ratings(id_model, {50: 5.0}, 999999)


# Sentences, on small models whose parameters are set by hand so that one
# term is known to be the largest.


def synthetic_data(n_users=12, n_items=10, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=70, replace=False)
    ratings = pd.DataFrame(
        {
            "user_id": 100 + pairs // n_items,
            "item_id": 1000 + pairs % n_items,
            "rating": rng.integers(1, 6, pairs.size).astype(float),
            "timestamp": 900_000_000 + rng.integers(0, 10**7, pairs.size),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": 1000 + np.arange(n_items),
            "title": [f"Movie {i}" for i in range(n_items)],
            "genres": ["Drama|Comedy", "Action"] * (n_items // 2),
            "year": pd.array([1990 + i for i in range(n_items)], dtype="Int64"),
        }
    )
    users = pd.DataFrame(
        {
            "user_id": 100 + np.arange(n_users),
            "gender": ["F", "M"] * (n_users // 2),
            "age": [18, 25, 35] * (n_users // 3),
            "occupation": [1, 2] * (n_users // 2),
            "zip": ["12345", "54321"] * (n_users // 2),
        }
    )
    return ratings, items, users


def synthetic_recommender(features=("user", "item"), solver="sgd"):
    ratings, items, users = synthetic_data()
    model = FactorizationMachine(4, solver=solver, n_epochs=2, random_state=0)
    recommender = Recommender(model, features=features)
    recommender.fit(ratings, items, (1.0, 5.0), users=users)
    model = recommender.model
    model.w0_ = 3.0
    model.w_ = np.zeros_like(model.w_)
    model.V_ = np.zeros_like(model.V_)
    return recommender


def columns(recommender, group):
    encoder = recommender.encoder_
    number = encoder.group_names_.index(group)
    return np.flatnonzero(encoder.column_groups_ == number)


def known_pair(recommender):
    """Return a user with at least two rated items and an item they did not rate."""
    seen = recommender.seen_
    user_index = int(np.flatnonzero(np.diff(seen.indptr) >= 2)[0])
    unseen = np.setdiff1d(np.arange(seen.shape[1]), seen[user_index].indices)
    user_id = int(recommender.encoder_.users.ids[user_index])
    return user_id, user_index, int(recommender.encoder_.items.ids[unseen[0]])


def test_item_bias_sentence():
    recommender = synthetic_recommender()
    user, _, item = known_pair(recommender)
    item_index = recommender.encoder_.items.lookup([item])[0]
    recommender.model.w_[columns(recommender, "item")[item_index]] = 1.25
    explanation = explain(recommender, user, item)
    assert explanation.reason == "item_bias"
    assert "(+1.25)" in explanation.sentence
    n_ratings = int(recommender.item_counts_[item_index])
    assert explanation.evidence["n_ratings"] == n_ratings
    assert f"{n_ratings} ratings in training" in explanation.sentence


def test_item_features_sentence():
    recommender = synthetic_recommender(("user", "item", "item_attributes"))
    user, _, item = known_pair(recommender)
    item_index = recommender.encoder_.items.lookup([item])[0]
    active = recommender.encoder_.item_rows(np.array([item_index])).indices
    genres = np.intersect1d(active, columns(recommender, "item_attributes"))
    recommender.model.w_[genres] = 2.0
    explanation = explain(recommender, user, item)
    assert explanation.reason == "item_features"
    assert explanation.sentence.startswith(
        "Rated above average because of its genres and decade (+"
    )


def test_user_bias_sentence():
    recommender = synthetic_recommender()
    user, user_index, item = known_pair(recommender)
    recommender.model.w_[columns(recommender, "user")[user_index]] = 0.8
    explanation = explain(recommender, user, item)
    assert explanation.reason == "user_bias"
    assert explanation.sentence.startswith("You rate movies above average")


def test_average_sentence_when_nothing_lifts():
    recommender = synthetic_recommender()
    user, user_index, item = known_pair(recommender)
    recommender.model.w_[columns(recommender, "user")[user_index]] = -0.5
    explanation = explain(recommender, user, item)
    assert explanation.reason == "average"
    assert "average rating of 3.00" in explanation.sentence


def test_similar_rated_item_sentence():
    recommender = synthetic_recommender()
    user, user_index, item = known_pair(recommender)
    rng = np.random.default_rng(3)
    model = recommender.model
    model.V_ = rng.normal(size=model.V_.shape)
    item_columns = columns(recommender, "item")
    target = model.V_[item_columns[recommender.encoder_.items.lookup([item])[0]]]
    model.V_[columns(recommender, "user")[user_index]] = 5 * target
    rated = recommender.seen_[user_index].indices
    rated_factors = model.V_[item_columns[rated]]
    cosine = rated_factors @ target / np.linalg.norm(rated_factors, axis=1)
    expected = int(recommender.encoder_.items.ids[rated[np.argmax(cosine)]])

    explanation = explain(recommender, user, item)
    assert explanation.reason == "similar_rated_item"
    assert explanation.evidence["rated_item_id"] == expected
    title = recommender.catalogue_.set_index("item_id").loc[expected, "title"]
    assert explanation.sentence.startswith(f"Because you rated {title}:")
    assert "cosine similarity" in explanation.sentence


def test_implicit_rated_item_sentence():
    recommender = synthetic_recommender(("user", "item", "implicit_user"), "als")
    user, user_index, item = known_pair(recommender)
    model = recommender.model
    rng = np.random.default_rng(4)
    implicit = columns(recommender, "implicit_user")
    model.V_[implicit] = rng.normal(size=(implicit.size, model.V_.shape[1]))
    item_column = columns(recommender, "item")[
        recommender.encoder_.items.lookup([item])[0]
    ]
    rated = recommender.seen_[user_index].indices
    model.V_[item_column] = 4 * model.V_[implicit[rated[-1]]]
    contributions = model.V_[implicit[rated]] @ model.V_[item_column]
    expected = int(recommender.encoder_.items.ids[rated[np.argmax(contributions)]])

    explanation = explain(recommender, user, item)
    assert explanation.reason == "rated_item"
    assert explanation.evidence["rated_item_id"] == expected
    assert explanation.sentence.startswith("Because you rated Movie")


def test_similar_users_sentence():
    recommender = synthetic_recommender(("user", "item", "user_attributes"))
    user, user_index, item = known_pair(recommender)
    model = recommender.model
    # One active attribute column with factors, so no attribute pair adds up.
    active = recommender.encoder_.user_rows(np.array([user_index])).indices
    attribute = np.intersect1d(active, columns(recommender, "user_attributes"))[0]
    model.V_[attribute] = 0.5
    item_column = columns(recommender, "item")[
        recommender.encoder_.items.lookup([item])[0]
    ]
    model.V_[item_column] = 0.5
    explanation = explain(recommender, user, item)
    assert explanation.reason == "similar_users"
    assert explanation.sentence.startswith("Popular with users like you")


def test_new_user_sentence_names_liked_item():
    recommender = synthetic_recommender()
    model = recommender.model
    model.V_ = np.random.default_rng(5).normal(size=model.V_.shape)
    ids = recommender.encoder_.items.ids.tolist()
    ratings = {ids[0]: 5.0, ids[1]: 1.0, ids[2]: 4.0}
    explanation = explain_for_ratings(recommender, ratings, ids[6])
    assert explanation.reason == "similar_rated_item"
    # Only items rated at least the middle of the range (3) may be cited.
    assert explanation.evidence["rated_item_id"] in (ids[0], ids[2])
    assert " out of 5:" in explanation.sentence
    scores = recommender.recommend_for_ratings(ratings, len(ids)).items
    expected = scores.set_index("item_id").loc[ids[6], "score"]
    assert abs(explanation.score - expected) < 1e-9


def test_unknown_feature_group_is_rejected(monkeypatch):
    recommender = synthetic_recommender()
    monkeypatch.setattr(recommender.encoder_, "group_names_", ["user", "weather"])
    with pytest.raises(ValueError, match="'weather'"):
        feature_groups(recommender)
