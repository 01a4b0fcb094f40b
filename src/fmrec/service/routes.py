"""Endpoints of the HTTP service.

Every endpoint reads :attr:`ModelHolder.current` once and responds from that
model alone, so a reload in the middle of a request does not mix two models.
Users and items are named by their original ids. Most endpoints are plain
functions, which FastAPI runs in its thread pool, so a long request (a long
explained list, a reload) does not hold up the event loop. The top-N
endpoint serves cached lists on the event loop, which saves the thread
hand-off on the most frequent request.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from fmrec.explain import explain, explain_for_ratings
from fmrec.service import schemas, views
from fmrec.service.errors import APIError
from fmrec.service.holder import ModelHolder, ServedModel

UserId = Annotated[
    int,
    Path(ge=schemas.INT64_MIN, le=schemas.INT64_MAX, description="original user id"),
]
ItemId = Annotated[
    int,
    Path(ge=schemas.INT64_MIN, le=schemas.INT64_MAX, description="original item id"),
]
Explain = Annotated[
    bool, Query(description="add an explanation of each recommended item")
]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorResponse, "description": "unknown user or item"},
    422: {"model": schemas.ErrorResponse, "description": "invalid parameter"},
}


def build_router(max_n: int) -> APIRouter:
    """Return the API routes, with list lengths ``n`` limited to ``max_n``."""
    router = APIRouter(responses=ERRORS)
    count = Annotated[
        int, Query(ge=1, le=max_n, description=f"list length, 1 to {max_n}")
    ]
    _add_service_routes(router)
    _add_user_routes(router, count)
    _add_item_routes(router, count)
    _add_new_user_route(router, schemas.new_user_request_model(max_n))
    return router


def _holder(request: Request) -> ModelHolder:
    return request.app.state.holder


def _served(request: Request) -> ServedModel:
    return _holder(request).current


def _require_user(served: ServedModel, user_id: int) -> int:
    index = served.user_index(user_id)
    if index < 0:
        raise APIError(
            404,
            "user_not_found",
            f"User {user_id} is not in the model, which knows "
            f"{len(served.recommender.encoder_.users)} users (see /users/search). "
            "For recommendations, pass allow_cold_start=true to get the most-rated "
            "items instead, or POST ratings to /new-user/recommendations.",
        )
    return index


def _require_item(served: ServedModel, item_id: int, where: str = "") -> int:
    index = served.item_index(item_id)
    if index < 0:
        raise APIError(
            404,
            "item_not_found",
            f"Item {item_id}{where} is not in the model, which knows "
            f"{len(served.recommender.encoder_.items)} items (see /items/search).",
        )
    return index


def _add_service_routes(router: APIRouter) -> None:
    @router.get("/health", response_model=schemas.Health, tags=["service"])
    def health(request: Request) -> dict[str, Any]:
        """Report that the service is up and which model generation it serves."""
        served = _served(request)
        return {
            "status": "ok",
            "generation": served.generation,
            "loaded_at": served.loaded_at,
        }

    @router.get("/model", response_model=schemas.ModelInfo, tags=["service"])
    def model_info(request: Request) -> dict[str, Any]:
        """Describe the served model: format, hyperparameters, history, counts."""
        return views.model_body(_served(request))

    @router.post(
        "/admin/reload",
        response_model=schemas.ReloadResult,
        tags=["service"],
        responses={500: {"model": schemas.ErrorResponse}},
    )
    def reload(request: Request) -> dict[str, Any]:
        """Load the model file again and swap it in; on failure keep the old one."""
        holder = _holder(request)
        try:
            served = holder.reload()
        except Exception as exc:
            raise APIError(
                500,
                "reload_failed",
                f"Reloading {holder.path.name} failed ({type(exc).__name__}); the "
                f"previous model (generation {holder.current.generation}) is still "
                "serving. The server log has the details.",
            ) from exc
        return {"status": "reloaded", "model": views.model_body(served)}


def _add_user_routes(router: APIRouter, count: Any) -> None:
    @router.get("/users/search", response_model=schemas.UserSearch, tags=["users"])
    def search_users(
        request: Request,
        n: count = 20,
        q: Annotated[
            str,
            Query(
                max_length=20,
                pattern=r"^[0-9]*$",
                description="digits the user id starts with; empty lists all",
            ),
        ] = "",
    ) -> dict[str, Any]:
        """List known users whose id starts with the given digits."""
        return views.search_users(_served(request), q, n)

    @router.get("/users/{user_id}", response_model=schemas.UserSummary, tags=["users"])
    def user_summary(request: Request, user_id: UserId) -> dict[str, Any]:
        """Return a known user's number of training ratings."""
        served = _served(request)
        index = _require_user(served, user_id)
        return {"user_id": user_id, "n_ratings": int(served.user_ratings[index])}

    @router.get(
        "/users/{user_id}/rated", response_model=schemas.RatedItems, tags=["users"]
    )
    def rated(request: Request, user_id: UserId, n: count = 20) -> dict:
        """List the items a user rated in training, highest prediction first."""
        served = _served(request)
        _require_user(served, user_id)
        return views.rated_body(served, user_id, n)

    @router.get(
        "/users/{user_id}/recommendations",
        response_model=schemas.RecommendationList,
        tags=["users"],
    )
    async def recommend(
        request: Request,
        user_id: UserId,
        n: count = 10,
        explain_items: Annotated[bool, Query(alias="explain")] = False,
        allow_cold_start: Annotated[
            bool,
            Query(description="return the popularity list for an unknown user"),
        ] = False,
    ) -> dict[str, Any]:
        """Return the top-n items a known user has not rated in training."""
        served = _served(request)
        user_index = served.user_index(user_id)
        if user_index < 0 and not allow_cold_start:
            _require_user(served, user_id)
        # A cached list is sliced on the event loop. Anything that computes
        # runs in the thread pool, so that it does not hold up other requests.
        if user_index >= 0 and not explain_items:
            cached = served.top_lists.get(user_index, n)
            if cached is not None:
                return views.top_list_body(served, user_id, cached)
        return await run_in_threadpool(
            _recommendations, served, user_id, user_index, n, explain_items
        )

    @router.get(
        "/users/{user_id}/items/{item_id}/prediction",
        response_model=schemas.Prediction,
        tags=["users"],
    )
    def predict(request: Request, user_id: UserId, item_id: ItemId) -> dict:
        """Return the predicted rating of a known user for a known item."""
        served = _served(request)
        _require_user(served, user_id)
        _require_item(served, item_id)
        recommender = served.recommender
        score = float(recommender.predict([user_id], [item_id], clip=False)[0])
        low, high = recommender.rating_range_
        return {
            "user_id": user_id,
            "item_id": item_id,
            "prediction": min(max(score, low), high),
            "score": score,
            "rating_range": [low, high],
        }

    @router.get(
        "/users/{user_id}/items/{item_id}/explanation",
        response_model=schemas.Explanation,
        tags=["users"],
    )
    def explanation(request: Request, user_id: UserId, item_id: ItemId) -> dict:
        """Split the prediction for a user and item into bias, user, item and
        interaction terms, with a sentence naming the largest one."""
        served = _served(request)
        _require_user(served, user_id)
        _require_item(served, item_id)
        return views.explanation_body(explain(served.recommender, user_id, item_id))


