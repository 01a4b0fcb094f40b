"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """Folder with the real MovieLens data, given by the FMREC_DATA_DIR variable.

    The folder contains ``ml-1m/``, ``ml-100k/`` and ``ml-latest-small/`` and the
    matching ``.zip`` archives in the official layout. Tests fail, not skip,
    without it, so that a run without real data cannot pass.
    """
    value = os.environ.get("FMREC_DATA_DIR")
    if not value:
        pytest.fail(
            "FMREC_DATA_DIR is not set; set it to the folder that holds the "
            "MovieLens data sets (ml-1m/, ml-1m.zip, ml-100k/, ml-latest-small/, ...)"
        )
    folder = Path(value)
    if not (folder / "ml-1m").is_dir():
        pytest.fail(f"FMREC_DATA_DIR={folder} has no ml-1m folder")
    return folder
