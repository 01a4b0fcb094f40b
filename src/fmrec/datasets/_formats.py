"""Parsers for the MovieLens file formats.

Each parser takes the raw bytes of one file and the name to show in errors, which
is a path or ``archive.zip:folder/member``. Every format error is a
:class:`~fmrec.exceptions.DataFormatError` with the 1-based physical line number.
Line numbers count header and blank lines, and CRLF counts as one line end.

Blank lines are skipped and reported by :func:`report_blank_lines`, following the
policy in the :mod:`fmrec.datasets.movielens` documentation.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import pandas as pd

from fmrec.exceptions import DataFormatError

if TYPE_CHECKING:
    from fmrec.datasets.movielens import RatingScale

logger = logging.getLogger(__name__)

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_RATING_DTYPES = {
    "user_id": np.int64,
    "item_id": np.int64,
    "rating": np.float64,
    "timestamp": np.int64,
}
_BLANK_CHARS = " \t\r\f\v"
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRAILING_YEAR = re.compile(r"\((\d{4})\)\s*$")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_MAX_SHOWN_CHARS = 100
# Lines per block when a failed fast parse is retried block by block. An exact
# line-by-line pass over one block takes well under a second.
_BLOCK_LINES = 1 << 16


@dataclass(frozen=True)
class RatingsLayout:
    """Separator, field names, header line and encoding of a ratings file format."""

    separator: str
    fields: tuple[str, str, str, str]
    header: str | None = None
    encoding: str = "latin-1"

    @property
    def form(self) -> str:
        """Expected line form for error messages, such as ``UserID::MovieID::...``."""
        separator_text = "<TAB>" if self.separator == "\t" else self.separator
        return separator_text.join(self.fields)


ML1M_RATINGS = RatingsLayout("::", ("UserID", "MovieID", "Rating", "Timestamp"))
ML100K_RATINGS = RatingsLayout("\t", ("user id", "item id", "rating", "timestamp"))
CSV_RATINGS = RatingsLayout(
    ",",
    ("userId", "movieId", "rating", "timestamp"),
    header="userId,movieId,rating,timestamp",
    encoding="utf-8",
)


# --- lines, blank lines and field values -------------------------------------------


def _show(text: str) -> str:
    """Quote a line or field for an error message, clipped to a readable length."""
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[:_MAX_SHOWN_CHARS] + "..."
    return repr(text)


def _is_blank(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return not text.strip(_BLANK_CHARS.encode())
    return not text.strip(_BLANK_CHARS)


def _split_lines(data: bytes) -> list[bytes]:
    """Split on LF and drop the empty piece after a final line end."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return pieces


def _decode(raw: bytes, encoding: str, where: str, line: int) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.end]
        message = f"invalid {encoding} text: byte {bad!r} at column {error.start + 1}"
        raise DataFormatError(where, line, message) from None


def _numbered_lines(
    data: bytes, encoding: str, where: str, first_line: int = 1
) -> Iterator[tuple[int, str]]:
    """Yield (line number, text without its CR LF or LF end) for every line."""
    for number, raw in enumerate(_split_lines(data), first_line):
        yield number, _decode(raw.removesuffix(b"\r"), encoding, where, number)


def report_blank_lines(where: str, blank_lines: list[int], last_line: int) -> None:
    """Log skipped blank lines: WARNING for those inside the file, DEBUG at its end."""
    trailing = 0
    while (
        trailing < len(blank_lines)
        and blank_lines[-1 - trailing] == last_line - trailing
    ):
        trailing += 1
    inside = blank_lines[: len(blank_lines) - trailing]
    if inside:
        logger.warning(
            "%s: skipped %d blank line(s) inside the file, the first at line %d",
            where,
            len(inside),
            inside[0],
        )
    if trailing:
        logger.debug("%s: skipped %d blank line(s) at the end", where, trailing)


