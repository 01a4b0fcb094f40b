"""Epoch loops shared by the solvers: scoring, early stopping, sample averaging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from fmrec.exceptions import TrainingDivergedError
from fmrec.solvers.base import FMParams

logger = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """Scores of one epoch; ``valid_rmse`` is None without a validation set.

    For MCMC, ``train_rmse`` is that of the current sample and ``valid_rmse``
    that of the average over the samples kept so far.
    """

    epoch: int
    train_rmse: float
    valid_rmse: float | None
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def postfix(self) -> dict[str, str]:
        """Return the scores as short strings for a progress bar."""
        scores = {"train": f"{self.train_rmse:.4f}"}
        if self.valid_rmse is not None:
            scores["valid"] = f"{self.valid_rmse:.4f}"
        return scores


@dataclass
class LoopSettings:
    """Settings of the epoch loop, taken from the estimator's hyperparameters.

    ``metric`` names the validation score in log messages.
    """

    solver: str
    n_epochs: int
    patience: int
    verbose: bool
    remedy: str
    metric: str = "RMSE"


@dataclass
class LoopResult:
    params: FMParams
    history: list[EpochRecord]
    best_epoch: int


def run_epochs(
    settings: LoopSettings,
    params: FMParams,
    step: Callable[[], float],
    score: Callable[[FMParams], float] | None,
) -> LoopResult:
    """Run ``step`` once per epoch with early stopping on ``score``.

    ``step`` updates ``params`` in place and returns the training RMSE;
    ``score`` returns the validation RMSE of given parameters. Without a
    score all epochs run and the last parameters are kept; with one, training
    stops after ``patience`` epochs without improvement and the parameters of
    the best epoch are returned.
    """
    history: list[EpochRecord] = []
    best = (np.inf, 0, params.copy())
    bar = _progress(settings)
    for epoch in bar:
        start = time.perf_counter()
        train_rmse = step()
        check_finite(settings, epoch, train_rmse, params)
        valid_rmse = None if score is None else score(params)
        record = EpochRecord(epoch, train_rmse, valid_rmse, time.perf_counter() - start)
        _log(settings, bar, history, record)
        if valid_rmse is None:
            continue
        if valid_rmse < best[0]:
            best = (valid_rmse, epoch, params.copy())
        elif epoch - best[1] >= settings.patience:
            logger.info(
                "Early stopping after epoch %d; restoring epoch %d "
                "(validation %s %.4f).",
                epoch,
                best[1],
                settings.metric,
                best[0],
            )
            break
    if score is None:
        return LoopResult(params, history, len(history))
    return LoopResult(best[2], history, best[1])


def run_samples(
    settings: LoopSettings,
    params: FMParams,
    step: Callable[[], float],
    keep: set[int],
    predict_valid: Callable[[FMParams], np.ndarray] | None,
    valid_y: np.ndarray | None,
    clip: Callable[[np.ndarray], np.ndarray],
) -> LoopResult:
    """Run all MCMC iterations and average the samples drawn in ``keep``.

    The result's parameters predict the average of the kept samples'
    predictions exactly: for S samples, the bias and weights are averaged and
    the factor matrices are placed side by side, scaled by 1/sqrt(S), since
    the FM pairwise term of the stacked factors is the sum of the samples'
    pairwise terms.
    """
    history: list[EpochRecord] = []
    samples = SampleStack(len(keep), params)
    valid_sum = None
    bar = _progress(settings)
    for epoch in bar:
        start = time.perf_counter()
        train_rmse = step()
        check_finite(settings, epoch, train_rmse, params)
        valid_rmse = None
        if epoch in keep:
            samples.add(params)
            if predict_valid is not None:
                predicted = predict_valid(params)
                valid_sum = predicted if valid_sum is None else valid_sum + predicted
        if valid_sum is not None:
            average = clip(valid_sum / samples.count)
            valid_rmse = float(np.sqrt(np.mean((average - valid_y) ** 2)))
        record = EpochRecord(epoch, train_rmse, valid_rmse, time.perf_counter() - start)
        _log(settings, bar, history, record)
    return LoopResult(samples.average(), history, len(history))


class SampleStack:
    """The samples of an MCMC run, gathered into one FM as they are drawn.

    The factor matrix for all samples is allocated once, and each sample's
    factors are written into their columns, so memory contains one copy of
    the samples.
    """

    def __init__(self, n_samples: int, like: FMParams) -> None:
        n_features, n_factors = like.V.shape
        self.capacity = n_samples
        self.scale = 1.0 / np.sqrt(n_samples)
        self.w0: list[float] = []
        self.w_sum = np.zeros_like(like.w)
        self.V = np.empty((n_features, n_samples * n_factors))
        self.count = 0

    def add(self, sample: FMParams) -> None:
        n_factors = sample.V.shape[1]
        columns = self.V[:, self.count * n_factors : (self.count + 1) * n_factors]
        np.multiply(sample.V, self.scale, out=columns)
        self.w0.append(float(sample.w0[0]))
        self.w_sum += sample.w
        self.count += 1

    def average(self) -> FMParams:
        """Return one FM whose output is the mean output of the samples."""
        if self.count != self.capacity:
            raise RuntimeError(
                f"Only {self.count} of {self.capacity} MCMC samples were added."
            )
        return FMParams(
            np.array([np.mean(self.w0)]),
            self.w_sum / self.count,
            self.V,
        )


def stack_samples(samples: list[FMParams]) -> FMParams:
    """Return one FM whose output is the mean output of ``samples``."""
    stack = SampleStack(len(samples), samples[0])
    for sample in samples:
        stack.add(sample)
    return stack.average()


def check_finite(settings: LoopSettings, epoch: int, rmse: float, params: FMParams):
    bad = params.first_non_finite()
    if bad is None and np.isfinite(rmse):
        return
    what = f"parameter {bad}" if bad else "the training loss"
    raise TrainingDivergedError(
        f"{settings.solver.upper()} diverged in epoch {epoch}: {what} became NaN or "
        f"infinite. {settings.remedy}"
    )


def _progress(settings: LoopSettings):
    return tqdm(
        range(1, settings.n_epochs + 1),
        desc=settings.solver.upper(),
        unit="epoch",
        disable=not settings.verbose,
        leave=False,
    )


def _log(settings: LoopSettings, bar, history: list[EpochRecord], record):
    history.append(record)
    bar.set_postfix(record.postfix())
    logger.debug("%s epoch %s", settings.solver, record)
