"""Feature groups on hand-made and real MovieLens data."""

import numpy as np
import pandas as pd
import pytest

from fmrec import persistence
from fmrec.datasets import load_movielens
from fmrec.features import GROUPS, FeatureBuilder
from fmrec.features.groups import month_index
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender
from fmrec.split import random_split


def small_data():
    ratings = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 3],
            "item_id": [10, 20, 30, 10, 40, 20],
            "rating": [5.0, 3.0, 4.0, 2.0, 1.0, 4.0],
            # 2000-01-15, 2000-02-15, 2000-03-15 (UTC)
            "timestamp": [
                947894400,
                950572800,
                953078400,
                947894400,
                950572800,
                950572800,
            ],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "gender": ["F", "M", "M", "F"],
            "age": [1, 25, 25, 56],
            "occupation": [10, 3, 3, 0],
            "zip": ["48067", "70072", "55117", "02460"],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": [10, 20, 30, 40, 50],
            "title": ["A (1995)", "B (1987)", "C", "D (1995)", "E (1960)"],
            "genres": ["Comedy|Drama", "Drama", "Action|Comedy|Drama", "", "Drama"],
            "year": pd.array([1995, 1987, None, 1995, 1960], dtype="Int64"),
        }
    )
    return ratings, users, items


def group_columns(builder, name):
    index = builder.group_names_.index(name)
    return np.flatnonzero(builder.column_groups_ == index)


def test_builder_layout_and_values():
    ratings, users, items = small_data()
    builder = FeatureBuilder(GROUPS).fit(ratings, users, items)
    assert builder.group_names_ == [
        "user",
        "user_attributes",
        "implicit_user",
        "item",
        "item_attributes",
        "implicit_item",
        "time",
        "user_day",
    ]
    user_block = builder.user_block_.toarray()
    assert user_block.shape[0] == 3
    # Implicit feedback of user 1: items 10, 20, 30 at 1/sqrt(3).
    implicit = user_block[:, group_columns(builder, "implicit_user")]
    np.testing.assert_allclose(implicit[0], [1, 1, 1, 0] / np.sqrt(3))
    np.testing.assert_allclose(implicit[1], [1, 0, 0, 1] / np.sqrt(2))
    # User attributes: gender, age band, occupation, zip prefix, one each.
    attributes = user_block[:, group_columns(builder, "user_attributes")]
    np.testing.assert_array_equal(attributes.sum(axis=1), [4, 4, 4])
    # Users 2 and 3 share gender, age band and occupation but not the zip prefix.
    assert attributes[1] @ attributes[2] == 3
    assert attributes[0] @ attributes[1] == 0

    item_block = builder.item_block_.toarray()
    offset = builder.item_offset
    item_attributes = item_block[:, group_columns(builder, "item_attributes") - offset]
    # Genres sum to 1 per item; the decade one-hot adds 1 when the year is known.
    np.testing.assert_allclose(item_attributes.sum(axis=1), [2.0, 2.0, 1.0, 1.0])
    implicit_item = item_block[:, group_columns(builder, "implicit_item") - offset]
    np.testing.assert_allclose(implicit_item[0], [1, 1, 0] / np.sqrt(2))
    # Three training months and six (user, day) pairs.
    start = builder.time_offset
    assert group_columns(builder, "time").tolist() == list(range(start, start + 3))
    assert group_columns(builder, "user_day").tolist() == list(
        range(start + 3, start + 9)
    )
    assert builder.n_features == start + 9


def test_user_day_rows_of_training_and_new_ratings():
    ratings, users, items = small_data()
    builder = FeatureBuilder(GROUPS).fit(ratings, users, items)
    block = builder.transform(ratings).blocks[2]
    months = group_columns(builder, "time") - builder.time_offset
    days = group_columns(builder, "user_day") - builder.time_offset
    rows = block.matrix.toarray()[block.index]
    # Each rating's row: its month (Jan, Feb, Mar 2000) and its own user-day,
    # numbered by user and then day.
    np.testing.assert_array_equal(rows[:, months].argmax(axis=1), [0, 1, 2, 0, 1, 1])
    np.testing.assert_array_equal(rows[:, days].argmax(axis=1), [0, 1, 2, 3, 4, 5])
    assert rows.sum(axis=1).tolist() == [2.0] * 6
    assert block.index.tolist() == [0, 1, 2, 3, 4, 5]

    day = 86_400
    new = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 99],
            "item_id": [40, 20, 20, 10],
            # User 1 later on a training day and on a new day; user 2 on a
            # day only user 1 rated; an unknown user.
            "timestamp": [950572800 + 3600, 953078400 + day, 953078400, 950572800],
        }
    )
    block = builder.transform(new).blocks[2]
    rows = block.matrix.toarray()[block.index]
    np.testing.assert_array_equal(rows[:, months].argmax(axis=1), [1, 2, 2, 1])
    np.testing.assert_array_equal(rows[:, days].sum(axis=1), [1, 0, 0, 0])
    assert rows[0, days].argmax() == 1
    # Rows are numbered by key: the unknown user's first, then users 1 and 2.
    assert block.index.tolist() == [1, 2, 3, 0]


