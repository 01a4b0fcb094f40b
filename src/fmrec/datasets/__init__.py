"""MovieLens data sets: loaders for local folders and zip archives, and downloads.

NOTE: ``fmrec.datasets.download`` here is the function. Import the module with
``importlib.import_module("fmrec.datasets.download")`` when you need it.
"""

from fmrec.datasets.download import DATASETS, DatasetInfo, data_home, download
from fmrec.datasets.movielens import MovieLens, RatingScale, load_movielens

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "MovieLens",
    "RatingScale",
    "data_home",
    "download",
    "load_movielens",
]
