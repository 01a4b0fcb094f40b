"""``fmrec recommend``: top-N items for a user from a saved model."""

from __future__ import annotations

import argparse

from fmrec import persistence
from fmrec.cli._options import format_recommendations, positive_int, print_json
from fmrec.experiment import recommendations_to_dict


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="list top-N items for a user from a saved model",
        description="List the top-N items a user has not rated in training. "
        "Without --user, or for an unknown user, list the most-rated items.",
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file")
    parser.add_argument("--user", type=int, metavar="ID", help="original user id")
    parser.add_argument(
        "-n",
        type=positive_int,
        default=10,
        help="number of items to list (default: 10)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the list as one JSON object"
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    recommender = persistence.load(args.model)
    result = recommender.recommend(args.user, args.n)
    if args.json:
        print_json(recommendations_to_dict(result))
    else:
        print(format_recommendations(result))
    return 0
