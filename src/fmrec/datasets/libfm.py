"""Reader and writer for the libFM / libSVM text format.

Each line is one row: a numeric target, then ``index:value`` pairs separated by
whitespace, for example ``4 0:1 1057:1 4211:0.25``. The rules of this module:

- The index base is an explicit argument. With ``base=1`` an index of 0 is an
  error, and with ``base=0`` the first feature is ``0``. Use the same base for
  every file of one data set.
- ``#`` starts a comment that runs to the end of the line. A line that is empty
  once comments and whitespace (space, tab, CR, LF, VT, FF) are removed is skipped.
- A line with a target and no features is a row whose features are all zero.
- A UTF-8 byte order mark at the start of a file is skipped.
- CRLF line ends are accepted. Line numbers in errors are 1-based physical lines,
  blank and comment lines included.
- The pairs of a row may come in any order. An index may appear once per row.
- Indices are decimal integers from ``base`` to ``2**63 - 1``. Targets and values
  are decimal numbers (``3``, ``-0.5``, ``.5``, ``1e-3``) within the float64
  range, and ``nan`` or ``inf`` are rejected. Every number is rounded correctly
  to the nearest float64, so a file written with ``repr`` reads back bit for
  bit.

Raw indices are mapped to compact columns by a :class:`FeatureIndex`: the column
of a feature is its rank among the distinct indices of the training file. Memory
therefore grows with the number of distinct features, not with the largest
index, and hashed indices such as ``2**40`` need no ``2**40``-column matrix. Files
read with the training file's index share its columns. A feature that the index
does not contain is dropped from the row, which gives it zero weight in a model.
The number dropped is logged at WARNING and stored in :attr:`LibFMData.n_unseen`.

Every format error is a :class:`~fmrec.exceptions.DataFormatError` naming the
file, the line and the offending token.

Parsing runs in a compiled (numba) kernel over the raw bytes, one block of lines
at a time. A number that the kernel cannot convert with a single exact rounding
(a mantissa above 2**53, which is about 16 digits, or a power of ten beyond
1e22) is converted afterwards by NumPy's correctly rounded parser. When the
kernel meets a malformed line, a Python parser reads that line again to build the
error message. The first call after installation compiles the kernels, which
takes some seconds, and numba caches them on disk for later processes.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from fmrec.exceptions import DataFormatError

logger = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
"""Largest raw feature index."""

# Bytes read per block. The parse buffers of a block take 16 bytes per line and
# per ":", a few times the block size, so the block size bounds that extra memory.
_BLOCK_BYTES = 8 << 20
# Raw indices are mapped to columns through a dense table (one entry per index in
# the range min..max) while the range is below FACTOR times the number of stored
# values (or of features, in a FeatureIndex) plus MIN. Wider ranges use a hash
# table when the index is built and a binary search in FeatureIndex.lookup.
_DENSE_TABLE_FACTOR = 4
_DENSE_TABLE_MIN = 1 << 20
_MAX_SHOWN_BYTES = 60
_DECIMAL = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INDEX = re.compile(rb"\d+")

Source = str | os.PathLike[str] | BinaryIO


# --- feature index -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureIndex:
    """Sorted distinct raw feature indices of a file, whose ranks are the columns.

    Attributes
    ----------
    raw : ndarray of int64
        Distinct raw indices in ascending order. Column ``j`` is feature
        ``raw[j]`` of the file.
    base : int
        Index base (0 or 1) of the files this index was built from.
    """

    raw: np.ndarray
    base: int
    _table: list[np.ndarray] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_base(self.base)
        raw = np.asarray(self.raw, dtype=np.int64)
        if raw.ndim != 1:
            raise ValueError(f"raw must be 1-D, got shape {raw.shape}")
        if raw.size and (raw[0] < self.base or np.any(raw[1:] <= raw[:-1])):
            raise ValueError(
                f"raw must be strictly increasing indices of at least base={self.base}"
            )
        raw.setflags(write=False)
        object.__setattr__(self, "raw", raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureIndex):
            return NotImplemented
        return self.base == other.base and np.array_equal(self.raw, other.raw)

    @classmethod
    def identity(cls, n_features: int, base: int) -> FeatureIndex:
        """Build the index in which raw index ``base + j`` is column ``j``.

        Reading with it keeps every column where :func:`write_libfm` put it, even
        a column without stored values.
        """
        if n_features < 0:
            raise ValueError(f"n_features must be >= 0, got {n_features}")
        return cls(np.arange(base, base + n_features, dtype=np.int64), base)

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return int(self.raw.size)

    def __len__(self) -> int:
        return self.n_features

    def lookup(self, raw_indices: npt.ArrayLike) -> np.ndarray:
        """Return the column of each raw index, or -1 where the index is not known."""
        query = np.asarray(raw_indices, dtype=np.int64)
        if self.raw.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        low, high = int(self.raw[0]), int(self.raw[-1])
        if high - low < _DENSE_TABLE_FACTOR * self.raw.size + _DENSE_TABLE_MIN:
            return _dense_lookup(self._dense_table(), low, query)
        position = np.minimum(np.searchsorted(self.raw, query), self.raw.size - 1)
        return np.where(self.raw[position] == query, position, -1)

    def to_dict(self) -> dict[str, Any]:
        """Return the index as JSON-ready data for :meth:`from_dict`."""
        return {"base": self.base, "raw": self.raw.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureIndex:
        """Rebuild an index from the output of :meth:`to_dict`."""
        return cls(np.asarray(data["raw"], dtype=np.int64), int(data["base"]))

    def _dense_table(self) -> np.ndarray:
        """Return the table from ``raw - raw[0]`` to column, built on first use."""
        if not self._table:
            table = np.full(int(self.raw[-1] - self.raw[0]) + 1, -1, dtype=np.int64)
            table[self.raw - self.raw[0]] = np.arange(self.raw.size)
            self._table.append(table)
        return self._table[0]


def _dense_lookup(table: np.ndarray, low: int, query: np.ndarray) -> np.ndarray:
    offset = query - low
    inside = (query >= low) & (offset < table.size)
    columns = np.full(query.shape, -1, dtype=np.int64)
    columns[inside] = table[offset[inside]]
    return columns


def _fit_columns(raw: np.ndarray, base: int) -> tuple[FeatureIndex, np.ndarray]:
    """Build the index of the distinct values of ``raw`` and return their columns."""
    if raw.size == 0:
        return FeatureIndex(np.empty(0, dtype=np.int64), base), raw.copy()
    low, high = int(raw.min()), int(raw.max())
    if high - low < _DENSE_TABLE_FACTOR * raw.size + _DENSE_TABLE_MIN:
        # Marking present indices in a table is much faster than sorting them.
        present = np.zeros(high - low + 1, dtype=bool)
        present[raw - low] = True
        column_of = np.cumsum(present) - 1
        features = FeatureIndex(np.flatnonzero(present) + low, base)
        return features, column_of[raw - low]
    # A hash table (pandas.factorize) numbers the distinct indices in order of
    # appearance, which is then turned into ascending order.
    codes, distinct = pd.factorize(raw)
    order = np.argsort(distinct)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return FeatureIndex(distinct[order], base), rank[codes]


# --- compiled scanner ----------------------------------------------------------------

_POWERS_OF_TEN = np.array([10.0**exponent for exponent in range(23)])
# Mantissas up to 2**53 are exact in float64, the condition of a one-rounding parse.
_EXACT_MANTISSA_MAX = 2**53
# Mantissas grow no further than this, so that the next digit cannot overflow int64.
_MANTISSA_LIMIT = 10**17
_EXPONENT_LIMIT = 100_000


@numba.njit(cache=True)
def _is_space(byte: int) -> bool:
    return byte == 32 or 9 <= byte <= 13


@numba.njit(cache=True)
def _is_digit(byte: int) -> bool:
    return 48 <= byte <= 57


@numba.njit(cache=True)
def _scan_decimal(buf: np.ndarray, start: int, end: int) -> tuple[int, float]:
    """Parse a decimal number in ``buf[start:end]``.

    Returns ``(0, value)`` when the value is exact, ``(1, 0.0)`` when the number
    is valid but needs the exact converter, and ``(2, 0.0)`` when it is invalid.
    A mantissa below 2**53 times a power of ten up to 1e22 is rounded once,
    which gives the correctly rounded value (Clinger's fast path).
    """
    i = start
    negative = False
    if i < end and (buf[i] == 43 or buf[i] == 45):  # "+" or "-"
        negative = buf[i] == 45
        i += 1
    mantissa = 0
    exponent = 0
    n_digits = 0
    inexact = False
    while i < end and _is_digit(buf[i]):
        if mantissa < _MANTISSA_LIMIT:
            mantissa = mantissa * 10 + (buf[i] - 48)
        else:
            inexact = True
            exponent += 1
        n_digits += 1
        i += 1
    if i < end and buf[i] == 46:  # "."
        i += 1
        while i < end and _is_digit(buf[i]):
            if mantissa < _MANTISSA_LIMIT:
                mantissa = mantissa * 10 + (buf[i] - 48)
                exponent -= 1
            else:
                inexact = True
            n_digits += 1
            i += 1
    if n_digits == 0:
        return 2, 0.0
    if i < end and (buf[i] == 101 or buf[i] == 69):  # "e" or "E"
        i += 1
        exponent_negative = False
        if i < end and (buf[i] == 43 or buf[i] == 45):
            exponent_negative = buf[i] == 45
            i += 1
        if i == end:
            return 2, 0.0
        written = 0
        while i < end and _is_digit(buf[i]):
            if written < _EXPONENT_LIMIT:
                written = written * 10 + (buf[i] - 48)
            i += 1
        exponent += -written if exponent_negative else written
    if i != end:
        return 2, 0.0
    if inexact or mantissa > _EXACT_MANTISSA_MAX or not -22 <= exponent <= 22:
        return 1, 0.0
    value = float(mantissa)
    if exponent < 0:
        value /= _POWERS_OF_TEN[-exponent]
    else:
        value *= _POWERS_OF_TEN[exponent]
    return 0, -value if negative else value


@numba.njit(cache=True)
def _scan_index(buf: np.ndarray, start: int, end: int, base: int) -> int:
    """Return the index in ``buf[start:end]``, or -1 if it is invalid or below base."""
    if start == end:
        return -1
    value = 0
    for i in range(start, end):
        if not _is_digit(buf[i]):
            return -1
        digit = buf[i] - 48
        if value > (INT64_MAX - digit) // 10:
            return -1
        value = value * 10 + digit
    return value if value >= base else -1


# Rows up to this length are sorted in place by insertion, longer ones by argsort.
_INSERTION_SORT_MAX = 32


@numba.njit(cache=True)
def _sort_row(indices, values, start, end, fallback, fallback_start, n_fallback):
    """Sort one row by index and return False if an index repeats.

    Fallback records ``fallback_start .. n_fallback - 1`` of the row move with
    their values.
    """
    increasing = True
    for i in range(start + 1, end):
        if indices[i] <= indices[i - 1]:
            increasing = False
            break
    if increasing:
        return True
    # Remember the index of each fallback value to find its slot after sorting.
    for k in range(fallback_start, n_fallback):
        if fallback[k, 2] >= 0:
            fallback[k, 2] = indices[fallback[k, 2]]
    if end - start <= _INSERTION_SORT_MAX:
        _insertion_sort(indices, values, start, end)
    else:
        order = np.argsort(indices[start:end], kind="mergesort")
        indices[start:end] = indices[start:end][order]
        values[start:end] = values[start:end][order]
    for i in range(start + 1, end):
        if indices[i] == indices[i - 1]:
            return False
    for k in range(fallback_start, n_fallback):
        if fallback[k, 2] >= 0:
            fallback[k, 2] = start + np.searchsorted(indices[start:end], fallback[k, 2])
    return True


@numba.njit(cache=True)
def _insertion_sort(indices, values, start, end):
    for i in range(start + 1, end):
        index = indices[i]
        value = values[i]
        j = i - 1
        while j >= start and indices[j] > index:
            indices[j + 1] = indices[j]
            values[j + 1] = values[j]
            j -= 1
        indices[j + 1] = index
        values[j + 1] = value


@numba.njit(cache=True)
def _add_fallback(fallback, n_fallback, start, end, slot, line):
    """Append a ``(start, end, slot, line)`` record, growing the array when full."""
    if n_fallback == fallback.shape[0]:
        bigger = np.empty((max(16, 2 * n_fallback), 4), dtype=np.int64)
        bigger[:n_fallback] = fallback
        fallback = bigger
    fallback[n_fallback, 0] = start
    fallback[n_fallback, 1] = end
    fallback[n_fallback, 2] = slot
    fallback[n_fallback, 3] = line
    return fallback


@numba.njit(cache=True)
def _token_end(buf, position, line_end):
    """Return the end of the token at ``position`` and its first colon, or -1."""
    colon = -1
    while position < line_end and not _is_space(buf[position]):
        if buf[position] == 35:  # "#" starts a comment
            break
        if buf[position] == 58 and colon < 0:  # ":"
            colon = position
        position += 1
    return position, colon


@numba.njit(cache=True)
def _scan_line(buf, start, end, base, line, row, rows, fallback, n_fallback):
    """Parse one line into ``rows`` at row ``row``.

    ``rows`` is ``(labels, indices, values, n_entries)`` with ``n_entries`` in a
    one-element array. Returns ``(status, fallback, n_fallback)``, where status is
    1 for a row, 0 for a blank line and -1 for a malformed line.
    """
    labels, indices, values, n_entries = rows
    n_tokens = 0
    i = start
    while True:
        while i < end and _is_space(buf[i]):
            i += 1
        if i == end or buf[i] == 35:  # end of line or "#"
            return min(n_tokens, 1), fallback, n_fallback
        token_start = i
        i, colon = _token_end(buf, i, end)
        if (n_tokens == 0) != (colon < 0):
            return -1, fallback, n_fallback  # a label with ":" or a pair without
        number_start = token_start if n_tokens == 0 else colon + 1
        if n_tokens == 0:
            slot = -(row + 1)
        else:
            slot = n_entries[0]
            indices[slot] = _scan_index(buf, token_start, colon, base)
            if indices[slot] < 0:
                return -1, fallback, n_fallback
            n_entries[0] += 1
        status, number = _scan_decimal(buf, number_start, i)
        if status == 2:
            return -1, fallback, n_fallback
        if status == 1:
            fallback = _add_fallback(fallback, n_fallback, number_start, i, slot, line)
            n_fallback += 1
        if slot < 0:
            labels[row] = number
        else:
            values[slot] = number
        n_tokens += 1


@numba.njit(cache=True)
def _scan_block(buf, base, first_line):
    """Parse the lines of ``buf`` into row arrays.

    Returns ``(labels, indptr, indices, values, fallback, error_line,
    error_offset)``. ``fallback`` has one ``(start, end, slot, line)`` row per
    number left to the exact converter, where ``slot >= 0`` is a position in
    ``values`` and ``slot < 0`` is label ``-slot - 1``. At a malformed line the
    scan stops, and ``error_line`` is its number and ``error_offset`` its first
    byte. Both are -1 when every line is valid.
    """
    n_lines = np.count_nonzero(buf == 10) + 1
    n_colons = np.count_nonzero(buf == 58)
    labels = np.empty(n_lines, dtype=np.float64)
    indptr = np.zeros(n_lines + 1, dtype=np.int64)
    indices = np.empty(n_colons, dtype=np.int64)
    values = np.empty(n_colons, dtype=np.float64)
    n_entries = np.zeros(1, dtype=np.int64)
    rows = (labels, indices, values, n_entries)
    fallback = np.empty((0, 4), dtype=np.int64)
    n_fallback = 0
    n_rows = 0
    line = first_line
    position = 0
    while position < buf.size:
        line_end = position
        while line_end < buf.size and buf[line_end] != 10:
            line_end += 1
        row_start = n_entries[0]
        fallback_start = n_fallback
        status, fallback, n_fallback = _scan_line(
            buf, position, line_end, base, line, n_rows, rows, fallback, n_fallback
        )
        if status == 1 and not _sort_row(
            indices,
            values,
            row_start,
            n_entries[0],
            fallback,
            fallback_start,
            n_fallback,
        ):
            status = -1
        if status < 0:
            n_entries[0] = row_start
            n_fallback = fallback_start
            break
        if status == 1:
            n_rows += 1
            indptr[n_rows] = n_entries[0]
        position = line_end + 1
        line += 1
    failed = position < buf.size
    return (
        labels[:n_rows],
        indptr[: n_rows + 1],
        indices[: n_entries[0]],
        values[: n_entries[0]],
        fallback[:n_fallback],
        line if failed else -1,
        position if failed else -1,
    )


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class LibFMData:
    """Rows of one libFM file in the columns of a :class:`FeatureIndex`.

    Attributes
    ----------
    X : scipy.sparse.csr_matrix of shape (n_rows, features.n_features)
        Feature values, float64, with sorted column indices in each row.
    y : ndarray of shape (n_rows,)
        Targets, float64.
    features : FeatureIndex
        Raw index of each column.
    n_unseen : int
        Stored values dropped because ``features`` does not contain their index.
    source : str
        File name used in messages.
    """

    X: sp.csr_matrix
    y: np.ndarray
    features: FeatureIndex
    n_unseen: int
    source: str


@dataclass
class _Rows:
    """Parsed rows with raw indices, before the mapping to columns."""

    labels: np.ndarray
    indptr: np.ndarray
    raw: np.ndarray
    values: np.ndarray


def read_libfm(
    source: Source,
    *,
    base: int,
    features: FeatureIndex | None = None,
) -> LibFMData:
    """Read a libFM / libSVM file into a CSR matrix and a target vector.

    The format rules are in the :mod:`fmrec.datasets.libfm` module documentation.

    Parameters
    ----------
    source : str, path or binary file object
        The file. A file object is read to its end and not closed.
    base : {0, 1}
        Smallest valid feature index. It is required because libFM files use 0
        and libSVM files use 1, and a wrong guess shifts every feature.
    features : FeatureIndex, optional
        Column space to read into, usually ``read_libfm(train, ...).features``.
        Values whose index it does not contain are dropped, counted in
        ``n_unseen`` and logged at WARNING. Without it, the index is built from
        this file's distinct indices.

    Returns
    -------
    LibFMData
        The matrix, targets, feature index and unseen count.

    Raises
    ------
    DataFormatError
        If a line breaks the format. The message names the file, the 1-based line
        and the offending token.
    ValueError
        If ``base`` is not 0 or 1, or differs from ``features.base``.
    """
    _check_base(base)
    if features is not None and features.base != base:
        raise ValueError(
            f"base={base} differs from the feature index's base={features.base}. "
            "Read every file of a data set with the same base."
        )
    with _open_binary(source, "rb") as (stream, where):
        rows = _read_rows(stream, where, base)
    if features is None:
        features, columns = _fit_columns(rows.raw, base)
    else:
        columns = features.lookup(rows.raw)
    X, n_unseen = _build_matrix(rows, columns, features.n_features)
    if n_unseen:
        n_distinct = np.unique(rows.raw[columns < 0]).size
        logger.warning(
            "%s: dropped %d value(s) of %d feature index(es) that the feature index "
            "does not contain; these features get zero weight",
            where,
            n_unseen,
            n_distinct,
        )
    return LibFMData(X, rows.labels, features, n_unseen, where)


def read_libfm_files(
    sources: Mapping[str, Source], *, base: int, fit: str = "train"
) -> dict[str, LibFMData]:
    """Read several files, such as train, validation and test, into one column space.

    The feature index is built from the file named ``fit``, and every other
    file is read into its columns, so all matrices have the same width.

    Parameters
    ----------
    sources : mapping of str to source
        Files by name, for example ``{"train": ..., "valid": ..., "test": ...}``.
    base : {0, 1}
        Index base of all the files.
    fit : str, default="train"
        Name of the file whose indices form the feature index.

    Returns
    -------
    dict of str to LibFMData
        The data of each file, under the names and in the order of ``sources``.

    Raises
    ------
    KeyError
        If ``fit`` is not a key of ``sources``.
    DataFormatError
        If a file breaks the format.
    """
    if fit not in sources:
        raise KeyError(
            f"fit={fit!r} names no file. The files are named {sorted(sources)}."
        )
    fitted = read_libfm(sources[fit], base=base)
    data = {}
    for name, source in sources.items():
        if name == fit:
            data[name] = fitted
        else:
            data[name] = read_libfm(source, base=base, features=fitted.features)
    return data


def _check_base(base: int) -> None:
    if isinstance(base, bool) or base not in (0, 1):
        raise ValueError(f"base must be 0 or 1, got {base!r}")


@contextlib.contextmanager
def _open_binary(source: Source, mode: str) -> Iterator[tuple[BinaryIO, str]]:
    """Open a path in binary ``mode``, or pass a binary file object through open."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, mode) as stream:
            yield stream, str(source)
        return
    if isinstance(source, io.TextIOBase):
        raise TypeError(f"the file object must be opened in binary mode ('{mode}')")
    yield source, str(getattr(source, "name", "<stream>"))


def _read_rows(stream: BinaryIO, where: str, base: int) -> _Rows:
    """Parse the stream block by block, each block ending at a line end."""
    parts: list[_Rows] = []
    pending = b""
    first_line = 1
    # Editors on Windows often start UTF-8 files with a byte order mark.
    head = stream.read(len(codecs.BOM_UTF8))
    if head != codecs.BOM_UTF8:
        pending = head
    while True:
        chunk = stream.read(_BLOCK_BYTES)
        data = pending + chunk if pending else chunk
        if not chunk:
            block, pending = data, b""
        else:
            cut = data.rfind(b"\n") + 1
            block, pending = data[:cut], data[cut:]
        if block:
            parts.append(_parse_block(block, where, base, first_line))
            first_line += block.count(b"\n")
        if not chunk:
            break
    return _concatenate(parts)


def _parse_block(block: bytes, where: str, base: int, first_line: int) -> _Rows:
    buf = np.frombuffer(block, dtype=np.uint8)
    labels, indptr, raw, values, fallback, error_line, error_offset = _scan_block(
        buf, base, first_line
    )
    bad_line = _convert_fallback(buf, fallback, labels, values)
    if bad_line is not None and (error_line < 0 or bad_line < error_line):
        error_line = bad_line
        error_offset = _line_offset(block, bad_line - first_line)
    if error_line >= 0:
        end = block.find(b"\n", error_offset)
        line = block[error_offset : None if end < 0 else end]
        _raise_line_error(line, where, int(error_line), base)
    return _Rows(labels, indptr, raw, values)


def _convert_fallback(
    buf: np.ndarray, fallback: np.ndarray, labels: np.ndarray, values: np.ndarray
) -> int | None:
    """Convert the numbers the kernel left over in place.

    Returns the first line with a number out of the float64 range, or None.
    """
    if fallback.shape[0] == 0:
        return None
    starts, ends, slots, lines = fallback.T
    width = int((ends - starts).max())
    offsets = starts[:, None] + np.arange(width)
    inside = offsets < ends[:, None]
    text = np.where(inside, buf[np.minimum(offsets, buf.size - 1)], 0).astype(np.uint8)
    numbers = text.view(f"S{width}").reshape(-1).astype(np.float64)
    is_value = slots >= 0
    values[slots[is_value]] = numbers[is_value]
    labels[-slots[~is_value] - 1] = numbers[~is_value]
    infinite = ~np.isfinite(numbers)
    return int(lines[infinite].min()) if infinite.any() else None


def _line_offset(block: bytes, line_in_block: int) -> int:
    offset = 0
    for _ in range(line_in_block):
        offset = block.index(b"\n", offset) + 1
    return offset


def _concatenate(parts: list[_Rows]) -> _Rows:
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return _Rows(np.empty(0), np.zeros(1, dtype=np.int64), empty, np.empty(0))
    if len(parts) == 1:
        return parts[0]
    indptr_parts = [parts[0].indptr]
    offset = parts[0].indptr[-1]
    for part in parts[1:]:
        indptr_parts.append(part.indptr[1:] + offset)
        offset += part.indptr[-1]
    return _Rows(
        np.concatenate([part.labels for part in parts]),
        np.concatenate(indptr_parts),
        np.concatenate([part.raw for part in parts]),
        np.concatenate([part.values for part in parts]),
    )


def _build_matrix(
    rows: _Rows, columns: np.ndarray, n_features: int
) -> tuple[sp.csr_matrix, int]:
    """Assemble the CSR matrix, dropping values whose column is -1."""
    unseen = columns < 0
    n_unseen = int(np.count_nonzero(unseen))
    indptr = rows.indptr
    values = rows.values
    if n_unseen:
        n_rows = indptr.size - 1
        row_of_value = np.repeat(np.arange(n_rows), np.diff(indptr))
        dropped = np.bincount(row_of_value[unseen], minlength=n_rows)
        indptr = indptr - np.concatenate([[0], np.cumsum(dropped)])
        columns = columns[~unseen]
        values = values[~unseen]
    index_dtype = np.int32 if max(n_features, columns.size) < 2**31 else np.int64
    shape = (indptr.size - 1, n_features)
    X = sp.csr_matrix(
        (values, columns.astype(index_dtype), indptr.astype(index_dtype)),
        shape=shape,
    )
    # Raw indices are sorted in each row and the mapping keeps their order.
    X.has_sorted_indices = True
    return X, n_unseen


# --- exact line parser for error messages ------------------------------------------


def _show(token: bytes) -> str:
    text = token.decode("utf-8", errors="backslashreplace")
    if len(text) > _MAX_SHOWN_BYTES:
        text = text[:_MAX_SHOWN_BYTES] + "..."
    return repr(text)


def _raise_line_error(line: bytes, where: str, number: int, base: int) -> NoReturn:
    """Parse one line in Python and raise DataFormatError for its first bad token."""
    tokens = line.split(b"#", 1)[0].split()
    label, features = tokens[0], tokens[1:]
    if b":" in label:
        raise DataFormatError(
            where,
            number,
            f"missing label: the line starts with the feature {_show(label)}, "
            "but a line must start with a numeric target",
        )
    _check_number(label, "label", label, where, number)
    seen: set[int] = set()
    for token in features:
        index_text, colon, value_text = token.partition(b":")
        if not colon:
            message = f"invalid feature {_show(token)}, expected index:value"
            raise DataFormatError(where, number, message)
        index = _check_index(index_text, token, base, where, number)
        _check_number(value_text, "feature value", token, where, number)
        if index in seen:
            message = f"feature index {index} repeats in the row, at {_show(token)}"
            raise DataFormatError(where, number, message)
        seen.add(index)
    # Reached only if the kernel and this parser disagree on the format.
    raise DataFormatError(where, number, f"failed to parse the line {_show(line)}")


def _check_index(text: bytes, token: bytes, base: int, where: str, number: int) -> int:
    if text.startswith(b"-") and _INDEX.fullmatch(text[1:]):
        message = f"negative feature index in {_show(token)}, expected >= {base}"
        raise DataFormatError(where, number, message)
    if not _INDEX.fullmatch(text):
        message = (
            f"invalid feature index in {_show(token)}, expected a decimal integer "
            f">= {base}"
        )
        raise DataFormatError(where, number, message)
    index = int(text)
    if index > INT64_MAX:
        message = f"feature index in {_show(token)} overflows int64 (max {INT64_MAX})"
        raise DataFormatError(where, number, message)
    if index < base:
        message = f"feature index {index} in {_show(token)} is below the base {base}"
        raise DataFormatError(where, number, message)
    return index


def _check_number(
    text: bytes, name: str, token: bytes, where: str, number: int
) -> None:
    if not _DECIMAL.fullmatch(text):
        described = _show(text) if text == token else f"{_show(text)} in {_show(token)}"
        message = f"invalid {name} {described}, expected a decimal number"
        raise DataFormatError(where, number, message)
    if not np.isfinite(float(text)):
        message = f"{name} {_show(text)} is outside the float64 range"
        raise DataFormatError(where, number, message)


# --- writing -------------------------------------------------------------------------

# Rows formatted per call of the byte kernel, which bounds the output buffer.
_WRITE_BLOCK_ROWS = 1 << 18


def write_libfm(
    target: Source,
    X: sp.spmatrix | sp.sparray | np.ndarray,
    y: npt.ArrayLike,
    *,
    base: int,
    features: FeatureIndex | None = None,
) -> None:
    """Write rows and targets as a libFM / libSVM file.

    Each row is written as its target and one ``index:value`` pair per stored
    value, in ascending column order. Stored zeros are written too. Numbers are
    written with ``repr``, the shortest text that reads back to the same float64,
    and without the ``.0`` of whole numbers. :func:`read_libfm` therefore returns
    the same values and targets bit for bit, and with
    ``FeatureIndex.identity(X.shape[1], base)`` (or ``features``) also the same
    columns.

    Parameters
    ----------
    target : str, path or binary file object
        Output file, created or replaced. A file object is written to and not
        closed.
    X : sparse matrix or ndarray of shape (n_rows, n_features)
        Feature values. Entries that repeat a (row, column) position are summed.
    y : array_like of shape (n_rows,)
        Targets.
    base : {0, 1}
        Column ``j`` is written as index ``j + base``.
    features : FeatureIndex, optional
        Writes column ``j`` as ``features.raw[j]`` in place of ``j + base``, to
        restore the indices of the file the columns were read from. Its base must
        equal ``base``.

    Raises
    ------
    ValueError
        If ``base`` is not 0 or 1, if the shapes do not match, or if a value or
        target is NaN or infinite.
    """
    matrix, targets = _check_write_input(X, y, base, features)
    if features is None:
        raw_of_column = np.arange(base, base + matrix.shape[1], dtype=np.int64)
    else:
        raw_of_column = features.raw
    column_pool, column_offsets = _text_pool(str(index) for index in raw_of_column)
    with _open_binary(target, "wb") as (stream, _):
        for start in range(0, matrix.shape[0], _WRITE_BLOCK_ROWS):
            rows = slice(start, start + _WRITE_BLOCK_ROWS)
            stream.write(
                _format_rows(matrix[rows], targets[rows], column_pool, column_offsets)
            )


def _check_write_input(
    X: Any, y: npt.ArrayLike, base: int, features: FeatureIndex | None
) -> tuple[sp.csr_matrix, np.ndarray]:
    _check_base(base)
    matrix = sp.csr_matrix(X, dtype=np.float64, copy=True)
    matrix.sum_duplicates()
    targets = np.asarray(y, dtype=np.float64)
    if targets.shape != (matrix.shape[0],):
        raise ValueError(
            f"y has shape {targets.shape}, expected ({matrix.shape[0]},) to match "
            f"the {matrix.shape[0]} rows of X"
        )
    if features is not None:
        if features.base != base:
            raise ValueError(
                f"base={base} differs from the feature index's base={features.base}"
            )
        if features.n_features != matrix.shape[1]:
            raise ValueError(
                f"X has {matrix.shape[1]} columns but the feature index has "
                f"{features.n_features}"
            )
    for name, array in (("X", matrix.data), ("y", targets)):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(
                f"{name} contains {bad.size} NaN or infinite value(s), which the "
                "libFM format cannot hold; remove or replace them before writing"
            )
    return matrix, targets


def _number_text(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _text_pool(texts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ASCII texts into one byte array with start offsets (n + 1)."""
    encoded = [text.encode("ascii") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(text) for text in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _format_rows(
    matrix: sp.csr_matrix,
    targets: np.ndarray,
    column_pool: np.ndarray,
    column_offsets: np.ndarray,
) -> bytes:
    """Format a block of rows, texting each distinct number once."""
    distinct_values, value_ids = _distinct_numbers(matrix.data)
    distinct_labels, label_ids = _distinct_numbers(targets)
    value_pool, value_offsets = _text_pool(
        _number_text(value) for value in distinct_values.tolist()
    )
    label_pool, label_offsets = _text_pool(
        _number_text(label) for label in distinct_labels.tolist()
    )
    output = _join_rows(
        matrix.indptr.astype(np.int64),
        matrix.indices.astype(np.int64),
        value_ids.astype(np.int64),
        label_ids.astype(np.int64),
        column_pool,
        column_offsets,
        value_pool,
        value_offsets,
        label_pool,
        label_offsets,
    )
    return output.tobytes()


def _distinct_numbers(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct numbers and the position of each input among them.

    Numbers are compared by bit pattern, so that -0.0 keeps its sign.
    """
    bits = np.ascontiguousarray(numbers, dtype=np.float64).view(np.int64)
    distinct, positions = np.unique(bits, return_inverse=True)
    return distinct.view(np.float64), positions.reshape(-1)


@numba.njit(cache=True)
def _copy_text(output, position, pool, offsets, text_id):
    start = offsets[text_id]
    end = offsets[text_id + 1]
    output[position : position + end - start] = pool[start:end]
    return position + end - start


@numba.njit(cache=True)
def _join_rows(
    indptr,
    columns,
    value_ids,
    label_ids,
    column_pool,
    column_offsets,
    value_pool,
    value_offsets,
    label_pool,
    label_offsets,
):
    """Write ``label index:value ...\\n`` for every row into one byte array."""
    n_rows = indptr.size - 1
    size = n_rows  # one line end per row
    for row in range(n_rows):
        size += label_offsets[label_ids[row] + 1] - label_offsets[label_ids[row]]
    for entry in range(columns.size):
        column = columns[entry]
        value = value_ids[entry]
        size += 2  # the space before the pair and the colon
        size += column_offsets[column + 1] - column_offsets[column]
        size += value_offsets[value + 1] - value_offsets[value]
    output = np.empty(size, dtype=np.uint8)
    position = 0
    for row in range(n_rows):
        position = _copy_text(
            output, position, label_pool, label_offsets, label_ids[row]
        )
        for entry in range(indptr[row], indptr[row + 1]):
            output[position] = 32  # " "
            position = _copy_text(
                output, position + 1, column_pool, column_offsets, columns[entry]
            )
            output[position] = 58  # ":"
            position = _copy_text(
                output, position + 1, value_pool, value_offsets, value_ids[entry]
            )
        output[position] = 10  # "\n"
        position += 1
    return output
