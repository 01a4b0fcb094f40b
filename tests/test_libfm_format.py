"""Tests for the libFM / libSVM reader and writer in fmrec.datasets.libfm."""

from __future__ import annotations

import io
import json
import logging
import random
import re

import numpy as np
import pytest
import scipy.sparse as sp

from fmrec.datasets import libfm, load_movielens
from fmrec.datasets.libfm import (
    FeatureIndex,
    read_libfm,
    read_libfm_files,
    write_libfm,
)
from fmrec.exceptions import DataFormatError
from fmrec.features import IdIndex


def read_text(text: str, **kwargs) -> libfm.LibFMData:
    return read_libfm(io.BytesIO(text.encode()), **kwargs)


def dense(data: libfm.LibFMData) -> list[list[float]]:
    return data.X.toarray().tolist()


def reference_parse(text: str, base: int) -> tuple[list[float], list[dict[int, float]]]:
    """Parse libFM text line by line with Python's own int and float."""
    labels, rows = [], []
    for line in text.split("\n"):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        labels.append(float(tokens[0]))
        row = {}
        for token in tokens[1:]:
            index, value = token.split(":")
            row[int(index)] = float(value)
        rows.append(row)
    return labels, rows


# ---------------------------------------------------------------- reading


def test_read_hand_written_file():
    data = read_text("1 3:1 1:0.5\n-2.5 2:4 4:1e-3\n", base=1)

    assert data.y.tolist() == [1.0, -2.5]
    assert dense(data) == [[0.5, 0.0, 1.0, 0.0], [0.0, 4.0, 0.0, 0.001]]
    assert data.features.raw.tolist() == [1, 2, 3, 4]
    assert data.n_unseen == 0
    assert data.source == "<stream>"


def test_read_base_zero_accepts_index_zero():
    data = read_text("1 0:2 2:3\n", base=0)

    assert dense(data) == [[2.0, 3.0]]
    assert data.features.raw.tolist() == [0, 2]
    assert data.features.base == 0


def test_read_comments_blank_lines_and_crlf():
    text = (
        "# header comment\r\n"
        "\r\n"
        "1 2:1 # trailing comment 5:5\r\n"
        "   \t \r\n"
        "0#label-only row with a comment\r\n"
        "3\t1:2\t2:0.5\r\n"
    )
    data = read_text(text, base=1)

    assert data.y.tolist() == [1.0, 0.0, 3.0]
    assert dense(data) == [[0.0, 1.0], [0.0, 0.0], [2.0, 0.5]]


@pytest.mark.parametrize("text", ["1 2:1\n3 1:2\n", "1 2:1\n3 1:2", "1\n"])
def test_read_skips_utf8_byte_order_mark(text):
    plain = read_libfm(io.BytesIO(text.encode()), base=1)
    marked = read_libfm(io.BytesIO(b"\xef\xbb\xbf" + text.encode()), base=1)

    assert marked.y.tolist() == plain.y.tolist()
    assert dense(marked) == dense(plain)


def test_read_byte_order_mark_only_in_first_line():
    with pytest.raises(DataFormatError, match="line 2"):
        read_libfm(io.BytesIO(b"1 2:1\n\xef\xbb\xbf3 1:2\n"), base=1)


def test_read_label_only_rows_are_all_zero():
    data = read_text("5\n4 1:1\n3\n", base=1)

    assert data.y.tolist() == [5.0, 4.0, 3.0]
    assert data.X.indptr.tolist() == [0, 0, 1, 1]
    assert data.X.shape == (3, 1)


def test_read_sorts_unsorted_indices():
    data = read_text("1 9:0.9 3:0.3 7:0.7 1:0.1\n", base=1)

    assert data.X.indices.tolist() == [0, 1, 2, 3]
    assert data.X.data.tolist() == [0.1, 0.3, 0.7, 0.9]
    assert data.X.has_sorted_indices


def test_read_last_line_without_line_end():
    data = read_text("1 1:1\n2 2:2", base=1)

    assert data.y.tolist() == [1.0, 2.0]
    assert dense(data) == [[1.0, 0.0], [0.0, 2.0]]


def test_read_empty_file():
    data = read_text("", base=0)

    assert data.X.shape == (0, 0)
    assert data.y.shape == (0,)


