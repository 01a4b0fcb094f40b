"""Encoding, splitting, recommending and persistence on small hand-made data."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from fmrec import persistence
from fmrec.exceptions import ModelFileError
from fmrec.features import IdIndex
from fmrec.features.groups import FeatureBuilder
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender
from fmrec.split import fingerprint, random_split


def make_ratings(n_users=30, n_items=20, n_rows=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n_rows, replace=False)
    return pd.DataFrame(
        {
            "user_id": 100 + pairs // n_items,
            "item_id": 1000 + pairs % n_items,
            "rating": rng.integers(1, 6, n_rows).astype(float),
        }
    )


def make_items(n_items=20):
    ids = 1000 + np.arange(n_items)
    return pd.DataFrame(
        {
            "item_id": ids,
            "title": [f'Movie {i}: sequel, "quoted" (19{i:02d})' for i in ids % 100],
            "genres": ["Drama|Comedy"] * n_items,
            "year": pd.array([1900 + i % 100 for i in ids], dtype="Int64"),
        }
    )


@pytest.fixture(scope="module")
def fitted():
    ratings = make_ratings()
    model = FactorizationMachine(4, n_epochs=5, early_stopping=False, random_state=0)
    rec = Recommender(model).fit(ratings, make_items(), rating_range=(1.0, 5.0))
    return rec, ratings


def test_id_index_lookup_marks_unknown():
    index = IdIndex.fit(np.array([30, 10, 20, 10]))
    np.testing.assert_array_equal(index.ids, [10, 20, 30])
    np.testing.assert_array_equal(index.lookup([20, 5, 30, 31, 10]), [1, -1, 2, -1, 0])
    np.testing.assert_array_equal(IdIndex.fit([]).lookup([1]), [-1])


def test_encoder_builds_one_hot_blocks():
    train = pd.DataFrame({"user_id": [7, 9, 9], "item_id": [3, 4, 5]})
    encoder = FeatureBuilder().fit(train)
    X = encoder.blocks(np.array([0, 1, -1, 1]), np.array([2, -1, 0, 0])).to_sparse()
    expected = np.array(
        [
            [1, 0, 0, 0, 1],
            [0, 1, 0, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 1, 1, 0, 0],
        ]
    )
    np.testing.assert_array_equal(X.toarray(), expected)


@pytest.mark.parametrize("test_size, seed", [(0.2, 42), (0.25, 0), (0.1, 7)])
def test_random_split_equals_sklearn(test_size, seed):
    ratings = make_ratings(n_rows=333)
    train, test = random_split(ratings, test_size, seed)
    ref_train, ref_test = train_test_split(
        ratings, test_size=test_size, random_state=seed
    )
    pd.testing.assert_frame_equal(train, ref_train)
    pd.testing.assert_frame_equal(test, ref_test)


def test_random_split_rejects_bad_size():
    with pytest.raises(ValueError, match="test_size must be in the range"):
        random_split(make_ratings(), 1.5)


def test_fingerprint_changes_with_any_rating():
    ratings = make_ratings()
    changed = ratings.copy()
    changed.loc[5, "rating"] = changed.loc[5, "rating"] + 0.5
    assert fingerprint(ratings) == fingerprint(ratings.copy())
    assert fingerprint(ratings) != fingerprint(changed)


def test_score_users_matches_predict(fitted):
    rec, _ = fitted
    scores = rec.score_users(np.arange(len(rec.encoder_.users)))
    users = np.repeat(rec.encoder_.users.ids, len(rec.encoder_.items))
    items = np.tile(rec.encoder_.items.ids, len(rec.encoder_.users))
    pairwise = rec.predict(users, items, clip=False)
    np.testing.assert_allclose(scores.ravel(), pairwise, rtol=1e-12, atol=1e-12)


def test_recommend_never_returns_rated_items(fitted):
    rec, ratings = fitted
    for user in ratings["user_id"].unique():
        rated = set(ratings.loc[ratings["user_id"] == user, "item_id"])
        result = rec.recommend(int(user), 5)
        assert not rated & set(result.items["item_id"])
        assert not result.cold_start
        assert len(result.items) == min(5, 20 - len(rated))


def test_recommend_orders_by_predicted_score(fitted):
    rec, ratings = fitted
    user = int(ratings["user_id"].iloc[0])
    result = rec.recommend(user, 20)
    rated = set(ratings.loc[ratings["user_id"] == user, "item_id"])
    unrated = sorted(set(rec.encoder_.items.ids) - rated)
    predicted = rec.predict(np.full(len(unrated), user), np.array(unrated), clip=False)
    expected = [unrated[i] for i in np.lexsort((unrated, -predicted))]
    assert list(result.items["item_id"]) == expected
    ranks = np.arange(1, len(expected) + 1)
    np.testing.assert_array_equal(result.items["rank"], ranks)
    assert result.items["title"].iloc[0].startswith("Movie ")


def test_recommend_leaves_out_excluded_items(fitted):
    rec, ratings = fitted
    user = int(ratings["user_id"].iloc[0])
    first = rec.recommend(user, 3)
    excluded = first.items["item_id"].tolist()
    second = rec.recommend(user, 3, exclude=excluded)
    assert not set(excluded) & set(second.items["item_id"])


def test_short_list_is_explained():
    ratings = pd.DataFrame(
        {"user_id": [1, 1, 1, 2], "item_id": [10, 11, 12, 10], "rating": [5.0, 4, 3, 2]}
    )
    model = FactorizationMachine(2, n_epochs=2, early_stopping=False, random_state=0)
    rec = Recommender(model).fit(ratings)
    result = rec.recommend(2, 5)
    assert sorted(result.items["item_id"]) == [11, 12]
    assert result.note == "only 2 unrated items are left, fewer than n=5"
    empty = rec.recommend(1, 3)
    assert len(empty.items) == 0
    assert "only 0 unrated items" in empty.note


def test_unknown_user_gets_popularity(fitted):
    rec, ratings = fitted
    result = rec.recommend(999999, 4)
    assert result.cold_start
    assert "user 999999 is unknown" in result.note
    counts = ratings["item_id"].value_counts()
    expected = sorted(counts.index, key=lambda item: (-counts[item], item))[:4]
    assert list(result.items["item_id"]) == expected
    np.testing.assert_array_equal(result.items["score"], counts[expected].to_numpy())
    assert rec.recommend(None, 4).items["item_id"].tolist() == expected


def test_predict_repeats_single_values(fitted):
    rec, ratings = fitted
    users = ratings["user_id"].to_numpy()[:3]
    item = int(ratings["item_id"].iloc[0])
    np.testing.assert_array_equal(
        rec.predict(users, item), rec.predict(users, [item] * 3)
    )
    np.testing.assert_array_equal(
        rec.predict(users[0], [item, item]), rec.predict([users[0]] * 2, [item] * 2)
    )


def test_predict_rejects_unequal_lengths(fitted):
    rec, _ = fitted
    with pytest.raises(ValueError, match="Lengths differ: user_ids 3, item_ids 2"):
        rec.predict([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="item_ids 2, timestamps 3"):
        rec.predict([1, 2], [1, 2], timestamps=[0, 0, 0])
    with pytest.raises(ValueError, match="one-dimensional"):
        rec.predict([[1, 2]], [1, 2])


def test_predict_unknown_ids_is_finite(fitted):
    rec, _ = fitted
    values = rec.predict([999999, 100, 999999], [1000, 55555, 55555])
    assert np.isfinite(values).all()
    assert values[2] == pytest.approx(np.clip(rec.model.w0_, 1, 5))


def test_recommend_rejects_bad_n(fitted):
    rec, _ = fitted
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            rec.recommend(100, bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, "five"])
def test_fit_rejects_bad_rating_values(bad):
    ratings = make_ratings().astype({"rating": object})
    ratings.loc[7, "rating"] = bad
    model = FactorizationMachine(4, n_epochs=2, early_stopping=False)
    with pytest.raises(ValueError, match=f"the first is {bad!r} at row 7"):
        Recommender(model).fit(ratings)


def test_fit_rejects_equal_ratings_without_range():
    ratings = make_ratings().assign(rating=3.0)
    model = FactorizationMachine(4, n_epochs=2, early_stopping=False)
    with pytest.raises(ValueError, match="All 400 ratings are 3, so the rating range"):
        Recommender(model).fit(ratings)
    fitted = Recommender(model).fit(ratings, rating_range=(1.0, 5.0))
    assert fitted.rating_range_ == (1.0, 5.0)


def test_fit_rejects_empty_ratings():
    empty = make_ratings().iloc[:0]
    with pytest.raises(ValueError, match="zero ratings"):
        Recommender().fit(empty)


def test_save_load_round_trip_is_bitwise(fitted, tmp_path):
    rec, ratings = fitted
    rec.info["note"] = "round trip"
    path = persistence.save(rec, tmp_path / "model.fmrec")
    loaded = persistence.load(path)
    users, items = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
    np.testing.assert_array_equal(
        loaded.predict(users, items), rec.predict(users, items)
    )
    np.testing.assert_array_equal(loaded.model.V_, rec.model.V_)
    assert loaded.model.get_params() == rec.model.get_params()
    assert loaded.info == rec.info
    assert loaded.rating_range_ == (1.0, 5.0)
    pd.testing.assert_frame_equal(loaded.catalogue_, rec.catalogue_)
    user = int(users[0])
    pd.testing.assert_frame_equal(
        loaded.recommend(user, 5).items, rec.recommend(user, 5).items
    )
    assert (loaded.seen_ != rec.seen_).nnz == 0
    assert [p.name for p in tmp_path.iterdir()] == ["model.fmrec"]


@pytest.mark.parametrize(
    "switches",
    [
        {"fit_bias": False, "reg_bias": 0.5},
        {"fit_linear": False},
        {"fit_bias": False, "fit_linear": False},
        {"reg_bias": 0.5},
    ],
)
def test_save_load_keeps_bias_switches(switches, tmp_path):
    ratings = make_ratings()
    model = FactorizationMachine(
        4, n_epochs=5, early_stopping=False, random_state=0, **switches
    )
    rec = Recommender(model).fit(ratings, make_items(), rating_range=(1.0, 5.0))
    loaded = persistence.load(persistence.save(rec, tmp_path / "model.fmrec"))
    for name, value in switches.items():
        assert getattr(loaded.model, name) == value
    assert loaded.model.get_params() == rec.model.get_params()
    users, items = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
    np.testing.assert_array_equal(
        loaded.predict(users, items), rec.predict(users, items)
    )
    assert loaded.model.w0_ == rec.model.w0_
    np.testing.assert_array_equal(loaded.model.w_, rec.model.w_)


def test_load_model_saved_without_bias_switches(fitted, tmp_path):
    """Files written before the bias switches existed load with the defaults."""
    rec, ratings = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    with np.load(path) as archive:
        meta = json.loads(archive["meta"].tobytes().decode())
    for name in ("fit_bias", "fit_linear", "reg_bias"):
        del meta["params"][name]
    rewrite_archive(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    loaded = persistence.load(path)
    assert loaded.model.fit_bias is True
    assert loaded.model.fit_linear is True
    assert loaded.model.reg_bias == 0.0
    users, items = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
    np.testing.assert_array_equal(
        loaded.predict(users, items), rec.predict(users, items)
    )


def test_save_load_keeps_penalties_per_group(tmp_path):
    ratings = make_ratings()
    model = FactorizationMachine(
        4,
        solver="als",
        n_epochs=3,
        early_stopping=False,
        reg_w=np.array([1.0, 3.0]),
        reg_v=[10.0, 20.0],
        random_state=0,
    )
    rec = Recommender(model).fit(ratings, make_items(), rating_range=(1.0, 5.0))
    assert rec.encoder_.group_names_ == ["user", "item"]
    again = persistence.load(persistence.save(rec, tmp_path / "model.fmrec"))
    assert again.model.reg_w == [1.0, 3.0]
    assert again.model.reg_v == [10.0, 20.0]
    users, items = ratings["user_id"][:5], ratings["item_id"][:5]
    np.testing.assert_array_equal(
        again.predict(users, items), rec.predict(users, items)
    )
    # Fold-in penalises the new user's terms with the user group's values:
    # the ridge gradient is zero with reg_w 1 and reg_v 10, not 3 and 20.
    user = int(users.iloc[0])
    own = ratings[ratings["user_id"] == user]
    bias, factors = again.fold_in(dict(zip(own["item_id"], own["rating"], strict=True)))
    index = again.encoder_.items.lookup(own["item_id"].to_numpy())
    scalar, item_factors = again._catalogue_terms()
    residual = (
        own["rating"].to_numpy()
        - again.model.w0_
        - scalar[index]
        - bias
        - item_factors[index] @ factors
    )
    m = len(own)
    assert residual.sum() == pytest.approx(m * 1.0 * bias, abs=1e-9)
    np.testing.assert_allclose(
        item_factors[index].T @ residual, m * 10.0 * factors, atol=1e-9
    )


def test_load_rejects_truncated_file(fitted, tmp_path):
    rec, _ = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = r"model\.fmrec: not a readable fmrec model file \(a truncated or corrupt"
    with pytest.raises(ModelFileError, match=message):
        persistence.load(path)


def test_load_rejects_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    with pytest.raises(
        ModelFileError, match="this file is not a zip archive"
    ) as caught:
        persistence.load(text)
    assert "pickle" not in str(caught.value)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(ModelFileError, match="missing entries"):
        persistence.load(other)
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        persistence.load(tmp_path / "absent.fmrec")


def rewrite_archive(path, **changes):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return arrays


def test_load_rejects_other_format_version(fitted, tmp_path):
    rec, _ = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    with np.load(path) as archive:
        meta = archive["meta"].tobytes().decode()
    meta = meta.replace('"format_version": 1', '"format_version": 99')
    rewrite_archive(path, meta=np.frombuffer(meta.encode(), np.uint8))
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        persistence.load(path)


def test_load_never_unpickles(fitted, tmp_path):
    rec, _ = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    rewrite_archive(path, w=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError, match="contains Python objects") as caught:
        persistence.load(path)
    assert "allow_pickle" not in str(caught.value)


def test_failed_save_leaves_old_file(fitted, tmp_path, monkeypatch):
    rec, _ = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        persistence.save(rec, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.fmrec"]


def test_fold_in_recovers_trained_user(fitted):
    """Folding in a user's own ratings solves the ridge problem exactly."""
    rec, ratings = fitted
    user = int(ratings["user_id"].iloc[0])
    own = ratings[ratings["user_id"] == user]
    given = dict(zip(own["item_id"], own["rating"], strict=True))
    bias, factors = rec.fold_in(given)
    # Gradient of the ridge objective at the solution is zero.
    items = rec.encoder_.items.lookup(own["item_id"].to_numpy())
    scalar, item_factors = rec._catalogue_terms()
    residual = (
        own["rating"].to_numpy()
        - rec.model.w0_
        - scalar[items]
        - bias
        - item_factors[items] @ factors
    )
    m = len(own)
    reg_w, reg_v = rec.model.regularization()
    assert (reg_w, reg_v) == (0.02, 0.05)
    assert residual.sum() == pytest.approx(m * reg_w * bias, abs=1e-9)
    np.testing.assert_allclose(
        item_factors[items].T @ residual, m * reg_v * factors, atol=1e-9
    )


