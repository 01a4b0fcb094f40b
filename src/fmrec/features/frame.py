"""FM input from a pandas data frame with declared column roles.

:class:`FrameEncoder` turns each declared column into one named feature group,
a contiguous block of columns of the output CSR matrix:

categorical
    One column per category seen in :meth:`FrameEncoder.fit`, one-hot.
multi-valued
    Strings such as ``"Action|Comedy"`` split on a separator, one column per value
    seen in fit, multi-hot. With ``normalize_multi_valued=True`` each row's known
    values get weight ``1 / count`` so that they sum to 1.
numeric
    One column, standardised with the mean and standard deviation of the fit
    frame: ``(x - mean) / scale``.

Groups follow the order of the arguments: the categorical columns, then the
multi-valued columns, then the numeric columns, each in the order given. The
fitted state is saved without pickle, as JSON-ready data from
:meth:`FrameEncoder.to_dict`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

logger = logging.getLogger(__name__)

FORMAT = "fmrec.FrameEncoder"
"""Value of the ``format`` key of :meth:`FrameEncoder.to_dict` output."""
FORMAT_VERSION = 1
"""Version of the :meth:`FrameEncoder.to_dict` layout. Other versions are rejected."""

# Category values that survive a JSON round trip unchanged.
_JSON_SCALARS = (str, int, float, bool)


class FrameEncoder:
    """Encode data frame columns as FM input, one named feature group per column.

    Parameters
    ----------
    categorical : sequence of str, default=()
        Columns one-hot encoded by value. Values must be hashable and not missing.
        Values that compare equal in Python, such as ``1``, ``1.0`` and ``True``,
        are one category.
    multi_valued : mapping of str to str, optional
        Columns of strings holding several values, mapped to the separator that
        splits them, such as ``{"genres": "|"}``. Values keep their exact text.
        A value that repeats in a row counts once, and empty pieces (from ``""``
        or ``"a||b"``) are ignored, so ``""`` encodes as no values.
    numeric : sequence of str, default=()
        Numeric columns, standardised with the fit frame's mean and population
        standard deviation. A constant column gets scale 1, so it encodes as 0.
    normalize_multi_valued : bool, default=True
        Weight each row's known multi-valued values ``1 / count``, so that they
        sum to 1. Values unknown at fit time are left out of the count. With
        False each known value gets weight 1.

    Attributes
    ----------
    categories_ : dict of str to list
        Known values of each categorical and multi-valued column, in column
        order. Values are sorted where they can be compared, and otherwise kept
        in order of first appearance.
    means_ : dict of str to float
        Mean of each numeric column in the fit frame.
    scales_ : dict of str to float
        Standard deviation of each numeric column in the fit frame, or 1.0 where
        it is 0.
    groups_ : dict of str to slice
        Output columns of each feature group, keyed by the frame column name, for
        example to give each group its own regularisation.
    n_features_ : int
        Width of the output matrix.
    n_unknown_ : dict of str to int
        Values of the last :meth:`transform` that were not seen in fit, per
        categorical or multi-valued column. They encode as zero features.

    Examples
    --------
    >>> frame = pd.DataFrame({"genres": ["A|B", "B"], "age": [20.0, 40.0]})
    >>> encoder = FrameEncoder(multi_valued={"genres": "|"}, numeric=["age"])
    >>> encoder.fit_transform(frame).toarray()
    array([[ 0.5,  0.5, -1. ],
           [ 0. ,  1. ,  1. ]])
    >>> encoder.groups_
    {'genres': slice(0, 2, None), 'age': slice(2, 3, None)}
    """

    def __init__(
        self,
        categorical: Sequence[str] = (),
        multi_valued: Mapping[str, str] | None = None,
        numeric: Sequence[str] = (),
        *,
        normalize_multi_valued: bool = True,
    ) -> None:
        self.categorical = categorical
        self.multi_valued = multi_valued
        self.numeric = numeric
        self.normalize_multi_valued = normalize_multi_valued

    # --- fitting and transforming ---

    def fit(self, frame: pd.DataFrame) -> FrameEncoder:
        """Learn the categories and numeric scales of ``frame``.

        Raises
        ------
        ValueError
            If the parameters are invalid: no column is declared, a column is
            declared twice or a separator is empty. Also if a declared column is
            missing from ``frame`` or the frame has no rows, and for the invalid
            values listed under :meth:`transform`.
        """
        self._check_params()
        _require_columns(frame, self._group_order())
        if len(frame) == 0:
            raise ValueError("FrameEncoder cannot be fitted on a frame with no rows")
        categories = {}
        for name in self.categorical:
            categories[name] = _distinct(_checked_values(frame, name))
        for name, separator in self._separators().items():
            pieces, _ = _split_values(frame, name, separator)
            categories[name] = _distinct(pieces)
        means, scales = {}, {}
        for name in self.numeric:
            values = _numeric_values(frame, name)
            means[name] = float(values.mean())
            scale = float(values.std())
            scales[name] = scale if scale > 0.0 else 1.0
        self._set_state(categories, means, scales)
        logger.info(
            "Fitted FrameEncoder on %d rows: %d features in groups %s",
            len(frame),
            self.n_features_,
            list(self.groups_),
        )
        return self

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Encode ``frame`` as a CSR matrix of shape ``(len(frame), n_features_)``.

        Values not seen in fit encode as zero features. Their count per column
        is stored in ``n_unknown_`` and logged at WARNING.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        ValueError
            If a declared column is missing from ``frame``, a categorical or
            multi-valued value is missing, a multi-valued value is not a string,
            or a numeric value is not a finite number.
        """
        self._check_fitted()
        _require_columns(frame, self._group_order())
        blocks, unknown = [], {}
        for name in self.categorical:
            block, unknown[name] = self._encode_categorical(frame, name)
            blocks.append(block)
        for name, separator in self._separators().items():
            block, unknown[name] = self._encode_multi_valued(frame, name, separator)
            blocks.append(block)
        for name in self.numeric:
            blocks.append(self._encode_numeric(frame, name))
        self.n_unknown_ = unknown
        _log_unknown(unknown, len(frame))
        if not blocks:
            return sp.csr_matrix((len(frame), 0))
        return sp.hstack(blocks, format="csr", dtype=np.float64)

    def fit_transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Fit on ``frame`` and return its encoding."""
        return self.fit(frame).transform(frame)

    def get_feature_names_out(self) -> np.ndarray:
        """Return the name of each output column.

        Categorical and multi-valued columns give ``"column=value"``, and numeric
        columns give the column name.
        """
        self._check_fitted()
        names: list[str] = []
        for name in self._group_order():
            if name in self.categories_:
                names.extend(f"{name}={value}" for value in self.categories_[name])
            else:
                names.append(name)
        return np.array(names, dtype=object)

    # --- saving without pickle ---

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters and fitted state as JSON-ready data.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        TypeError
            If a category is not a str, int, float or bool, which JSON cannot
            store exactly.
        """
        self._check_fitted()
        for name, values in self.categories_.items():
            _check_json_categories(name, values)
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": {
                "categorical": list(self.categorical),
                "multi_valued": dict(self._separators()),
                "numeric": list(self.numeric),
                "normalize_multi_valued": bool(self.normalize_multi_valued),
            },
            "categories": {name: list(v) for name, v in self.categories_.items()},
            "means": dict(self.means_),
            "scales": dict(self.scales_),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrameEncoder:
        """Rebuild a fitted encoder from the output of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` is not FrameEncoder state of a supported version, or its
            parts do not match its parameters.
        """
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"expected FrameEncoder state with format={FORMAT!r} and "
                f"version={FORMAT_VERSION}, got format={data.get('format')!r} and "
                f"version={data.get('version')!r}"
            )
        try:
            encoder = cls(**data["params"])
            encoder._check_params()
            coded = encoder._coded()
            categories = {name: list(data["categories"][name]) for name in coded}
            means = {name: float(data["means"][name]) for name in encoder.numeric}
            scales = {name: float(data["scales"][name]) for name in encoder.numeric}
        except (KeyError, TypeError) as error:
            raise ValueError(f"incomplete FrameEncoder state: {error!r}") from error
        _check_state(categories, means, scales)
        encoder._set_state(categories, means, scales)
        return encoder

    # --- helpers ---

    def _check_fitted(self) -> None:
        if not hasattr(self, "groups_"):
            raise RuntimeError("This FrameEncoder is not fitted yet. Call fit first.")

    def _separators(self) -> dict[str, str]:
        return dict(self.multi_valued or {})

    def _coded(self) -> list[str]:
        """Categorical and multi-valued columns, the ones with categories."""
        return [*self.categorical, *self._separators()]

    def _group_order(self) -> list[str]:
        return [*self._coded(), *self.numeric]

    def _check_params(self) -> None:
        for role, names in (
            ("categorical", self.categorical),
            ("numeric", self.numeric),
        ):
            if isinstance(names, str):
                raise ValueError(
                    f"{role} must be a sequence of column names, got the string "
                    f"{names!r}. Write [{names!r}]."
                )
        columns = self._group_order()
        if not columns:
            raise ValueError(
                "FrameEncoder needs at least one column in categorical, "
                "multi_valued or numeric"
            )
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise ValueError(f"columns declared more than once: {repeated}")
        for name, separator in self._separators().items():
            if not isinstance(separator, str) or not separator:
                raise ValueError(
                    f"the separator of multi-valued column {name!r} must be a "
                    f"non-empty string, got {separator!r}"
                )

    def _set_state(
        self,
        categories: dict[str, list],
        means: dict[str, float],
        scales: dict[str, float],
    ) -> None:
        self.categories_ = categories
        self.means_ = means
        self.scales_ = scales
        self._lookups = {name: pd.Index(values) for name, values in categories.items()}
        self.groups_ = {}
        start = 0
        for name in self._group_order():
            width = len(categories[name]) if name in categories else 1
            self.groups_[name] = slice(start, start + width)
            start += width
        self.n_features_ = start

    def _encode_categorical(
        self, frame: pd.DataFrame, name: str
    ) -> tuple[sp.csr_matrix, int]:
        values = _checked_values(frame, name)
        codes = self._lookups[name].get_indexer(values)
        rows = np.flatnonzero(codes >= 0)
        width = len(self.categories_[name])
        block = _block(rows, codes[rows], np.ones(rows.size), len(frame), width)
        return block, int(values.size - rows.size)

    def _encode_multi_valued(
        self, frame: pd.DataFrame, name: str, separator: str
    ) -> tuple[sp.csr_matrix, int]:
        pieces, rows = _split_values(frame, name, separator)
        codes = self._lookups[name].get_indexer(pieces)
        known = codes >= 0
        # One entry per distinct (row, value) pair, so a repeated value counts once.
        width = len(self.categories_[name])
        pairs = np.unique(rows[known] * width + codes[known])
        rows, codes = np.divmod(pairs, max(width, 1))
        weights = np.ones(pairs.size)
        if self.normalize_multi_valued:
            counts = np.bincount(rows, minlength=len(frame))
            weights = 1.0 / counts[rows]
        block = _block(rows, codes, weights, len(frame), width)
        return block, int(np.count_nonzero(~known))

    def _encode_numeric(self, frame: pd.DataFrame, name: str) -> sp.csr_matrix:
        values = _numeric_values(frame, name)
        scaled = (values - self.means_[name]) / self.scales_[name]
        return sp.csr_matrix(scaled.reshape(-1, 1))


