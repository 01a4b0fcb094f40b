"""HTTP service validation, error shape, 404s, body limit and crash guard."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from fmrec.service import create_app
from service_helpers import save_pair

MAX_N = 50
MAX_BODY = 32 * 1024


@pytest.fixture(scope="module")
def model_path(movielens_dir, tmp_path_factory):
    return save_pair(movielens_dir, tmp_path_factory.mktemp("models"))[0]


@pytest.fixture(scope="module")
def client(model_path):
    app = create_app(model_path, max_n=MAX_N, max_body_bytes=MAX_BODY)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def check_error(response, status, code):
    """Assert the status and the common error shape; return the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "details"}
    return error


INVALID_GETS = [
    ("/users/abc/recommendations", "path parameter 'user_id'"),
    ("/users/1.5/recommendations", "path parameter 'user_id'"),
    (f"/users/{2**63}/recommendations", "path parameter 'user_id'"),
    ("/users/1/recommendations?n=0", "query parameter 'n'"),
    (f"/users/1/recommendations?n={MAX_N + 1}", "query parameter 'n'"),
    ("/users/1/recommendations?n=ten", "query parameter 'n'"),
    ("/users/1/recommendations?n=2.5", "query parameter 'n'"),
    ("/users/1/recommendations?explain=maybe", "query parameter 'explain'"),
    (
        "/users/1/recommendations?allow_cold_start=2",
        "query parameter 'allow_cold_start'",
    ),
    ("/users/1/rated?n=-1", "query parameter 'n'"),
    ("/users/1/items/x/prediction", "path parameter 'item_id'"),
    (f"/users/1/items/{-(2**63) - 1}/explanation", "path parameter 'item_id'"),
    ("/items/popular?n=1000", "query parameter 'n'"),
    ("/items/search", "query parameter 'q'"),
    ("/items/search?q=", "query parameter 'q'"),
    ("/items/search?q=" + "a" * 201, "query parameter 'q'"),
    ("/items/50/similar?n=0", "query parameter 'n'"),
    ("/users/search?q=abc", "query parameter 'q'"),
]


@pytest.mark.parametrize("path, location", INVALID_GETS)
def test_invalid_query_is_422(client, path, location):
    error = check_error(client.get(path), 422, "invalid_request")
    assert error["details"][0]["location"] == location
    assert location in error["message"]


def test_n_limit_named_in_message(client):
    error = check_error(
        client.get("/items/popular", params={"n": MAX_N + 1}), 422, "invalid_request"
    )
    assert str(MAX_N) in error["message"]


def post_new_user(client, payload=None, content=None):
    if content is not None:
        headers = {"content-type": "application/json"}
        return client.post(
            "/new-user/recommendations", content=content, headers=headers
        )
    return client.post("/new-user/recommendations", json=payload)


INVALID_BODIES = [
    ({}, "field 'ratings'"),
    ({"ratings": [{"item_id": 50}]}, "field 'ratings.0.rating'"),
    ({"ratings": [{"item_id": 50, "rating": "5"}]}, "field 'ratings.0.rating'"),
    ({"ratings": [{"item_id": "50", "rating": 5}]}, "field 'ratings.0.item_id'"),
    ({"ratings": [{"item_id": True, "rating": 5}]}, "field 'ratings.0.item_id'"),
    (
        {"ratings": [{"item_id": 50, "rating": 5, "extra": 1}]},
        "field 'ratings.0.extra'",
    ),
    ({"ratings": [], "n": 0}, "field 'n'"),
    ({"ratings": [], "n": MAX_N + 1}, "field 'n'"),
    ({"ratings": [], "explain": "yes"}, "field 'explain'"),
    ({"ratings": [], "exclude": ["a"]}, "field 'exclude.0'"),
    ({"ratings": [], "exclude": list(range(1001))}, "field 'exclude'"),
    (
        {"ratings": [{"item_id": i, "rating": 3} for i in range(1, 502)]},
        "field 'ratings'",
    ),
    ({"ratings": [], "unknown": 1}, "field 'unknown'"),
    ([1, 2], "request body"),
]


@pytest.mark.parametrize("payload, location", INVALID_BODIES)
def test_invalid_body_is_422(client, payload, location):
    error = check_error(post_new_user(client, payload), 422, "invalid_request")
    assert error["details"][0]["location"] == location


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"ratings": [{"item_id": 50, "rating": NaN}]}',
        b'{"ratings": [{"item_id": 50, "rating": Infinity}]}',
        b"",
    ],
)
def test_malformed_json_is_422(client, content):
    check_error(post_new_user(client, content=content), 422, "invalid_request")


