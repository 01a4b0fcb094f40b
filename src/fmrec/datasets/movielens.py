"""Loaders for the MovieLens rating data sets.

Three file formats are read, from a folder or directly from a zip archive:

ML-1M (``ratings.dat``, ``movies.dat``, ``users.dat``; latin-1)
    ``UserID::MovieID::Rating::Timestamp``, ``MovieID::Title::Genres`` and
    ``UserID::Gender::Age::Occupation::Zip-code``. Ratings are 1 to 5 in steps of 1.
    A title is everything between the first and the last ``::`` of its line.
ML-100K (``u.data``, ``u.item``, ``u.genre``, ``u.user``; latin-1)
    Tab-separated ``user id, item id, rating, timestamp``. ``u.item`` is
    ``|``-separated with one 0/1 flag per genre of ``u.genre``, and the genres
    string joins the flagged names in ``u.genre`` order. Ratings are 1 to 5 in
    steps of 1.
CSV family: ml-latest-small, ml-latest, ML-20M, ML-25M (UTF-8)
    ``ratings.csv`` (``userId,movieId,rating,timestamp``) and ``movies.csv``
    (``movieId,title,genres``, CSV quoting), each with its header line. Ratings are
    0.5 to 5.0 in steps of 0.5. There is no users file.

Policies:

- Every format error is a :class:`~fmrec.exceptions.DataFormatError` naming the file
  (``archive.zip:folder/member`` inside a zip), the 1-based line (except for errors
  in the archive itself) and the expected form. Line numbers count header and blank
  lines, and CRLF ends one line. A rating off the data set's scale is a format
  error.
- Numeric fields are read as pandas' C parser reads them. Surrounding spaces and a
  leading sign are accepted, and an integer field may be written as ``5.0``.
- CRLF line ends and a missing final line end are accepted. Titles, genres, genders
  and zip codes keep their exact text.
- A line that is empty or contains only whitespace is blank. Blank lines are
  skipped. Blank lines inside a file are logged at WARNING with the file name and
  count, because they may mark a damaged file. Blank lines at the end of a file are
  logged at DEBUG only, because the official ``u.genre`` ends with one.
- When a (user, item) pair is rated more than once, the last rating in file order
  keeps its position and the earlier ones are dropped. The number dropped is
  :attr:`MovieLens.n_duplicates` and is logged at WARNING.
- A repeated item id in the movies file or user id in the users file is a format
  error.
- A ratings file without ratings gives an empty ratings frame. A missing ratings
  or movies file raises FileNotFoundError. A missing users file gives ``users=None``
  and a WARNING.
- Local files are loaded without checksum verification. Only :func:`download`
  verifies checksums.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fmrec.datasets import _formats
from fmrec.datasets.download import DATASETS, data_home
from fmrec.datasets.download import download as download_archive
from fmrec.exceptions import DataFormatError

logger = logging.getLogger(__name__)

# Ratings within this many steps of a grid point count as on the grid.
_GRID_TOLERANCE = 1e-9
# Names of the CSV-format data sets. Other CSV folders are named "movielens-csv".
_CSV_NAMES = frozenset({"ml-latest-small", "ml-latest", "ml-20m", "ml-25m"})
# Folders that macOS adds to zip archives next to the data folder.
_IGNORED_ARCHIVE_FOLDERS = frozenset({"__MACOSX"})


@dataclass(frozen=True)
class RatingScale:
    """Rating grid: ``min`` to ``max`` inclusive, in steps of ``step`` from ``min``."""

    min: float
    max: float
    step: float

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Return a boolean mask that is True where a value lies on the scale.

        NaN and infinite values are never on the scale.
        """
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            steps = (values - self.min) / self.step
            on_grid = np.abs(steps - np.round(steps)) <= _GRID_TOLERANCE
        return on_grid & (values >= self.min) & (values <= self.max)


WHOLE_STAR_SCALE = RatingScale(1.0, 5.0, 1.0)
HALF_STAR_SCALE = RatingScale(0.5, 5.0, 0.5)


@dataclass
class MovieLens:
    """A loaded MovieLens data set.

    Attributes
    ----------
    name
        Variant: ``"ml-1m"``, ``"ml-100k"``, a CSV data set name taken from the
        folder or archive name (``"ml-latest-small"``, ``"ml-latest"``,
        ``"ml-20m"``, ``"ml-25m"``), or ``"movielens-csv"`` for other CSV folders.
    source
        Path of the folder or zip archive that was loaded.
    ratings
        Columns user_id (int64), item_id (int64), rating (float64) and timestamp
        (int64, Unix seconds), in file order after duplicate removal.
    items
        Columns item_id (int64), title (str), genres (str, ``|``-separated, ``""``
        when there are none) and year (nullable Int64 from a trailing ``(YYYY)`` in
        the title).
    users
        ML-1M: user_id, gender, age (int64 code), occupation (int64 code), zip.
        ML-100K: user_id, age, gender, occupation (str), zip. None for the CSV
        family or when the users file is missing.
    rating_scale
        Valid ratings of this data set.
    n_duplicates
        Number of ratings dropped because their (user, item) pair appears again
        later in the file.
    """

    name: str
    source: str
    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None
    rating_scale: RatingScale
    n_duplicates: int


