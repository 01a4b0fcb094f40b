"""Per-model cache of each user's top-N list.

``Recommender.recommend(user, n)`` ranks every unseen item by descending
score, ties by the lower item index, and returns the first ``n``, so its
list for any ``n`` up to ``depth`` is the prefix of its list for ``depth``.
The cache stores that deepest list per user and serves requests by slicing
it. :meth:`TopListCache.fill` ranks all users in batches when the model is
loaded, if the score matrix is small enough; otherwise each user's list is
computed by ``recommend`` the first time the user is asked for. A cache
belongs to one loaded model and is dropped with it on reload.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from fmrec.recommend import Recommender

# Upper bound on cached (item, score) entries over all users: 16 bytes each,
# so at most about 80 MB per model. Users beyond it are computed every time.
MAX_CACHED_ENTRIES = 5_000_000
# fill() ranks all users only when users x items is at most this many scores.
# MovieLens 1M has 22 million. Larger models fill the cache per request.
MAX_FILL_SCORES = 100_000_000
# Scores held at once while filling: 4 million float64 values, 32 MB.
FILL_BATCH_SCORES = 4_000_000


@dataclass(frozen=True)
class TopList:
    """Item indices and unclipped scores of a ranked list, best first."""

    item_index: np.ndarray
    score: np.ndarray

    def head(self, n: int) -> TopList:
        return TopList(self.item_index[:n], self.score[:n])


class TopListCache:
    """The top ``depth`` items of each user asked for so far."""

    def __init__(
        self,
        recommender: Recommender,
        depth: int,
        max_entries: int = MAX_CACHED_ENTRIES,
    ) -> None:
        self._recommender = recommender
        self.depth = depth
        self._max_entries = max_entries
        self._lists: dict[int, TopList] = {}
        self._n_entries = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._lists)

    def get(self, user_index: int, n: int) -> TopList | None:
        """Return the cached top ``n`` of a user, or None if not cached.

        None is also returned when the user has fewer than ``n`` unseen
        items, since the library then adds a note to its response.
        """
        cached = self._lists.get(user_index)
        if cached is None or cached.item_index.size < n:
            return None
        return cached.head(n)

    def fill(self) -> bool:
        """Rank every user's unseen items now; return False if the model is too big.

        The scores come from ``Recommender.score_users`` over batches of
        users, and each row is ordered like ``recommend`` orders it.
        """
        recommender = self._recommender
        n_users, n_items = recommender.seen_.shape
        depth = min(self.depth, n_items)
        too_many = n_users * depth > self._max_entries
        if too_many or n_users * n_items > MAX_FILL_SCORES:
            return False
        batch_size = max(1, FILL_BATCH_SCORES // n_items)
        for start in range(0, n_users, batch_size):
            users = np.arange(start, min(start + batch_size, n_users))
            self._fill_batch(users, depth)
        return True

    def _fill_batch(self, users: np.ndarray, depth: int) -> None:
        recommender = self._recommender
        scores = np.array(recommender.score_users(users), dtype=np.float64)
        seen = recommender.seen_[users]
        rows = np.repeat(np.arange(users.size), np.diff(seen.indptr))
        scores[rows, seen.indices] = -np.inf
        # A stable sort of the negated scores puts equal scores in index order.
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        ranked = np.take_along_axis(scores, order, axis=1)
        lists = {}
        for row, user_index in enumerate(users.tolist()):
            unseen = ranked[row] > -np.inf
            lists[user_index] = TopList(order[row][unseen], ranked[row][unseen])
        with self._lock:
            self._lists.update(lists)
            self._n_entries += sum(entry.item_index.size for entry in lists.values())

    def compute(self, user_id: int, user_index: int, n: int) -> TopList | None:
        """Rank the user's items with the recommender, cache, and return the top n.

        Returns None when the user has fewer than ``n`` unseen items.
        """
        result = self._recommender.recommend(user_id, self.depth)
        ids = result.items["item_id"].to_numpy(np.int64)
        ranked = TopList(
            self._recommender.encoder_.items.lookup(ids),
            result.items["score"].to_numpy(np.float64),
        )
        with self._lock:
            room = self._n_entries + ids.size <= self._max_entries
            if room and user_index not in self._lists:
                self._lists[user_index] = ranked
                self._n_entries += ids.size
        return ranked.head(n) if ids.size >= n else None
