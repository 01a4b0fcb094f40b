"""``fmrec train``: fit a model on the training part of a random split and save it."""

from __future__ import annotations

import argparse

from fmrec import persistence
from fmrec.cli._options import (
    add_data_options,
    add_output_options,
    add_split_options,
    load_data,
    print_json,
)
from fmrec.experiment import train
from fmrec.presets import PROTOCOLS, protocol_params

# Command-line option, estimator parameter, type and help text.
HYPERPARAMETERS = (
    ("--factors", "n_factors", int, "dimension k of the factor vectors"),
    ("--learning-rate", "learning_rate", float, "SGD step size"),
    ("--reg-w", "reg_w", float, "L2 penalty on the linear weights"),
    ("--reg-v", "reg_v", float, "L2 penalty on the factor vectors"),
    ("--init-std", "init_std", float, "standard deviation of the initial factors"),
    ("--epochs", "n_epochs", int, "maximum number of passes over the ratings"),
    ("--patience", "patience", int, "epochs without validation gain before stopping"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train on a random split and save the model",
        description="Train an FM on the training part of a random split and save "
        "it; 'fmrec evaluate' rebuilds the same test part from the saved settings.",
    )
    add_data_options(parser)
    add_split_options(parser)
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="default",
        help="starting hyperparameters; the options below override them "
        "(default: default)",
    )
    for option, name, kind, text in HYPERPARAMETERS:
        parser.add_argument(option, dest=name, type=kind, help=text)
    parser.add_argument(
        "--no-early-stopping",
        dest="early_stopping",
        action="store_false",
        default=None,
        help="train all epochs on all training ratings, without a validation split",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="path of the model file to write"
    )
    add_output_options(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    params = protocol_params(args.protocol)
    for _, name, _, _ in HYPERPARAMETERS:
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.early_stopping is not None:
        params["early_stopping"] = args.early_stopping
    dataset = load_data(args)
    recommender, test = train(
        dataset,
        params,
        test_size=args.test_size,
        split_seed=args.seed,
        verbose=not args.no_progress,
    )
    persistence.save(recommender, args.out)
    model = recommender.model
    summary = {
        "model": args.out,
        "n_train": len(dataset.ratings) - len(test),
        "best_epoch": model.best_epoch_,
        "epochs": [record.as_dict() for record in model.history_],
    }
    if args.json:
        print_json(summary)
    else:
        last = model.history_[model.best_epoch_ - 1]
        print(
            f"Saved {args.out}: {summary['n_train']} training ratings, kept epoch "
            f"{model.best_epoch_} of {len(model.history_)} (train RMSE "
            f"{last.train_rmse:.4f})."
        )
    return 0