def _content_lines(data: bytes, encoding: str, where: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each non-blank line, then report the blank ones."""
    blank_lines: list[int] = []
    number = 0
    for number, line in _numbered_lines(data, encoding, where):
        if _is_blank(line):
            blank_lines.append(number)
        else:
            yield number, line
    report_blank_lines(where, blank_lines, number)


def _read_int(text: str) -> int | None:
    """Parse an integer field as pandas' C parser does, or return None if invalid.

    Surrounding spaces, a leading sign and a decimal form with an integral value
    (``5.0``) are accepted, because the fast path accepts them too.
    """
    text = text.strip()
    if _INTEGER.fullmatch(text):
        value = int(text)
    elif _DECIMAL.fullmatch(text) and float(text).is_integer():
        value = int(float(text))
    else:
        return None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _read_float(text: str) -> float | None:
    text = text.strip()
    return float(text) if _DECIMAL.fullmatch(text) else None


def _field_error(
    where: str, line: int, name: str, text: str, expected: str
) -> NoReturn:
    if not text.strip():
        raise DataFormatError(where, line, f"{name} is empty, expected {expected}")
    raise DataFormatError(
        where, line, f"invalid {name} {_show(text)}, expected {expected}"
    )


def _require_int(text: str, name: str, where: str, line: int) -> int:
    value = _read_int(text)
    if value is None:
        _field_error(where, line, name, text, "an integer")
    return value


def _require_fields(
    line: str, separator: str, form: str, count: int, where: str, number: int
) -> list[str]:
    fields = line.split(separator)
    if len(fields) != count:
        message = (
            f"expected {count} fields in the form {form}, "
            f"found {len(fields)} in {_show(line)}"
        )
        raise DataFormatError(where, number, message)
    return fields


def describe_scale(scale: RatingScale) -> str:
    """Describe a rating scale for error messages."""
    return f"a rating from {scale.min:g} to {scale.max:g} in steps of {scale.step:g}"


# --- ratings -----------------------------------------------------------------------


def parse_ratings(
    data: bytes, where: str, layout: RatingsLayout, scale: RatingScale
) -> pd.DataFrame:
    """Parse a ratings file into user_id, item_id, rating and timestamp columns.

    Rows keep file order, and duplicates are kept. The pandas C parser reads the
    whole file first. If it fails, or a rating is off ``scale``, the file is parsed
    again in blocks of lines, and an exact line-by-line pass over the first failing
    block raises at the first bad line. If that pass finds no error, because pandas
    rejected something valid, its rows are used.
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    first_line, body = _split_header(data, where, layout)
    parsed = _parse_ratings_fast(body, layout, first_line)
    if parsed is None or not scale.contains(parsed[0]["rating"].to_numpy()).all():
        parsed = _parse_ratings_by_block(body, first_line, where, layout, scale)
    frame, blank_lines, last_line = parsed
    report_blank_lines(where, blank_lines, last_line)
    return frame


def _split_header(data: bytes, where: str, layout: RatingsLayout) -> tuple[int, bytes]:
    """Check the header line, if any, and return the body and its first line number."""
    if layout.header is None:
        return 1, data
    header, _, body = data.partition(b"\n")
    text = header.decode(layout.encoding, errors="replace").removeprefix("\ufeff")
    if text.strip() != layout.header:
        message = f"expected the header line {layout.header!r}, found {_show(text)}"
        raise DataFormatError(where, 1, message)
    return 2, body


def _empty_ratings() -> pd.DataFrame:
    columns = {name: np.empty(0, dtype) for name, dtype in _RATING_DTYPES.items()}
    return pd.DataFrame(columns)


def _parse_ratings_fast(
    body: bytes, layout: RatingsLayout, first_line: int
) -> tuple[pd.DataFrame, list[int], int] | None:
    """Parse with pandas' C parser, or return None when the exact pass must decide."""
    separator = layout.separator.encode()
    if len(separator) > 1:
        if b"\t" in body:
            return None  # a real tab would pass for a separator after the swap
        body = body.replace(separator, b"\t")
        separator = b"\t"
    frame = _read_with_pandas(body, separator.decode())
    if frame is None:
        return None  # includes a file without ratings (pandas raises EmptyDataError)
    return _check_row_count(body, frame, first_line)


def _read_with_pandas(body: bytes, separator: str) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        # pandas drops extra fields on the first line with only a ParserWarning.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(
                io.BytesIO(body),
                sep=separator,
                header=None,
                names=list(RATING_COLUMNS),
                dtype=_RATING_DTYPES,
                index_col=False,
                quoting=csv.QUOTE_NONE,
                lineterminator="\n",
                na_filter=False,
                engine="c",
            )
        except (ValueError, OverflowError, pd.errors.ParserWarning):
            return None


def _check_row_count(
    body: bytes, frame: pd.DataFrame, first_line: int
) -> tuple[pd.DataFrame, list[int], int] | None:
    """Return the frame and blank lines, or None if pandas skipped non-blank lines."""
    line_count = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    last_line = first_line + line_count - 1
    if len(frame) == line_count:
        return frame, [], last_line
    pieces = _split_lines(body) if body else []
    blank_lines = [n for n, raw in enumerate(pieces, first_line) if _is_blank(raw)]
    if len(frame) + len(blank_lines) != line_count:
        return None
    return frame, blank_lines, last_line


