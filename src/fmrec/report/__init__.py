"""Evaluation report and figures: learning curves, RMSE by user activity,
ranking curves and rating distributions.

The figures need matplotlib, from the ``plots`` extra
(``pip install 'fmrec[plots]'``); the numbers in :mod:`fmrec.report.metrics`
do not.
"""

from fmrec.report.figures import plot_learning_curves
from fmrec.report.html import write_report
from fmrec.report.metrics import RankingCurves, ranking_curves, rmse_by_activity

__all__ = [
    "RankingCurves",
    "plot_learning_curves",
    "ranking_curves",
    "rmse_by_activity",
    "write_report",
]
