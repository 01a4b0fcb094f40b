"""Time the baseline FM protocol on MovieLens 1M, end to end and per epoch.

Run from the repository root:

    python benchmarks/seed_protocol.py --data ml-1m --baseline-rows 20000

It times loading, encoding, training (k=15, learning rate 0.005, L2 0.1, five
epochs) and evaluation, then times one compiled SGD epoch on all training
ratings and the per-sample Python loop of ``reference_loop.py`` on a
subsample, in the same process, and prints a JSON record with the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from fmrec.datasets import load_movielens
from fmrec.experiment import evaluate
from fmrec.features.groups import FeatureBuilder
from fmrec.model import FactorizationMachine
from fmrec.presets import SEED
from fmrec.recommend import Recommender
from fmrec.solvers import FMParams, Rows, SGDSolver
from fmrec.split import random_split

sys.path.insert(0, str(Path(__file__).parent))
from reference_loop import python_sgd_epoch  # noqa: E402


def time_pipeline(source: str, data_dir: str | None) -> tuple[dict, Recommender]:
    timings = {}
    start = time.perf_counter()
    dataset = load_movielens(source, data_dir=data_dir)
    timings["load_seconds"] = time.perf_counter() - start

    train, test = random_split(dataset.ratings, 0.2, 42)
    encode_start = time.perf_counter()
    FeatureBuilder().fit(train).transform(train).to_sparse()
    timings["encode_seconds"] = time.perf_counter() - encode_start
    recommender = Recommender(FactorizationMachine(**SEED, random_state=42))
    fit_start = time.perf_counter()
    recommender.fit(train, dataset.items, rating_range=(1.0, 5.0))
    # Recommender.fit encodes the ratings again before training.
    timings["fit_seconds"] = time.perf_counter() - fit_start
    timings["epoch_seconds_with_rmse"] = [
        record.seconds for record in recommender.model.history_
    ]

    eval_start = time.perf_counter()
    scores = evaluate(recommender, test)
    timings["evaluate_seconds"] = time.perf_counter() - eval_start
    timings["total_seconds"] = time.perf_counter() - start
    timings["test_rmse"] = scores["test_rmse"]
    timings["ndcg_at_10"] = scores["ndcg_at_10"]
    return timings, recommender


def time_epochs(
    recommender: Recommender, train_rows: Rows, repeats: int
) -> list[float]:
    """Time the compiled SGD pass alone (no RMSE evaluation), ``repeats`` times."""
    rng = np.random.default_rng(0)
    solver = SGDSolver(SEED["learning_rate"], SEED["reg_w"], SEED["reg_v"])
    rows = solver.prepare(train_rows, rng)
    params = FMParams.initial(recommender.encoder_.n_features, 15, 0.1, rng)
    solver.run_epoch(rows, params, rng)  # compile outside the timing
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        solver.run_epoch(rows, params, rng)
        seconds.append(time.perf_counter() - start)
    return seconds


def time_python_loop(X, y, n_rows: int) -> float:
    """Return the seconds per row of the Python loop on ``n_rows`` random rows."""
    rng = np.random.default_rng(0)
    params = {
        "w0": np.zeros(1),
        "w": np.zeros(X.shape[1]),
        "V": rng.normal(0, 0.1, (X.shape[1], 15)),
    }
    order = rng.permutation(X.shape[0])[:n_rows]
    start = time.perf_counter()
    python_sgd_epoch(X, y, order, params, SEED["learning_rate"], SEED["reg_w"])
    return (time.perf_counter() - start) / n_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", help="data set name or path")
    parser.add_argument("--data-dir", help="folder of data set archives")
    parser.add_argument("--baseline-rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    timings, recommender = time_pipeline(args.data, args.data_dir)
    dataset = load_movielens(args.data, data_dir=args.data_dir)
    train, _ = random_split(dataset.ratings, 0.2, 42)
    X = recommender.encoder_.transform(train).to_sparse()
    y = train["rating"].to_numpy(np.float64)
    epochs = time_epochs(recommender, Rows.from_sparse(X, y), args.repeats)
    per_row = time_python_loop(X, y, args.baseline_rows)
    python_epoch = per_row * X.shape[0]
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "n_train": int(X.shape[0]),
        **timings,
        "compiled_epoch_seconds": epochs,
        "compiled_epoch_median": float(np.median(epochs)),
        "python_rows_timed": args.baseline_rows,
        "python_epoch_seconds_extrapolated": python_epoch,
        "speedup": python_epoch / float(np.median(epochs)),
    }
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