def _parse_ratings_by_block(
    body: bytes, first_line: int, where: str, layout: RatingsLayout, scale: RatingScale
) -> tuple[pd.DataFrame, list[int], int]:
    """Parse each block fast, and exactly where that fails, to find the first error."""
    frames: list[pd.DataFrame] = []
    blank_lines: list[int] = []
    last_line = first_line - 1
    for block, block_first_line in _split_blocks(body, first_line):
        parsed = _parse_ratings_fast(block, layout, block_first_line)
        if parsed is None or not scale.contains(parsed[0]["rating"].to_numpy()).all():
            parsed = _parse_ratings_exact(block, block_first_line, where, layout, scale)
        frames.append(parsed[0])
        blank_lines.extend(parsed[1])
        last_line = parsed[2]
    frame = pd.concat(frames, ignore_index=True) if frames else _empty_ratings()
    return frame, blank_lines, last_line


def _split_blocks(body: bytes, first_line: int) -> Iterator[tuple[bytes, int]]:
    """Yield (block, number of its first line) for blocks of _BLOCK_LINES lines."""
    line_ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n"))
    block_ends = line_ends[_BLOCK_LINES - 1 :: _BLOCK_LINES] + 1
    start = 0
    for index, end in enumerate([*block_ends.tolist(), len(body)]):
        if end > start:
            yield body[start:end], first_line + index * _BLOCK_LINES
        start = end


def _parse_ratings_exact(
    body: bytes, first_line: int, where: str, layout: RatingsLayout, scale: RatingScale
) -> tuple[pd.DataFrame, list[int], int]:
    """Parse line by line and raise DataFormatError at the first bad line."""
    rows: list[tuple[int, int, float, int]] = []
    rating_texts: list[tuple[int, str]] = []
    blank_lines: list[int] = []
    number = first_line - 1
    try:
        for number, line in _numbered_lines(body, layout.encoding, where, first_line):
            if _is_blank(line):
                blank_lines.append(number)
                continue
            row, rating_text = _parse_rating_line(line, number, where, layout, scale)
            rows.append(row)
            rating_texts.append((number, rating_text))
    except DataFormatError:
        # An off-scale rating above the malformed line is the first error.
        earlier = _off_scale_error(rows, rating_texts, where, layout, scale)
        if earlier is not None:
            raise earlier from None
        raise
    frame = _rows_to_ratings(rows)
    error = _off_scale_error(rows, rating_texts, where, layout, scale)
    if error is not None:
        raise error
    return frame, blank_lines, number


def _off_scale_error(
    rows: list[tuple[int, int, float, int]],
    rating_texts: list[tuple[int, str]],
    where: str,
    layout: RatingsLayout,
    scale: RatingScale,
) -> DataFormatError | None:
    """Return the error for the first rating off the scale, or None."""
    ratings = np.array([row[2] for row in rows], dtype=np.float64)
    valid = scale.contains(ratings)
    if valid.all():
        return None
    line, text = rating_texts[int(np.argmin(valid))]
    expected = describe_scale(scale)
    message = f"invalid {layout.fields[2]} {_show(text)}, expected {expected}"
    return DataFormatError(where, line, message)


def _rows_to_ratings(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    if not rows:
        return _empty_ratings()
    columns = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            name: np.array(values, dtype=_RATING_DTYPES[name])
            for name, values in zip(RATING_COLUMNS, columns, strict=True)
        }
    )


def _parse_rating_line(
    line: str, number: int, where: str, layout: RatingsLayout, scale: RatingScale
) -> tuple[tuple[int, int, float, int], str]:
    """Parse one line into a row and the rating text.

    The caller checks the rating against the scale.
    """
    fields = _require_fields(line, layout.separator, layout.form, 4, where, number)
    user_text, item_text, rating_text, time_text = fields
    user_name, item_name, rating_name, time_name = layout.fields
    user_id = _require_int(user_text, user_name, where, number)
    item_id = _require_int(item_text, item_name, where, number)
    rating = _read_float(rating_text)
    if rating is None:
        _field_error(where, number, rating_name, rating_text, describe_scale(scale))
    timestamp = _require_int(time_text, time_name, where, number)
    return (user_id, item_id, rating, timestamp), rating_text


# --- items and users -----------------------------------------------------------------