def test_fold_in_without_linear_weights_fixes_bias():
    """A model without linear weights folds in the factors alone."""
    ratings = make_ratings()
    model = FactorizationMachine(
        4, n_epochs=5, early_stopping=False, fit_linear=False, random_state=0
    )
    rec = Recommender(model).fit(ratings, make_items(), rating_range=(1.0, 5.0))
    user = int(ratings["user_id"].iloc[0])
    own = ratings[ratings["user_id"] == user]
    bias, factors = rec.fold_in(dict(zip(own["item_id"], own["rating"], strict=True)))
    assert bias == 0.0
    items = rec.encoder_.items.lookup(own["item_id"].to_numpy())
    scalar, item_factors = rec._catalogue_terms()
    residual = (
        own["rating"].to_numpy()
        - rec.model.w0_
        - scalar[items]
        - item_factors[items] @ factors
    )
    # The factor part of the ridge objective's gradient is zero.
    m = len(own)
    reg_v = rec.model.regularization()[1]
    np.testing.assert_allclose(
        item_factors[items].T @ residual, m * reg_v * factors, atol=1e-9
    )
    # The residuals have a non-zero mean, so a solve that also fitted a user
    # bias would have given other factors.
    assert abs(residual.mean()) > 1e-3


def test_recommend_for_ratings_skips_rated(fitted):
    rec, _ = fitted
    given = {1000: 5.0, 1003: 1.0, 424242: 4.0}
    result = rec.recommend_for_ratings(given, 5)
    assert not result.cold_start
    assert len(result.items) == 5
    assert not {1000, 1003} & set(result.items["item_id"])
    bias, factors = rec.fold_in(given)
    unrated = [i for i in rec.encoder_.items.ids if i not in given]
    scalar, item_factors = rec._catalogue_terms()
    index = rec.encoder_.items.lookup(np.array(unrated))
    scores = rec.model.w0_ + bias + scalar[index] + item_factors[index] @ factors
    expected = [unrated[i] for i in np.lexsort((unrated, -scores))[:5]]
    assert result.items["item_id"].tolist() == expected


