"""Train-and-evaluate runs on a ratings data set.

:func:`run` is the whole pipeline behind ``fmrec run``: split the ratings,
train a :class:`~fmrec.recommend.Recommender`, score the test split, and list
recommendations for one known user and for a new user. Every step returns
plain data, so the command line and tests share it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from fmrec.datasets import MovieLens
from fmrec.metrics import mae, ndcg_by_user, ranking_metrics, rmse
from fmrec.model import FactorizationMachine
from fmrec.presets import protocol_config
from fmrec.recommend import Recommendations, Recommender
from fmrec.split import fingerprint, random_split

logger = logging.getLogger(__name__)


def train(
    dataset: MovieLens,
    params: dict[str, Any],
    *,
    features: tuple[str, ...] | list[str] = ("user", "item"),
    test_size: float = 0.2,
    split_seed: int = 42,
    verbose: bool = False,
) -> tuple[Recommender, pd.DataFrame]:
    """Split ``dataset`` and fit a recommender on the training part.

    ``params`` are :class:`~fmrec.model.FactorizationMachine` arguments and
    ``features`` the feature groups. Returns the recommender and the test
    frame. The split settings and a
    fingerprint of the ratings are stored in ``recommender.info`` so that
    :func:`test_split` can rebuild the same test set later.
    """
    features = _available_features(dataset, features)
    train_frame, test_frame = random_split(dataset.ratings, test_size, split_seed)
    params = {"random_state": split_seed, **params, "verbose": verbose}
    recommender = Recommender(FactorizationMachine(**params), features=tuple(features))
    scale = dataset.rating_scale
    recommender.fit(
        train_frame,
        dataset.items,
        rating_range=(scale.min, scale.max),
        users=dataset.users,
    )
    recommender.info.update(
        dataset=dataset.name,
        source=str(dataset.source),
        test_size=test_size,
        split_seed=split_seed,
        n_ratings=len(dataset.ratings),
        fingerprint=fingerprint(dataset.ratings),
    )
    return recommender, test_frame


def _available_features(dataset: MovieLens, features) -> list[str]:
    """Drop the user attribute group, with a warning, when there is no users table."""
    features = list(features)
    if dataset.users is None and "user_attributes" in features:
        logger.warning(
            "%s has no users table, so the feature group 'user_attributes' is left "
            "out; pass --features to choose the groups yourself.",
            dataset.name,
        )
        features.remove("user_attributes")
    return features


def test_split(recommender: Recommender, dataset: MovieLens) -> pd.DataFrame:
    """Rebuild the test split a saved recommender was trained next to.

    Raises ValueError when ``dataset`` is not the data the model was trained
    on, because the rebuilt split would then mix training and test ratings.
    """
    info = recommender.info
    if "fingerprint" not in info:
        raise ValueError(
            "The model stores no split settings; it was not trained by fmrec train."
        )
    if fingerprint(dataset.ratings) != info["fingerprint"]:
        raise ValueError(
            f"The ratings in {dataset.source} differ from those the model was trained "
            f"on ({info['dataset']}, {info['n_ratings']} ratings); evaluate on the "
            "same data."
        )
    return random_split(dataset.ratings, info["test_size"], info["split_seed"])[1]


def evaluate(
    recommender: Recommender,
    test: pd.DataFrame,
    *,
    k: int = 10,
    threshold: float = 4.0,
) -> dict[str, Any]:
    """Score a recommender on test ratings.

    Returns RMSE and MAE of clipped predictions, the mean NDCG@k of each
    user's test ratings ranked by unclipped predicted score (users with at
    least two test ratings; gain = rating), and the full-catalogue top-k
    metrics of :func:`fmrec.metrics.ranking_metrics` (relevance = rating >=
    ``threshold``).
    """
    users = test["user_id"].to_numpy(np.int64)
    items = test["item_id"].to_numpy(np.int64)
    truth = test["rating"].to_numpy(np.float64)
    timestamps = test["timestamp"].to_numpy() if "timestamp" in test else None
    scores = recommender.predict(users, items, timestamps=timestamps, clip=False)
    low, high = recommender.rating_range_
    ndcg = ndcg_by_user(users, truth, scores, k=k)
    encoder = recommender.encoder_
    report = ranking_metrics(
        recommender.score_users,
        recommender.seen_,
        encoder.users.lookup(users),
        encoder.items.lookup(items),
        truth,
        k=k,
        threshold=threshold,
    )
    return {
        "test_rmse": rmse(truth, scores, clip=(low, high)),
        "test_mae": mae(truth, scores, clip=(low, high)),
        f"ndcg_at_{k}": ndcg.mean,
        "ndcg_users": ndcg.n_users,
        "n_test": int(truth.size),
        "n_test_unknown_users": int((encoder.users.lookup(users) < 0).sum()),
        "n_test_unknown_items": int((encoder.items.lookup(items) < 0).sum()),
        "topn": {"k": k, "threshold": threshold, **report.as_dict()},
    }


def run(
    dataset: MovieLens,
    *,
    protocol: str = "default",
    config: dict[str, Any] | None = None,
    test_size: float = 0.2,
    split_seed: int = 42,
    user: int = 4,
    n: int = 5,
    verbose: bool = False,
) -> tuple[dict[str, Any], Recommender]:
    """Run split, training, evaluation and recommendations; return a summary.

    ``config`` (features and params, as in :mod:`fmrec.presets`) replaces the
    named ``protocol`` when given. The summary has the keys ``test_rmse``,
    ``test_mae``, ``ndcg_at_10``, ``epochs``, ``fit_seconds``,
    ``total_seconds`` and more; see the module docstring of
    :mod:`fmrec.cli.run` for all of them.
    """
    start = time.perf_counter()
    config = protocol_config(protocol) if config is None else config
    fit_start = time.perf_counter()
    recommender, test = train(
        dataset,
        config["params"],
        features=config["features"],
        test_size=test_size,
        split_seed=split_seed,
        verbose=verbose,
    )
    fit_seconds = time.perf_counter() - fit_start
    scores = evaluate(recommender, test)
    rated = dataset.ratings.loc[dataset.ratings["user_id"] == user, "item_id"]
    known = recommender.recommend(user, n, exclude=rated.to_numpy())
    new_user = recommender.recommend(None, n)
    model = recommender.model
    summary = {
        "dataset": dataset.name,
        "protocol": protocol,
        "features": list(recommender.features),
        "params": {k: v for k, v in model.get_params().items() if k != "verbose"},
        "n_train": int(len(dataset.ratings) - len(test)),
        **scores,
        "epochs": [record.as_dict() for record in model.history_],
        "best_epoch": model.best_epoch_,
        "fit_seconds": fit_seconds,
        "recommendations": {
            "user": recommendations_to_dict(known),
            "new_user": recommendations_to_dict(new_user),
        },
        "total_seconds": time.perf_counter() - start,
    }
    return summary, recommender


def recommendations_to_dict(result: Recommendations) -> dict[str, Any]:
    """Return a JSON-ready form of a recommendation list."""
    frame = result.items.astype(object).where(result.items.notna(), None)
    return {
        "user": result.user,
        "cold_start": result.cold_start,
        "note": result.note,
        "items": frame.to_dict(orient="records"),
    }