def _items_frame(
    rows: list[tuple[int, str, str]], line_numbers: list[int], where: str
) -> pd.DataFrame:
    """Build item_id, title, genres and year columns, rejecting repeated item ids."""
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    _reject_repeated_ids(ids, "item id", line_numbers, where)
    titles = [row[1] for row in rows]
    return pd.DataFrame(
        {
            "item_id": ids,
            "title": pd.Series(titles, dtype="str"),
            "genres": pd.Series([row[2] for row in rows], dtype="str"),
            "year": pd.array([_title_year(title) for title in titles], dtype="Int64"),
        }
    )


def _reject_repeated_ids(
    ids: np.ndarray, name: str, line_numbers: list[int], where: str
) -> None:
    repeated = pd.Series(ids).duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    index = int(np.argmax(repeated))
    first = line_numbers[int(np.argmax(ids == ids[index]))]
    message = (
        f"repeated {name} {ids[index]} (first at line {first}), expected unique ids"
    )
    raise DataFormatError(where, line_numbers[index], message)


def _title_year(title: str) -> int | None:
    match = _TRAILING_YEAR.search(title)
    return int(match.group(1)) if match else None


ML1M_USER_DTYPES = {
    "user_id": "int64",
    "gender": "str",
    "age": "int64",
    "occupation": "int64",
    "zip": "str",
}
ML100K_USER_DTYPES = {
    "user_id": "int64",
    "age": "int64",
    "gender": "str",
    "occupation": "str",
    "zip": "str",
}


def _users_frame(
    rows: list[dict[str, object]],
    line_numbers: list[int],
    where: str,
    dtypes: dict[str, str],
) -> pd.DataFrame:
    """Build the users frame with ``dtypes``, rejecting repeated user ids."""
    frame = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)
    _reject_repeated_ids(frame["user_id"].to_numpy(), "user id", line_numbers, where)
    return frame


def parse_ml1m_movies(data: bytes, where: str) -> pd.DataFrame:
    """Parse ML-1M ``movies.dat``: ``MovieID::Title::Genres`` in latin-1.

    The title is everything between the first and the last ``::``, so titles that
    contain ``:`` or ``::`` keep their exact text.
    """
    rows: list[tuple[int, str, str]] = []
    line_numbers: list[int] = []
    for number, line in _content_lines(data, "latin-1", where):
        item_text, first_separator, rest = line.partition("::")
        title, last_separator, genres = rest.rpartition("::")
        if not first_separator or not last_separator:
            message = f"expected MovieID::Title::Genres, found {_show(line)}"
            raise DataFormatError(where, number, message)
        rows.append((_require_int(item_text, "MovieID", where, number), title, genres))
        line_numbers.append(number)
    return _items_frame(rows, line_numbers, where)


def parse_ml1m_users(data: bytes, where: str) -> pd.DataFrame:
    """Parse ML-1M ``users.dat``: ``UserID::Gender::Age::Occupation::Zip-code``.

    Age and occupation are the integer codes of the file. Gender and zip keep their
    exact text.
    """
    form = "UserID::Gender::Age::Occupation::Zip-code"
    rows: list[dict[str, object]] = []
    line_numbers: list[int] = []
    for number, line in _content_lines(data, "latin-1", where):
        user, gender, age, occupation, zip_code = _require_fields(
            line, "::", form, 5, where, number
        )
        rows.append(
            {
                "user_id": _require_int(user, "UserID", where, number),
                "gender": gender,
                "age": _require_int(age, "Age", where, number),
                "occupation": _require_int(occupation, "Occupation", where, number),
                "zip": zip_code,
            }
        )
        line_numbers.append(number)
    return _users_frame(rows, line_numbers, where, ML1M_USER_DTYPES)


def parse_ml100k_genres(data: bytes, where: str) -> list[str]:
    """Parse ML-100K ``u.genre`` (``name|index``) into genre names in flag order.

    The indexes must run 0, 1, 2, ... in file order, because they number the genre
    flag columns of ``u.item``.
    """
    names: list[str] = []
    for number, line in _content_lines(data, "latin-1", where):
        name, index_text = _require_fields(line, "|", "name|index", 2, where, number)
        index = _require_int(index_text, "index", where, number)
        if index != len(names):
            message = f"genre index {index} out of order, expected {len(names)}"
            raise DataFormatError(where, number, message)
        names.append(name)
    return names