def test_recommend_for_unknown_ratings_is_cold_start(fitted):
    rec, _ = fitted
    result = rec.recommend_for_ratings({424242: 4.0}, 3)
    assert result.cold_start
    assert "no rated item is known" in result.note


def test_similar_items_by_cosine(fitted):
    rec, _ = fitted
    frame = rec.similar_items(1000, 3)
    _, factors = rec._catalogue_terms()
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    cosine = unit @ unit[0]
    cosine[0] = -np.inf
    expected = rec.encoder_.items.ids[np.argsort(-cosine, kind="stable")[:3]]
    assert frame["item_id"].tolist() == expected.tolist()
    np.testing.assert_allclose(frame["similarity"], np.sort(cosine)[::-1][:3])
    with pytest.raises(KeyError, match="item 7 is not in the model"):
        rec.similar_items(7)


@pytest.mark.parametrize(
    "entry, replacement, message",
    [
        ("w", lambda a: a[:10], "w has shape"),
        ("w", lambda a: np.full_like(a, np.nan), "w contains NaN"),
        ("V", lambda a: a.astype(str), "V has dtype"),
        ("item_counts", lambda a: a[:-1], "item_counts does not have one entry"),
        ("seen_indices", lambda a: a + 1000, "outside the catalogue"),
    ],
)
def test_load_rejects_inconsistent_entries(
    fitted, tmp_path, entry, replacement, message
):
    rec, _ = fitted
    path = persistence.save(rec, tmp_path / "model.fmrec")
    with np.load(path) as archive:
        original = archive[entry]
    rewrite_archive(path, **{entry: replacement(original)})
    with pytest.raises(ModelFileError, match=message):
        persistence.load(path)


def test_saved_model_gets_umask_permissions(fitted, tmp_path):
    rec, _ = fitted
    umask = os.umask(0o022)
    try:
        path = persistence.save(rec, tmp_path / "model.fmrec")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
