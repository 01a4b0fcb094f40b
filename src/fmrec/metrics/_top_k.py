"""Top-k selection over score rows, with ties ordered by item index."""

from __future__ import annotations

import numpy as np


def top_k_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Select the k highest-scoring item indices of each row, best first.

    Items scored -inf are excluded: when a row has fewer than k other items,
    its remaining positions are -1. Equal scores are ordered by the lower item
    index, also at the cutoff. Returns shape ``(n_rows, min(k, n_items))``.
    """
    n_items = scores.shape[1]
    depth = min(k, n_items)
    top = np.argpartition(scores, n_items - depth, axis=1)[:, n_items - depth :]
    top_scores = np.take_along_axis(scores, top, axis=1)

    # argpartition picks arbitrarily among items tied at the cutoff score, so
    # rows where a tied item was left out are selected again by item index.
    cutoff = top_scores.min(axis=1)
    n_tied = np.count_nonzero(scores == cutoff[:, None], axis=1)
    n_tied_in_top = np.count_nonzero(top_scores == cutoff[:, None], axis=1)
    redo = np.flatnonzero((n_tied > n_tied_in_top) & (cutoff > -np.inf))
    if redo.size:
        top[redo] = _select_lowest_tied(scores[redo], cutoff[redo], depth)
        top_scores[redo] = np.take_along_axis(scores[redo], top[redo], axis=1)

    order = np.lexsort((top, -top_scores), axis=1)
    ranked = np.take_along_axis(top, order, axis=1)
    ranked[np.take_along_axis(top_scores, order, axis=1) == -np.inf] = -1
    return ranked


def _select_lowest_tied(
    scores: np.ndarray, cutoff: np.ndarray, depth: int
) -> np.ndarray:
    """Pick, per row, all items above ``cutoff`` and fill up with the lowest tied."""
    above = scores > cutoff[:, None]
    tied = scores == cutoff[:, None]
    n_free = depth - np.count_nonzero(above, axis=1)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= n_free[:, None]))
    # Every row has exactly ``depth`` chosen items, and nonzero walks row-major.
    return np.nonzero(chosen)[1].reshape(len(scores), depth)
