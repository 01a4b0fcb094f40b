"""Score popularity, EASE, item-kNN and fmrec's BPR FM on the implicit ranking protocol.

Run from the repository root:

    python benchmarks/ranking_baselines.py --data ml-1m --seed 42

The protocol is :func:`fmrec.ranking_data.load_ranking_protocol`: ratings >= 3
as positives, the 10-core, and a per-user 80/10/10 split. Every model is fitted
on the training split. EASE's L2 weight, item-kNN's neighbour count and the BPR
settings of :class:`fmrec.ranking.BPRRanker` are chosen by validation NDCG@10
(training items masked); BPR also stops early on it. The chosen models are
scored on the test split with training and validation items masked. EASE
refitted on train + validation is scored as well. The script prints one JSON
record with the test metrics, the validation grids, the command, the machine and
the date.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import scipy.sparse as sp

from fmrec.ranking import BPRRanker
from fmrec.ranking_data import RankingProtocol, load_ranking_protocol

PUBLISHED_NDCG_AT_10 = {"BPR-MF": 0.241, "EASE": 0.287}
"""Published NDCG@10 of BPR-MF and EASE on this protocol (ML-1M), printed for
comparison. NOTE: the publication behind these figures is not recorded here, so
check it before citing them."""

Scorer = Callable[[np.ndarray], np.ndarray]

BPR_GRID = (
    {"learning_rate": 0.05, "reg_w": 0.01, "reg_v": 0.01, "n_candidates": 1},
    {"learning_rate": 0.02, "reg_w": 0.01, "reg_v": 0.01, "n_candidates": 1},
    {"learning_rate": 0.05, "reg_w": 0.03, "reg_v": 0.03, "n_candidates": 5},
    {"learning_rate": 0.02, "reg_w": 0.03, "reg_v": 0.03, "n_candidates": 5},
    {"learning_rate": 0.02, "reg_w": 0.03, "reg_v": 0.03, "n_candidates": 10},
)
"""BPR settings tried by default, on top of :data:`BPR_FIXED`: step size, L2
penalties and the number of negative candidates per pair (1 is plain BPR, 5
uses the best scored of five draws)."""

BPR_FIXED = {"n_factors": 64, "init_std": 0.1, "n_epochs": 100, "patience": 4}


def popularity_scorer(train: sp.csr_matrix) -> Scorer:
    """Score every item by its number of training users, the same for all users."""
    counts = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()
    return lambda users: np.broadcast_to(counts, (users.size, counts.size))


def ease_weights(train: sp.csr_matrix, l2: float) -> np.ndarray:
    """Fit EASE: the item-item weights B with zero diagonal that minimise
    ``||X - X B||^2 + l2 ||B||^2``, in closed form from ``(X^T X + l2 I)^-1``."""
    gram = (train.T @ train).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights


def item_knn_weights(train: sp.csr_matrix, n_neighbours: int) -> np.ndarray:
    """Keep, for each item, the cosine similarities of its ``n_neighbours`` most
    similar other items. Column ``j`` contains the weights of item ``j``'s
    neighbours, so a user's score of ``j`` sums them over the user's items."""
    co_counts = (train.T @ train).toarray()
    norms = np.sqrt(np.diag(co_counts))
    norms[norms == 0] = 1.0
    similarity = co_counts / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    n_items = similarity.shape[0]
    if n_neighbours < n_items:
        weakest = np.argpartition(similarity, n_items - n_neighbours, axis=0)
        rows = weakest[: n_items - n_neighbours]
        np.put_along_axis(similarity, rows, 0.0, axis=0)
    return similarity


def linear_scorer(train: sp.csr_matrix, weights: np.ndarray) -> Scorer:
    """Score items as ``X[users] @ weights``."""
    return lambda users: np.asarray(train[users] @ weights)


def bpr_scorer(protocol: RankingProtocol, ranker: BPRRanker) -> Scorer:
    """Score the protocol's catalogue with a ranker fitted on its training split.

    Items without training interactions have no column in the ranker and get
    a score below every other item.
    """
    encoder = ranker.encoder_
    user_rows = encoder.users.lookup(protocol.users.ids)
    item_columns = encoder.items.lookup(protocol.items.ids)
    known = item_columns >= 0

    def score(users: np.ndarray) -> np.ndarray:
        scores = ranker.score_users(user_rows[users])
        result = np.full((users.size, protocol.n_items), scores.min() - 1.0)
        result[:, known] = scores[:, item_columns[known]]
        return result

    return score


def tune_bpr(
    protocol: RankingProtocol, grid: Sequence[dict[str, Any]], seed: int
) -> tuple[BPRRanker, dict[str, Any], list[dict[str, Any]]]:
    """Fit a BPR ranker per grid point with early stopping on the validation split.

    Returns the ranker with the best validation NDCG@10, its settings and one
    record per grid point. The records carry each point's test metrics too,
    for the report; the choice uses the validation NDCG only.
    """
    records = []
    best: tuple[float, BPRRanker | None, dict[str, Any]] = (-np.inf, None, {})
    for settings in grid:
        start = time.perf_counter()
        ranker = BPRRanker(**{**BPR_FIXED, **settings}, random_state=seed)
        ranker.fit(protocol.train, valid=protocol.valid)
        scorer = bpr_scorer(protocol, ranker)
        ndcg = protocol.evaluate(scorer, "valid").ndcg
        records.append(
            {
                "settings": settings,
                "valid_ndcg_at_10": ndcg,
                "test": protocol.evaluate(scorer, "test").as_dict(),
                "best_epoch": ranker.best_epoch_,
                "epochs_run": len(ranker.history_),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(f"  BPR {settings}: valid NDCG@10 {ndcg:.4f}", file=sys.stderr)
        if ndcg > best[0]:
            best = (ndcg, ranker, settings)
    return best[1], best[2], records


def tune(
    protocol: RankingProtocol,
    train: sp.csr_matrix,
    fit: Callable[[sp.csr_matrix, Any], np.ndarray],
    grid: Sequence[Any],
) -> tuple[Any, dict[str, float]]:
    """Return the grid value with the best validation NDCG@10 and all the scores."""
    scores = {}
    for value in grid:
        weights = fit(train, value)
        metrics = protocol.evaluate(linear_scorer(train, weights), "valid")
        scores[str(value)] = metrics.ndcg
        print(
            f"  {fit.__name__}({value}): valid NDCG@10 {metrics.ndcg:.4f}",
            file=sys.stderr,
        )
    best = max(grid, key=lambda value: scores[str(value)])
    return best, scores


def hardware() -> str:
    """Return the CPU model and core count reported by ``lscpu``."""
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.machine()}, lscpu unavailable"
    fields = dict(line.split(":", 1) for line in output.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    cores = fields.get("CPU(s)", "?").strip()
    return f"{model}, {cores} CPUs"


def run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    protocol = load_ranking_protocol(args.data, seed=args.seed)
    train = protocol.matrix("train")
    train_valid = protocol.matrix("train", "valid")
    results: dict[str, Any] = {}

    results["popularity"] = {
        "test": protocol.evaluate(popularity_scorer(train), "test").as_dict()
    }

    l2, ease_grid = tune(protocol, train, ease_weights, args.ease_l2)
    ease = linear_scorer(train, ease_weights(train, l2))
    ease_refit = linear_scorer(train_valid, ease_weights(train_valid, l2))
    results["ease"] = {
        "l2": l2,
        "valid_ndcg_at_10": ease_grid,
        "test": protocol.evaluate(ease, "test").as_dict(),
        "test_refit_on_train_and_valid": protocol.evaluate(
            ease_refit, "test"
        ).as_dict(),
    }

    k, knn_grid = tune(protocol, train, item_knn_weights, args.knn_k)
    knn = linear_scorer(train, item_knn_weights(train, k))
    results["item_knn"] = {
        "n_neighbours": k,
        "valid_ndcg_at_10": knn_grid,
        "test": protocol.evaluate(knn, "test").as_dict(),
    }

    grid = json.loads(args.bpr_grid) if args.bpr_grid else BPR_GRID
    ranker, chosen, bpr_grid = tune_bpr(protocol, grid, args.seed)
    results["fmrec_bpr"] = {
        "fixed": BPR_FIXED,
        "chosen": chosen,
        "best_epoch": ranker.best_epoch_,
        "grid": bpr_grid,
        "test": protocol.evaluate(bpr_scorer(protocol, ranker), "test").as_dict(),
    }
    return {
        "benchmark": "ranking protocol, implicit",
        "protocol": protocol.summary(),
        "models": results,
        "published_ndcg_at_10": PUBLISHED_NDCG_AT_10,
        "command": shlex.join(["python", *sys.argv]),
        "hardware": hardware(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", help="data set name or path")
    parser.add_argument("--seed", type=int, default=42, help="split seed")
    parser.add_argument(
        "--ease-l2",
        type=float,
        nargs="+",
        default=[50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0],
        help="EASE L2 weights to try",
    )
    parser.add_argument(
        "--knn-k",
        type=int,
        nargs="+",
        default=[10, 20, 50, 100, 200, 400, 800],
        help="item-kNN neighbour counts to try",
    )
    parser.add_argument(
        "--bpr-grid",
        metavar="JSON",
        help="JSON list of BPRRanker settings to try on top of the fixed ones "
        "(default: the BPR_GRID of this script)",
    )
    record = run(parser.parse_args())
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
