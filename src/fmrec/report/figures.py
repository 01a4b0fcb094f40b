"""Figures of fmrec, drawn with matplotlib's object API and the Agg canvas.

No pyplot state is used, so drawing is safe in any thread and never opens a
window. matplotlib is imported on first use; it comes with the ``plots``
extra (``pip install 'fmrec[plots]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fmrec.model import EpochRecord
from fmrec.report.metrics import RankingCurves

FIGURE_DPI = 110


def _new_figure(width: float, height: float, ncols: int = 1):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "Drawing figures needs matplotlib; install it with "
            "pip install 'fmrec[plots]'."
        ) from exc
    figure = Figure(figsize=(width, height), dpi=FIGURE_DPI, layout="constrained")
    return figure, figure.subplots(1, ncols)


def plot_learning_curves(
    history: Sequence[EpochRecord],
    path: str | os.PathLike,
    *,
    best_epoch: int | None = None,
) -> Path:
    """Draw training and validation RMSE per epoch into a PNG file.

    The validation curve is drawn when the history has validation scores,
    and ``best_epoch`` (1-based) is marked when given.
    """
    if not history:
        raise ValueError("The training history is empty; there is nothing to plot.")
    figure, axes = _new_figure(6.4, 4.0)
    epochs = [record.epoch for record in history]
    axes.plot(epochs, [r.train_rmse for r in history], marker="o", label="training")
    valid = [r.valid_rmse for r in history]
    if any(value is not None for value in valid):
        values = [np.nan if value is None else value for value in valid]
        axes.plot(epochs, values, marker="s", label="validation")
    if best_epoch is not None:
        axes.axvline(best_epoch, color="grey", linestyle="--", label="kept epoch")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("epoch")
    axes.set_ylabel("RMSE")
    axes.set_title("Learning curves")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_rmse_by_activity(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Draw a bar per user-activity bucket of :func:`rmse_by_activity`."""
    figure, axes = _new_figure(6.4, 4.0)
    bars = axes.bar(table["bucket"], table["rmse"], color="#4c72b0")
    labels = [f"{n} users" for n in table["n_users"]]
    axes.bar_label(bars, labels=labels, fontsize=8, padding=2)
    axes.set_xlabel("training ratings per user")
    axes.set_ylabel("test RMSE")
    axes.set_title("RMSE by user activity")
    axes.set_ylim(0, max(float(table["rmse"].max()) * 1.15, 0.1))
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def plot_ranking_curves(curves: RankingCurves, path: str | os.PathLike) -> Path:
    """Draw NDCG@k and Recall@k against k."""
    figure, axes = _new_figure(6.4, 4.0)
    axes.plot(curves.k, curves.ndcg, label="NDCG@k")
    axes.plot(curves.k, curves.recall, label="Recall@k")
    axes.set_xlabel("k (list length)")
    axes.set_ylabel("mean over users")
    axes.set_title(
        f"Top-k quality, full catalogue ({curves.n_users} users, "
        f"relevant = rating >= {curves.threshold:g})"
    )
    axes.set_xlim(1, int(curves.k[-1]))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_predicted_vs_true(
    truth: np.ndarray,
    predicted: np.ndarray,
    rating_range: tuple[float, float],
    path: str | os.PathLike,
) -> Path:
    """Draw rating histograms and the predictions grouped by true rating."""
    figure, (left, right) = _new_figure(10.0, 4.0, ncols=2)
    low, high = rating_range
    bins = np.linspace(low, high, 33)
    left.hist(truth, bins=bins, alpha=0.6, label="true ratings")
    left.hist(predicted, bins=bins, alpha=0.6, label="predicted (clipped)")
    left.set_xlabel("rating")
    left.set_ylabel("test ratings")
    left.set_title("Distribution of ratings")
    left.legend()
    values = np.unique(truth)
    groups = [predicted[truth == value] for value in values]
    right.boxplot(groups, showfliers=False)
    right.set_xticks(range(1, values.size + 1), [f"{v:g}" for v in values])
    right.set_xlabel("true rating")
    right.set_ylabel("predicted rating (clipped)")
    right.set_title("Predictions by true rating")
    right.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    figure.savefig(path, format="png")
    return path
