"""Conversion of library results into the JSON bodies of the HTTP service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fmrec import __version__, persistence
from fmrec.explain import Explanation
from fmrec.recommend import Recommendations
from fmrec.service.holder import ServedModel
from fmrec.service.topn import TopList


def scored_items(
    served: ServedModel,
    result: Recommendations,
    explain_item: Callable[[int], Explanation] | None = None,
) -> list[dict[str, Any]]:
    """Return the items of a recommendation list with their catalogue fields.

    ``explain_item`` adds an explanation to each item of a model-based list;
    a cold-start list is never explained, because its score is a count.
    """
    frame = result.items
    indices = served.recommender.encoder_.items.lookup(frame["item_id"].to_numpy())
    ranks = frame["rank"].to_numpy()
    scores = frame["score"].to_numpy(np.float64)
    records = []
    for index, rank, score in zip(indices, ranks, scores, strict=True):
        record = {**served.items[index], "rank": int(rank), "score": float(score)}
        if explain_item is not None and not result.cold_start:
            record["explanation"] = explanation_body(explain_item(record["item_id"]))
        records.append(record)
    return records


def recommendation_body(
    served: ServedModel,
    result: Recommendations,
    explain_item: Callable[[int], Explanation] | None = None,
) -> dict[str, Any]:
    return {
        "user_id": result.user,
        "cold_start": result.cold_start,
        "note": result.note,
        "items": scored_items(served, result, explain_item),
    }


def top_list_body(
    served: ServedModel,
    user_id: int,
    ranked: TopList,
    explain_item: Callable[[int], Explanation] | None = None,
) -> dict[str, Any]:
    """Return the body of a known user's list from cached item indices."""
    items = []
    for rank, (index, score) in enumerate(
        zip(ranked.item_index.tolist(), ranked.score.tolist(), strict=True), start=1
    ):
        record = {**served.items[index], "rank": rank, "score": score}
        if explain_item is not None:
            record["explanation"] = explanation_body(explain_item(record["item_id"]))
        items.append(record)
    return {"user_id": user_id, "cold_start": False, "note": None, "items": items}


def explanation_body(explanation: Explanation) -> dict[str, Any]:
    return {
        "user_id": explanation.user_id,
        "item_id": explanation.item_id,
        "score": explanation.score,
        "prediction": explanation.prediction,
        "totals": explanation.totals(),
        "terms": [
            {"kind": term.kind, "group": term.group, "value": term.value}
            for term in explanation.terms
        ],
        "reason": explanation.reason,
        "sentence": explanation.sentence,
        "evidence": explanation.evidence,
    }


def popular_body(served: ServedModel, n: int) -> dict[str, Any]:
    result = served.recommender.popular(n)
    items = []
    for record in scored_items(served, result):
        score = record.pop("score")
        items.append({**record, "n_ratings": int(score)})
    return {"items": items}


def similar_body(served: ServedModel, item_index: int, n: int) -> dict[str, Any]:
    item = served.items[item_index]
    frame = served.recommender.similar_items(item["item_id"], n)
    indices = served.recommender.encoder_.items.lookup(frame["item_id"].to_numpy())
    items = [
        {**served.items[index], "rank": int(rank), "similarity": float(similarity)}
        for index, rank, similarity in zip(
            indices, frame["rank"], frame["similarity"], strict=True
        )
    ]
    return {"item": item, "items": items}


def rated_body(served: ServedModel, user_id: int, n: int) -> dict[str, Any]:
    """Return the items a user rated in training, highest prediction first."""
    recommender = served.recommender
    user_index = served.user_index(user_id)
    rated = recommender.seen_[user_index].indices
    item_ids = recommender.encoder_.items.ids[rated]
    predictions = recommender.predict(np.full(rated.size, user_id), item_ids)
    order = np.lexsort((item_ids, -predictions))[:n]
    items = [
        {**served.items[rated[i]], "predicted_rating": float(predictions[i])}
        for i in order
    ]
    return {"user_id": user_id, "n_rated": int(rated.size), "items": items}


def catalogue_item(served: ServedModel, item_index: int) -> dict[str, Any]:
    n_ratings = int(served.recommender.item_counts_[item_index])
    return {**served.items[item_index], "n_ratings": n_ratings}


def search_titles(served: ServedModel, query: str, n: int) -> dict[str, Any]:
    """Return items whose title contains every word of ``query``, ignoring case."""
    words = query.casefold().split()
    matches = [
        index
        for index in served.popularity_order
        if all(word in served.title_keys[index] for word in words)
    ]
    items = [catalogue_item(served, int(index)) for index in matches[:n]]
    return {"query": query, "items": items}


def search_users(served: ServedModel, prefix: str, n: int) -> dict[str, Any]:
    """Return the users whose decimal id starts with ``prefix``, lowest id first."""
    ids = served.recommender.encoder_.users.ids
    if prefix:
        matches = np.flatnonzero(np.char.startswith(served.user_id_text, prefix))
    else:
        matches = np.arange(ids.size)
    users = [
        {"user_id": int(ids[index]), "n_ratings": int(served.user_ratings[index])}
        for index in matches[:n]
    ]
    return {"n_users": int(ids.size), "users": users}


def model_body(served: ServedModel) -> dict[str, Any]:
    recommender = served.recommender
    model = recommender.model
    params = model.get_params()
    seed = params.get("random_state")
    params["random_state"] = seed if isinstance(seed, int) or seed is None else None
    return {
        "format": persistence.FORMAT_NAME,
        "format_version": persistence.FORMAT_VERSION,
        "fmrec_version": __version__,
        "file_name": served.path.name,
        "file_size": served.file_size,
        "file_modified": served.file_modified,
        "loaded_at": served.loaded_at,
        "generation": served.generation,
        "params": params,
        "rating_range": [float(x) for x in recommender.rating_range_],
        "history": [record.as_dict() for record in model.history_],
        "best_epoch": getattr(model, "best_epoch_", None),
        "n_users": len(recommender.encoder_.users),
        "n_items": len(recommender.encoder_.items),
        "n_training_ratings": int(recommender.item_counts_.sum()),
        "info": recommender.info,
    }
