"""``fmrec download``: fetch an official MovieLens archive into the cache."""

from __future__ import annotations

import argparse
import zipfile

from fmrec.datasets import DATASETS, download
from fmrec.exceptions import DataFormatError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download",
        help="download a MovieLens archive and verify its checksum",
        description="Download an official MovieLens archive, verify its pinned "
        "checksum and store it in the data folder; a cached archive is reused.",
    )
    parser.add_argument("name", choices=sorted(DATASETS), help="data set name")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder to store archives in (default: $FMREC_DATA_DIR, else the "
        "user cache folder)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bar")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    path = download(args.name, args.data_dir, progress=not args.no_progress)
    # A cached archive is reused without its checksum (local copies may
    # differ from the official file), but it must at least be a zip archive.
    if not zipfile.is_zipfile(path):
        raise DataFormatError(
            path, None, "not a zip archive; delete it and run fmrec download again"
        )
    print(path)
    return 0
