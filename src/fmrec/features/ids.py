"""Mapping of original user and item ids to contiguous indices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
