"""Entry point of the ``fmrec`` command.

Exit codes: 0 on success, 1 when the command failed on its input (a bad data
or model file, a diverged training run, a missing file), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys

from fmrec import __version__
from fmrec.cli import download, evaluate, libfm, recommend, run, serve, train, tune
from fmrec.exceptions import DataFormatError, ModelFileError, TrainingDivergedError

COMMANDS = (run, train, tune, evaluate, recommend, download, serve, libfm)
# ImportError covers an optional extra that is not installed; its message
# names the extra to install.
FAILURES = (
    DataFormatError,
    ModelFileError,
    TrainingDivergedError,
    FileNotFoundError,
    ValueError,
    OSError,
    ImportError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmrec",
        description="Factorization Machine recommender: train, evaluate, recommend.",
    )
    parser.add_argument("--version", action="version", version=f"fmrec {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more on stderr: -v for debug messages of fmrec",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("numba").setLevel(logging.WARNING)
    try:
        return args.execute(args)
    except FAILURES as exc:
        logging.getLogger("fmrec").error("%s", exc)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("fmrec").error("Interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
