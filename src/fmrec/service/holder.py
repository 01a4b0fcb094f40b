"""The served model and its atomic replacement.

:class:`ModelHolder` keeps one :class:`ServedModel`: the recommender loaded
from the model file together with lookup tables the endpoints need. A reload
builds a complete new :class:`ServedModel` first and then swaps a single
reference. Every request that read :attr:`ModelHolder.current` before the
swap finishes on the old model, and a file that fails to load leaves the old
model in place.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmrec import persistence
from fmrec.recommend import Recommender
from fmrec.service.topn import TopListCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded recommender with the tables built for serving it.

    ``items`` contains one JSON-ready record per item index (``item_id``,
    ``title``, ``genres`` as a list, ``year``), ``title_keys`` the
    case-folded titles that title search matches against, and ``top_lists``
    the users' top-N lists computed so far.
    """

    recommender: Recommender
    path: Path
    generation: int
    loaded_at: datetime
    file_size: int
    file_modified: datetime
    items: list[dict[str, Any]]
    title_keys: list[str]
    popularity_order: np.ndarray
    user_ratings: np.ndarray
    user_id_text: np.ndarray
    top_lists: TopListCache

    def item_index(self, item_id: int) -> int:
        """Return the index of an item id, or -1 if the model lacks it."""
        return int(self.recommender.encoder_.items.lookup([item_id])[0])

    def user_index(self, user_id: int) -> int:
        """Return the index of a user id, or -1 if the model lacks it."""
        return int(self.recommender.encoder_.users.lookup([user_id])[0])


def load_served_model(path: Path, generation: int, max_n: int) -> ServedModel:
    """Load a model file and build everything requests will read.

    ``max_n`` is the longest list a request may ask for, and the depth of the
    cached top-N lists.

    Raises what :func:`fmrec.persistence.load` raises for a missing or broken
    file.
    """
    stat = path.stat()
    recommender = persistence.load(path)
    _warm_caches(recommender)
    counts = recommender.item_counts_
    user_ids = recommender.encoder_.users.ids
    items = _item_records(recommender)
    top_lists = TopListCache(recommender, max_n)
    top_lists.fill()
    return ServedModel(
        recommender=recommender,
        path=path,
        generation=generation,
        loaded_at=datetime.now(timezone.utc),
        file_size=stat.st_size,
        file_modified=datetime.fromtimestamp(stat.st_mtime, timezone.utc),
        items=items,
        title_keys=[record["title"].casefold() for record in items],
        popularity_order=np.argsort(-counts, kind="stable"),
        user_ratings=np.diff(recommender.seen_.indptr),
        user_id_text=user_ids.astype(str),
        top_lists=top_lists,
    )


def _warm_caches(recommender: Recommender) -> None:
    """Fill every lazily computed cache of the recommender before serving it.

    The recommender computes some tables on first use (such as the per-item
    FM terms). Calling each scoring method once here means request threads
    only ever read those tables, so they never race to build them.
    """
    first_user = int(recommender.encoder_.users.ids[0])
    first_item = int(recommender.encoder_.items.ids[0])
    recommender.recommend(first_user, 1)
    recommender.popular(1)
    recommender.similar_items(first_item, 1)
    recommender.recommend_for_ratings({first_item: recommender.rating_range_[1]}, 1)
    recommender.predict([first_user], [first_item])


def _item_records(recommender: Recommender) -> list[dict[str, Any]]:
    catalogue = recommender.catalogue_
    records = []
    for row in catalogue.itertuples(index=False):
        item_id = int(row.item_id)
        title = getattr(row, "title", None)
        genres = getattr(row, "genres", None)
        year = getattr(row, "year", None)
        records.append(
            {
                "item_id": item_id,
                "title": title if isinstance(title, str) else f"item {item_id}",
                "genres": genres.split("|") if isinstance(genres, str) else [],
                "year": None if year is None or pd.isna(year) else int(year),
            }
        )
    return records


class ModelHolder:
    """The model being served, replaced atomically by :meth:`reload`."""

    def __init__(self, path: str | os.PathLike, max_n: int) -> None:
        self.path = Path(path)
        self.max_n = max_n
        self._reload_lock = threading.Lock()
        self._current = load_served_model(self.path, 1, max_n)
        logger.info(
            "Loaded model %s (%d users, %d items)",
            self.path,
            len(self._current.recommender.encoder_.users),
            len(self._current.recommender.encoder_.items),
        )

    @property
    def current(self) -> ServedModel:
        """The model that serves requests; read it once per request."""
        return self._current

    def reload(self) -> ServedModel:
        """Load the model file again and swap it in once it has loaded fully.

        Reloads run one at a time. On failure the old model keeps serving, the
        error is logged and re-raised.
        """
        with self._reload_lock:
            generation = self._current.generation + 1
            try:
                served = load_served_model(self.path, generation, self.max_n)
            except Exception:
                logger.exception(
                    "Reload of %s failed; generation %d keeps serving",
                    self.path,
                    self._current.generation,
                )
                raise
            # One reference assignment: readers see the old or the new model.
            self._current = served
        logger.info("Reloaded model %s as generation %d", self.path, generation)
        return served

    def reload_in_background(self, reason: str = "request") -> threading.Thread:
        """Start :meth:`reload` in a thread; its errors are logged, not raised."""
        thread = threading.Thread(
            target=self._reload_logged,
            args=(reason,),
            name="fmrec-model-reload",
            daemon=True,
        )
        thread.start()
        return thread

    def _reload_logged(self, reason: str) -> None:
        logger.info("Reloading %s on %s", self.path, reason)
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - reload() has logged it already
            pass


def install_reload_signal(holder: ModelHolder, signum: int = signal.SIGHUP) -> None:
    """Reload the model whenever the process receives ``signum`` (SIGHUP).

    Must be called from the main thread. The handler only starts a reload
    thread, so the event loop is never blocked by loading a file.
    """

    def handle(received: int, frame: object) -> None:
        # Nothing but starting a thread here: logging from a signal handler
        # could interleave with a log call the main thread was making.
        holder.reload_in_background(signal.Signals(received).name)

    signal.signal(signum, handle)
