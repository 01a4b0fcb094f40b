"""Rating and ranking metrics for evaluating recommenders.

``rmse`` and ``mae`` score rating predictions. ``ndcg_by_user`` scores how a
model orders each user's own test ratings. ``ranking_metrics`` runs the
full-catalogue top-k protocol: NDCG, recall, hit rate and MAP at k.
``roc_auc`` and ``log_loss`` score binary predictions such as clicks.
"""

from fmrec.metrics.classification import log_loss, roc_auc
from fmrec.metrics.ndcg import NDCGResult, ndcg_by_user
from fmrec.metrics.ranking import (
    SKIP_NO_RELEVANT,
    SKIP_UNKNOWN_USER,
    RankingReport,
    ranking_metrics,
)
from fmrec.metrics.rating import mae, rmse

__all__ = [
    "SKIP_NO_RELEVANT",
    "SKIP_UNKNOWN_USER",
    "NDCGResult",
    "RankingReport",
    "log_loss",
    "mae",
    "ndcg_by_user",
    "ranking_metrics",
    "rmse",
    "roc_auc",
]
