"""Feature encoding: (user, item) pairs to sparse FM input rows.

Each row is one-hot in two blocks: columns ``0 .. n_users-1`` hold the user
and columns ``n_users .. n_users+n_items-1`` the item. An id that the encoder
was not fitted on has no column, so its block of the row is empty and the
model falls back on the bias and the other block (the cold-start case).
"""

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


@dataclass(frozen=True)
class InteractionEncoder:
    """One-hot user and item blocks of the FM input."""

    users: IdIndex
    items: IdIndex

    @classmethod
    def fit(cls, user_ids: np.ndarray, item_ids: np.ndarray) -> InteractionEncoder:
        return cls(IdIndex.fit(user_ids), IdIndex.fit(item_ids))

    @property
    def n_features(self) -> int:
        return len(self.users) + len(self.items)

    def transform(
        self, user_index: np.ndarray, item_index: np.ndarray
    ) -> sp.csr_matrix:
        """Return one row per (user, item) index pair; -1 leaves that block empty."""
        user_index = np.asarray(user_index, dtype=np.int64)
        item_index = np.asarray(item_index, dtype=np.int64)
        columns = np.stack([user_index, item_index + len(self.users)], axis=1)
        present = np.stack([user_index >= 0, item_index >= 0], axis=1)
        indptr = np.zeros(user_index.size + 1, dtype=np.int64)
        np.cumsum(present.sum(axis=1), out=indptr[1:])
        indices = columns[present].astype(np.int32)
        data = np.ones(indices.size)
        shape = (user_index.size, self.n_features)
        return sp.csr_matrix((data, indices, indptr), shape=shape)

    def user_rows(self, user_index: np.ndarray) -> sp.csr_matrix:
        """Return the user block alone for each user index."""
        return self.transform(user_index, np.full(np.size(user_index), -1))

    def item_rows(self, item_index: np.ndarray) -> sp.csr_matrix:
        """Return the item block alone for each item index."""
        return self.transform(np.full(np.size(item_index), -1), item_index)
