"""``fmrec tune``: random search of hyperparameters on a validation split."""

from __future__ import annotations

import argparse
import json

from fmrec.cli._options import (
    add_data_options,
    add_split_options,
    add_training_options,
    check_output_paths,
    fraction,
    load_data,
    positive_int,
    training_config,
)
from fmrec.persistence import write_text_atomic
from fmrec.split import random_split
from fmrec.tuning import SEARCH_SPACES, random_search


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    spaces = "; ".join(
        f"{solver}: {', '.join(space)}" for solver, space in SEARCH_SPACES.items()
    )
    parser = subparsers.add_parser(
        "tune",
        help="random search of hyperparameters; writes a config for 'fmrec train'",
        description="Hold out the test split, carve a validation split out of the "
        "training ratings, try random hyperparameters of the chosen solver "
        f"({spaces}) and write the best configuration as JSON.",
    )
    add_data_options(parser)
    add_split_options(parser)
    add_training_options(parser)
    parser.add_argument(
        "--trials",
        type=positive_int,
        default=20,
        help="number of configurations to try (default: 20)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=fraction,
        default=0.1,
        metavar="FRACTION",
        help="share of the training ratings used to score trials (default: 0.1)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="path of the JSON configuration to write",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    check_output_paths({"--out": args.out})
    base = training_config(args)
    dataset = load_data(args)
    train, _ = random_split(dataset.ratings, args.test_size, args.seed)
    scale = dataset.rating_scale
    result = random_search(
        train,
        base,
        items=dataset.items,
        users=dataset.users,
        rating_range=(scale.min, scale.max),
        n_trials=args.trials,
        validation_fraction=args.validation_fraction,
        random_state=args.seed,
    )
    write_text_atomic(args.out, json.dumps(result.to_config(), indent=2) + "\n")
    print(
        f"Best validation RMSE {result.best_rmse:.4f} of {len(result.trials)} trials; "
        f"configuration written to {args.out}."
    )
    return 0