def _recommendations(
    served: ServedModel, user_id: int, user_index: int, n: int, explain_items: bool
) -> dict[str, Any]:
    """Return the body of a recommendation list, computing what is not cached."""
    recommender = served.recommender

    def explain_item(item_id: int):
        return explain(recommender, user_id, item_id)

    explainer = explain_item if explain_items else None
    if user_index >= 0:
        ranked = served.top_lists.get(user_index, n)
        if ranked is None:
            ranked = served.top_lists.compute(user_id, user_index, n)
        if ranked is not None:
            return views.top_list_body(served, user_id, ranked, explainer)
    # For an unknown user, or one with fewer than n unseen items, the library's
    # result carries the popularity list or a note on the short list.
    result = recommender.recommend(user_id, n)
    return views.recommendation_body(served, result, explainer)


def _add_item_routes(router: APIRouter, count: Any) -> None:
    @router.get("/items/popular", response_model=schemas.PopularList, tags=["items"])
    def popular(request: Request, n: count = 10) -> dict[str, Any]:
        """Return the most-rated items of the training data."""
        return views.popular_body(_served(request), n)

    @router.get("/items/search", response_model=schemas.ItemSearch, tags=["items"])
    def search_items(
        request: Request,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=200,
                description="words that must all occur in the title, any case",
            ),
        ],
        n: count = 20,
    ) -> dict[str, Any]:
        """Find items by title words, most-rated first."""
        return views.search_titles(_served(request), q, n)

    @router.get(
        "/items/{item_id}", response_model=schemas.CatalogueItem, tags=["items"]
    )
    def item(request: Request, item_id: ItemId) -> dict[str, Any]:
        """Return an item's title, genres, year and number of training ratings."""
        served = _served(request)
        return views.catalogue_item(served, _require_item(served, item_id))

    @router.get(
        "/items/{item_id}/similar", response_model=schemas.SimilarList, tags=["items"]
    )
    def similar(request: Request, item_id: ItemId, n: count = 10) -> dict:
        """Return the items whose factor vectors are closest in cosine."""
        served = _served(request)
        return views.similar_body(served, _require_item(served, item_id), n)


def _add_new_user_route(router: APIRouter, body_model: type) -> None:
    @router.post(
        "/new-user/recommendations",
        response_model=schemas.RecommendationList,
        tags=["new users"],
    )
    def recommend_new_user(
        request: Request, body: Annotated[body_model, Body()]
    ) -> dict[str, Any]:
        """Recommend for a user who is not in the model, from a few ratings.

        The user's factors are fitted to the ratings with the item factors held
        fixed, without retraining. Without ratings the result is the popularity
        list, flagged as a cold start.
        """
        served = _served(request)
        ratings = _check_ratings(served, body.ratings)
        recommender = served.recommender
        result = recommender.recommend_for_ratings(
            ratings, body.n, exclude=body.exclude
        )

        def explain_item(item_id: int):
            return explain_for_ratings(recommender, ratings, item_id)

        return views.recommendation_body(
            served, result, explain_item if body.explain else None
        )


def _check_ratings(
    served: ServedModel, ratings: list[schemas.RatingIn]
) -> dict[int, float]:
    low, high = served.recommender.rating_range_
    checked: dict[int, float] = {}
    for position, entry in enumerate(ratings):
        if entry.item_id in checked:
            raise APIError(
                422,
                "invalid_request",
                f"Item {entry.item_id} is rated twice in ratings; rate each item once.",
            )
        if not low <= entry.rating <= high:
            raise APIError(
                422,
                "invalid_request",
                f"ratings[{position}].rating is {entry.rating:g}, outside the "
                f"model's rating range [{low:g}, {high:g}].",
            )
        _require_item(served, entry.item_id, where=f" (ratings[{position}])")
        checked[entry.item_id] = float(entry.rating)
    return checked
