"""Mapping of original user and item ids to contiguous indices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class IdIndex:
    """Sorted distinct original ids; an id's position is its index."""

    ids: np.ndarray

    @classmethod
    def fit(cls, ids: np.ndarray) -> IdIndex:
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return self.ids.size

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Return the index of each id, or -1 for an id not in the index."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        positions = np.searchsorted(self.ids, ids)
        clipped = np.minimum(positions, self.ids.size - 1)
        return np.where(self.ids[clipped] == ids, clipped, -1)


def seen_matrix(
    user_index: np.ndarray, item_index: np.ndarray, shape: tuple[int, int], dtype=None
) -> sp.csr_matrix:
    """Return the users-by-items matrix with 1 where a user rated an item.

    A pair that occurs more than once still gives a single 1.
    """
    ones = np.ones(np.size(user_index), dtype=dtype)
    seen = sp.csr_matrix((ones, (user_index, item_index)), shape=shape)
    seen.sum_duplicates()
    seen.data[:] = 1
    return seen
