"""Run one benchmark model in a fresh child process and measure it.

Each model runs in its own spawned interpreter, so its memory figures are
its own and no library state (compiled kernels, thread pools, caches) carries
over from the model before it. The child loads the data, draws the split,
builds the input, fits and predicts, and sends back one result dict.

Memory is measured two ways in the child: ``peak_rss_mib`` is
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the high-water mark of the
whole child process (interpreter, libraries, data set, features and model);
``fit_predict_rss_increase_mib`` is the peak of the resident set size, sampled
with psutil every 20 ms during fit and predict, minus the size just before
fit. The sampling can miss a peak shorter than the interval.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
import traceback

import numpy as np
import psutil

from fmrec.datasets import load_movielens
from fmrec.split import random_split

N_FOLDS = 10
SAMPLE_INTERVAL_SECONDS = 0.02
MIB = 1024 * 1024


def train_test(ratings, protocol: str, fold: int, seed: int):
    """Return the (train, test) frames of ``protocol``.

    ``80-20`` is ``random_split(ratings, 0.2, seed)``. ``90-10`` shuffles the
    rows with ``RandomState(seed)``, cuts them into 10 folds of equal size
    (sizes differ by at most one) and tests on fold ``fold``.
    """
    if protocol == "80-20":
        return random_split(ratings, 0.2, seed)
    if protocol == "90-10":
        permutation = np.random.RandomState(seed).permutation(len(ratings))
        folds = np.array_split(permutation, N_FOLDS)
        test_rows = np.sort(folds[fold])
        train_rows = np.sort(np.concatenate(folds[:fold] + folds[fold + 1 :]))
        return ratings.iloc[train_rows], ratings.iloc[test_rows]
    raise ValueError(f"Unknown protocol {protocol!r}; choose 80-20 or 90-10.")


class _RssSampler:
    """Record the peak resident set size of this process in a thread."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_SECONDS):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(job: dict) -> dict:
    """Run ``job`` (spec, protocol, fold, seed, data) in this process."""
    from peers_models import make_runner, rating_errors

    spec = job["spec"]
    data = load_movielens(job["data"], data_dir=job["data_dir"], download=False)
    train, test = train_test(data.ratings, job["protocol"], job["fold"], job["seed"])
    runner = make_runner(spec)

    start = time.perf_counter()
    runner.prepare(train, test, data)
    prepare_seconds = time.perf_counter() - start
    runner.warm_up()

    load_average = os.getloadavg()[0]
    rss_before = psutil.Process().memory_info().rss
    with _RssSampler() as sampler:
        cpu_start, start = _cpu_seconds(), time.perf_counter()
        runner.fit()
        fit_seconds = time.perf_counter() - start
        fit_cpu_seconds = _cpu_seconds() - cpu_start
        start = time.perf_counter()
        predicted = runner.predict()
        predict_seconds = time.perf_counter() - start

    result = {
        **spec.describe(),
        "protocol": job["protocol"],
        "fold": job["fold"],
        "n_train": len(train),
        "n_test": len(test),
        **rating_errors(predicted, test["rating"].to_numpy()),
        "prepare_seconds": prepare_seconds,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "predict_seconds": predict_seconds,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fit_predict_rss_increase_mib": (sampler.peak - rss_before) / MIB,
        "load_average_before_fit": load_average,
        **runner.details(),
    }
    return result


def _child(job: dict, connection) -> None:
    try:
        connection.send(measure(job))
    except Exception as error:  # noqa: BLE001 - sent to the parent and reported
        connection.send(
            {
                **job["spec"].describe(),
                "fold": job["fold"],
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
        )
    finally:
        connection.close()


def run_in_child(job: dict) -> dict:
    """Run ``job`` in a spawned child process and return its result dict.

    A child that dies without sending a result (killed for memory, say)
    gives a result with an ``error`` entry and its exit code.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(job, sender))
    child.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    child.join()
    if result is None:
        result = {
            **job["spec"].describe(),
            "fold": job["fold"],
            "error": f"the child process exited with code {child.exitcode} "
            "without a result",
        }
    result["child_pid"] = child.pid
    return result


def thread_settings() -> dict[str, str | None]:
    """Return the thread-count variables the children inherit."""
    names = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {name: os.environ.get(name) for name in names}