def load_movielens(
    source: str | os.PathLike[str] = "ml-1m",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = False,
) -> MovieLens:
    """Load a MovieLens data set from a folder, a zip archive or by name.

    The formats and the policies for errors, blank lines and duplicate ratings are
    described in the :mod:`fmrec.datasets.movielens` module documentation.

    Parameters
    ----------
    source
        A folder, a zip archive holding the data files in one top folder (the
        official layout) or at its root, or a data set name given as ``str``. Names
        are the keys of ``DATASETS`` and ``"ml-latest"``, ``"ml-20m"`` and
        ``"ml-25m"``. A name is looked up in :func:`data_home` as the folder
        ``<name>/``, then as ``<name>.zip``. To load a folder that has a data set's
        name from the current folder, pass ``Path("ml-1m")`` or ``"./ml-1m"``.
    data_dir
        Data folder for names. See :func:`data_home` for the default.
    download
        Download a named data set of ``DATASETS`` that is not found locally.
    progress
        Show a progress bar while downloading.

    Returns
    -------
    MovieLens
        Ratings, items, users and the rating scale.

    Raises
    ------
    FileNotFoundError
        If the source, a named data set (with ``download=False``), or a required
        ratings or movies file is missing. The message names the paths tried.
    DataFormatError
        If a file breaks its format. The message names the file and line.
    """
    path = _resolve_source(source, data_dir, download, progress)
    with _open_files(path) as files:
        loader = _LOADERS[_detect_format(files)]
        dataset = loader(files)
    logger.info(
        "Loaded %s from %s: %d ratings, %d items, %s users. Local files are loaded "
        "without checksum verification.",
        dataset.name,
        dataset.source,
        len(dataset.ratings),
        len(dataset.items),
        "no" if dataset.users is None else len(dataset.users),
    )
    return dataset


# --- finding the source --------------------------------------------------------------


def _resolve_source(
    source: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None,
    allow_download: bool,
    progress: bool,
) -> Path:
    if isinstance(source, str) and (source in DATASETS or source in _CSV_NAMES):
        return _find_named(source, data_dir, allow_download, progress)
    path = Path(source).expanduser()
    if not path.exists():
        known = ", ".join(sorted(DATASETS.keys() | _CSV_NAMES))
        message = f"no such folder or zip archive, and not a data set name ({known})"
        raise FileNotFoundError(errno.ENOENT, message, str(path))
    return path


def _find_named(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    allow_download: bool,
    progress: bool,
) -> Path:
    """Return ``<home>/<name>/`` or ``<home>/<name>.zip``, downloading if allowed."""
    home = data_home(data_dir)
    folder, archive = home / name, home / f"{name}.zip"
    if folder.is_dir():
        return folder
    if archive.is_file():
        return archive
    if allow_download and name in DATASETS:
        return download_archive(name, data_dir, progress=progress)
    tried = f"MovieLens data set {name!r} not found: tried {folder} and {archive}."
    if name in DATASETS:
        raise FileNotFoundError(
            f"{tried} Run `fmrec download {name}` or pass download=True."
        )
    raise FileNotFoundError(
        f"{tried} It has no pinned download address, so place the official archive "
        f"at {archive}."
    )


# --- reading files from a folder or a zip archive ------------------------------------


class _FolderFiles:
    """Data files directly inside a folder."""

    def __init__(self, folder: Path) -> None:
        self.source = str(folder)
        self.label = folder.resolve().name
        self.names = {path.name for path in folder.iterdir() if path.is_file()}
        self._folder = folder

    def where(self, name: str) -> str:
        return str(self._folder / name)

    def read(self, name: str) -> bytes:
        return (self._folder / name).read_bytes()


class _ArchiveFiles:
    """Data files of a zip archive, read without extracting to disk."""

    def __init__(self, archive: zipfile.ZipFile, path: Path) -> None:
        self.source = str(path)
        self._archive = archive
        self._prefix = _top_folder(archive, path)
        self.label = self._prefix.rstrip("/") or path.stem
        members = (name.removeprefix(self._prefix) for name in archive.namelist())
        self.names = {name for name in members if name and "/" not in name}

    def where(self, name: str) -> str:
        return f"{self.source}:{self._prefix}{name}"

    def read(self, name: str) -> bytes:
        try:
            return self._archive.read(self._prefix + name)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            message = f"failed to extract the zip member: {error}"
            raise DataFormatError(self.where(name), None, message) from error


_Files = _FolderFiles | _ArchiveFiles


