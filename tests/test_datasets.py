"""Tests for the MovieLens loaders on real data and on small synthetic files."""

import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
import pytest

from fmrec.datasets import DATASETS, MovieLens, RatingScale, data_home, load_movielens
from fmrec.exceptions import DataFormatError

# --- synthetic data helpers -----------------------------------------------------------

ML1M_RATINGS = "1::10::5::978300760\n1::20::3::978300761\n2::10::4::978300762\n"
ML1M_MOVIES = (
    "10::Heat (1995)::Action|Crime\n"
    "20::Casino (1995)::Drama\n"
    "30::Title: With Colon (1999)::Comedy\n"
    "40::Odd::Double::Colon (2000)::Drama|War\n"
    '50::Say "Hi", Bob (2001)::Comedy\n'
)
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::98107-2117\n"

ML100K_DATA = "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n"
ML100K_GENRE = "unknown|0\nAction|1\nComedy|2\n\n"
ML100K_ITEM = (
    "10|Heat (1995)|01-Jan-1995||http://example.invalid/heat|0|1|0\n"
    "20|Casino (1995)|01-Jan-1995||http://example.invalid/casino|0|1|1\n"
    "30|No Genre|||http://example.invalid/none|0|0|0\n"
)
ML100K_USER = "1|24|M|technician|85711\n2|53|F|other|T8H1N\n"

CSV_RATINGS = (
    "userId,movieId,rating,timestamp\n1,10,4.5,964982703\n1,20,0.5,964982704\n"
    "2,10,3.0,964982705\n"
)
CSV_MOVIES = (
    "movieId,title,genres\n"
    '10,"American President, The (1995)",Comedy|Drama|Romance\n'
    '20,"11\'09""01 - September 11 (2002)",Drama\n'
    "30,Babylon 5,(no genres listed)\n"
    "40,Café Society (2016),Comedy\n"
)


