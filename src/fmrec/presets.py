"""Named hyperparameter sets for :class:`~fmrec.model.FactorizationMachine`."""

from __future__ import annotations

# A small baseline FM: k=15, learning rate 0.005, L2 0.1 on weights and
# factors, factors drawn from N(0, 0.1^2), five epochs, no early stopping.
SEED = {
    "n_factors": 15,
    "learning_rate": 0.005,
    "reg_w": 0.1,
    "reg_v": 0.1,
    "init_std": 0.1,
    "n_epochs": 5,
    "early_stopping": False,
}

# The estimator's own defaults, with early stopping on a validation split
# carved out of the training ratings.
DEFAULT: dict[str, object] = {}

PROTOCOLS = {"default": DEFAULT, "seed": SEED}


def protocol_params(name: str) -> dict[str, object]:
    """Return a copy of the hyperparameters of the protocol ``name``."""
    if name not in PROTOCOLS:
        raise ValueError(
            f"Unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}."
        )
    return dict(PROTOCOLS[name])
