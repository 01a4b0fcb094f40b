"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from fmrec.datasets import MovieLens, load_movielens
from fmrec.features import GROUPS
from fmrec.model import SOLVERS
from fmrec.presets import PROTOCOLS, protocol_config, read_config
from fmrec.recommend import Recommendations


def positive_int(text: str) -> int:
    """Parse an integer of at least 1 for argparse, which names the option."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    """Parse a share strictly between 0 and 1."""
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


# Command-line option, estimator parameter, type and help text.
HYPERPARAMETERS = (
    ("--factors", "n_factors", non_negative_int, "dimension k of the factor vectors"),
    (
        "--epochs",
        "n_epochs",
        positive_int,
        "maximum passes (SGD, ALS) or MCMC iterations",
    ),
    ("--learning-rate", "learning_rate", positive_float, "SGD step size"),
    ("--reg-w", "reg_w", non_negative_float, "L2 penalty on the linear weights"),
    ("--reg-v", "reg_v", non_negative_float, "L2 penalty on the factor vectors"),
    (
        "--init-std",
        "init_std",
        non_negative_float,
        "standard deviation of the initial factors",
    ),
    (
        "--patience",
        "patience",
        positive_int,
        "epochs without validation gain before stopping",
    ),
    (
        "--burn-in",
        "burn_in",
        non_negative_int,
        "MCMC iterations discarded before keeping samples",
    ),
    (
        "--kept-samples",
        "n_kept_samples",
        positive_int,
        "MCMC samples averaged by the model",
    ),
)


def check_output_paths(paths: dict[str, str | None]) -> None:
    """Check, before any long work, that each output path can be written.

    ``paths`` maps each option, such as ``"--out"``, to its value. A path is
    writable when its folder exists and is writable, and the path itself is
    not a folder.

    Raises
    ------
    OSError
        Naming the option and the path.
    """
    for flag, value in paths.items():
        if value is None:
            continue
        path = Path(value)
        folder = path.parent
        if path.is_dir():
            raise IsADirectoryError(f"{flag} {path} is a folder; give a file path.")
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{flag} {path}: the folder {folder} does not exist."
            )
        if not os.access(folder, os.W_OK):
            raise PermissionError(
                f"{flag} {path}: the folder {folder} is not writable."
            )


def add_data_options(
    parser: argparse.ArgumentParser, default_text: str = "ml-1m"
) -> None:
    """Add --data, --data-dir and --no-download; ``default_text`` describes
    the default of --data in the help."""
    parser.add_argument(
        "--data",
        default="ml-1m",
        metavar="NAME|PATH",
        help="data set name (ml-1m, ml-100k, ml-latest-small), or a MovieLens "
        f"folder or .zip archive (default: {default_text})",
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
        type=fraction,
        default=0.2,
        metavar="FRACTION",
        help="share of ratings held out for testing, in (0, 1) (default: 0.2)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=42,
        help="seed of the random split and of training (default: 42)",
    )


def add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="default",
        help="starting configuration: 'default' (MCMC, rank 32, every feature "
        "group, about a minute on MovieLens 1M), 'sgd' (SGD on ids with early "
        "stopping on a validation split of the training ratings) or 'seed' (SGD "
        "on ids, k=15, learning rate 0.005, L2 0.1, 5 epochs, factors from "
        "N(0, 0.1^2)); the options below override it (default: default)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON configuration written by 'fmrec tune'; replaces --protocol",
    )
    parser.add_argument("--solver", choices=SOLVERS, help="training algorithm")
    parser.add_argument(
        "--features",
        metavar="GROUPS",
        type=parse_features,
        help="comma-separated feature groups from: " + ", ".join(GROUPS) + "; or 'all'",
    )
    for option, name, kind, text in HYPERPARAMETERS:
        parser.add_argument(option, dest=name, type=kind, help=text)
    parser.add_argument(
        "--no-early-stopping",
        dest="early_stopping",
        action="store_false",
        default=None,
        help="SGD and ALS: train all epochs on all training ratings, without a "
        "validation split",
    )


def training_config(args: argparse.Namespace) -> dict[str, Any]:
    """Return the features and estimator parameters the options select."""
    if args.config:
        config = read_config(args.config)
    else:
        config = protocol_config(args.protocol)
    if args.features:
        config["features"] = args.features
    params = config["params"]
    if args.solver:
        params["solver"] = args.solver
    for _, name, _, _ in HYPERPARAMETERS:
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.early_stopping is not None:
        params["early_stopping"] = args.early_stopping
    return config


def parse_features(text: str) -> list[str]:
    """Parse --features; an invalid list is a usage error (exit code 2)."""
    if text.strip() == "all":
        return list(GROUPS)
    groups = [name.strip() for name in text.split(",") if name.strip()]
    if not groups:
        raise argparse.ArgumentTypeError(
            f"no feature groups in {text!r}; choose from {', '.join(GROUPS)} or 'all'"
        )
    unknown = [name for name in groups if name not in GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown feature groups {unknown}; choose from {', '.join(GROUPS)} "
            "or 'all'"
        )
    return groups


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


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_scores(scores: dict[str, Any]) -> str:
    topn = {key: value for key, value in scores["topn"].items()}
    k = topn["k"]
    skipped = ", ".join(f"{n} {why}" for why, n in topn["skipped"].items()) or "none"
    return "\n".join(
        [
            f"Test RMSE {scores['test_rmse']:.4f}, MAE {scores['test_mae']:.4f} "
            f"(predictions clipped to the rating range).",
            f"NDCG@{k} of each user's test ratings: {_number(scores[f'ndcg_at_{k}'])} "
            f"over {scores['ndcg_users']} users.",
            f"Full catalogue, relevant = rating >= {topn['threshold']}: "
            f"NDCG@{k} {_number(topn[f'ndcg_at_{k}'])}, Recall@{k} "
            f"{_number(topn[f'recall_at_{k}'])}, HR@{k} {_number(topn[f'hr_at_{k}'])}, "
            f"MAP@{k} {_number(topn[f'map_at_{k}'])} over {topn['n_users']} users "
            f"(skipped: {skipped}).",
        ]
    )