@pytest.mark.parametrize("rating", [0, 5.5, -1, 100])
def test_rating_outside_range_is_422(client, rating):
    payload = {"ratings": [{"item_id": 50, "rating": rating}]}
    error = check_error(post_new_user(client, payload), 422, "invalid_request")
    assert "outside the model's rating range [1, 5]" in error["message"]


def test_duplicate_rating_is_422(client):
    payload = {"ratings": [{"item_id": 50, "rating": 5}, {"item_id": 50, "rating": 1}]}
    error = check_error(post_new_user(client, payload), 422, "invalid_request")
    assert "Item 50 is rated twice" in error["message"]


def test_unknown_rated_item_is_404(client):
    payload = {
        "ratings": [{"item_id": 50, "rating": 5}, {"item_id": 99999, "rating": 4}]
    }
    error = check_error(post_new_user(client, payload), 404, "item_not_found")
    assert "99999" in error["message"]
    assert "ratings[1]" in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/users/999999",
        "/users/999999/recommendations",
        "/users/999999/rated",
        "/users/999999/items/50/prediction",
        "/users/999999/items/50/explanation",
        "/users/-5/recommendations",
    ],
)
def test_unknown_user_is_404(client, path):
    error = check_error(client.get(path), 404, "user_not_found")
    assert "is not in the model" in error["message"]


def test_unknown_user_message_names_cold_start(client):
    error = check_error(
        client.get("/users/999999/recommendations"), 404, "user_not_found"
    )
    assert "allow_cold_start=true" in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/items/99999",
        "/items/99999/similar",
        "/users/1/items/99999/prediction",
        "/users/1/items/99999/explanation",
    ],
)
def test_unknown_item_is_404(client, path):
    error = check_error(client.get(path), 404, "item_not_found")
    assert "Item 99999 is not in the model" in error["message"]


def test_unknown_path_is_404(client):
    error = check_error(client.get("/no/such/endpoint"), 404, "not_found")
    assert "/no/such/endpoint" in error["message"]


def test_wrong_method_is_405(client):
    response = client.delete("/health")
    error = check_error(response, 405, "method_not_allowed")
    assert "DELETE" in error["message"]
    assert "GET" in response.headers["allow"]


def test_declared_large_body_is_413(client):
    payload = {"ratings": [{"item_id": 50, "rating": 5}] * 2000}
    content = json.dumps(payload).encode()
    assert len(content) > MAX_BODY
    error = check_error(
        post_new_user(client, content=content), 413, "payload_too_large"
    )
    assert str(MAX_BODY) in error["message"]


def test_streamed_large_body_is_413(client):
    def chunks():
        yield b'{"ratings": ['
        for _ in range(2000):
            yield b'{"item_id": 50, "rating": 5},'
        yield b'{"item_id": 50, "rating": 5}]}'

    response = client.post(
        "/new-user/recommendations",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    check_error(response, 413, "payload_too_large")


def test_body_under_limit_is_accepted(client):
    payload = {"ratings": [{"item_id": i, "rating": 4} for i in range(1, 60)]}
    assert len(json.dumps(payload)) < MAX_BODY
    assert post_new_user(client, payload).status_code == 200


def test_unexpected_error_is_generic_500(client, monkeypatch, caplog):
    recommender = client.app.state.holder.current.recommender

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(recommender, "popular", broken)
    with caplog.at_level(logging.ERROR, logger="fmrec.service"):
        response = client.get("/items/popular")
    error = check_error(response, 500, "internal_error")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "logged" in error["message"]
    logged = [r for r in caplog.records if r.name == "fmrec.service"]
    assert logged
    assert logged[0].exc_info is not None
    assert "GET /items/popular" in logged[0].getMessage()


def test_server_keeps_serving_after_500(client, monkeypatch):
    recommender = client.app.state.holder.current.recommender
    monkeypatch.setattr(recommender, "popular", lambda *a, **k: 1 / 0)
    assert client.get("/items/popular").status_code == 500
    monkeypatch.undo()
    assert client.get("/items/popular").status_code == 200


def test_create_app_rejects_bad_limits(model_path):
    with pytest.raises(ValueError, match="max_n"):
        create_app(model_path, max_n=0)
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_app(model_path, max_body_bytes=0)


def test_create_app_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_app(tmp_path / "missing.fmrec")
