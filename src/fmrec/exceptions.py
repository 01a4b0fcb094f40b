"""Exceptions that fmrec raises for bad input files and failed training."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A data file that does not follow its format.

    The message names the file, the 1-based line number where known, and what
    was expected there.
    """

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


class ModelFileError(ValueError):
    """A model file that is truncated, foreign or of an unsupported version."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter."""


class DownloadError(OSError):
    """A data set download that failed: no network, an HTTP error status or a
    dropped connection. The message names the folder for a local copy."""
