"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from fmrec.datasets import MovieLens, load_movielens
from fmrec.recommend import Recommendations


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="ml-1m",
        metavar="NAME|PATH",
        help="data set name (ml-1m, ml-100k, ml-latest-small), or a MovieLens "
        "folder or .zip archive (default: ml-1m)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder of downloaded archives (default: $FMREC_DATA_DIR, else the "
        "user cache folder)",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading a named data set that is not cached",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout; progress and logs stay on stderr",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_split_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        metavar="FRACTION",
        help="share of ratings held out for testing, in (0, 1) (default: 0.2)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of the random split and of training (default: 42)",
    )


def load_data(args: argparse.Namespace) -> MovieLens:
    return load_movielens(
        args.data,
        data_dir=args.data_dir,
        download=not args.no_download,
        progress=not args.no_progress,
    )


def print_json(payload: dict[str, Any]) -> None:
    json.dump(_finite(payload), sys.stdout, indent=2)
    sys.stdout.write("\n")


def format_recommendations(result: Recommendations) -> str:
    who = "new user" if result.user is None else f"user {result.user}"
    kind = "popular items (cold start)" if result.cold_start else "top items"
    lines = [f"{kind.capitalize()} for {who}:"]
    with pd.option_context("display.max_colwidth", 60, "display.width", 120):
        lines.append(result.items.to_string(index=False))
    if result.note:
        lines.append(f"Note: {result.note}")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """Replace NaN and inf, which JSON cannot hold, by null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def format_scores(scores: dict[str, Any]) -> str:
    topn = scores["topn"]
    k = topn["k"]
    skipped = ", ".join(f"{n} {why}" for why, n in topn["skipped"].items()) or "none"
    return "\n".join(
        [
            f"Test RMSE {scores['test_rmse']:.4f}, MAE {scores['test_mae']:.4f} "
            f"(predictions clipped to the rating range).",
            f"NDCG@{k} of each user's test ratings: {scores[f'ndcg_at_{k}']:.4f} "
            f"over {scores['ndcg_users']} users.",
            f"Full catalogue, relevant = rating >= {topn['threshold']}: "
            f"NDCG@{k} {topn[f'ndcg_at_{k}']:.4f}, Recall@{k} "
            f"{topn[f'recall_at_{k}']:.4f}, HR@{k} {topn[f'hr_at_{k}']:.4f}, "
            f"MAP@{k} {topn[f'map_at_{k}']:.4f} over {topn['n_users']} users "
            f"(skipped: {skipped}).",
        ]
    )
