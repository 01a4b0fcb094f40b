"""Models and servers shared by the HTTP service tests.

Two small models are trained once per test session on the real MovieLens
100K data and differ in their factor dimension, so that a reload from one to
the other is visible in ``/model``.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import uvicorn

from fmrec import persistence
from fmrec.datasets import load_movielens
from fmrec.experiment import train
from fmrec.presets import SEED
from fmrec.recommend import Recommender

FACTORS_A = 15
FACTORS_B = 8


@functools.cache
def trained_models(data_dir: str) -> tuple[Recommender, Recommender, pd.DataFrame]:
    """Return two recommenders trained on ML-100K, and the test split.

    Model A uses the seed hyperparameters (k=15); model B the same with k=8.
    """
    dataset = load_movielens(Path(data_dir) / "ml-100k")
    model_a, test = train(dataset, {**SEED, "n_factors": FACTORS_A})
    model_b, _ = train(dataset, {**SEED, "n_factors": FACTORS_B})
    return model_a, model_b, test


def save_pair(data_dir: Path, folder: Path) -> tuple[Path, Path]:
    """Save models A and B under ``folder``; return their paths."""
    model_a, model_b, _ = trained_models(str(data_dir))
    return (
        persistence.save(model_a, folder / "a.fmrec"),
        persistence.save(model_b, folder / "b.fmrec"),
    )


def replace_file(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` atomically, as a deployment would."""
    staging = target.with_name(f".{target.name}.new")
    shutil.copyfile(source, staging)
    os.replace(staging, target)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(base_url: str, timeout: float = 60.0) -> None:
    """Poll ``/health`` until it returns 200; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} did not respond to /health within {timeout} s")


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_until_up(self.url)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
