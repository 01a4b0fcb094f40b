"""Train/test splits of a ratings frame."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd


def random_split(
    ratings: pd.DataFrame, test_size: float = 0.2, random_state: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ratings uniformly at random into train and test frames.

    The test set has ``ceil(test_size * n)`` rows. The rows are chosen from
    ``numpy.random.RandomState(random_state).permutation(n)`` exactly as
    scikit-learn's ``train_test_split(ratings, test_size=test_size,
    random_state=random_state)`` chooses them, so the two give the same split
    and the same row order.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in the range (0, 1), got {test_size!r}.")
    n_rows = len(ratings)
    n_test = math.ceil(test_size * n_rows)
    if n_test >= n_rows:
        raise ValueError(
            f"test_size={test_size} of {n_rows} ratings leaves no training ratings."
        )
    permutation = np.random.RandomState(random_state).permutation(n_rows)
    return ratings.iloc[permutation[n_test:]], ratings.iloc[permutation[:n_test]]


def fingerprint(ratings: pd.DataFrame) -> str:
    """Return a SHA-256 hex digest of the user, item and rating columns, in order.

    A saved model stores it so that evaluation can check it is given the data
    the model's split was drawn from.
    """
    digest = hashlib.sha256()
    for column, dtype in (
        ("user_id", np.int64),
        ("item_id", np.int64),
        ("rating", np.float64),
    ):
        digest.update(np.ascontiguousarray(ratings[column].to_numpy(dtype)).tobytes())
    return digest.hexdigest()
