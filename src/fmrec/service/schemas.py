"""Request and response bodies of the HTTP service.

The OpenAPI description at ``/openapi.json`` is generated from these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_NEW_USER_RATINGS = 500
MAX_EXCLUDED_ITEMS = 1000

# Ids are stored as int64, so larger values cannot name a user or item.
ItemId = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class ErrorDetail(BaseModel):
    location: str = Field(description="where the invalid value is, e.g. a parameter")
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="stable error code, e.g. user_not_found")
    message: str = Field(description="what failed and what to do next")
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Item(BaseModel):
    item_id: int
    title: str
    genres: list[str]
    year: int | None


class CatalogueItem(Item):
    n_ratings: int = Field(description="number of training ratings of the item")


class Term(BaseModel):
    kind: Literal["bias", "user", "item", "interaction"]
    group: str = Field(description="feature group, or two groups joined by ' x '")
    value: float


class Explanation(BaseModel):
    user_id: int | None
    item_id: int
    score: float = Field(description="unclipped FM output, the sum of the terms")
    prediction: float = Field(description="score clipped to the rating range")
    totals: dict[str, float] = Field(description="sum of the terms of each kind")
    terms: list[Term]
    reason: str
    sentence: str
    evidence: dict[str, Any]


class ScoredItem(Item):
    rank: int
    score: float = Field(
        description="predicted rating, unclipped; for a cold-start list, the "
        "number of training ratings"
    )
    explanation: Explanation | None = None


class RecommendationList(BaseModel):
    user_id: int | None
    cold_start: bool = Field(description="true when the list is the popularity list")
    note: str | None
    items: list[ScoredItem]


class RatedItem(Item):
    predicted_rating: float


class RatedItems(BaseModel):
    user_id: int
    n_rated: int = Field(description="number of items the user rated in training")
    items: list[RatedItem] = Field(description="highest predicted rating first")


class UserSummary(BaseModel):
    user_id: int
    n_ratings: int = Field(description="number of training ratings of the user")


class UserSearch(BaseModel):
    n_users: int = Field(description="number of users in the model")
    users: list[UserSummary]


class ItemSearch(BaseModel):
    query: str
    items: list[CatalogueItem] = Field(description="most-rated matches first")


class Prediction(BaseModel):
    user_id: int
    item_id: int
    prediction: float = Field(description="predicted rating, clipped to the range")
    score: float = Field(description="unclipped FM output")
    rating_range: list[float] = Field(min_length=2, max_length=2)


class PopularItem(Item):
    rank: int
    n_ratings: int


class PopularList(BaseModel):
    items: list[PopularItem]


class SimilarItem(Item):
    rank: int
    similarity: float = Field(description="cosine similarity of the factor vectors")


class SimilarList(BaseModel):
    item: Item
    items: list[SimilarItem]


class Health(BaseModel):
    status: Literal["ok"]
    generation: int
    loaded_at: datetime


class ModelInfo(BaseModel):
    format: str
    format_version: int
    fmrec_version: str
    file_name: str
    file_size: int
    file_modified: datetime
    loaded_at: datetime
    generation: int = Field(description="1 for the first load, +1 per reload")
    params: dict[str, Any]
    rating_range: list[float] = Field(min_length=2, max_length=2)
    history: list[dict[str, Any]]
    best_epoch: int | None
    n_users: int
    n_items: int
    n_training_ratings: int
    info: dict[str, Any]


class ReloadResult(BaseModel):
    status: Literal["reloaded"]
    model: ModelInfo


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    item_id: ItemId
    rating: float = Field(allow_inf_nan=False)


def new_user_request_model(max_n: int) -> type[BaseModel]:
    """Return the body model of new-user recommendations, with ``n <= max_n``."""
    return create_model(
        "NewUserRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        ratings=(
            list[RatingIn],
            Field(
                max_length=MAX_NEW_USER_RATINGS,
                description="the new user's ratings; an empty list gives the "
                "popularity list",
            ),
        ),
        n=(int, Field(default=10, ge=1, le=max_n)),
        exclude=(
            list[ItemId],
            Field(
                default_factory=list,
                max_length=MAX_EXCLUDED_ITEMS,
                description="item ids never to recommend",
            ),
        ),
        explain=(bool, Field(default=False, description="add an explanation")),
    )
