"""Shared pytest fixtures."""

import zipfile
from pathlib import Path

import pytest

from fmrec.datasets import data_home, download

# The data sets the tests read, each as a folder and as its official archive.
TEST_DATASETS = ("ml-1m", "ml-100k", "ml-latest-small")


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """Folder with the real MovieLens data sets, each unpacked and as a zip.

    The folder is ``$FMREC_DATA_DIR`` if set, else fmrec's cache folder. A data
    set missing from it is downloaded (checksum verified) and unpacked there.
    Tests fail, not skip, when the data cannot be had, so that a run without
    real data cannot pass.
    """
    folder = data_home()
    for name in TEST_DATASETS:
        if (folder / name).is_dir() and (folder / f"{name}.zip").is_file():
            continue
        try:
            archive = download(name, folder, progress=False)
            with zipfile.ZipFile(archive) as unpacked:
                unpacked.extractall(folder)
        except OSError as exc:
            pytest.fail(
                f"MovieLens {name} is not in {folder} and could not be downloaded "
                f"({exc}). Set FMREC_DATA_DIR to a folder holding {name}/ and "
                f"{name}.zip in the official layout."
            )
    return folder