def _top_folder(archive: zipfile.ZipFile, path: Path) -> str:
    """Return ``"<folder>/"`` when all members sit in one folder, or ``""``."""
    names = [
        name
        for name in archive.namelist()
        if name.split("/", 1)[0] not in _IGNORED_ARCHIVE_FOLDERS
    ]
    if all("/" not in name for name in names):
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        return f"{tops.pop()}/"
    message = f"expected the data files in one top folder, found entries {sorted(tops)}"
    raise DataFormatError(path, None, message)


@contextlib.contextmanager
def _open_files(path: Path) -> Iterator[_Files]:
    if path.is_dir():
        yield _FolderFiles(path)
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        message = f"expected a folder or a zip archive: {error}"
        raise DataFormatError(path, None, message) from None
    with archive:
        yield _ArchiveFiles(archive, path)


def _require(files: _Files, *names: str) -> None:
    for name in names:
        if name not in files.names:
            message = "required MovieLens file not found"
            raise FileNotFoundError(errno.ENOENT, message, files.where(name))


# --- formats -------------------------------------------------------------------------

_FORMAT_FILES = {
    "ml-1m": ("ratings.dat", "movies.dat"),
    "ml-100k": ("u.data", "u.item"),
    "csv": ("ratings.csv", "movies.csv"),
}


def _detect_format(files: _Files) -> str:
    """Return the key of ``_FORMAT_FILES`` whose files are present (either file)."""
    for key, names in _FORMAT_FILES.items():
        if files.names.intersection(names):
            return key
    message = (
        "no MovieLens files found. Expected ratings.dat and movies.dat (ML-1M), "
        "u.data and u.item (ML-100K), or ratings.csv and movies.csv (CSV family)"
    )
    raise FileNotFoundError(errno.ENOENT, message, files.source)


def _load_ml1m(files: _Files) -> MovieLens:
    _require(files, "ratings.dat", "movies.dat")
    items = _formats.parse_ml1m_movies(
        files.read("movies.dat"), files.where("movies.dat")
    )
    users = _read_users(files, "users.dat", _formats.parse_ml1m_users)
    layout = _formats.ML1M_RATINGS
    ratings, n_duplicates = _read_ratings(
        files, "ratings.dat", layout, WHOLE_STAR_SCALE
    )
    return MovieLens(
        "ml-1m", files.source, ratings, items, users, WHOLE_STAR_SCALE, n_duplicates
    )


def _load_ml100k(files: _Files) -> MovieLens:
    _require(files, "u.data", "u.item", "u.genre")
    genres = _formats.parse_ml100k_genres(files.read("u.genre"), files.where("u.genre"))
    items = _formats.parse_ml100k_items(
        files.read("u.item"), files.where("u.item"), genres
    )
    users = _read_users(files, "u.user", _formats.parse_ml100k_users)
    layout = _formats.ML100K_RATINGS
    ratings, n_duplicates = _read_ratings(files, "u.data", layout, WHOLE_STAR_SCALE)
    return MovieLens(
        "ml-100k", files.source, ratings, items, users, WHOLE_STAR_SCALE, n_duplicates
    )


def _load_csv(files: _Files) -> MovieLens:
    _require(files, "ratings.csv", "movies.csv")
    items = _formats.parse_csv_movies(
        files.read("movies.csv"), files.where("movies.csv")
    )
    layout = _formats.CSV_RATINGS
    ratings, n_duplicates = _read_ratings(files, "ratings.csv", layout, HALF_STAR_SCALE)
    name = files.label if files.label in _CSV_NAMES else "movielens-csv"
    return MovieLens(
        name, files.source, ratings, items, None, HALF_STAR_SCALE, n_duplicates
    )


_LOADERS: dict[str, Callable[[_Files], MovieLens]] = {
    "ml-1m": _load_ml1m,
    "ml-100k": _load_ml100k,
    "csv": _load_csv,
}


def _read_users(
    files: _Files, name: str, parse: Callable[[bytes, str], pd.DataFrame]
) -> pd.DataFrame | None:
    if name not in files.names:
        logger.warning(
            "%s not found, so the data set has no users table", files.where(name)
        )
        return None
    return parse(files.read(name), files.where(name))


def _read_ratings(
    files: _Files, name: str, layout: _formats.RatingsLayout, scale: RatingScale
) -> tuple[pd.DataFrame, int]:
    """Parse a ratings file and drop all but the last rating of each pair."""
    where = files.where(name)
    ratings = _formats.parse_ratings(files.read(name), where, layout, scale)
    repeated = ratings.duplicated(subset=["user_id", "item_id"], keep="last")
    n_duplicates = int(repeated.sum())
    if n_duplicates:
        logger.warning(
            "%s: dropped %d rating(s) whose (user, item) pair is rated again later "
            "in the file, keeping the last rating of each pair",
            where,
            n_duplicates,
        )
        ratings = ratings.loc[~repeated.to_numpy()].reset_index(drop=True)
    return ratings, n_duplicates
