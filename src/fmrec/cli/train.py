"""``fmrec train``: fit a model on the training part of a random split and save it."""

from __future__ import annotations

import argparse

from fmrec import persistence
from fmrec.cli._options import (
    add_data_options,
    add_output_options,
    add_split_options,
    add_training_options,
    check_output_paths,
    load_data,
    print_json,
    training_config,
)
from fmrec.experiment import train
from fmrec.report import plot_learning_curves


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train on a random split and save the model",
        description="Train an FM on the training part of a random split and save "
        "it; 'fmrec evaluate' rebuilds the same test part from the saved settings.",
    )
    add_data_options(parser)
    add_split_options(parser)
    add_training_options(parser)
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="path of the model file to write"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the training and validation RMSE per epoch into a PNG "
        "file; needs matplotlib",
    )
    add_output_options(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    check_output_paths({"--out": args.out, "--plot": args.plot})
    config = training_config(args)
    dataset = load_data(args)
    recommender, test = train(
        dataset,
        config["params"],
        features=config["features"],
        test_size=args.test_size,
        split_seed=args.seed,
        verbose=not args.no_progress,
    )
    persistence.save(recommender, args.out)
    model = recommender.model
    if args.plot:
        plot_learning_curves(model.history_, args.plot, best_epoch=model.best_epoch_)
    summary = {
        "model": args.out,
        "n_train": len(dataset.ratings) - len(test),
        "best_epoch": model.best_epoch_,
        "epochs": [record.as_dict() for record in model.history_],
        "plot": args.plot,
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