def test_unknown_ids_and_months():
    ratings, users, items = small_data()
    groups = [group for group in GROUPS if group != "user_day"]
    builder = FeatureBuilder(groups).fit(ratings, users, items)
    late = pd.DataFrame(
        {"user_id": [99, 1], "item_id": [10, 99], "timestamp": [1500000000, 0]}
    )
    blocks = builder.transform(late)
    assert blocks.blocks[0].index.tolist() == [-1, 0]
    assert blocks.blocks[1].index.tolist() == [0, -1]
    # Months outside the training range take the nearest training month.
    assert blocks.blocks[2].index.tolist() == [2, 0]
    assert month_index(np.array([947894400]))[0] == 2000 * 12


def test_builder_round_trips_through_arrays():
    ratings, users, items = small_data()
    builder = FeatureBuilder(GROUPS).fit(ratings, users, items)
    copy = FeatureBuilder.from_arrays(
        list(GROUPS), builder.group_names_, builder.to_arrays()
    )
    assert (
        copy.transform(ratings).to_sparse() != builder.transform(ratings).to_sparse()
    ).nnz == 0
    assert (copy.user_rows(np.arange(3)) != builder.user_rows(np.arange(3))).nnz == 0


@pytest.mark.parametrize(
    "groups, message",
    [
        (("user", "item", "colour"), "Unknown feature groups"),
        (("item",), "'user' is required"),
    ],
)
def test_builder_rejects_bad_groups(groups, message):
    ratings, users, items = small_data()
    with pytest.raises(ValueError, match=message):
        FeatureBuilder(groups).fit(ratings, users, items)


def test_builder_needs_tables_for_attributes():
    ratings, _, items = small_data()
    with pytest.raises(ValueError, match="needs a users table"):
        FeatureBuilder(("user", "item", "user_attributes")).fit(ratings, None, items)


def test_sgd_rejects_implicit_groups():
    ratings, users, items = small_data()
    rec = Recommender(FactorizationMachine(solver="sgd"), features=tuple(GROUPS))
    with pytest.raises(ValueError, match="need solver='als' or 'mcmc'"):
        rec.fit(ratings, items, users=users)


@pytest.fixture(scope="module")
def ml1m_split(movielens_dir):
    data = load_movielens(movielens_dir / "ml-1m")
    train, test = random_split(data.ratings, 0.2, 42)
    return data, train, test


def test_real_features_come_from_training_only(ml1m_split):
    data, train, test = ml1m_split
    builder = FeatureBuilder(GROUPS).fit(train, data.users, data.items)
    implicit = builder.user_block_[:, group_columns(builder, "implicit_user")]
    # Each user's implicit row lists exactly the movies rated in training.
    counts = train.groupby("user_id").size().to_numpy()
    np.testing.assert_array_equal(np.diff(implicit.tocsr().indptr), counts)
    user_one = set(builder.items.ids[implicit[0].indices])
    assert user_one == set(train.loc[train["user_id"] == 1, "item_id"])
    assert not user_one & set(test.loc[test["user_id"] == 1, "item_id"])
    # User 1 of MovieLens 1M: female, under 18, occupation 10, zip 48067.
    attributes = builder.user_block_[0, group_columns(builder, "user_attributes")]
    assert attributes.nnz == 4
    # Toy Story (1995) is Animation|Children's|Comedy: each genre weighs 1/3.
    toy_story = int(builder.items.lookup([1])[0])
    row = builder.item_block_[toy_story].toarray()[0]
    item_cols = group_columns(builder, "item_attributes") - builder.item_offset
    values = np.sort(row[item_cols][row[item_cols] > 0])
    np.testing.assert_allclose(values, [1 / 3, 1 / 3, 1 / 3, 1.0])


