"""Random search over hyperparameters, scored on a validation split.

The validation ratings are carved out of the training ratings only, so the
test split never influences the chosen configuration.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fmrec.metrics import rmse
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender
from fmrec.split import random_split

logger = logging.getLogger(__name__)

# Per solver: parameter -> list of choices, or ("log", low, high) for a value
# drawn log-uniformly from [low, high].
SEARCH_SPACES: dict[str, dict[str, Any]] = {
    "sgd": {
        "n_factors": [16, 32, 64, 128],
        "learning_rate": ("log", 0.002, 0.02),
        "reg_w": ("log", 0.002, 0.2),
        "reg_v": ("log", 0.005, 0.2),
        "init_std": [0.01, 0.05, 0.1],
    },
    "als": {
        "n_factors": [8, 16, 32, 64],
        "reg_w": ("log", 0.1, 100.0),
        "reg_v": ("log", 1.0, 300.0),
        "init_std": [0.01, 0.05, 0.1],
    },
    "mcmc": {
        "n_factors": [8, 16, 32, 64],
        "init_std": [0.05, 0.1, 0.2],
    },
}


@dataclass
class Trial:
    params: dict[str, Any]
    validation_rmse: float
    seconds: float


@dataclass
class TuneResult:
    """The best configuration and every trial, in the order they ran."""

    features: list[str]
    best_params: dict[str, Any]
    best_rmse: float
    trials: list[Trial] = field(default_factory=list)

    def to_config(self) -> dict[str, Any]:
        """Return a configuration file's content (see :mod:`fmrec.presets`)."""
        return {
            "features": self.features,
            "params": self.best_params,
            "validation_rmse": self.best_rmse,
            "trials": [trial.__dict__ for trial in self.trials],
        }


def sample_params(space: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Draw one value for every parameter of ``space``."""
    params = {}
    for name, choice in space.items():
        if isinstance(choice, tuple) and choice[0] == "log":
            low, high = math.log(choice[1]), math.log(choice[2])
            params[name] = float(math.exp(rng.uniform(low, high)))
        else:
            params[name] = choice[int(rng.integers(len(choice)))]
            if isinstance(params[name], np.generic):
                params[name] = params[name].item()
    return params


def random_search(
    train: pd.DataFrame,
    base: dict[str, Any],
    *,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    rating_range: tuple[float, float],
    n_trials: int = 20,
    validation_fraction: float = 0.1,
    random_state: int = 0,
) -> TuneResult:
    """Try ``n_trials`` random configurations around ``base``; keep the best.

    ``base`` is a configuration (``features`` and ``params``); each trial
    replaces the parameters of the solver's search space in
    :data:`SEARCH_SPACES` with random draws, trains on ``train`` minus a
    random validation share, and scores the clipped predictions there.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
    solver = base["params"].get("solver", "sgd")
    space = SEARCH_SPACES[solver]
    inner, valid = random_split(train, validation_fraction, random_state)
    rng = np.random.default_rng(random_state)
    result = TuneResult(list(base["features"]), {}, math.inf)
    for number in range(1, n_trials + 1):
        params = {**base["params"], **sample_params(space, rng)}
        start = time.perf_counter()
        score = _score(
            inner, valid, params, base["features"], items, users, rating_range
        )
        trial = Trial(params, score, time.perf_counter() - start)
        result.trials.append(trial)
        logger.info(
            "Trial %d/%d: validation RMSE %.4f with %s", number, n_trials, score, params
        )
        if score < result.best_rmse:
            result.best_params, result.best_rmse = params, score
    return result


def _score(inner, valid, params, features, items, users, rating_range) -> float:
    model = FactorizationMachine(**params)
    recommender = Recommender(model, features=tuple(features))
    recommender.fit(inner, items, rating_range=rating_range, users=users)
    timestamps = valid["timestamp"].to_numpy() if "timestamp" in valid else None
    predicted = recommender.predict(
        valid["user_id"].to_numpy(), valid["item_id"].to_numpy(), timestamps=timestamps
    )
    return rmse(valid["rating"].to_numpy(), predicted)