def parse_ml100k_items(data: bytes, where: str, genres: list[str]) -> pd.DataFrame:
    """Parse ML-100K ``u.item`` (latin-1, ``|``-separated) into item frame columns.

    Fields: movie id, title, release date, video release date, IMDb URL and one 0/1
    flag per genre of ``u.genre``. The title is everything between the first ``|``
    and the last fields, so a title with ``|`` keeps its text. ``genres`` joins the
    names of the flagged genres with ``|`` in ``u.genre`` order.
    """
    tail = 3 + len(genres)  # release date, video release date, IMDb URL, flags
    rows: list[tuple[int, str, str]] = []
    line_numbers: list[int] = []
    for number, line in _content_lines(data, "latin-1", where):
        fields = line.split("|")
        if len(fields) < 2 + tail:
            message = (
                f"expected {2 + tail} fields (movie id|title|release date|video "
                f"release date|IMDb URL|{len(genres)} genre flags), "
                f"found {len(fields)} in {_show(line)}"
            )
            raise DataFormatError(where, number, message)
        item_id = _require_int(fields[0], "movie id", where, number)
        title = "|".join(fields[1:-tail])
        flagged = _flagged_genres(fields[-len(genres) :], genres, where, number)
        rows.append((item_id, title, flagged))
        line_numbers.append(number)
    return _items_frame(rows, line_numbers, where)


def _flagged_genres(flags: list[str], genres: list[str], where: str, line: int) -> str:
    if not genres:
        return ""
    for name, flag in zip(genres, flags, strict=True):
        if flag not in ("0", "1"):
            _field_error(where, line, f"{name} flag", flag, "0 or 1")
    return "|".join(
        name for name, flag in zip(genres, flags, strict=True) if flag == "1"
    )


def parse_ml100k_users(data: bytes, where: str) -> pd.DataFrame:
    """Parse ML-100K ``u.user``: ``user id|age|gender|occupation|zip code``.

    Gender, occupation and zip keep their exact text.
    """
    form = "user id|age|gender|occupation|zip code"
    rows: list[dict[str, object]] = []
    line_numbers: list[int] = []
    for number, line in _content_lines(data, "latin-1", where):
        user, age, gender, occupation, zip_code = _require_fields(
            line, "|", form, 5, where, number
        )
        rows.append(
            {
                "user_id": _require_int(user, "user id", where, number),
                "age": _require_int(age, "age", where, number),
                "gender": gender,
                "occupation": occupation,
                "zip": zip_code,
            }
        )
        line_numbers.append(number)
    return _users_frame(rows, line_numbers, where, ML100K_USER_DTYPES)


def parse_csv_movies(data: bytes, where: str) -> pd.DataFrame:
    """Parse ``movies.csv``: UTF-8 CSV with the header ``movieId,title,genres``.

    Titles and genres are unquoted by CSV rules and otherwise kept exactly. A
    record's line number is its first physical line. A UTF-8 byte order mark
    before the header is accepted.
    """
    text = _decode_whole(data, "utf-8-sig", where)
    rows: list[tuple[int, str, str]] = []
    line_numbers: list[int] = []
    blank_lines: list[int] = []
    last_line = 0
    for start, end, record in _numbered_records(text, where):
        last_line = end
        if start == 1:
            _check_csv_header(record, where)
        elif not record or (len(record) == 1 and _is_blank(record[0])):
            blank_lines.append(start)
        else:
            rows.append(_parse_movie_record(record, where, start))
            line_numbers.append(start)
    if last_line == 0:
        _check_csv_header([], where)
    report_blank_lines(where, blank_lines, last_line)
    return _items_frame(rows, line_numbers, where)


def _decode_whole(data: bytes, encoding: str, where: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start : error.end]
        raise DataFormatError(where, line, f"invalid {encoding} byte {bad!r}") from None


def _numbered_records(text: str, where: str) -> Iterator[tuple[int, int, list[str]]]:
    """Yield (first line, last line, fields) for each CSV record of ``text``."""
    # newline="\n" makes only LF end a line, as in the other parsers.
    reader = csv.reader(io.StringIO(text, newline="\n"), strict=True)
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            message = f"invalid CSV: {error}"
            raise DataFormatError(where, reader.line_num, message) from None
        yield previous_end + 1, reader.line_num, record
        previous_end = reader.line_num


def _check_csv_header(record: list[str], where: str) -> None:
    if record != ["movieId", "title", "genres"]:
        found = _show(",".join(record))
        message = f"expected the header line 'movieId,title,genres', found {found}"
        raise DataFormatError(where, 1, message)


def _parse_movie_record(
    record: list[str], where: str, line: int
) -> tuple[int, str, str]:
    if len(record) != 3:
        message = (
            f"expected 3 fields (movieId,title,genres), found {len(record)} in "
            f"{_show(','.join(record))}"
        )
        raise DataFormatError(where, line, message)
    return _require_int(record[0], "movieId", where, line), record[1], record[2]