def test_mcmc_with_all_groups_beats_ids_only_on_real_data(ml1m_split, tmp_path):
    data, train, test = ml1m_split
    scores = {}
    for name, groups in (("ids", ("user", "item")), ("all", GROUPS)):
        model = FactorizationMachine(
            8,
            solver="mcmc",
            n_epochs=20,
            burn_in=4,
            n_kept_samples=8,
            init_std=0.1,
            random_state=0,
        )
        rec = Recommender(model, features=tuple(groups))
        rec.fit(train, data.items, rating_range=(1, 5), users=data.users)
        predicted = rec.predict(
            test["user_id"], test["item_id"], timestamps=test["timestamp"]
        )
        scores[name] = np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2))
        if name == "all":
            path = persistence.save(rec, tmp_path / "all.fmrec")
            again = persistence.load(path).predict(
                test["user_id"], test["item_id"], timestamps=test["timestamp"]
            )
            np.testing.assert_array_equal(again, predicted)
    assert scores["all"] < scores["ids"] - 0.01
    assert scores["all"] < 0.86


def test_recommender_predicts_with_user_day_terms():
    ratings, users, items = small_data()
    model = FactorizationMachine(
        3, solver="als", n_epochs=4, early_stopping=False, random_state=0
    )
    rec = Recommender(model, features=tuple(GROUPS))
    rec.fit(ratings, items, users=users, rating_range=(1, 5))
    builder = rec.encoder_
    w0, w, V = model.w0_, model.w_, model.V_

    def naive(user, item, month, user_day):
        # The input row put together by hand, then the FM of its definition.
        x = np.zeros(builder.n_features)
        user_row = builder.user_block_[builder.users.lookup([user])[0]]
        x[user_row.indices] = user_row.data
        item_row = builder.item_block_[builder.items.lookup([item])[0]]
        x[builder.item_offset + item_row.indices] = item_row.data
        x[group_columns(builder, "time")[month]] = 1.0
        if user_day is not None:
            x[group_columns(builder, "user_day")[user_day]] = 1.0
        pairwise = 0.0
        for j in range(x.size):
            for k in range(j + 1, x.size):
                pairwise += V[j] @ V[k] * x[j] * x[k]
        return w0 + w @ x + pairwise

    # User 2 rated on 2000-02-15 in training (user-day 4); 2000-02-20 is new.
    feb_15, feb_20 = 950572800 + 3600, 950572800 + 5 * 86_400
    got = rec.predict([2, 2], [30, 30], timestamps=[feb_15, feb_20], clip=False)
    np.testing.assert_allclose(got, [naive(2, 30, 1, 4), naive(2, 30, 1, None)])
    assert got[0] != got[1]
    # Without timestamps the pair sits in the latest month with no user-day.
    latest = rec.predict([2], [30], clip=False)
    np.testing.assert_allclose(latest, [naive(2, 30, 2, None)])


def test_real_user_days_come_from_training_only(ml1m_split):
    data, train, test = ml1m_split
    builder = FeatureBuilder(("user", "item", "user_day")).fit(train)
    day = 86_400
    train_pairs = set(zip(train["user_id"], train["timestamp"] // day, strict=True))
    test_pairs = list(zip(test["user_id"], test["timestamp"] // day, strict=True))
    assert builder.user_days_.size == len(train_pairs)
    block = builder.transform(test).blocks[2]
    has_day = np.asarray(block.matrix.sum(axis=1)).ravel()[block.index] > 0
    expected = np.array([pair in train_pairs for pair in test_pairs])
    np.testing.assert_array_equal(has_day, expected)
    # Most test ratings share a day with a training rating of their user.
    assert 0.9 < expected.mean() < 1.0


def test_timestamps_accept_datetimes_and_reject_missing():
    ratings, users, items = small_data()
    as_dates = ratings.assign(timestamp=pd.to_datetime(ratings["timestamp"], unit="s"))
    builder = FeatureBuilder(GROUPS).fit(ratings, users, items)
    from_dates = FeatureBuilder(GROUPS).fit(as_dates, users, items)
    np.testing.assert_array_equal(from_dates.user_days_, builder.user_days_)
    assert from_dates.months_ == builder.months_
    same = (
        builder.transform(as_dates).to_sparse()
        != builder.transform(ratings).to_sparse()
    )
    assert same.nnz == 0
    with pytest.raises(ValueError, match="value 2 is nan"):
        builder.transform(ratings.assign(timestamp=[0, 1, np.nan, 3, 4, 5]))
    with pytest.raises(ValueError, match="Timestamp 1 is missing"):
        builder.transform(
            as_dates.assign(timestamp=[as_dates["timestamp"][0], pd.NaT] * 3)
        )
