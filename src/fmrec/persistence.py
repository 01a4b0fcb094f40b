"""Saving and loading a trained :class:`~fmrec.recommend.Recommender`.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) read with
``allow_pickle=False``, so loading a file never runs code from it. Besides
the parameter and index arrays it contains one ``meta`` entry: UTF-8 JSON with
the format name and version, the hyperparameters, the rating range, the
training history, the item catalogue and free-form run information.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

import fmrec
from fmrec.exceptions import ModelFileError
from fmrec.features.groups import FeatureBuilder
from fmrec.model import EpochRecord, FactorizationMachine
from fmrec.recommend import Recommender

logger = logging.getLogger(__name__)

FORMAT_NAME = "fmrec.recommender"
FORMAT_VERSION = 1
ARRAYS = ("w0", "w", "V", "seen_indptr", "seen_indices", "item_counts")
FEATURE_PREFIX = "features/"


def save(recommender: Recommender, path: str | os.PathLike) -> Path:
    """Write a fitted recommender to ``path`` atomically.

    The file is written under a temporary name in the same folder and renamed
    over ``path`` only when complete, so a reader never sees a partial file.
    """
    path = Path(path)
    arrays = _arrays(recommender)
    arrays["meta"] = np.frombuffer(json.dumps(_meta(recommender)).encode(), np.uint8)
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        _make_readable(handle.name)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    logger.info("Saved model to %s", path)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` through a temporary file and a rename."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            handle.write(text)
        _make_readable(handle.name)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def _make_readable(name: str) -> None:
    """Give a temporary file the permissions a new file gets under the umask.

    Temporary files start as owner-only, which would hide a model from a
    server running as another user.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)


def load(path: str | os.PathLike) -> Recommender:
    """Read a recommender written by :func:`save`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is truncated, not an fmrec model, or of another format
        version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Model file not found: {path}")
    arrays, meta = _read(path)
    _check_meta(path, meta)
    try:
        return _build(arrays, meta)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: model file is inconsistent: {exc}") from exc


def _arrays(rec: Recommender) -> dict[str, np.ndarray]:
    model = rec.model
    return {
        "w0": np.array([model.w0_]),
        "w": model.w_,
        "V": model.V_,
        **{FEATURE_PREFIX + k: v for k, v in rec.encoder_.to_arrays().items()},
        "seen_indptr": rec.seen_.indptr.astype(np.int64),
        "seen_indices": rec.seen_.indices.astype(np.int64),
        "item_counts": rec.item_counts_.astype(np.int64),
    }


def _meta(rec: Recommender) -> dict:
    params = rec.model.get_params()
    params["random_state"] = _json_seed(params["random_state"])
    for name in ("reg_w", "reg_v"):
        if np.ndim(params[name]) == 1:
            params[name] = [float(value) for value in params[name]]
    catalogue = rec.catalogue_.astype(object).where(rec.catalogue_.notna(), None)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fmrec_version": fmrec.__version__,
        "params": params,
        "rating_range": list(rec.rating_range_),
        "features": list(rec.features),
        "group_names": list(rec.encoder_.group_names_),
        "history": [record.as_dict() for record in rec.model.history_],
        "best_epoch": rec.model.best_epoch_,
        "catalogue": catalogue.to_dict(orient="list"),
        "info": rec.info,
    }


def _json_seed(seed: object) -> int | None:
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    # np.load takes any file that is not a zip archive for a pickle, and its
    # error then suggests unpickling, which fmrec never does.
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            starts_like_zip = handle.read(4) == b"PK\x03\x04"
        if starts_like_zip:
            raise ModelFileError(
                f"{path}: not a readable fmrec model file (a truncated or corrupt "
                "zip archive)."
            )
        raise ModelFileError(
            f"{path}: not an fmrec model file (an fmrec model is a zip archive "
            "of NumPy arrays, and this file is not a zip archive)."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            missing = {"meta", *ARRAYS} - names
            if missing:
                raise ModelFileError(
                    f"{path}: not an fmrec model file (missing entries "
                    f"{sorted(missing)})."
                )
            arrays = {name: archive[name] for name in ARRAYS}
            for name in names:
                if name.startswith(FEATURE_PREFIX):
                    arrays[name] = archive[name]
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
    except ModelFileError:
        raise
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise ModelFileError(
                f"{path}: not a readable fmrec model file (truncated, corrupt or of "
                f"another format): {exc}"
            ) from exc
        raise ModelFileError(
            f"{path}: not an fmrec model file (it contains Python objects, which "
            "fmrec never loads)."
        ) from exc
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ModelFileError(
            f"{path}: not a readable fmrec model file (truncated, corrupt or of "
            f"another format): {exc}"
        ) from exc
    return arrays, meta


def _check_meta(path: Path, meta: object) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not an fmrec model file (wrong format name).")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r} is not supported; this "
            f"fmrec {fmrec.__version__} reads version {FORMAT_VERSION}. Retrain "
            "the model or use the fmrec release that wrote it."
        )


def _check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Reject parameter arrays of the wrong kind, shape or with NaN or inf.

    The compiled kernels index these arrays without bounds checks, so a file
    with mismatched lengths must never reach them.
    """
    for name in ("w0", "w", "V"):
        if not np.issubdtype(arrays[name].dtype, np.floating):
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, not float")
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if arrays["w0"].shape != (1,) or arrays["V"].ndim != 2:
        raise ValueError("w0 or V has the wrong number of dimensions")
    if arrays["w"].shape != (arrays["V"].shape[0],):
        raise ValueError(
            f"w has shape {arrays['w'].shape} but V has {arrays['V'].shape[0]} rows"
        )
    for name in ("seen_indptr", "seen_indices", "item_counts"):
        if not np.issubdtype(arrays[name].dtype, np.integer):
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, not integer")


