"""``fmrec evaluate``: score a saved model on the test part of its split."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fmrec import persistence
from fmrec.cli._options import (
    add_data_options,
    add_output_options,
    format_scores,
    load_data,
    positive_int,
    print_json,
)
from fmrec.experiment import evaluate, test_split
from fmrec.report import write_report


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a saved model on its test split",
        description="Rebuild the test split a model from 'fmrec train' was held "
        "out from, and report RMSE, MAE, NDCG and full-catalogue top-k metrics.",
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file")
    add_data_options(parser, default_text="the data set the model was trained on")
    # Without --data, evaluate on the data set named in the model file.
    parser.set_defaults(data=None)
    parser.add_argument(
        "-k",
        type=positive_int,
        default=10,
        help="cut-off of the ranking metrics (default: 10)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=4.0,
        help="lowest rating that counts as relevant in top-k metrics (default: 4)",
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="also write an HTML report with figures (RMSE by user activity, "
        "NDCG@k and Recall@k for k up to 50, predicted against true ratings) "
        "into DIR; needs matplotlib",
    )
    add_output_options(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    recommender = persistence.load(args.model)
    if args.data is None:
        args.data = _training_data(recommender.info)
    dataset = load_data(args)
    test = test_split(recommender, dataset)
    scores = evaluate(recommender, test, k=args.k, threshold=args.threshold)
    if args.report:
        report = write_report(recommender, test, args.report, threshold=args.threshold)
        scores["report"] = str(report)
    scores["total_seconds"] = time.perf_counter() - start
    if args.json:
        print_json(scores)
    else:
        print(format_scores(scores))
        if args.report:
            print(f"Report written to {scores['report']}.")
    return 0


def _training_data(info: dict) -> str:
    """Return the folder or archive the model was trained on, where it still
    exists, else the data set's name (models saved before the path was
    stored have only the name)."""
    source = info.get("source")
    if source and Path(source).exists():
        return source
    return info.get("dataset", "ml-1m")