def _block(
    rows: np.ndarray, codes: np.ndarray, weights: np.ndarray, n_rows: int, width: int
) -> sp.csr_matrix:
    return sp.csr_matrix((weights, (rows, codes)), shape=(n_rows, width))


def _require_columns(frame: pd.DataFrame, names: Iterable[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame has no column(s) {missing}. Its columns are "
            f"{list(frame.columns)}"
        )


def _checked_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Return a column as an object array, rejecting missing values."""
    column = frame[name]
    missing = column.isna().to_numpy()
    if missing.any():
        first = _index_label(column, np.argmax(missing))
        raise ValueError(
            f"column {name!r} has {int(missing.sum())} missing value(s), the first "
            f"at index {first!r}. Fill them, for example with 'unknown', before "
            "encoding."
        )
    return column.to_numpy(dtype=object)


def _index_label(column: pd.Series, position: int) -> object:
    """Return the index label at ``position`` as a Python scalar for messages."""
    label = column.index[position]
    return label.item() if isinstance(label, np.generic) else label


def _split_values(
    frame: pd.DataFrame, name: str, separator: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split a multi-valued column into its non-empty pieces and their row numbers."""
    values = _checked_values(frame, name)
    not_text = [i for i, value in enumerate(values) if not isinstance(value, str)]
    if not_text:
        first = values[not_text[0]]
        raise ValueError(
            f"multi-valued column {name!r} must contain strings, but row "
            f"{not_text[0]} contains {first!r} of type {type(first).__name__}"
        )
    lists = [value.split(separator) for value in values]
    counts = np.fromiter((len(pieces) for pieces in lists), np.int64, len(lists))
    rows = np.repeat(np.arange(len(lists)), counts)
    pieces = np.fromiter(
        (piece for pieces in lists for piece in pieces), object, int(counts.sum())
    )
    non_empty = pieces != ""
    return pieces[non_empty], rows[non_empty]


def _numeric_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    column = frame[name]
    if not (
        pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    ):
        raise ValueError(
            f"numeric column {name!r} must have a numeric dtype, got {column.dtype}"
        )
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        first = _index_label(column, np.argmax(bad))
        raise ValueError(
            f"numeric column {name!r} has {int(bad.sum())} NaN or infinite "
            f"value(s), the first at index {first!r}. Fill or drop them before "
            "encoding."
        )
    return values


def _distinct(values: np.ndarray) -> list:
    """Return the distinct values as Python scalars, sorted where comparable."""
    distinct = pd.unique(pd.Series(values, dtype=object)).tolist()
    distinct = [
        value.item() if isinstance(value, np.generic) else value for value in distinct
    ]
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def _check_json_categories(name: str, values: list) -> None:
    for value in values:
        if not isinstance(value, _JSON_SCALARS) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise TypeError(
                f"category {value!r} of column {name!r} has type "
                f"{type(value).__name__}, which to_dict cannot store. Convert the "
                "column to str before fitting."
            )


def _check_state(
    categories: dict[str, list], means: dict[str, float], scales: dict[str, float]
) -> None:
    for name, values in categories.items():
        if len(pd.unique(pd.Series(values, dtype=object))) != len(values):
            raise ValueError(f"the categories of column {name!r} repeat a value")
    for name in means:
        if not (math.isfinite(means[name]) and math.isfinite(scales[name])):
            raise ValueError(f"mean and scale of column {name!r} must be finite")
        if scales[name] <= 0.0:
            raise ValueError(
                f"scale of column {name!r} must be > 0, got {scales[name]}"
            )


def _log_unknown(unknown: dict[str, int], n_rows: int) -> None:
    for name, count in unknown.items():
        if count:
            logger.warning(
                "FrameEncoder: %d value(s) of column %r in %d rows were not seen in "
                "fit and encode as zero features",
                count,
                name,
                n_rows,
            )