def _check_counts(rec: Recommender, arrays: dict[str, np.ndarray]) -> None:
    n_users, n_items = len(rec.encoder_.users), len(rec.encoder_.items)
    if arrays["item_counts"].shape != (n_items,):
        raise ValueError(f"item_counts does not have one entry per item ({n_items})")
    indptr, indices = arrays["seen_indptr"], arrays["seen_indices"]
    if indptr.shape != (n_users + 1,) or indptr[-1] != indices.size:
        raise ValueError("the seen-items index does not match the users")
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError("the seen-items index refers to items outside the catalogue")


def _build(arrays: dict[str, np.ndarray], meta: dict) -> Recommender:
    _check_arrays(arrays)
    params = dict(meta["params"])
    if params.get("target_range") is not None:
        params["target_range"] = tuple(params["target_range"])
    model = FactorizationMachine(**params)
    model.w0_ = float(arrays["w0"][0])
    model.w_ = arrays["w"]
    model.V_ = arrays["V"]
    model.n_features_in_ = model.w_.size
    model.history_ = [EpochRecord(**record) for record in meta["history"]]
    model.best_epoch_ = int(meta["best_epoch"])

    features = tuple(meta["features"])
    rec = Recommender(model, features=features, info=meta["info"])
    feature_arrays = {
        name[len(FEATURE_PREFIX) :]: value
        for name, value in arrays.items()
        if name.startswith(FEATURE_PREFIX)
    }
    rec.encoder_ = FeatureBuilder.from_arrays(
        list(features), meta["group_names"], feature_arrays
    )
    n_users, n_items = len(rec.encoder_.users), len(rec.encoder_.items)
    if model.V_.shape[0] != rec.encoder_.n_features:
        raise ValueError(
            f"V has {model.V_.shape[0]} rows for {rec.encoder_.n_features} features"
        )
    _check_counts(rec, arrays)
    data = np.ones(arrays["seen_indices"].size, dtype=np.int8)
    rec.seen_ = sp.csr_matrix(
        (data, arrays["seen_indices"], arrays["seen_indptr"]), shape=(n_users, n_items)
    )
    rec.item_counts_ = arrays["item_counts"]
    rec.rating_range_ = tuple(meta["rating_range"])
    rec.catalogue_ = _catalogue_frame(meta["catalogue"])
    rec._item_terms = None
    return rec


def _catalogue_frame(columns: dict[str, list]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame["item_id"] = frame["item_id"].astype(np.int64)
    if "year" in frame:
        frame["year"] = frame["year"].astype("Int64")
    return frame
