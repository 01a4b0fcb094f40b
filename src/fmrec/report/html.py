"""The HTML evaluation report written by ``fmrec evaluate --report DIR``."""

from __future__ import annotations

import html
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fmrec import __version__
from fmrec.recommend import Recommender
from fmrec.report.figures import (
    plot_predicted_vs_true,
    plot_ranking_curves,
    plot_rmse_by_activity,
)
from fmrec.report.metrics import RankingCurves, ranking_curves, rmse_by_activity

logger = logging.getLogger(__name__)

REPORT_FILE = "index.html"
ACTIVITY_FIGURE = "rmse_by_activity.png"
RANKING_FIGURE = "ranking_curves.png"
DISTRIBUTION_FIGURE = "predicted_vs_true.png"
# Cut-offs listed in the ranking table; the figure shows every k.
TABLE_CUTOFFS = (1, 5, 10, 20, 50)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 0 auto;
       padding: 1rem; color: #1d2330; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #d5dae3; padding: 0.2rem 0.8rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
"""


def write_report(
    recommender: Recommender,
    test: pd.DataFrame,
    folder: str | os.PathLike,
    *,
    max_k: int = 50,
    threshold: float = 4.0,
) -> Path:
    """Write an HTML report on ``test`` with its figures into ``folder``.

    The report has four sections: a summary, RMSE by user-activity bucket,
    NDCG@k and Recall@k for k = 1 .. ``max_k`` over the full catalogue, and
    the distribution of predicted against true ratings. Returns the path of
    ``index.html``; the PNG figures lie next to it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    truth = test["rating"].to_numpy(np.float64)
    predicted = recommender.predict(
        test["user_id"].to_numpy(np.int64), test["item_id"].to_numpy(np.int64)
    )
    activity = rmse_by_activity(recommender, test)
    curves = ranking_curves(recommender, test, max_k=max_k, threshold=threshold)
    plot_rmse_by_activity(activity, folder / ACTIVITY_FIGURE)
    plot_ranking_curves(curves, folder / RANKING_FIGURE)
    plot_predicted_vs_true(
        truth, predicted, recommender.rating_range_, folder / DISTRIBUTION_FIGURE
    )
    sections = [
        _summary(recommender, truth, predicted),
        _activity_section(activity),
        _ranking_section(curves),
        _distribution_section(truth, predicted),
    ]
    path = folder / REPORT_FILE
    path.write_text(_page(sections), encoding="utf-8")
    logger.info("Wrote the evaluation report to %s", path)
    return path


def _page(sections: list[str]) -> str:
    body = "\n".join(sections)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>fmrec evaluation report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>fmrec evaluation report</h1>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_format(value))}</td>" for value in record)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _format(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def _figure(name: str, text: str) -> str:
    return f'<img src="{name}" alt="{html.escape(text)}">'


def _summary(recommender: Recommender, truth: np.ndarray, predicted: np.ndarray) -> str:
    info = recommender.info
    error = predicted - truth
    facts = {
        "data set": info.get("dataset", "unknown"),
        "test ratings": truth.size,
        "RMSE (clipped)": float(np.sqrt(np.mean(error**2))),
        "MAE (clipped)": float(np.mean(np.abs(error))),
        "factors": recommender.model.n_factors,
        "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "fmrec version": __version__,
    }
    frame = pd.DataFrame({"item": list(facts), "value": list(facts.values())})
    return f'<section id="summary">\n<h2>Summary</h2>\n{_table(frame)}\n</section>'


def _activity_section(table: pd.DataFrame) -> str:
    text = "Test RMSE per bucket of users by their number of training ratings"
    return (
        '<section id="rmse-by-activity">\n<h2>RMSE by user activity</h2>\n'
        "<p>Users are grouped by their number of training ratings; "
        "<em>unknown</em> holds test users the model has not seen.</p>\n"
        f"{_figure(ACTIVITY_FIGURE, text)}\n{_table(table)}\n</section>"
    )


def _ranking_section(curves: RankingCurves) -> str:
    rows = [k for k in TABLE_CUTOFFS if k <= curves.k[-1]]
    frame = pd.DataFrame(
        {
            "k": rows,
            "NDCG@k": [curves.ndcg[k - 1] for k in rows],
            "Recall@k": [curves.recall[k - 1] for k in rows],
        }
    )
    return (
        '<section id="ranking-curves">\n<h2>NDCG@k and Recall@k</h2>\n'
        f"<p>Each of {curves.n_users} users with a test rating of at least "
        f"{curves.threshold:g} gets all items they did not rate in training, "
        "ranked by predicted score; those test ratings are the relevant "
        "items.</p>\n"
        f"{_figure(RANKING_FIGURE, 'NDCG@k and Recall@k for k from 1 to 50')}\n"
        f"{_table(frame)}\n</section>"
    )


def _distribution_section(truth: np.ndarray, predicted: np.ndarray) -> str:
    values = np.unique(truth)
    frame = pd.DataFrame(
        {
            "true rating": [f"{v:g}" for v in values],
            "test ratings": [int((truth == v).sum()) for v in values],
            "mean prediction": [float(predicted[truth == v].mean()) for v in values],
        }
    )
    text = "Histograms of true and predicted ratings, and predictions by true rating"
    return (
        '<section id="predicted-vs-true">\n<h2>Predicted against true ratings</h2>\n'
        f"{_figure(DISTRIBUTION_FIGURE, text)}\n{_table(frame)}\n</section>"
    )
