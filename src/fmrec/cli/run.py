"""``fmrec run``: load, split, train, evaluate and recommend in one go.

With ``--json`` the command prints one object with the keys ``test_rmse``,
``test_mae``, ``ndcg_at_10``, ``epochs`` (``epoch``, ``train_rmse``,
``valid_rmse``, ``seconds``), ``fit_seconds``, ``load_seconds``,
``total_seconds``, ``topn`` (full-catalogue metrics), ``recommendations`` and
the settings used.
"""

from __future__ import annotations

import argparse
import time

from fmrec import persistence
from fmrec.cli._options import (
    add_data_options,
    add_output_options,
    add_split_options,
    add_training_options,
    format_scores,
    load_data,
    positive_int,
    print_json,
    training_config,
)
from fmrec.experiment import run


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train and evaluate on a random split, then recommend",
        description="Split the ratings at random, train an FM on the training "
        "part, report test RMSE, MAE and NDCG@10, and list recommendations for "
        "a known user and a new user.",
    )
    add_data_options(parser)
    add_split_options(parser)
    add_training_options(parser)
    parser.add_argument(
        "--user", type=int, default=4, help="user id to recommend for (default: 4)"
    )
    parser.add_argument(
        "-n",
        type=positive_int,
        default=5,
        help="length of each recommendation list (default: 5)",
    )
    parser.add_argument(
        "--save-model", metavar="FILE", help="also save the trained model to FILE"
    )
    add_output_options(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    config = training_config(args)
    dataset = load_data(args)
    load_seconds = time.perf_counter() - start
    summary, recommender = run(
        dataset,
        protocol="config file" if args.config else args.protocol,
        config=config,
        test_size=args.test_size,
        split_seed=args.seed,
        user=args.user,
        n=args.n,
        verbose=not args.no_progress,
    )
    if args.save_model:
        persistence.save(recommender, args.save_model)
    summary["load_seconds"] = load_seconds
    summary["total_seconds"] = time.perf_counter() - start
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary: dict) -> str:
    lines = [
        f"Data set {summary['dataset']}: {summary['n_train']} training and "
        f"{summary['n_test']} test ratings; protocol '{summary['protocol']}'.",
    ]
    for epoch in summary["epochs"]:
        valid = epoch["valid_rmse"]
        valid_text = "" if valid is None else f" | valid RMSE {valid:.4f}"
        lines.append(
            f"Epoch {epoch['epoch']:3d}: train RMSE {epoch['train_rmse']:.4f}"
            f"{valid_text} ({epoch['seconds']:.2f} s)"
        )
    if summary["params"].get("solver") == "mcmc":
        kept = summary["params"].get("n_kept_samples")
        lines.append(f"The model averages {kept} samples kept after the burn-in.")
    else:
        lines.append(f"Kept epoch {summary['best_epoch']}.")
    lines.append(format_scores(summary))
    for key in ("user", "new_user"):
        lines.append("")
        lines.append(_format_list(summary["recommendations"][key]))
    lines.append("")
    lines.append(
        f"Loaded in {summary['load_seconds']:.2f} s, trained in "
        f"{summary['fit_seconds']:.2f} s, {summary['total_seconds']:.2f} s in all."
    )
    return "\n".join(lines)


def _format_list(result: dict) -> str:
    who = "new user" if result["user"] is None else f"user {result['user']}"
    head = "Popular items" if result["cold_start"] else "Top items"
    lines = [f"{head} for {who}:"]
    for item in result["items"]:
        title = item.get("title") or ""
        lines.append(f"  {item['rank']:2d}. {item['item_id']:>6}  {title}")
    if result["note"]:
        lines.append(f"  Note: {result['note']}")
    return "\n".join(lines)