def write_folder(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` into ``folder``, encoding str contents as latin-1."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, str):
            content = content.encode("latin-1")
        (folder / name).write_bytes(content)
    return folder


def write_zip(path: Path, top: str, files: dict[str, str | bytes]) -> Path:
    """Write a zip archive with ``files`` inside the folder ``top``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if top:
            archive.writestr(f"{top}/", b"")
        for name, content in files.items():
            if isinstance(content, str):
                content = content.encode("latin-1")
            member = f"{top}/{name}" if top else name
            archive.writestr(member, content)
    return path


def ml1m_files(**overrides: str | bytes) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "ratings.dat": ML1M_RATINGS,
        "movies.dat": ML1M_MOVIES,
        "users.dat": ML1M_USERS,
    }
    files.update(
        {name.replace("_", "."): content for name, content in overrides.items()}
    )
    return files


def ml100k_files() -> dict[str, str | bytes]:
    return {
        "u.data": ML100K_DATA,
        "u.genre": ML100K_GENRE,
        "u.item": ML100K_ITEM,
        "u.user": ML100K_USER,
    }


def csv_files(ratings: str = CSV_RATINGS, movies: str = CSV_MOVIES) -> dict[str, bytes]:
    return {"ratings.csv": ratings.encode(), "movies.csv": movies.encode()}


def load_ml1m(tmp_path: Path, **overrides: str | bytes) -> MovieLens:
    return load_movielens(write_folder(tmp_path / "ml-1m", ml1m_files(**overrides)))


def to_crlf(files: dict[str, str | bytes]) -> dict[str, str | bytes]:
    converted: dict[str, str | bytes] = {}
    for name, content in files.items():
        if isinstance(content, str):
            converted[name] = content.replace("\n", "\r\n")
        else:
            converted[name] = content.replace(b"\n", b"\r\n")
    return converted


def strip_final_newline(files: dict[str, str | bytes]) -> dict[str, str | bytes]:
    return {
        name: content.rstrip("\n" if isinstance(content, str) else b"\n")
        for name, content in files.items()
    }


def assert_same_dataset(actual: MovieLens, expected: MovieLens) -> None:
    pd.testing.assert_frame_equal(actual.ratings, expected.ratings)
    pd.testing.assert_frame_equal(actual.items, expected.items)
    if expected.users is None:
        assert actual.users is None
    else:
        pd.testing.assert_frame_equal(actual.users, expected.users)
    assert actual.name == expected.name
    assert actual.rating_scale == expected.rating_scale
    assert actual.n_duplicates == expected.n_duplicates


def format_error(tmp_path: Path, files: dict[str, str | bytes]) -> DataFormatError:
    folder = write_folder(tmp_path / "data", files)
    with pytest.raises(DataFormatError) as caught:
        load_movielens(folder)
    return caught.value


# --- real data: ML-1M -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ml1m(movielens_dir: Path) -> MovieLens:
    return load_movielens(movielens_dir / "ml-1m")


def test_ml1m_real_counts(ml1m: MovieLens) -> None:
    assert ml1m.name == "ml-1m"
    assert len(ml1m.ratings) == 1_000_209
    assert ml1m.ratings["user_id"].nunique() == 6_040
    assert ml1m.ratings["item_id"].nunique() == 3_706
    assert len(ml1m.items) == 3_883
    assert len(ml1m.users) == 6_040
    assert ml1m.n_duplicates == 0
    assert ml1m.rating_scale == RatingScale(1.0, 5.0, 1.0)


def test_ml1m_real_histogram(ml1m: MovieLens) -> None:
    histogram = ml1m.ratings["rating"].value_counts().sort_index().to_dict()
    assert histogram == {
        1.0: 56_174,
        2.0: 107_557,
        3.0: 261_197,
        4.0: 348_971,
        5.0: 226_310,
    }


def test_ml1m_real_first_row_and_dtypes(ml1m: MovieLens) -> None:
    first = ml1m.ratings.iloc[0]
    assert first["user_id"] == 1
    assert first["item_id"] == 1193
    assert first["rating"] == 5.0
    assert first["timestamp"] == 978300760
    assert ml1m.ratings.dtypes.to_dict() == {
        "user_id": np.dtype("int64"),
        "item_id": np.dtype("int64"),
        "rating": np.dtype("float64"),
        "timestamp": np.dtype("int64"),
    }
    assert isinstance(ml1m.ratings.index, pd.RangeIndex)


def test_ml1m_real_movie_one(ml1m: MovieLens) -> None:
    movie = ml1m.items.set_index("item_id").loc[1]
    assert movie["title"] == "Toy Story (1995)"
    assert movie["genres"] == "Animation|Children's|Comedy"
    assert movie["year"] == 1995
    assert str(ml1m.items["year"].dtype) == "Int64"


def test_ml1m_real_non_ascii_title(ml1m: MovieLens) -> None:
    titles = ml1m.items.set_index("item_id")["title"]
    assert titles.loc[73] == "Misérables, Les (1995)"
    assert titles.loc[570] == "Slingshot, The (Kådisbellan ) (1993)"


def test_ml1m_real_users(ml1m: MovieLens) -> None:
    users = ml1m.users.set_index("user_id")
    assert list(ml1m.users.columns) == ["user_id", "gender", "age", "occupation", "zip"]
    assert users.loc[1].to_dict() == {
        "gender": "F",
        "age": 1,
        "occupation": 10,
        "zip": "48067",
    }
    assert users.loc[161, "zip"] == "98107-2117"


def test_ml1m_real_zip_equals_folder(ml1m: MovieLens, movielens_dir: Path) -> None:
    from_zip = load_movielens(movielens_dir / "ml-1m.zip")
    assert_same_dataset(from_zip, ml1m)
    assert from_zip.source == str(movielens_dir / "ml-1m.zip")


def test_ml1m_real_by_name(movielens_dir: Path) -> None:
    dataset = load_movielens("ml-1m", data_dir=movielens_dir, download=False)
    assert dataset.source == str(movielens_dir / "ml-1m")
    assert len(dataset.ratings) == 1_000_209


# --- real data: ML-100K and latest-small ----------------------------------------------


@pytest.fixture(scope="module")
def ml100k(movielens_dir: Path) -> MovieLens:
    return load_movielens(movielens_dir / "ml-100k")


def test_ml100k_real_counts(ml100k: MovieLens) -> None:
    assert ml100k.name == "ml-100k"
    assert len(ml100k.ratings) == 100_000
    assert ml100k.ratings["user_id"].nunique() == 943
    assert ml100k.ratings["item_id"].nunique() == 1_682
    assert len(ml100k.items) == 1_682
    assert len(ml100k.users) == 943
    assert ml100k.ratings.iloc[0].tolist() == [196, 242, 3.0, 881250949]


def test_ml100k_real_items(ml100k: MovieLens) -> None:
    items = ml100k.items.set_index("item_id")
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[1, "year"] == 1995
    assert items.loc[2, "genres"] == "Action|Adventure|Thriller"
    assert items.loc[543, "title"] == "Misérables, Les (1995)"
    assert items.loc[267, "title"] == "unknown"
    assert items.loc[267, "genres"] == "unknown"
    assert pd.isna(items.loc[267, "year"])


def test_ml100k_real_users(ml100k: MovieLens) -> None:
    users = ml100k.users.set_index("user_id")
    assert list(ml100k.users.columns) == [
        "user_id",
        "age",
        "gender",
        "occupation",
        "zip",
    ]
    assert users.loc[1].to_dict() == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip": "85711",
    }
    assert users.loc[74, "zip"] == "T8H1N"


def test_ml100k_real_zip_equals_folder(ml100k: MovieLens, movielens_dir: Path) -> None:
    assert_same_dataset(load_movielens(movielens_dir / "ml-100k.zip"), ml100k)


def test_ml100k_real_loads_quietly(
    movielens_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fmrec")
    load_movielens(movielens_dir / "ml-100k")
    assert caplog.records == []


@pytest.fixture(scope="module")
def latest_small(movielens_dir: Path) -> MovieLens:
    return load_movielens(movielens_dir / "ml-latest-small")


def test_latest_small_real_counts(latest_small: MovieLens) -> None:
    assert latest_small.name == "ml-latest-small"
    assert len(latest_small.ratings) == 100_836
    assert latest_small.ratings["user_id"].nunique() == 610
    assert latest_small.ratings["item_id"].nunique() == 9_724
    assert len(latest_small.items) == 9_742
    assert latest_small.users is None
    assert latest_small.rating_scale == RatingScale(0.5, 5.0, 0.5)


def test_latest_small_real_half_stars(latest_small: MovieLens) -> None:
    ratings = latest_small.ratings["rating"]
    assert (ratings == 0.5).any()
    assert (ratings == 4.5).any()
    assert set(ratings.unique()) == {x / 2 for x in range(1, 11)}


def test_latest_small_real_titles(latest_small: MovieLens) -> None:
    items = latest_small.items.set_index("item_id")
    assert items.loc[11, "title"] == "American President, The (1995)"
    assert items.loc[7789, "title"] == "11'09\"01 - September 11 (2002)"
    assert items.loc[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert items.loc[114335, "genres"] == "(no genres listed)"
    assert pd.isna(items.loc[40697, "year"])
    # The title keeps its trailing space, and the year is still found.
    assert items.loc[27008, "title"].endswith("(1999) ")
    assert items.loc[27008, "year"] == 1999


def test_latest_small_real_zip_equals_folder(
    latest_small: MovieLens, movielens_dir: Path
) -> None:
    assert_same_dataset(
        load_movielens(movielens_dir / "ml-latest-small.zip"), latest_small
    )


# --- line ends, exact text and encodings ----------------------------------------------


@pytest.mark.parametrize(
    "make_files", [ml1m_files, ml100k_files, csv_files], ids=["ml1m", "ml100k", "csv"]
)
def test_crlf_and_no_final_newline(tmp_path: Path, make_files) -> None:
    clean = load_movielens(write_folder(tmp_path / "clean", make_files()))
    crlf = load_movielens(write_folder(tmp_path / "crlf", to_crlf(make_files())))
    no_end = load_movielens(
        write_folder(tmp_path / "noend", strip_final_newline(make_files()))
    )
    crlf_no_end = load_movielens(
        write_folder(tmp_path / "both", strip_final_newline(to_crlf(make_files())))
    )
    for other in (crlf, no_end, crlf_no_end):
        pd.testing.assert_frame_equal(other.ratings, clean.ratings)
        pd.testing.assert_frame_equal(other.items, clean.items)
        if clean.users is not None:
            pd.testing.assert_frame_equal(other.users, clean.users)
    assert len(clean.ratings) == 3


def test_dat_titles_keep_exact_text(tmp_path: Path) -> None:
    items = load_ml1m(tmp_path).items.set_index("item_id")
    assert items.loc[30, "title"] == "Title: With Colon (1999)"
    assert items.loc[40, "title"] == "Odd::Double::Colon (2000)"
    assert items.loc[40, "genres"] == "Drama|War"
    assert items.loc[50, "title"] == 'Say "Hi", Bob (2001)'
    assert items["year"].tolist() == [1995, 1995, 1999, 2000, 2001]


def test_dat_latin1_title(tmp_path: Path) -> None:
    movies = b"10::Caf\xe9 au Lait (1993)::Comedy\n20::Casino (1995)::Drama\n"
    items = load_ml1m(tmp_path, movies_dat=movies).items
    assert items.loc[0, "title"] == "Café au Lait (1993)"


def test_csv_titles_keep_exact_text(tmp_path: Path) -> None:
    items = load_movielens(write_folder(tmp_path / "ml-latest", csv_files())).items
    titles = items.set_index("item_id")["title"]
    assert titles.loc[10] == "American President, The (1995)"
    assert titles.loc[20] == "11'09\"01 - September 11 (2002)"
    assert titles.loc[40] == "Café Society (2016)"
    assert items.set_index("item_id").loc[30, "genres"] == "(no genres listed)"
    assert items["year"].isna().tolist() == [False, False, True, False]


def test_ml100k_genres_follow_genre_file(tmp_path: Path) -> None:
    dataset = load_movielens(write_folder(tmp_path / "ml-100k", ml100k_files()))
    assert dataset.items["genres"].tolist() == ["Action", "Action|Comedy", ""]
    assert dataset.users.set_index("user_id").loc[2, "zip"] == "T8H1N"
    assert dataset.ratings["rating"].tolist() == [5.0, 3.0, 4.0]


# --- format errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "expected_parts"),
    [
        ("1::30::4", ["expected 4 fields", "UserID::MovieID::Rating::Timestamp"]),
        ("1::30::4::5::6", ["expected 4 fields", "found 5"]),
        ("1::abc::4::978300763", ["invalid MovieID 'abc'", "expected an integer"]),
        ("1::::4::978300763", ["MovieID is empty", "expected an integer"]),
        ("1::30::::978300763", ["Rating is empty"]),
        (
            "1::30::3.7::978300763",
            ["invalid Rating '3.7'", "from 1 to 5 in steps of 1"],
        ),
        ("1::30::6::978300763", ["invalid Rating '6'", "from 1 to 5"]),
        ("1::30::0::978300763", ["invalid Rating '0'"]),
        ("1::30::nan::978300763", ["invalid Rating 'nan'"]),
        ("1::30::4::9.5", ["invalid Timestamp '9.5'"]),
        # A tab must not pass for the "::" separator.
        ("1\t2::30::4::978300763", ["invalid UserID '1\\t2'"]),
    ],
)
def test_ml1m_rating_errors(
    tmp_path: Path, bad_line: str, expected_parts: list[str]
) -> None:
    ratings = ML1M_RATINGS + bad_line + "\n2::20::1::978300764\n"
    error = format_error(tmp_path, ml1m_files(ratings_dat=ratings))
    path = str(tmp_path / "data" / "ratings.dat")
    assert error.path == path
    assert error.line == 4
    assert str(error).startswith(f"{path}, line 4: ")
    for part in expected_parts:
        assert part in str(error)


def test_first_line_with_extra_field_is_error(tmp_path: Path) -> None:
    error = format_error(tmp_path, ml1m_files(ratings_dat="1::10::5::978300760::7\n"))
    assert error.line == 1
    assert "found 5" in str(error)


def test_error_line_counts_crlf_lines(tmp_path: Path) -> None:
    ratings = "1::10::5::1\r\n1::20::3::2\r\n1::30::x::3\r\n"
    error = format_error(tmp_path, ml1m_files(ratings_dat=ratings))
    assert error.line == 3
    assert "invalid Rating 'x'" in str(error)


def test_error_line_counts_blank_lines(tmp_path: Path) -> None:
    ratings = "1::10::5::1\n\n1::20::3::2\n   \n1::30::7::3\n"
    error = format_error(tmp_path, ml1m_files(ratings_dat=ratings))
    assert error.line == 5


def test_off_scale_error_deep_in_file(tmp_path: Path) -> None:
    lines = [f"{user}::10::4::{user}" for user in range(1, 5001)]
    lines[3999] = "4000::10::4.5::4000"
    error = format_error(tmp_path, ml1m_files(ratings_dat="\n".join(lines)))
    assert error.line == 4000
    assert "invalid Rating '4.5'" in str(error)


@pytest.mark.parametrize("bad_line", [65_536, 65_537, 69_999])
def test_error_line_in_later_block(tmp_path: Path, bad_line: int) -> None:
    # Failed fast parses are retried in blocks of 65,536 lines.
    lines = [f"{user}::10::4::{user}" for user in range(1, 70_001)]
    lines[99] = ""
    lines[bad_line - 1] = f"{bad_line}::10::four::1"
    error = format_error(tmp_path, ml1m_files(ratings_dat="\n".join(lines)))
    assert error.line == bad_line
    assert "invalid Rating 'four'" in str(error)


def test_first_bad_line_wins(tmp_path: Path) -> None:
    ratings = "1::10::5::1\n1::20::9::2\n1::30\n"
    error = format_error(tmp_path, ml1m_files(ratings_dat=ratings))
    assert error.line == 2
    assert "invalid Rating '9'" in str(error)


def test_error_in_zip_names_member(tmp_path: Path) -> None:
    ratings = ML1M_RATINGS + "1::30::3.7::978300763\n"
    archive = write_zip(
        tmp_path / "archive.zip", "ml-1m", ml1m_files(ratings_dat=ratings)
    )
    with pytest.raises(DataFormatError) as caught:
        load_movielens(archive)
    assert caught.value.path == f"{archive}:ml-1m/ratings.dat"
    assert f"{archive}:ml-1m/ratings.dat, line 4: " in str(caught.value)


@pytest.mark.parametrize(
    ("ratings", "line", "expected_part"),
    [
        (CSV_RATINGS + "2,20,0.25,964982706\n", 5, "invalid rating '0.25'"),
        (CSV_RATINGS + "2,20,5.5,964982706\n", 5, "from 0.5 to 5 in steps of 0.5"),
        (CSV_RATINGS + "2,20,0,964982706\n", 5, "invalid rating '0'"),
        (CSV_RATINGS.replace("\n", "\r\n") + "2,x,1,9\r\n", 5, "invalid movieId 'x'"),
        ("1,10,4.5,964982703\n", 1, "expected the header line"),
        ("", 1, "expected the header line"),
    ],
)
def test_csv_rating_errors(
    tmp_path: Path, ratings: str, line: int, expected_part: str
) -> None:
    error = format_error(tmp_path, csv_files(ratings=ratings))
    assert error.path == str(tmp_path / "data" / "ratings.csv")
    assert error.line == line
    assert expected_part in str(error)


def test_ml100k_rating_error(tmp_path: Path) -> None:
    files = ml100k_files()
    files["u.data"] = ML100K_DATA + "3\t10\t2.5\t881250952\n"
    error = format_error(tmp_path, files)
    assert error.line == 4
    assert "invalid rating '2.5'" in str(error)
    assert error.path.endswith("u.data")


@pytest.mark.parametrize(
    ("files", "name", "line", "expected_part"),
    [
        (
            ml1m_files(movies_dat="10::Heat (1995)::Action\n20 Casino\n"),
            "movies.dat",
            2,
            "expected MovieID::Title::Genres",
        ),
        (
            ml1m_files(movies_dat="10::Heat (1995)::Action\n10::Copy (1995)::Drama\n"),
            "movies.dat",
            2,
            "repeated item id 10 (first at line 1)",
        ),
        (
            ml1m_files(users_dat="1::F::1::10::48067\n2::M::56::16\n"),
            "users.dat",
            2,
            "UserID::Gender::Age::Occupation::Zip-code",
        ),
        (
            ml1m_files(users_dat="1::F::1::10::48067\n\n1::M::1::10::48067\n"),
            "users.dat",
            3,
            "repeated user id 1 (first at line 1)",
        ),
        (
            ml1m_files(users_dat="1::F::one::10::48067\n"),
            "users.dat",
            1,
            "invalid Age 'one'",
        ),
        (
            csv_files(movies=CSV_MOVIES + '50,"Unclosed, (2000),Drama\n'),
            "movies.csv",
            6,
            "invalid CSV",
        ),
        (
            csv_files(movies=CSV_MOVIES + "50,Two,Fields,Extra\n"),
            "movies.csv",
            6,
            "expected 3 fields",
        ),
        (
            {
                "ratings.csv": CSV_RATINGS.encode(),
                "movies.csv": CSV_MOVIES.encode() + b"50,Caf\xe9 (2000),Drama\n",
            },
            "movies.csv",
            6,
            "invalid utf-8",
        ),
        (
            csv_files(movies="id,title,genres\n10,Heat (1995),Action\n"),
            "movies.csv",
            1,
            "expected the header line 'movieId,title,genres'",
        ),
    ],
    ids=[
        "dat-title-form",
        "dat-repeated-id",
        "users-field-count",
        "users-repeated-id",
        "users-age",
        "csv-quoting",
        "csv-field-count",
        "csv-utf8",
        "csv-header",
    ],
)
def test_metadata_errors(
    tmp_path: Path, files: dict, name: str, line: int, expected_part: str
) -> None:
    error = format_error(tmp_path, files)
    assert error.path == str(tmp_path / "data" / name)
    assert error.line == line
    assert expected_part in str(error)


def test_ml100k_item_errors(tmp_path: Path) -> None:
    files = ml100k_files()
    files["u.item"] = ML100K_ITEM + "40|Bad Flag|||http://example.invalid|0|2|0\n"
    error = format_error(tmp_path, files)
    assert error.line == 4
    assert "invalid Action flag '2', expected 0 or 1" in str(error)

    files["u.item"] = ML100K_ITEM + "40|Short|0|1\n"
    error = format_error(tmp_path / "short", files)
    assert error.line == 4
    assert "expected 8 fields" in str(error)


def test_ml100k_title_with_separator_kept(tmp_path: Path) -> None:
    files = ml100k_files()
    files["u.item"] = ML100K_ITEM + "40|Pipe | Title (1990)|||url|0|0|1\n"
    items = load_movielens(write_folder(tmp_path / "ml-100k", files)).items
    assert items.loc[3, "title"] == "Pipe | Title (1990)"
    assert items.loc[3, "genres"] == "Comedy"


# --- blank lines, duplicates and empty files ------------------------------------------


def test_inner_blank_lines_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean = load_ml1m(tmp_path / "clean")
    caplog.set_level(logging.WARNING, logger="fmrec")
    ratings = "1::10::5::978300760\n\n1::20::3::978300761\n \t\n2::10::4::978300762\n"
    with_blanks = load_ml1m(tmp_path / "blank", ratings_dat=ratings)
    pd.testing.assert_frame_equal(with_blanks.ratings, clean.ratings)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert str(tmp_path / "blank" / "ml-1m" / "ratings.dat") in warnings[0]
    assert "skipped 2 blank line(s)" in warnings[0]
    assert "first at line 2" in warnings[0]


def test_blank_lines_at_end_are_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fmrec")
    dataset = load_ml1m(
        tmp_path, ratings_dat=ML1M_RATINGS + "\n\n", movies_dat=ML1M_MOVIES + "\n"
    )
    assert len(dataset.ratings) == 3
    assert len(dataset.items) == 5
    assert caplog.records == []


def test_blank_lines_in_csv_movies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fmrec")
    movies = CSV_MOVIES.replace("\n30,", "\n\n30,", 1)
    dataset = load_movielens(write_folder(tmp_path / "csv", csv_files(movies=movies)))
    assert len(dataset.items) == 4
    assert len(caplog.records) == 1
    assert "first at line 4" in caplog.records[0].getMessage()
    assert "movies.csv: skipped 1 blank line(s)" in caplog.records[0].getMessage()


def test_duplicate_pairs_keep_last(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fmrec")
    ratings = (
        "1::10::5::978300760\n1::20::3::978300761\n2::10::4::978300762\n"
        "1::10::2::978300763\n1::10::1::978300764\n"
    )
    dataset = load_ml1m(tmp_path, ratings_dat=ratings)
    assert dataset.n_duplicates == 2
    assert dataset.ratings.values.tolist() == [
        [1, 20, 3, 978300761],
        [2, 10, 4, 978300762],
        [1, 10, 1, 978300764],
    ]
    assert isinstance(dataset.ratings.index, pd.RangeIndex)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "dropped 2 rating(s)" in messages[0]
    assert "ratings.dat" in messages[0]


@pytest.mark.parametrize(
    "files",
    [
        ml1m_files(ratings_dat=""),
        ml1m_files(ratings_dat="\n\n"),
        csv_files(ratings="userId,movieId,rating,timestamp\n"),
        csv_files(ratings="userId,movieId,rating,timestamp"),
    ],
    ids=["dat-empty", "dat-blank", "csv-header-only", "csv-header-no-newline"],
)
def test_file_without_ratings_loads_empty(tmp_path: Path, files: dict) -> None:
    dataset = load_movielens(write_folder(tmp_path / "data", files))
    assert len(dataset.ratings) == 0
    assert list(dataset.ratings.columns) == [
        "user_id",
        "item_id",
        "rating",
        "timestamp",
    ]
    assert dataset.ratings.dtypes.tolist() == [
        np.dtype("int64"),
        np.dtype("int64"),
        np.dtype("float64"),
        np.dtype("int64"),
    ]
    assert dataset.n_duplicates == 0


# --- missing files and sources --------------------------------------------------------


@pytest.mark.parametrize("missing", ["ratings.dat", "movies.dat"])
def test_missing_required_file_names_path(tmp_path: Path, missing: str) -> None:
    files = ml1m_files()
    del files[missing]
    folder = write_folder(tmp_path / "ml-1m", files)
    with pytest.raises(FileNotFoundError) as caught:
        load_movielens(folder)
    assert caught.value.filename == str(folder / missing)
    assert str(folder / missing) in str(caught.value)


def test_missing_file_in_zip_names_member(tmp_path: Path) -> None:
    files = ml1m_files()
    del files["movies.dat"]
    archive = write_zip(tmp_path / "ml-1m.zip", "ml-1m", files)
    with pytest.raises(FileNotFoundError, match="ml-1m.zip:ml-1m/movies.dat"):
        load_movielens(archive)


def test_missing_users_file_gives_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fmrec")
    files = ml1m_files()
    del files["users.dat"]
    dataset = load_movielens(write_folder(tmp_path / "ml-1m", files))
    assert dataset.users is None
    assert "users.dat not found" in caplog.records[0].getMessage()


def test_folder_without_movielens_files(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "other", {"notes.txt": "hello\n"})
    with pytest.raises(FileNotFoundError, match="no MovieLens files found"):
        load_movielens(folder)


def test_missing_source_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a data set name"):
        load_movielens(tmp_path / "absent")


def test_name_not_found_without_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        load_movielens("ml-1m", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "ml-1m") in message
    assert str(tmp_path / "ml-1m.zip") in message
    assert "fmrec download ml-1m" in message
    assert list(tmp_path.iterdir()) == []


def test_name_without_pinned_download(tmp_path: Path) -> None:
    assert "ml-25m" not in DATASETS
    with pytest.raises(FileNotFoundError, match="no pinned download"):
        load_movielens("ml-25m", data_dir=tmp_path)


def test_name_found_as_zip_in_data_home(tmp_path: Path) -> None:
    write_zip(tmp_path / "ml-1m.zip", "ml-1m", ml1m_files())
    dataset = load_movielens("ml-1m", data_dir=tmp_path, download=False)
    assert dataset.source == str(tmp_path / "ml-1m.zip")
    assert len(dataset.ratings) == 3


def test_not_a_zip_file(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text(ML1M_RATINGS)
    with pytest.raises(DataFormatError, match="expected a folder or a zip archive"):
        load_movielens(path)


def test_zip_with_two_top_folders(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/ratings.dat", ML1M_RATINGS)
        archive.writestr("b/movies.dat", ML1M_MOVIES)
    with pytest.raises(DataFormatError, match="one top folder"):
        load_movielens(path)


def test_zip_with_files_at_root(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "ml-20m.zip", "", csv_files())
    dataset = load_movielens(archive)
    assert dataset.name == "ml-20m"
    assert dataset.ratings["rating"].tolist() == [4.5, 0.5, 3.0]


@pytest.mark.parametrize(
    ("folder", "expected_name"),
    [("ml-25m", "ml-25m"), ("ml-latest", "ml-latest"), ("exported", "movielens-csv")],
)
def test_csv_variant_name(tmp_path: Path, folder: str, expected_name: str) -> None:
    dataset = load_movielens(write_folder(tmp_path / folder, csv_files()))
    assert dataset.name == expected_name
    assert dataset.users is None


def test_load_logs_variant_path_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fmrec.datasets")
    folder = write_folder(tmp_path / "ml-1m", ml1m_files())
    load_movielens(folder)
    message = caplog.records[-1].getMessage()
    assert caplog.records[-1].levelno == logging.INFO
    assert f"Loaded ml-1m from {folder}" in message
    assert "3 ratings, 5 items, 2 users" in message
    assert "without checksum verification" in message


# --- rating scale and data home -------------------------------------------------------


def test_rating_scale_contains() -> None:
    whole = RatingScale(1.0, 5.0, 1.0)
    half = RatingScale(0.5, 5.0, 0.5)
    values = np.array([0.5, 1.0, 3.0, 3.5, 3.7, 5.0, 6.0, 0.0, np.nan, np.inf])
    assert whole.contains(values).tolist() == [
        False,
        True,
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    assert half.contains(values).tolist() == [
        True,
        True,
        True,
        True,
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    assert half.contains(np.array([0.25, 4.75])).tolist() == [False, False]


def test_data_home_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMREC_DATA_DIR", str(tmp_path / "from-env"))
    assert data_home(tmp_path / "given") == tmp_path / "given"
    assert data_home() == tmp_path / "from-env"
    monkeypatch.delenv("FMREC_DATA_DIR")
    assert data_home() == Path(platformdirs.user_cache_dir("fmrec"))
    assert not (tmp_path / "given").exists()
    assert not (tmp_path / "from-env").exists()


def test_data_home_expands_user(monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_home("~/movielens") == Path(os.path.expanduser("~/movielens"))
