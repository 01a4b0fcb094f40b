"""Rating and ranking metrics for evaluating recommenders.

``rmse`` and ``mae`` score rating predictions. ``ndcg_by_user`` scores how a
model orders each user's own test ratings. ``ranking_metrics`` runs the
full-catalogue top-k protocol: NDCG, recall, hit rate and MAP at k.
"""

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
    "mae",
    "ndcg_by_user",
    "ranking_metrics",
    "rmse",
]
