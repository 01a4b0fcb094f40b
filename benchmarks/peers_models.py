"""The models of the peer benchmark: fmrec, myFM and scikit-surprise, one interface.

Every runner goes through the same three timed steps, ``prepare`` (build the
input), ``fit`` and ``predict`` (clipped test predictions). The fmrec and myFM
runners build their input with the same :class:`fmrec.features.FeatureBuilder`
fitted on the training ratings, so both libraries see identical feature
blocks: fmrec as :class:`~fmrec.solvers.blocks.Blocks`, myFM as one
``RelationBlock`` per block with an empty direct feature matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fmrec.features import GROUPS, FeatureBuilder
from fmrec.model import FactorizationMachine

RATING_RANGE = (1.0, 5.0)
ID_GROUPS = ("user", "item")


@dataclass(frozen=True)
class ModelSpec:
    """One benchmark configuration: a library, its feature groups and settings.

    ``params`` are the estimator's keyword arguments. For myFM they are
    ``rank``, ``seed``, ``n_iter`` and ``burn_in``, which the runner passes
    to ``MyFMRegressor`` and its ``fit``. ``pair`` names the fmrec
    configuration that a myFM configuration is compared with like for like.
    """

    name: str
    library: str
    features: tuple[str, ...]
    params: dict = field(default_factory=dict)
    pair: str | None = None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "library": self.library,
            "features": list(self.features),
            "params": dict(self.params),
        }


def model_specs(
    rank: int,
    iterations: int,
    burn_in: int,
    kept_samples: int,
    als_reg: tuple[float, float],
    seed: int,
    init_std: float | None = None,
) -> dict[str, ModelSpec]:
    """Return every benchmark configuration by name.

    The MCMC runs of fmrec and myFM share rank, iterations and burn-in:
    fmrec averages ``kept_samples`` samples spread evenly after the burn-in,
    while myFM, which cannot thin, averages every sample after the burn-in.
    The ``-k10`` pair is fixed at rank 10 and 100 iterations. ``init_std``,
    when given, replaces fmrec's default for ALS and MCMC.
    """
    fmrec_init = {} if init_std is None else {"init_std": init_std}
    mcmc = {
        "solver": "mcmc",
        "n_factors": rank,
        "n_epochs": iterations,
        "burn_in": burn_in,
        "n_kept_samples": kept_samples,
        "random_state": seed,
        **fmrec_init,
    }
    small_mcmc = dict(
        mcmc,
        n_factors=10,
        n_epochs=100,
        n_kept_samples=min(kept_samples, 100 - burn_in),
    )
    myfm = {"rank": rank, "n_iter": iterations, "burn_in": burn_in, "seed": seed}
    small_myfm = dict(myfm, rank=10, n_iter=100)
    als = {
        "solver": "als",
        "n_factors": rank,
        "n_epochs": iterations,
        "reg_w": als_reg[0],
        "reg_v": als_reg[1],
        "random_state": seed,
        **fmrec_init,
    }
    specs = [
        ModelSpec("fmrec-sgd", "fmrec", ID_GROUPS, {"random_state": seed}),
        ModelSpec("fmrec-als", "fmrec", ID_GROUPS, als),
        ModelSpec("fmrec-mcmc", "fmrec", ID_GROUPS, mcmc),
        ModelSpec("fmrec-mcmc-all", "fmrec", GROUPS, mcmc),
        ModelSpec("fmrec-mcmc-k10", "fmrec", ID_GROUPS, small_mcmc),
        ModelSpec("myfm", "myfm", ID_GROUPS, myfm, pair="fmrec-mcmc"),
        ModelSpec("myfm-all", "myfm", GROUPS, myfm, pair="fmrec-mcmc-all"),
        ModelSpec("myfm-k10", "myfm", ID_GROUPS, small_myfm, pair="fmrec-mcmc-k10"),
        ModelSpec(
            "svd", "surprise", ID_GROUPS, {"algorithm": "SVD", "random_state": seed}
        ),
        ModelSpec(
            "svdpp", "surprise", ID_GROUPS, {"algorithm": "SVDpp", "random_state": seed}
        ),
        ModelSpec(
            "svd-tuned",
            "surprise",
            ID_GROUPS,
            {"algorithm": "SVD", "random_state": seed, **SVD_TUNED},
        ),
    ]
    return {spec.name: spec for spec in specs}


# Surprise SVD settings chosen on a validation split carved from the 80/20
# training ratings (see peers_tuning.py). The library defaults are 100 factors,
# 20 epochs, learning rate 0.005 and L2 0.02.
SVD_TUNED = {"n_factors": 100, "n_epochs": 50, "lr_all": 0.005, "reg_all": 0.05}


def make_runner(spec: ModelSpec):
    """Return the runner object for ``spec``'s library."""
    runners = {"fmrec": FmrecRunner, "myfm": MyFMRunner, "surprise": SurpriseRunner}
    return runners[spec.library](spec)