@pytest.mark.parametrize(
    "text, value",
    [
        ("+3", 3.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-0", -0.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("1e-400", 0.0),
        ("0.1000000000000000055511151231257827021181583404541015625", 0.1),
        ("9007199254740993", 9007199254740992.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9406564584124654e-324", 5e-324),
    ],
)
def test_read_number_forms(text, value):
    data = read_text(f"{text} 1:{text}\n", base=1)

    assert data.y[0] == value
    assert data.X.data[0] == value
    assert np.signbit(data.y[0]) == np.signbit(value)


def test_read_full_precision_values_exact():
    rng = np.random.default_rng(0)
    numbers = np.concatenate(
        [
            rng.normal(size=500),
            rng.uniform(-1e300, 1e300, 200),
            10.0 ** -rng.integers(0, 320, 100),
        ]
    )
    lines = [f"{x!r} 1:{x!r} 2:{x:.17g} 3:{x:.6g}" for x in numbers.tolist()]
    data = read_text("\n".join(lines), base=1)
    X = data.X.toarray()

    assert np.array_equal(data.y, numbers)
    assert np.array_equal(X[:, 0], numbers)
    assert np.array_equal(X[:, 1], numbers)
    assert np.array_equal(X[:, 2], [float(f"{x:.6g}") for x in numbers.tolist()])


def random_libfm_text(rng: random.Random, n_rows: int) -> str:
    """Random valid libFM text with mixed spacing, comments, CRLF and number forms."""
    forms = [
        lambda x: repr(x),
        lambda x: f"{x:.3f}",
        lambda x: f"{x:.17g}",
        lambda x: f"{x:e}",
        lambda x: str(int(x)),
        lambda x: f"{x:.25f}",
    ]
    lines = []
    for _ in range(n_rows):
        kind = rng.random()
        if kind < 0.05:
            lines.append(rng.choice(["", "   ", "# comment 1:2", "\t# x"]))
            continue
        label = rng.choice(forms)(rng.uniform(-100, 100))
        indices = rng.sample(range(0, 60), rng.randint(0, 8))
        pairs = [f"{i}:{rng.choice(forms)(rng.gauss(0, 10))}" for i in indices]
        separator = rng.choice([" ", "\t", "  ", " \t "])
        line = separator.join([label, *pairs])
        if rng.random() < 0.1:
            line += " # comment 99:1"
        if rng.random() < 0.2:
            line += "\r"
        lines.append(line)
    return "\n".join(lines) + rng.choice(["", "\n"])


@pytest.mark.parametrize("seed", range(5))
def test_read_matches_python_reference(seed):
    text = random_libfm_text(random.Random(seed), 400)
    labels, rows = reference_parse(text, base=0)
    data = read_text(text, base=0)
    raw = data.features.raw

    assert data.y.tolist() == labels
    assert data.X.shape[0] == len(rows)
    for row, expected in enumerate(rows):
        start, end = data.X.indptr[row], data.X.indptr[row + 1]
        got = dict(
            zip(
                raw[data.X.indices[start:end]].tolist(),
                data.X.data[start:end].tolist(),
                strict=True,
            )
        )
        assert got == expected, f"row {row}"


@pytest.mark.parametrize("length", [5, 33, 200])
def test_read_unsorted_row_keeps_value_pairs(length):
    # Full-precision values go through the exact converter, whose slots must
    # follow the sort of the row.
    rng = np.random.default_rng(length)
    indices = rng.permutation(10 * length)[:length]
    numbers = rng.normal(size=length)
    texts = [f"{x:.25f}" if i % 2 else repr(x) for i, x in enumerate(numbers.tolist())]
    line = "7 " + " ".join(f"{i}:{t}" for i, t in zip(indices, texts, strict=True))
    data = read_text(line + "\n", base=0)
    order = np.argsort(indices)

    assert data.features.raw.tolist() == indices[order].tolist()
    assert data.X.data.tolist() == [float(texts[i]) for i in order]


def test_read_small_blocks_give_same_result(monkeypatch, tmp_path):
    text = random_libfm_text(random.Random(7), 3000)
    path = tmp_path / "rows.libfm"
    path.write_text(text)
    whole = read_libfm(path, base=0)
    monkeypatch.setattr(libfm, "_BLOCK_BYTES", 97)
    blocks = read_libfm(path, base=0)

    assert np.array_equal(blocks.y, whole.y)
    assert np.array_equal(blocks.X.indptr, whole.X.indptr)
    assert np.array_equal(blocks.X.indices, whole.X.indices)
    assert np.array_equal(blocks.X.data, whole.X.data)


def test_read_error_line_in_later_block(monkeypatch, tmp_path):
    path = tmp_path / "bad.libfm"
    lines = ["1 1:1 2:1"] * 500
    lines[377] = "1 1:1 2:x"
    lines[450] = "bad"
    path.write_text("\n".join(lines))
    monkeypatch.setattr(libfm, "_BLOCK_BYTES", 64)

    with pytest.raises(DataFormatError) as caught:
        read_libfm(path, base=1)
    assert caught.value.line == 378
    assert caught.value.path == str(path)


def test_read_path_and_file_object(tmp_path):
    path = tmp_path / "train.libfm"
    path.write_bytes(b"1 1:1\n")

    assert dense(read_libfm(path, base=1)) == [[1.0]]
    assert dense(read_libfm(str(path), base=1)) == [[1.0]]
    with open(path, "rb") as stream:
        assert read_libfm(stream, base=1).source == str(path)


def test_read_rejects_text_mode_file(tmp_path):
    path = tmp_path / "train.libfm"
    path.write_text("1 1:1\n")

    with open(path) as stream, pytest.raises(TypeError, match="binary mode"):
        read_libfm(stream, base=1)


@pytest.mark.parametrize("base", [2, -1, True, None])
def test_read_rejects_invalid_base(base):
    with pytest.raises(ValueError, match="base must be 0 or 1"):
        read_text("1 1:1\n", base=base)


# ---------------------------------------------------------------- format errors

ERROR_CASES = [
    ("1 3:1 2:1 3:2", "feature index 3 repeats in the row, at '3:2'"),
    ("1 -3:1", "negative feature index in '-3:1', expected >= 1"),
    ("1 0:1", "feature index 0 in '0:1' is below the base 1"),
    ("1 2147483648:1 9223372036854775808:1", "'9223372036854775808:1' overflows int64"),
    ("1 99999999999999999999999:1", "overflows int64"),
    ("x 1:1", "invalid label 'x', expected a decimal number"),
    ("nan 1:1", "invalid label 'nan'"),
    ("1 1:inf", "invalid feature value 'inf' in '1:inf'"),
    ("1 2:abc", "invalid feature value 'abc' in '2:abc'"),
    ("1 2:1e400", "feature value '1e400' is outside the float64 range"),
    ("-1e999 2:1", "label '-1e999' is outside the float64 range"),
    ("1:1 2:1", "missing label: the line starts with the feature '1:1'"),
    ("1 2", "invalid feature '2', expected index:value"),
    ("1 2:", "invalid feature value '' in '2:'"),
    ("1 :3", "invalid feature index in ':3'"),
    ("1 +2:1", "invalid feature index in '+2:1'"),
    ("1 2.0:1", "invalid feature index in '2.0:1'"),
    ("1 2:1:3", "invalid feature value '1:3' in '2:1:3'"),
    ("1 2:1e", "invalid feature value '1e' in '2:1e'"),
    ("1 2:.", "invalid feature value '.' in '2:.'"),
    ("1 2:1\x002", "invalid feature value '1\\x002'"),
    ("1 5:1.000000000000000000001 5:2", "feature index 5 repeats"),
    (
        "1 "
        + " ".join(f"{i}:0.1000000000000000000001" for i in [*range(40, 0, -1), 7]),
        "feature index 7 repeats",
    ),
]


@pytest.mark.parametrize("line, message", ERROR_CASES)
def test_read_error_names_file_line_and_token(tmp_path, line, message):
    path = tmp_path / "bad.libfm"
    path.write_text("# comment\n1 1:1\n\n" + line + "\n2 2:2\n")

    with pytest.raises(DataFormatError, match=re.escape(message)) as caught:
        read_libfm(path, base=1)
    assert caught.value.path == str(path)
    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path}, line 4: ")


def test_read_reports_first_bad_line():
    # Line 2 fails only in the exact converter, line 3 already in the kernel.
    text = "1 1:1\n1 1:1e999\n1 x\n"

    with pytest.raises(DataFormatError) as caught:
        read_text(text, base=1)
    assert caught.value.line == 2


def test_read_error_line_counts_crlf_once():
    with pytest.raises(DataFormatError) as caught:
        read_text("1 1:1\r\n\r\n1 1:1 1:2\r\n", base=1)
    assert caught.value.line == 3


# ---------------------------------------------------------------- feature spaces


def test_large_indices_map_to_compact_columns():
    data = read_text(f"1 {2**40}:1 {2**62}:2\n0 5:3 {2**40}:4\n", base=1)

    assert data.X.shape == (2, 3)
    assert data.features.raw.tolist() == [5, 2**40, 2**62]
    assert dense(data) == [[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]]


def test_unseen_indices_dropped_and_logged(caplog):
    train = read_text("1 1:1 2:1 5:1\n", base=1)
    with caplog.at_level(logging.WARNING, logger="fmrec.datasets.libfm"):
        test = read_text(
            "1 1:1 3:7 9:1\n0 3:1 2:1\n1 9:2\n", base=1, features=train.features
        )

    assert test.X.shape == (3, 3)
    assert dense(test) == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert test.n_unseen == 4
    assert test.features is train.features
    assert "dropped 4 value(s) of 2 feature index(es)" in caplog.text


def test_seen_features_log_nothing(caplog):
    train = read_text("1 1:1 2:1\n", base=1)
    with caplog.at_level(logging.WARNING, logger="fmrec.datasets.libfm"):
        read_text("1 2:1\n", base=1, features=train.features)

    assert caplog.records == []


def test_test_file_with_fewer_columns_keeps_width():
    train = read_text("1 1:1 2:1 3:1 4:1\n", base=1)
    test = read_text("1 2:5\n", base=1, features=train.features)

    assert test.X.shape == (1, 4)
    assert dense(test) == [[0.0, 5.0, 0.0, 0.0]]
    assert test.n_unseen == 0


def test_read_rejects_base_other_than_features():
    train = read_text("1 1:1\n", base=1)

    with pytest.raises(ValueError, match="base=0 differs"):
        read_text("1 1:1\n", base=0, features=train.features)


def test_read_files_share_training_columns(tmp_path):
    paths = {}
    for name, text in {
        "train": "1 10:1 20:1\n0 30:1\n",
        "valid": "1 20:2 40:1\n",
        "test": "0 10:3\n",
    }.items():
        paths[name] = tmp_path / f"{name}.libfm"
        paths[name].write_text(text)

    data = read_libfm_files(paths, base=0)

    assert list(data) == ["train", "valid", "test"]
    assert data["train"].features.raw.tolist() == [10, 20, 30]
    assert data["valid"].features is data["train"].features
    assert dense(data["valid"]) == [[0.0, 2.0, 0.0]]
    assert data["valid"].n_unseen == 1
    assert dense(data["test"]) == [[3.0, 0.0, 0.0]]


def test_read_files_rejects_unknown_fit_name(tmp_path):
    with pytest.raises(KeyError, match="fit='train' names no file"):
        read_libfm_files({"a": tmp_path / "a"}, base=0)


def test_feature_index_lookup_paths_agree():
    rng = np.random.default_rng(1)
    near = FeatureIndex(np.unique(rng.integers(0, 1000, 300)), base=0)
    far = FeatureIndex(np.unique(rng.integers(0, 2**60, 300)), base=0)

    for index in (near, far):
        query = np.concatenate([index.raw, index.raw + 1, [-5, 2**62]])
        expected = [
            index.raw.tolist().index(q) if q in set(index.raw.tolist()) else -1
            for q in query.tolist()
        ]
        assert index.lookup(query).tolist() == expected


def test_feature_index_json_round_trip():
    index = read_text(f"1 3:1 {2**50}:1 0:1\n", base=0).features
    restored = FeatureIndex.from_dict(json.loads(json.dumps(index.to_dict())))

    assert restored.raw.tolist() == [0, 3, 2**50]
    assert restored.base == 0
    assert restored == index


def test_feature_index_rejects_unsorted_raw():
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureIndex(np.array([3, 1]), base=0)
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureIndex(np.array([0, 1]), base=1)


# ---------------------------------------------------------------- writing


def test_write_hand_written_rows(tmp_path):
    X = sp.csr_matrix(np.array([[0.0, 1.0, 0.25], [0.0, 0.0, 0.0], [-3.0, 0.1, 0.0]]))
    path = tmp_path / "out.libfm"
    write_libfm(path, X, [1.0, 0.0, -2.5], base=1)

    assert path.read_text() == "1 2:1 3:0.25\n0\n-2.5 1:-3 2:0.1\n"


def test_write_base_zero_and_raw_features(tmp_path):
    X = sp.csr_matrix(np.array([[1.0, 2.0]]))
    features = FeatureIndex(np.array([7, 2**40]), base=0)

    write_libfm(tmp_path / "a", X, [1], base=0)
    write_libfm(tmp_path / "b", X, [1], base=0, features=features)

    assert (tmp_path / "a").read_text() == "1 0:1 1:2\n"
    assert (tmp_path / "b").read_text() == f"1 7:1 {2**40}:2\n"


def test_write_to_file_object():
    stream = io.BytesIO()
    write_libfm(stream, np.array([[0.0, 5.5]]), [2.0], base=1)

    assert stream.getvalue() == b"2 2:5.5\n"


def test_write_keeps_stored_zeros_and_sums_duplicates(tmp_path):
    X = sp.csr_matrix(
        (np.array([0.0, 1.0, 2.0]), np.array([0, 2, 2]), np.array([0, 3])), shape=(1, 3)
    )
    path = tmp_path / "out.libfm"
    write_libfm(path, X, [1.0], base=0)

    assert path.read_text() == "1 0:0 2:3\n"


def test_write_rejects_non_finite(tmp_path):
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        write_libfm(tmp_path / "x", np.array([[np.nan, 1.0]]), [1.0], base=0)
    with pytest.raises(ValueError, match="y contains 1 NaN or infinite"):
        write_libfm(tmp_path / "x", np.array([[1.0]]), [np.inf], base=0)


def test_write_rejects_shape_mismatch(tmp_path):
    with pytest.raises(ValueError, match=r"y has shape \(3,\), expected \(2,\)"):
        write_libfm(tmp_path / "x", np.eye(2), [1.0, 2.0, 3.0], base=0)
    with pytest.raises(ValueError, match="X has 2 columns but the feature index has 1"):
        write_libfm(
            tmp_path / "x",
            np.eye(2),
            [1.0, 2.0],
            base=0,
            features=FeatureIndex(np.array([4]), 0),
        )


def assert_same_data(left: sp.csr_matrix, right: sp.csr_matrix) -> None:
    assert left.shape == right.shape
    assert np.array_equal(left.indptr, right.indptr)
    assert np.array_equal(left.indices, right.indices)
    assert np.array_equal(left.data, right.data)
    assert np.array_equal(np.signbit(left.data), np.signbit(right.data))


@pytest.mark.parametrize("base", [0, 1])
def test_round_trip_random_matrix(tmp_path, base):
    rng = np.random.default_rng(base)
    X = sp.random(300, 40, density=0.1, format="csr", random_state=rng)
    X.data = rng.normal(scale=10.0 ** rng.integers(-30, 30, X.nnz))
    X.data[:5] = [0.0, -0.0, 1.0, -1.0, 1e-320]
    X.sort_indices()
    y = rng.normal(size=300)
    path = tmp_path / "round.libfm"
    write_libfm(path, X, y, base=base)
    data = read_libfm(path, base=base, features=FeatureIndex.identity(40, base))

    assert_same_data(data.X, X)
    assert np.array_equal(data.y, y)


def test_round_trip_restores_raw_indices(tmp_path):
    text = f"1 {2**40}:1.5 3:1\n0 77:2\n"
    original = read_text(text, base=1)
    path = tmp_path / "copy.libfm"
    write_libfm(path, original.X, original.y, base=1, features=original.features)
    copy = read_libfm(path, base=1)

    assert copy.features == original.features
    assert_same_data(copy.X, original.X)


def one_hot(ids: np.ndarray) -> sp.csr_matrix:
    index = IdIndex.fit(ids)
    columns = index.lookup(ids)
    rows = np.arange(ids.size)
    return sp.csr_matrix(
        (np.ones(ids.size), (rows, columns)), shape=(ids.size, len(index))
    )


def movielens_features(movielens_dir) -> tuple[sp.csr_matrix, np.ndarray]:
    """Build user one-hot, movie one-hot, standardised timestamp and the square
    root of the movie's year after 1900 for every ML-1M rating."""
    data = load_movielens(movielens_dir / "ml-1m")
    ratings = data.ratings
    timestamp = ratings["timestamp"].to_numpy(dtype=np.float64)
    scaled_time = (timestamp - timestamp.mean()) / timestamp.std()
    year = data.items.set_index("item_id")["year"].astype("float64")
    year_offset = np.sqrt(ratings["item_id"].map(year).to_numpy() - 1900.0)
    real = sp.csr_matrix(np.column_stack([scaled_time, year_offset]))
    blocks = [
        one_hot(ratings["user_id"].to_numpy()),
        one_hot(ratings["item_id"].to_numpy()),
        real,
    ]
    return sp.hstack(blocks, format="csr"), ratings["rating"].to_numpy()


def test_round_trip_movielens_1m(tmp_path, movielens_dir):
    X, y = movielens_features(movielens_dir)
    path = tmp_path / "ml-1m.libfm"
    write_libfm(path, X, y, base=1)
    data = read_libfm(path, base=1)
    identity = read_libfm(path, base=1, features=FeatureIndex.identity(X.shape[1], 1))

    assert X.shape == (1_000_209, 6040 + 3706 + 2)
    assert np.isfinite(X.data).all()
    assert np.unique(X.data).size > 100_000
    assert_same_data(data.X, X)
    assert_same_data(identity.X, X)
    assert np.array_equal(data.y, y)
    assert data.features.raw.tolist() == list(range(1, X.shape[1] + 1))
