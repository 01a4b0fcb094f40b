"""Named training configurations: feature groups plus estimator hyperparameters.

A configuration is JSON-ready: ``{"features": [...], "params": {...}}``, where
``params`` are keyword arguments of :class:`~fmrec.model.FactorizationMachine`.
``fmrec tune`` writes files of this form and ``--config`` reads them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fmrec.features import GROUPS
from fmrec.model import FactorizationMachine

IDS = ["user", "item"]

PROTOCOLS: dict[str, dict[str, Any]] = {
    # A small baseline FM on ids: k=15, learning rate 0.005, L2 0.1 on weights
    # and factors, factors from N(0, 0.1^2), five epochs, no early stopping.
    "seed": {
        "features": IDS,
        "params": {
            "solver": "sgd",
            "n_factors": 15,
            "learning_rate": 0.005,
            "reg_w": 0.1,
            "reg_v": 0.1,
            "init_std": 0.1,
            "n_epochs": 5,
            "early_stopping": False,
        },
    },
    # SGD on ids with the estimator's defaults: early stopping on a
    # validation split carved out of the training ratings.
    "sgd": {"features": IDS, "params": {"solver": "sgd"}},
    # Bayesian FM by MCMC on every feature group; about a minute on MovieLens
    # 1M on two cores.
    "default": {
        "features": list(GROUPS),
        "params": {
            "solver": "mcmc",
            "n_factors": 32,
            "n_epochs": 64,
            "burn_in": 8,
            "n_kept_samples": 16,
            "init_std": 0.1,
        },
    },
}


def protocol_config(name: str) -> dict[str, Any]:
    """Return a copy of the configuration of the protocol ``name``."""
    if name not in PROTOCOLS:
        raise ValueError(
            f"Unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}."
        )
    config = PROTOCOLS[name]
    return {"features": list(config["features"]), "params": dict(config["params"])}


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a configuration file written by ``fmrec tune`` (or by hand)."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable configuration file: {exc}") from exc
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise ValueError(f"{path}: a configuration needs a 'params' object.")
    unknown = set(config["params"]) - set(FactorizationMachine().get_params())
    if unknown:
        raise ValueError(
            f"{path}: unknown parameters {sorted(unknown)} in 'params'; see "
            "'fmrec train --help' and the FactorizationMachine documentation."
        )
    features = config.get("features", IDS)
    if not isinstance(features, list) or not set(features) <= set(GROUPS):
        raise ValueError(
            f"{path}: 'features' must be a list of groups from {list(GROUPS)}, "
            f"got {features!r}."
        )
    return {"features": features, "params": config["params"]}


# The baseline's hyperparameters alone, for code that builds its own model.
SEED: dict[str, Any] = dict(PROTOCOLS["seed"]["params"])