def clipped(values: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=np.float64), *RATING_RANGE)


def rating_errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Return RMSE and MAE of predictions clipped to the rating range."""
    errors = clipped(predicted) - np.asarray(actual, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(errors * errors))),
        "mae": float(np.mean(np.abs(errors))),
    }


class FmrecRunner:
    """fmrec's FactorizationMachine on FeatureBuilder blocks."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def prepare(self, train: pd.DataFrame, test: pd.DataFrame, data) -> None:
        builder = FeatureBuilder(self.spec.features).fit(train, data.users, data.items)
        self.train_blocks = builder.transform(train)
        self.test_blocks = builder.transform(test)
        self.groups = builder.column_groups_
        self.y = train["rating"].to_numpy(np.float64)
        self.n_features = builder.n_features

    def warm_up(self) -> None:
        """Fit a few rows once, so that compiling the kernels is not timed."""
        rows = np.arange(min(2000, self.y.size))
        params = dict(self.spec.params, n_epochs=3)
        if params.get("solver") == "mcmc":
            params.update(burn_in=1, n_kept_samples=2)
        model = FactorizationMachine(**params, target_range=RATING_RANGE)
        model.fit(self.train_blocks.take(rows), self.y[rows], groups=self.groups)
        model.predict(self.test_blocks.take(rows[:100]))

    def fit(self) -> None:
        self.model = FactorizationMachine(**self.spec.params, target_range=RATING_RANGE)
        self.model.fit(self.train_blocks, self.y, groups=self.groups)

    def predict(self) -> np.ndarray:
        return self.model.predict(self.test_blocks)

    def details(self) -> dict:
        return {
            "n_features": int(self.n_features),
            "epochs_run": len(self.model.history_),
            "best_epoch": int(self.model.best_epoch_),
        }


class MyFMRunner:
    """myFM's Gibbs sampler on the same blocks, as relation blocks."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def prepare(self, train: pd.DataFrame, test: pd.DataFrame, data) -> None:
        import myfm

        builder = FeatureBuilder(self.spec.features).fit(train, data.users, data.items)
        self.train_relations = _relation_blocks(myfm, builder.transform(train))
        self.test_relations = _relation_blocks(myfm, builder.transform(test))
        self.group_shapes = np.bincount(builder.column_groups_).tolist()
        self.y = train["rating"].to_numpy(np.float64)
        self.n_train, self.n_test = len(train), len(test)
        self.n_features = builder.n_features

    def warm_up(self) -> None:
        pass

    def fit(self) -> None:
        import myfm

        params = self.spec.params
        self.model = myfm.MyFMRegressor(rank=params["rank"], random_seed=params["seed"])
        self.model.fit(
            sp.csr_matrix((self.n_train, 0)),
            self.y,
            X_rel=self.train_relations,
            n_iter=params["n_iter"],
            n_kept_samples=params["n_iter"] - params["burn_in"],
            group_shapes=self.group_shapes,
        )

    def predict(self) -> np.ndarray:
        return clipped(
            self.model.predict(sp.csr_matrix((self.n_test, 0)), self.test_relations)
        )

    def details(self) -> dict:
        return {"n_features": int(self.n_features)}


def _relation_blocks(myfm, blocks) -> list:
    """Convert fmrec blocks to myFM relation blocks.

    fmrec marks a rating without a row in a block (an unknown test user or
    item) with index -1, which myFM does not accept, so each matrix gets one
    empty row appended and those ratings point to it. An empty row adds
    nothing to the prediction, as in fmrec.
    """
    relations = []
    for block in blocks.blocks:
        matrix, index = block.matrix, block.index.astype(np.int64)
        if (index < 0).any():
            matrix = sp.vstack(
                [matrix, sp.csr_matrix((1, matrix.shape[1]))], format="csr"
            )
            index = np.where(index < 0, matrix.shape[0] - 1, index)
        relations.append(myfm.RelationBlock(index, sp.csr_matrix(matrix)))
    return relations


class SurpriseRunner:
    """scikit-surprise SVD or SVD++ on user and item ids."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def prepare(self, train: pd.DataFrame, test: pd.DataFrame, data) -> None:
        from surprise import Dataset, Reader

        reader = Reader(rating_scale=RATING_RANGE)
        columns = ["user_id", "item_id", "rating"]
        self.trainset = Dataset.load_from_df(
            train[columns], reader
        ).build_full_trainset()
        self.testset = list(
            zip(
                test["user_id"].tolist(),
                test["item_id"].tolist(),
                test["rating"].tolist(),
                strict=True,
            )
        )

    def warm_up(self) -> None:
        pass

    def fit(self) -> None:
        import surprise

        params = dict(self.spec.params)
        algorithm = getattr(surprise, params.pop("algorithm"))
        self.model = algorithm(**params)
        self.model.fit(self.trainset)

    def predict(self) -> np.ndarray:
        return clipped([prediction.est for prediction in self.model.test(self.testset)])

    def details(self) -> dict:
        return {}
