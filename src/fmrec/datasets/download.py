"""Data folder lookup and verified download of the official MovieLens archives."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs
from tqdm import tqdm

from fmrec.exceptions import DownloadError

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "FMREC_DATA_DIR"
_CHUNK_BYTES = 1 << 20
# Seconds that one blocking socket operation (connect or read) may take.
_SOCKET_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DatasetInfo:
    """Download address and pinned checksum of one MovieLens archive.

    ``checksum_algorithm`` is a :mod:`hashlib` name, and ``checksum`` is the
    lowercase hex digest of the whole zip file.
    """

    name: str
    url: str
    checksum_algorithm: str
    checksum: str


_BASE_URL = "https://files.grouplens.org/datasets/movielens"

# Digests of the official GroupLens archives at _BASE_URL. The sha256 values for
# ml-1m and ml-latest-small also appear in TensorFlow Datasets' file
# tensorflow_datasets/url_checksums/movielens.txt. ml-20m and ml-25m are absent
# because no GroupLens page giving their digests was available to check against.
DATASETS: dict[str, DatasetInfo] = {
    "ml-100k": DatasetInfo(
        "ml-100k",
        f"{_BASE_URL}/ml-100k.zip",
        "md5",
        "0e33842e24a9c977be4e0107933c0723",
    ),
    "ml-1m": DatasetInfo(
        "ml-1m",
        f"{_BASE_URL}/ml-1m.zip",
        "sha256",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
    "ml-latest-small": DatasetInfo(
        "ml-latest-small",
        f"{_BASE_URL}/ml-latest-small.zip",
        "sha256",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    ),
}


def data_home(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder where data sets are looked up and downloaded.

    Parameters
    ----------
    data_dir
        Folder to use. When None, the environment variable ``FMREC_DATA_DIR`` is
        used if set and non-empty, else ``platformdirs.user_cache_dir("fmrec")``.

    Returns
    -------
    Path
        The folder, with ``~`` expanded. It is not created.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_cache_dir("fmrec"))


def download(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    url: str | None = None,
) -> Path:
    """Download a MovieLens archive into the data folder and verify its checksum.

    The archive is streamed to a temporary file in the data folder. Only after its
    digest matches the pinned checksum is it renamed to ``<data folder>/<name>.zip``
    with :func:`os.replace`, so that path never contains a partial or unverified file.
    If that zip already exists, it is returned without a download and without a
    checksum check.

    Parameters
    ----------
    name
        A key of :data:`DATASETS`, such as ``"ml-1m"``.
    data_dir
        Data folder. See :func:`data_home` for the default. Created if missing.
    progress
        Show a tqdm progress bar on stderr.
    url
        http or https address to fetch in place of the official one. The pinned
        checksum still applies.

    Returns
    -------
    Path
        Path of the verified zip archive.

    Raises
    ------
    ValueError
        If ``name`` is unknown, ``url`` is not http(s), or the checksum does not
        match. The message of a mismatch gives the expected and actual digests.
    DownloadError
        If the request fails, including HTTP error statuses; the original
        error is its ``__cause__``.
    """
    info = _dataset_info(name)
    target = data_home(data_dir) / f"{name}.zip"
    if target.exists():
        logger.info("%s already exists, so %s is not downloaded again", target, name)
        return target
    address = url if url is not None else info.url
    _check_url(address)
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s from %s", name, address)
    try:
        temporary = _download_to_temporary(address, target, info, progress)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"Downloading {name} from {address} failed: {reason}. Without network "
            f"access, put {name}.zip or an unpacked {name}/ folder into "
            f"{target.parent}, or set FMREC_DATA_DIR to a folder that has one."
        ) from exc
    os.replace(temporary, target)
    logger.info(
        "Saved %s (%s %s verified)", target, info.checksum_algorithm, info.checksum
    )
    return target


def _dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(
            f"unknown data set {name!r}, expected one of: {known}"
        ) from None


def _check_url(address: str) -> None:
    scheme = urllib.parse.urlsplit(address).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL {address!r}: expected an http or https URL")


def _download_to_temporary(
    address: str, target: Path, info: DatasetInfo, progress: bool
) -> Path:
    """Stream ``address`` into a temporary file next to ``target`` and verify it.

    The temporary file is deleted if the download fails or the checksum differs.
    """
    descriptor, temporary_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as output:
            digest = _stream(address, output, info, progress)
        _verify_digest(digest, info, address)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _stream(address: str, output: BinaryIO, info: DatasetInfo, progress: bool) -> str:
    """Copy the response body to ``output`` and return its hex digest."""
    hasher = hashlib.new(info.checksum_algorithm)
    with urllib.request.urlopen(address, timeout=_SOCKET_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        with tqdm(
            total=int(length) if length else None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=info.name,
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK_BYTES):
                hasher.update(chunk)
                output.write(chunk)
                bar.update(len(chunk))
    return hasher.hexdigest()


def _verify_digest(actual: str, info: DatasetInfo, address: str) -> None:
    if actual != info.checksum.lower():
        algorithm = info.checksum_algorithm
        raise ValueError(
            f"checksum mismatch for {address}: expected {algorithm} {info.checksum}, "
            f"got {actual}. The downloaded file was deleted."
        )
