"""Named feature groups for ratings data, built as FM input blocks.

:class:`FeatureBuilder` turns training ratings plus optional user and item
tables into three blocks of FM input (see :mod:`fmrec.solvers.blocks`):

- the user block, one row per training user: ``user`` (the user id, one-hot),
  ``user_attributes`` (one-hot gender, age band, occupation and zip-code
  prefix, where the users table has them) and ``implicit_user`` (the items
  the user rated in training, each weighted 1/sqrt(count));
- the item block, one row per training item: ``item`` (the item id),
  ``item_attributes`` (genres, multi-hot and normalised to sum to 1, and the
  release decade from the title's year) and ``implicit_item`` (the users who
  rated the item in training, each weighted 1/sqrt(count));
- the time block: ``time`` (the calendar month of the rating, one-hot) and
  ``user_day`` (one indicator per user and calendar day (UTC) on which that
  user rated in training, the day-specific user effect of timeSVD++). With
  ``time`` alone the block has one row per training month; with
  ``user_day`` it has one row per user and day of the ratings it encodes.

Everything is built from the training ratings only, so nothing from a test
split leaks into the features: a test rating on a day its user also rated in
training gets that day's indicator, and any other rating gets none. A user or
item unknown at fit time gets an empty row in its block, which is the
cold-start case. A rating outside the training months takes the nearest
training month.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fmrec.features.ids import IdIndex, seen_matrix
from fmrec.solvers.blocks import Block, Blocks

logger = logging.getLogger(__name__)

GROUPS = (
    "user",
    "item",
    "user_attributes",
    "item_attributes",
    "implicit_user",
    "implicit_item",
    "time",
    "user_day",
)

# The groups of the user block and of the item block.
USER_GROUPS = ("user", "user_attributes", "implicit_user")
ITEM_GROUPS = ("item", "item_attributes", "implicit_item")
# The groups of the time block, which need the ratings' timestamps.
TIME_GROUPS = ("time", "user_day")

# Age bands of MovieLens 1M, applied to data sets that give the age in years.
AGE_BANDS = np.array([18, 25, 35, 45, 50, 56])
ZIP_PREFIX = 2
SECONDS_PER_DAY = 86_400
# A (user, day) pair is stored as user_index << DAY_BITS | day.
DAY_BITS = 32


@dataclass
class _BlockParts:
    """Columns of one block, group by group, before they are stacked."""

    matrices: list[sp.csr_matrix]
    names: list[str]

    def stack(self, n_rows: int) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
        if not self.matrices:
            return sp.csr_matrix((n_rows, 0)), [], np.zeros(0, dtype=np.int64)
        widths = [m.shape[1] for m in self.matrices]
        local = np.repeat(np.arange(len(widths)), widths)
        return sp.hstack(self.matrices, format="csr"), list(self.names), local


class FeatureBuilder:
    """Build user, item and time blocks from training ratings.

    Parameters
    ----------
    groups : sequence of str, default=("user", "item")
        Feature groups to build, from :data:`GROUPS`. ``user`` and ``item``
        are required, since recommendations rank items per user.
    """

    def __init__(self, groups: tuple[str, ...] | list[str] = ("user", "item")) -> None:
        self.groups = tuple(groups)

    def fit(
        self,
        ratings: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> FeatureBuilder:
        """Build the blocks from ``ratings`` (user_id, item_id, timestamp)."""
        self._check_groups(ratings, users, items)
        self.users = IdIndex.fit(ratings["user_id"])
        self.items = IdIndex.fit(ratings["item_id"])
        user_index = self.users.lookup(ratings["user_id"].to_numpy())
        item_index = self.items.lookup(ratings["item_id"].to_numpy())
        seen = seen_matrix(
            user_index, item_index, (len(self.users), len(self.items)), np.float64
        )

        user_parts = self._user_parts(seen, users)
        item_parts = self._item_parts(seen, items)
        self.user_block_, user_names, user_local = user_parts.stack(len(self.users))
        self.item_block_, item_names, item_local = item_parts.stack(len(self.items))
        timestamps = unix_seconds(ratings["timestamp"]) if self.uses_time else None
        self.months_ = None
        if "time" in self.groups:
            months = month_index(timestamps)
            self.months_ = (int(months.min()), int(months.max()))
        self.user_days_ = None
        if "user_day" in self.groups:
            self.user_days_ = np.unique(user_day_keys(user_index, timestamps))
        self.time_block_ = self._month_block()
        self.group_names_ = [*user_names, *item_names]
        column_groups = [user_local, item_local + len(user_names)]
        for name, width in self._time_widths():
            column_groups.append(np.full(width, len(self.group_names_)))
            self.group_names_.append(name)
        self.column_groups_ = np.concatenate(column_groups).astype(np.int64)
        logger.info(
            "Built features %s: %d columns (user block %d, item block %d).",
            ", ".join(self.group_names_),
            self.n_features,
            self.user_block_.shape[1],
            self.item_block_.shape[1],
        )
        return self

    @property
    def n_features(self) -> int:
        return self.column_groups_.size

    @property
    def item_offset(self) -> int:
        return self.user_block_.shape[1]

    @property
    def time_offset(self) -> int:
        return self.item_offset + self.item_block_.shape[1]

    @property
    def uses_time(self) -> bool:
        """Whether the features depend on the ratings' timestamps."""
        return any(group in self.groups for group in TIME_GROUPS)

    def transform(self, ratings: pd.DataFrame) -> Blocks:
        """Return the FM input blocks of ratings (user_id, item_id[, timestamp])."""
        user_index = self.users.lookup(ratings["user_id"].to_numpy())
        item_index = self.items.lookup(ratings["item_id"].to_numpy())
        timestamps = None
        if self.uses_time and "timestamp" in ratings:
            timestamps = ratings["timestamp"]
        return self.blocks(user_index, item_index, timestamps)

    def blocks(self, user_index, item_index, timestamps=None) -> Blocks:
        """Return blocks for index pairs; -1 leaves that block's part empty.

        Without ``timestamps`` every pair is placed in the latest training
        month, with no user-day indicator.
        """
        parts = [
            Block(self.user_block_, user_index, 0),
            Block(self.item_block_, item_index, self.item_offset),
        ]
        if self.uses_time:
            if timestamps is not None:
                timestamps = unix_seconds(timestamps)
            matrix, index = self._time_rows(user_index, timestamps)
            parts.append(Block(matrix, index, self.time_offset))
        return Blocks(parts)

    def user_rows(self, user_index: np.ndarray) -> sp.csr_matrix:
        """Return full-width rows holding the user part (and the latest month)."""
        rows = self._place(self.user_block_, user_index, 0)
        if self.uses_time:
            matrix, index = self._time_rows(np.asarray(user_index), None)
            rows = rows + self._place(matrix, index, self.time_offset)
        return rows.tocsr()

    def item_rows(self, item_index: np.ndarray) -> sp.csr_matrix:
        """Return full-width rows holding the item part only."""
        return self._place(self.item_block_, item_index, self.item_offset)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Return the fitted state as plain arrays (see :meth:`from_arrays`)."""
        arrays = {
            "user_ids": self.users.ids,
            "item_ids": self.items.ids,
            "column_groups": self.column_groups_,
        }
        blocks = {"user_block": self.user_block_, "item_block": self.item_block_}
        if self.months_ is not None:
            arrays["months"] = np.array(self.months_, dtype=np.int64)
        if self.user_days_ is not None:
            arrays["user_days"] = self.user_days_
        for name, matrix in blocks.items():
            arrays[f"{name}_indptr"] = matrix.indptr.astype(np.int64)
            arrays[f"{name}_indices"] = matrix.indices.astype(np.int64)
            arrays[f"{name}_data"] = matrix.data
            arrays[f"{name}_shape"] = np.array(matrix.shape, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(
        cls, groups: list[str], group_names: list[str], arrays: dict[str, np.ndarray]
    ) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`to_arrays` output."""
        builder = cls(tuple(groups))
        builder.users = IdIndex(arrays["user_ids"])
        builder.items = IdIndex(arrays["item_ids"])
        builder.column_groups_ = arrays["column_groups"]
        builder.group_names_ = list(group_names)
        builder.user_block_ = _matrix(arrays, "user_block")
        builder.item_block_ = _matrix(arrays, "item_block")
        builder.months_ = None
        if "months" in arrays:
            builder.months_ = tuple(int(m) for m in arrays["months"])
        builder.user_days_ = arrays.get("user_days")
        builder.time_block_ = builder._month_block()
        return builder

    def _place(
        self, block: sp.csr_matrix, index: np.ndarray, offset: int
    ) -> sp.csr_matrix:
        index = np.asarray(index, dtype=np.int64)
        present = index >= 0
        rows = block[np.where(present, index, 0)]
        rows = (sp.diags(present.astype(np.float64)) @ rows).tocsr()
        rows.eliminate_zeros()
        left = sp.csr_matrix((index.size, offset))
        right = sp.csr_matrix((index.size, self.n_features - offset - block.shape[1]))
        return sp.hstack([left, rows, right], format="csr")

    def _check_groups(self, ratings, users, items) -> None:
        unknown = set(self.groups) - set(GROUPS)
        if unknown:
            raise ValueError(
                f"Unknown feature groups {sorted(unknown)}; choose from {GROUPS}."
            )
        for required in ("user", "item"):
            if required not in self.groups:
                raise ValueError(f"The feature group {required!r} is required.")
        if "user_attributes" in self.groups and users is None:
            raise ValueError(
                "The group 'user_attributes' needs a users table, and none was given."
            )
        if "item_attributes" in self.groups and items is None:
            raise ValueError("The group 'item_attributes' needs an items table.")
        for group in TIME_GROUPS:
            if group in self.groups and "timestamp" not in ratings:
                raise ValueError(
                    f"The group {group!r} needs a timestamp column in the ratings."
                )
        if len(ratings) == 0:
            raise ValueError("Cannot build features from zero ratings.")

    def _user_parts(
        self, seen: sp.csr_matrix, users: pd.DataFrame | None
    ) -> _BlockParts:
        parts = _BlockParts([], [])
        n = len(self.users)
        parts.matrices.append(sp.identity(n, format="csr"))
        parts.names.append("user")
        if "user_attributes" in self.groups:
            parts.matrices.append(_user_attributes(users, self.users.ids))
            parts.names.append("user_attributes")
        if "implicit_user" in self.groups:
            parts.matrices.append(_normalise_rows(seen))
            parts.names.append("implicit_user")
        return parts

    def _item_parts(
        self, seen: sp.csr_matrix, items: pd.DataFrame | None
    ) -> _BlockParts:
        parts = _BlockParts([], [])
        parts.matrices.append(sp.identity(len(self.items), format="csr"))
        parts.names.append("item")
        if "item_attributes" in self.groups:
            parts.matrices.append(_item_attributes(items, self.items.ids))
            parts.names.append("item_attributes")
        if "implicit_item" in self.groups:
            parts.matrices.append(_normalise_rows(seen.T.tocsr()))
            parts.names.append("implicit_item")
        return parts

    def _time_widths(self) -> list[tuple[str, int]]:
        """Return the time block's groups and their numbers of columns."""
        widths = []
        if self.months_ is not None:
            widths.append(("time", self.months_[1] - self.months_[0] + 1))
        if self.user_days_ is not None:
            widths.append(("user_day", self.user_days_.size))
        return widths

    def _month_block(self) -> sp.csr_matrix | None:
        """Return the one-hot months, the time block of ``time`` alone."""
        if self.months_ is None or self.user_days_ is not None:
            return None
        n = self.months_[1] - self.months_[0] + 1
        return sp.identity(n, format="csr")

    def _month_column(self, timestamps: np.ndarray | None, n: int) -> np.ndarray:
        """Return each rating's month column: the latest without timestamps."""
        last = self.months_[1] - self.months_[0]
        if timestamps is None:
            return np.full(n, last, dtype=np.int64)
        months = month_index(timestamps)
        return np.clip(months - self.months_[0], 0, last).astype(np.int64)

    def _time_rows(
        self, user_index: np.ndarray, timestamps: np.ndarray | None
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """Return the time block matrix for these ratings and each one's row.

        With ``time`` alone the rows are the training months. With
        ``user_day`` there is one row per distinct (user, day) of the given
        ratings, numbered in user and then day order, so that the block is
        nested in the user block (see
        :func:`fmrec.solvers.coordinate.rating_order`). Each row contains its
        month and, where the user rated on that day in training, the
        indicator of that user-day.
        """
        n = len(user_index)
        if self.time_block_ is not None:
            return self.time_block_, self._month_column(timestamps, n)
        if timestamps is None:
            keys = np.full(n, -1, dtype=np.int64)
        else:
            keys = user_day_keys(user_index, timestamps)
        row_keys, first, index = np.unique(keys, return_index=True, return_inverse=True)
        n_rows = row_keys.size
        parts = []
        if self.months_ is not None:
            months = self._month_column(
                None if timestamps is None else np.asarray(timestamps)[first], n_rows
            )
            width = self.months_[1] - self.months_[0] + 1
            ones = np.ones(n_rows)
            parts.append(
                sp.csr_matrix((ones, (np.arange(n_rows), months)), (n_rows, width))
            )
        known = np.searchsorted(self.user_days_, row_keys)
        known = np.minimum(known, max(self.user_days_.size - 1, 0))
        found = (row_keys >= 0) & (self.user_days_[known] == row_keys)
        rows = np.flatnonzero(found)
        parts.append(
            sp.csr_matrix(
                (np.ones(rows.size), (rows, known[found])),
                (n_rows, self.user_days_.size),
            )
        )
        return sp.hstack(parts, format="csr"), index.astype(np.int64)


def _matrix(arrays: dict[str, np.ndarray], name: str) -> sp.csr_matrix:
    shape = tuple(int(n) for n in arrays[f"{name}_shape"])
    parts = (
        arrays[f"{name}_data"],
        arrays[f"{name}_indices"],
        arrays[f"{name}_indptr"],
    )
    return sp.csr_matrix(parts, shape=shape)


def _normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Weight each row's entries by 1/sqrt(number of entries in the row)."""
    counts = np.diff(matrix.indptr).astype(np.float64)
    scale = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
    return (sp.diags(scale) @ matrix).tocsr()


def _one_hot(values: pd.Series) -> sp.csr_matrix:
    """One-hot encode a column; missing values give an empty row."""
    codes, _ = pd.factorize(values, sort=True)
    present = codes >= 0
    rows = np.flatnonzero(present)
    width = int(codes.max()) + 1 if present.any() else 0
    data = np.ones(rows.size)
    return sp.csr_matrix((data, (rows, codes[present])), shape=(len(values), width))


def _user_attributes(users: pd.DataFrame, user_ids: np.ndarray) -> sp.csr_matrix:
    table = users.set_index("user_id").reindex(user_ids)
    columns = []
    for name in ("gender", "age", "occupation", "zip"):
        if name not in table:
            continue
        values = table[name]
        if name == "age" and values.nunique() > len(AGE_BANDS) + 1:
            values = pd.Series(
                np.searchsorted(AGE_BANDS, values.to_numpy(), side="right")
            )
        if name == "zip":
            values = values.astype("string").str[:ZIP_PREFIX]
        columns.append(_one_hot(values.reset_index(drop=True)))
    return sp.hstack(columns, format="csr")


def _item_attributes(items: pd.DataFrame, item_ids: np.ndarray) -> sp.csr_matrix:
    table = items.set_index("item_id").reindex(item_ids)
    genres = table["genres"].fillna("").astype(str).str.get_dummies(sep="|")
    genre_matrix = sp.csr_matrix(genres.to_numpy(dtype=np.float64))
    totals = np.asarray(genre_matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    genre_matrix = (sp.diags(scale) @ genre_matrix).tocsr()
    decades = pd.Series(table["year"].to_numpy(dtype="float64") // 10 * 10)
    decades = decades.where(decades.notna(), None)
    return sp.hstack([genre_matrix, _one_hot(decades)], format="csr")


def unix_seconds(timestamps) -> np.ndarray:
    """Return timestamps as int64 Unix seconds.

    datetime64 values (such as a pandas datetime column) are converted, and
    numbers are taken as seconds since 1970-01-01 UTC.

    Raises
    ------
    ValueError
        For a missing, infinite or non-numeric timestamp, naming the first.
    """
    values = np.asarray(timestamps)
    if np.issubdtype(values.dtype, np.datetime64):
        missing = np.flatnonzero(np.isnat(values))
        if missing.size:
            raise ValueError(f"Timestamp {missing[0]} is missing (NaT).")
        return values.astype("datetime64[s]").astype(np.int64)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    numbers = pd.to_numeric(pd.Series(values.ravel()), errors="coerce").to_numpy(
        np.float64
    )
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        value = values.ravel()[bad[0]]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(
            f"Timestamps must be Unix seconds or datetimes; value {bad[0]} is "
            f"{value!r}."
        )
    return np.floor(numbers).astype(np.int64).reshape(values.shape)


def user_day_keys(user_index: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Return one int64 key per (user index, UTC calendar day) pair.

    Keys sort by user and then day. For an unknown user (index -1) the key
    is negative and depends on the day only.
    """
    user_index = np.asarray(user_index, dtype=np.int64)
    days = np.asarray(timestamps, dtype=np.int64) // SECONDS_PER_DAY
    days &= (1 << DAY_BITS) - 1
    return np.where(user_index >= 0, (user_index << DAY_BITS) | days, -1 - days)


def month_index(timestamps: np.ndarray) -> np.ndarray:
    """Return the calendar month (year * 12 + month - 1) of Unix timestamps."""
    dates = pd.to_datetime(np.asarray(timestamps, dtype=np.int64), unit="s")
    return (dates.year * 12 + dates.month - 1).to_numpy(dtype=np.int64)
