"""Tests for FrameEncoder on hand-written frames and MovieLens 1M tables."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fmrec.datasets import load_movielens
from fmrec.features.frame import FORMAT, FrameEncoder


def small_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "color": ["red", "blue", "red", "green"],
            "size": [3, 1, 3, 2],
            "tags": ["a|b", "b", "", "c|a|c"],
            "price": [10.0, 20.0, 30.0, 40.0],
        }
    )


def small_encoder(**kwargs) -> FrameEncoder:
    return FrameEncoder(
        categorical=["color", "size"],
        multi_valued={"tags": "|"},
        numeric=["price"],
        **kwargs,
    )


def json_copy(encoder: FrameEncoder) -> FrameEncoder:
    return FrameEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))


def assert_same_matrix(left: sp.csr_matrix, right: sp.csr_matrix) -> None:
    assert left.shape == right.shape
    assert np.array_equal(left.indptr, right.indptr)
    assert np.array_equal(left.indices, right.indices)
    assert np.array_equal(left.data, right.data)


# ---------------------------------------------------------------- hand-written frames


def test_encode_small_frame_exactly():
    encoder = small_encoder()
    X = encoder.fit_transform(small_frame())
    # price: mean 25, population std sqrt(125).
    scale = np.sqrt(125.0)
    expected = [
        # blue green red | 1 2 3 | a b c | price
        [0, 0, 1, 0, 0, 1, 0.5, 0.5, 0, -15 / scale],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, -5 / scale],
        [0, 0, 1, 0, 0, 1, 0, 0, 0, 5 / scale],
        [0, 1, 0, 0, 1, 0, 0.5, 0, 0.5, 15 / scale],
    ]

    assert X.format == "csr"
    assert X.dtype == np.float64
    assert X.toarray().tolist() == expected


def test_groups_and_feature_names():
    encoder = small_encoder().fit(small_frame())

    assert encoder.groups_ == {
        "color": slice(0, 3),
        "size": slice(3, 6),
        "tags": slice(6, 9),
        "price": slice(9, 10),
    }
    assert encoder.n_features_ == 10
    assert encoder.get_feature_names_out().tolist() == [
        "color=blue",
        "color=green",
        "color=red",
        "size=1",
        "size=2",
        "size=3",
        "tags=a",
        "tags=b",
        "tags=c",
        "price",
    ]


def test_fitted_state_values():
    encoder = small_encoder().fit(small_frame())

    assert encoder.categories_ == {
        "color": ["blue", "green", "red"],
        "size": [1, 2, 3],
        "tags": ["a", "b", "c"],
    }
    assert encoder.means_ == {"price": 25.0}
    assert encoder.scales_ == {"price": np.sqrt(125.0)}


def test_multi_valued_without_normalisation():
    encoder = small_encoder(normalize_multi_valued=False)
    X = encoder.fit_transform(small_frame())

    assert X[:, encoder.groups_["tags"]].toarray().tolist() == [
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 0],
        [1, 0, 1],
    ]


def test_multi_valued_ignores_empty_pieces_and_repeats():
    frame = pd.DataFrame({"tags": ["x||y", "|", "y|y|y", "x;y"]})
    encoder = FrameEncoder(multi_valued={"tags": "|"})
    X = encoder.fit_transform(frame)

    assert encoder.categories_ == {"tags": ["x", "x;y", "y"]}
    assert X.toarray().tolist() == [[0.5, 0, 0.5], [0, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_multi_character_separator():
    frame = pd.DataFrame({"tags": ["a, b", "b"]})
    X = FrameEncoder(multi_valued={"tags": ", "}).fit_transform(frame)

    assert X.toarray().tolist() == [[0.5, 0.5], [0, 1]]


def test_numeric_uses_fit_statistics():
    encoder = FrameEncoder(numeric=["x"]).fit(pd.DataFrame({"x": [1.0, 3.0]}))
    X = encoder.transform(pd.DataFrame({"x": [2.0, 5.0, -1.0]}))

    assert X.toarray().ravel().tolist() == [0.0, 3.0, -3.0]


def test_constant_numeric_gets_unit_scale():
    encoder = FrameEncoder(numeric=["x"]).fit(pd.DataFrame({"x": [4, 4, 4]}))

    assert encoder.scales_ == {"x": 1.0}
    assert encoder.transform(pd.DataFrame({"x": [6]})).toarray().tolist() == [[2.0]]


def test_integer_and_nullable_numeric_columns():
    frame = pd.DataFrame({"x": pd.array([1, 3], dtype="Int64")})

    X = FrameEncoder(numeric=["x"]).fit_transform(frame)

    assert X.toarray().ravel().tolist() == [-1.0, 1.0]


def test_transform_ignores_row_index_labels():
    encoder = small_encoder().fit(small_frame())
    shuffled = small_frame().set_axis([7, 3, 99, -1])

    assert_same_matrix(encoder.transform(shuffled), encoder.transform(small_frame()))


# ---------------------------------------------------------------- unknown values


def test_unknown_values_encode_as_zero(caplog):
    encoder = small_encoder().fit(small_frame())
    new = pd.DataFrame(
        {
            "color": ["purple", "red"],
            "size": [3, 9],
            "tags": ["a|zzz", "zzz|yyy"],
            "price": [25.0, 25.0],
        }
    )
    with caplog.at_level(logging.WARNING, logger="fmrec.features.frame"):
        X = encoder.transform(new)

    assert X.toarray().tolist() == [
        [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert encoder.n_unknown_ == {"color": 1, "size": 1, "tags": 3}
    assert "1 value(s) of column 'color' in 2 rows were not seen" in caplog.text
    assert "3 value(s) of column 'tags'" in caplog.text
    assert len(caplog.records) == 3


def test_known_values_reset_unknown_counts(caplog):
    encoder = small_encoder().fit(small_frame())
    encoder.transform(small_frame().assign(color="purple"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fmrec.features.frame"):
        encoder.transform(small_frame())

    assert encoder.n_unknown_ == {"color": 0, "size": 0, "tags": 0}
    assert caplog.records == []


def test_integer_category_matches_float_value():
    encoder = FrameEncoder(categorical=["size"]).fit(pd.DataFrame({"size": [1, 2]}))

    X = encoder.transform(pd.DataFrame({"size": [2.0]}))

    assert X.toarray().tolist() == [[0, 1]]


# ---------------------------------------------------------------- invalid input


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_numeric_rejects_non_finite_in_fit(value):
    frame = pd.DataFrame({"price": [1.0, value]})

    with pytest.raises(
        ValueError, match="numeric column 'price' has 1 NaN or infinite"
    ):
        FrameEncoder(numeric=["price"]).fit(frame)


def test_numeric_rejects_nan_in_transform():
    encoder = FrameEncoder(numeric=["price"]).fit(pd.DataFrame({"price": [1.0, 2.0]}))
    frame = pd.DataFrame({"price": [1.0, None, None]}, index=[5, 6, 7])

    with pytest.raises(ValueError, match="'price' has 2 NaN .* first at index 6"):
        encoder.transform(frame)


def test_numeric_rejects_text_column():
    with pytest.raises(ValueError, match="'price' must have a numeric dtype"):
        FrameEncoder(numeric=["price"]).fit(pd.DataFrame({"price": ["1", "2"]}))


def test_categorical_rejects_missing_values():
    frame = pd.DataFrame({"color": ["red", None]})

    with pytest.raises(ValueError, match="column 'color' has 1 missing value"):
        FrameEncoder(categorical=["color"]).fit(frame)


def test_multi_valued_rejects_non_strings():
    frame = pd.DataFrame({"tags": ["a|b", 5]})

    with pytest.raises(ValueError, match="row 1 contains 5 of type int"):
        FrameEncoder(multi_valued={"tags": "|"}).fit(frame)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"no column\(s\) \['size'\]"):
        FrameEncoder(categorical=["color", "size"]).fit(pd.DataFrame({"color": ["a"]}))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs at least one column"),
        ({"categorical": ["a"], "numeric": ["a"]}, r"more than once: \['a'\]"),
        ({"multi_valued": {"a": ""}}, "must be a non-empty string"),
        ({"categorical": "color"}, "got the string 'color'"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameEncoder(**kwargs).fit(pd.DataFrame({"a": ["x"], "color": ["y"]}))


def test_fit_rejects_empty_frame():
    with pytest.raises(ValueError, match="no rows"):
        FrameEncoder(categorical=["a"]).fit(pd.DataFrame({"a": []}))


def test_methods_before_fit():
    encoder = FrameEncoder(categorical=["a"])

    with pytest.raises(RuntimeError, match="not fitted"):
        encoder.transform(pd.DataFrame({"a": ["x"]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        encoder.to_dict()
    with pytest.raises(RuntimeError, match="not fitted"):
        encoder.get_feature_names_out()


# ---------------------------------------------------------------- saving as JSON


def test_json_round_trip_gives_same_transform():
    encoder = small_encoder(normalize_multi_valued=False).fit(small_frame())
    copy = json_copy(encoder)
    new = small_frame().assign(color=["red", "pink", "blue", "blue"])

    assert copy.groups_ == encoder.groups_
    assert copy.categories_ == encoder.categories_
    assert copy.normalize_multi_valued is False
    assert_same_matrix(copy.transform(new), encoder.transform(new))
    assert copy.n_unknown_ == encoder.n_unknown_


def test_json_round_trip_mixed_category_types():
    frame = pd.DataFrame({"mixed": [1, "a", 2.5, False, "b"]})
    encoder = FrameEncoder(categorical=["mixed"]).fit(frame)
    copy = json_copy(encoder)

    assert copy.categories_ == {"mixed": [1, "a", 2.5, False, "b"]}
    assert_same_matrix(copy.transform(frame), encoder.transform(frame))


def test_to_dict_rejects_non_json_categories():
    frame = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-01-01"])})
    encoder = FrameEncoder(categorical=["when"]).fit(frame)

    with pytest.raises(TypeError, match="category .* of column 'when' has type"):
        encoder.to_dict()


def test_to_dict_layout():
    data = FrameEncoder(numeric=["x"]).fit(pd.DataFrame({"x": [0.0, 2.0]})).to_dict()

    assert data == {
        "format": FORMAT,
        "version": 1,
        "params": {
            "categorical": [],
            "multi_valued": {},
            "numeric": ["x"],
            "normalize_multi_valued": True,
        },
        "categories": {},
        "means": {"x": 1.0},
        "scales": {"x": 1.0},
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "other"}, "expected FrameEncoder state"),
        ({"version": 2}, "version=2"),
        ({"means": {}}, "incomplete FrameEncoder state"),
        ({"scales": {"price": 0.0}}, "scale of column 'price' must be > 0"),
        ({"categories": {"color": ["a", "a"], "size": [1], "tags": []}}, "repeat"),
    ],
)
def test_from_dict_rejects_bad_state(change, message):
    data = small_encoder().fit(small_frame()).to_dict()
    data.update(change)

    with pytest.raises(ValueError, match=message):
        FrameEncoder.from_dict(data)


# ---------------------------------------------------------------- MovieLens 1M


@pytest.fixture(scope="module")
def ml1m(movielens_dir):
    return load_movielens(movielens_dir / "ml-1m")


def ml1m_users(ml1m) -> pd.DataFrame:
    return ml1m.users.assign(zip_prefix=ml1m.users["zip"].str[:2])


USER_COLUMNS = ["gender", "age", "occupation", "zip_prefix"]


def test_movielens_users_one_hot(ml1m):
    users = ml1m_users(ml1m)
    encoder = FrameEncoder(categorical=USER_COLUMNS)
    X = encoder.fit_transform(users)

    assert X.shape == (6040, encoder.n_features_)
    assert encoder.categories_["gender"] == ["F", "M"]
    assert encoder.categories_["age"] == [1, 18, 25, 35, 45, 50, 56]
    assert encoder.categories_["occupation"] == list(range(21))
    assert np.array_equal(X.sum(axis=1).A1, np.full(6040, 4.0))
    for name in USER_COLUMNS:
        counts = users[name].value_counts()
        column_sums = X[:, encoder.groups_[name]].sum(axis=0).A1
        expected = [counts[value] for value in encoder.categories_[name]]
        assert column_sums.tolist() == expected, name


def test_movielens_first_user_columns(ml1m):
    users = ml1m_users(ml1m)
    encoder = FrameEncoder(categorical=USER_COLUMNS).fit(users)
    first = users.iloc[:1]
    names = encoder.get_feature_names_out()[encoder.transform(first).indices]

    assert first[USER_COLUMNS].iloc[0].tolist() == ["F", 1, 10, "48"]
    assert names.tolist() == ["gender=F", "age=1", "occupation=10", "zip_prefix=48"]


def test_movielens_genres_match_reference(ml1m):
    movies = ml1m.items
    encoder = FrameEncoder(multi_valued={"genres": "|"})
    X = encoder.fit_transform(movies).toarray()
    genres = encoder.categories_["genres"]

    expected = np.zeros((len(movies), len(genres)))
    for row, text in enumerate(movies["genres"]):
        names = set(text.split("|"))
        for name in names:
            expected[row, genres.index(name)] = 1.0 / len(names)

    assert len(genres) == 18
    assert "Film-Noir" in genres
    assert np.array_equal(X, expected)
    assert np.allclose(X.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_movielens_unknown_zip_prefixes_counted(ml1m):
    users = ml1m_users(ml1m)
    early = users[users["user_id"] <= 1000]
    late = users[users["user_id"] > 1000]
    encoder = FrameEncoder(categorical=["zip_prefix", "gender"]).fit(early)
    X = encoder.transform(late)
    expected_unknown = int((~late["zip_prefix"].isin(early["zip_prefix"])).sum())

    assert expected_unknown > 0
    assert encoder.n_unknown_ == {"zip_prefix": expected_unknown, "gender": 0}
    row_sums = X[:, encoder.groups_["zip_prefix"]].sum(axis=1).A1
    assert int((row_sums == 0).sum()) == expected_unknown


def test_movielens_ratings_json_round_trip(ml1m):
    sample = ml1m.ratings.iloc[::50]
    frame = sample.merge(ml1m_users(ml1m), on="user_id").merge(ml1m.items, on="item_id")
    frame["year"] = frame["year"].astype("float64")
    encoder = FrameEncoder(
        categorical=USER_COLUMNS,
        multi_valued={"genres": "|"},
        numeric=["timestamp", "year"],
    )
    X = encoder.fit_transform(frame)
    copy = json_copy(encoder)

    assert X.shape == (len(frame), encoder.n_features_)
    assert list(encoder.groups_) == [*USER_COLUMNS, "genres", "timestamp", "year"]
    assert encoder.means_["timestamp"] == frame["timestamp"].mean()
    assert_same_matrix(copy.transform(frame), X)
