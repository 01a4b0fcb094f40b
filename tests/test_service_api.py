"""HTTP service endpoints against the library's own results on MovieLens 100K."""

import logging
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fmrec.service import create_app
from service_helpers import FACTORS_A, save_pair, trained_models

USERS = [1, 4, 196, 943]


@pytest.fixture(scope="module")
def recommender(movielens_dir):
    return trained_models(str(movielens_dir))[0]


@pytest.fixture(scope="module")
def client(movielens_dir, tmp_path_factory):
    path_a, _ = save_pair(movielens_dir, tmp_path_factory.mktemp("models"))
    with TestClient(create_app(path_a, max_n=50)) as test_client:
        yield test_client


def item_fields(recommender, item_id):
    row = recommender.catalogue_.set_index("item_id").loc[item_id]
    return row["title"], row["genres"].split("|"), int(row["year"])


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("n", [1, 10, 50])
def test_recommendations_equal_library(client, recommender, user, n):
    response = client.get(f"/users/{user}/recommendations", params={"n": n})
    assert response.status_code == 200
    body = response.json()
    expected = recommender.recommend(user, n).items
    assert body["user_id"] == user
    assert body["cold_start"] is False
    assert [item["item_id"] for item in body["items"]] == expected["item_id"].tolist()
    assert [item["rank"] for item in body["items"]] == expected["rank"].tolist()
    # The service ranks users in batches at load time, so its scores may differ
    # from the library's one-user products in the last bits.
    np.testing.assert_allclose(
        [item["score"] for item in body["items"]], expected["score"], rtol=0, atol=1e-12
    )


def test_every_user_ranked_at_load(client, recommender):
    served = client.app.state.holder.current
    assert len(served.top_lists) == len(recommender.encoder_.users)
    for user in recommender.encoder_.users.ids.tolist():
        cached = served.top_lists.get(served.user_index(user), 10)
        ids = recommender.encoder_.items.ids[cached.item_index].tolist()
        assert ids == recommender.recommend(user, 10).items["item_id"].tolist()


def test_recommendations_carry_catalogue_fields(client, recommender):
    body = client.get("/users/4/recommendations", params={"n": 5}).json()
    for item in body["items"]:
        title, genres, year = item_fields(recommender, item["item_id"])
        assert item["title"] == title
        assert item["genres"] == genres
        assert item["year"] == year
        assert item["explanation"] is None


def test_recommendations_explained_sum_to_score(client):
    body = client.get("/users/4/recommendations", params={"explain": "true"}).json()
    assert len(body["items"]) == 10
    for item in body["items"]:
        explanation = item["explanation"]
        assert explanation["item_id"] == item["item_id"]
        assert abs(explanation["score"] - item["score"]) < 1e-9
        total = sum(term["value"] for term in explanation["terms"])
        assert abs(total - item["score"]) < 1e-9
        assert explanation["sentence"]


def test_unknown_user_cold_start_when_allowed(client, recommender):
    response = client.get(
        "/users/999999/recommendations", params={"allow_cold_start": "true", "n": 5}
    )
    assert response.status_code == 200
    body = response.json()
    expected = recommender.recommend(999999, 5)
    assert body["cold_start"] is True
    assert body["note"] == expected.note
    assert [item["item_id"] for item in body["items"]] == expected.items[
        "item_id"
    ].tolist()


def test_prediction_equals_library(client, recommender):
    for user, item in [(1, 50), (4, 1), (943, 1330), (196, 242)]:
        body = client.get(f"/users/{user}/items/{item}/prediction").json()
        assert body["prediction"] == recommender.predict(user, item)[0]
        assert body["score"] == recommender.predict(user, item, clip=False)[0]
        assert body["rating_range"] == [1.0, 5.0]


def test_explanation_terms_sum_to_prediction(client, recommender):
    for user, item in [(1, 50), (4, 1), (943, 1330), (196, 242), (13, 1)]:
        body = client.get(f"/users/{user}/items/{item}/explanation").json()
        score = recommender.predict(user, item, clip=False)[0]
        assert abs(sum(term["value"] for term in body["terms"]) - score) < 1e-9
        assert abs(body["score"] - score) < 1e-9
        assert abs(sum(body["totals"].values()) - score) < 1e-9
        assert body["prediction"] == pytest.approx(recommender.predict(user, item)[0])


def test_explanation_groups_of_id_model(client):
    body = client.get("/users/1/items/50/explanation").json()
    groups = {(term["kind"], term["group"]) for term in body["terms"]}
    assert groups == {
        ("bias", "global bias"),
        ("user", "user"),
        ("item", "item"),
        ("interaction", "user x item"),
    }
    assert set(body["totals"]) == {"bias", "user", "item", "interaction"}


def test_popular_equals_library(client, recommender):
    body = client.get("/items/popular", params={"n": 20}).json()
    expected = recommender.popular(20).items
    assert [item["item_id"] for item in body["items"]] == expected["item_id"].tolist()
    assert [item["n_ratings"] for item in body["items"]] == expected["score"].tolist()


def test_similar_equals_library(client, recommender):
    body = client.get("/items/50/similar", params={"n": 7}).json()
    expected = recommender.similar_items(50, 7)
    assert body["item"]["item_id"] == 50
    assert body["item"]["title"] == "Star Wars (1977)"
    assert [item["item_id"] for item in body["items"]] == expected["item_id"].tolist()
    np.testing.assert_allclose(
        [item["similarity"] for item in body["items"]], expected["similarity"]
    )


def test_new_user_equals_fold_in(client, recommender):
    ratings = {50: 5.0, 172: 4.0, 1: 2.0}
    payload = {
        "ratings": [{"item_id": k, "rating": v} for k, v in ratings.items()],
        "n": 12,
        "exclude": [181],
    }
    response = client.post("/new-user/recommendations", json=payload)
    assert response.status_code == 200
    body = response.json()
    expected = recommender.recommend_for_ratings(ratings, 12, exclude=[181]).items
    assert body["user_id"] is None
    assert body["cold_start"] is False
    assert [item["item_id"] for item in body["items"]] == expected["item_id"].tolist()
    np.testing.assert_allclose(
        [item["score"] for item in body["items"]], expected["score"], rtol=0, atol=0
    )
    assert not {50, 172, 1, 181} & {item["item_id"] for item in body["items"]}


def test_new_user_explained_sum_to_score(client):
    payload = {
        "ratings": [{"item_id": 50, "rating": 5}, {"item_id": 98, "rating": 4.5}],
        "explain": True,
    }
    body = client.post("/new-user/recommendations", json=payload).json()
    for item in body["items"]:
        explanation = item["explanation"]
        assert explanation["user_id"] is None
        total = sum(term["value"] for term in explanation["terms"])
        assert abs(total - item["score"]) < 1e-9


def test_new_user_without_ratings_is_cold_start(client, recommender):
    body = client.post("/new-user/recommendations", json={"ratings": []}).json()
    assert body["cold_start"] is True
    assert "popular items shown" in body["note"]
    expected = recommender.popular(10).items["item_id"].tolist()
    assert [item["item_id"] for item in body["items"]] == expected


def test_rated_items_of_user(client, recommender):
    body = client.get("/users/4/rated", params={"n": 50}).json()
    index = recommender.encoder_.users.lookup([4])[0]
    seen = set(recommender.encoder_.items.ids[recommender.seen_[index].indices])
    assert body["n_rated"] == len(seen)
    assert {item["item_id"] for item in body["items"]} == seen
    predicted = [item["predicted_rating"] for item in body["items"]]
    assert predicted == sorted(predicted, reverse=True)


def test_item_details(client, recommender):
    body = client.get("/items/50").json()
    index = recommender.encoder_.items.lookup([50])[0]
    assert body["title"] == "Star Wars (1977)"
    assert body["year"] == 1977
    assert "Sci-Fi" in body["genres"]
    assert body["n_ratings"] == recommender.item_counts_[index]


def test_title_search_matches_all_words(client):
    body = client.get("/items/search", params={"q": "STAR wars"}).json()
    titles = [item["title"] for item in body["items"]]
    assert "Star Wars (1977)" in titles
    for title in titles:
        assert "star" in title.lower()
        assert "wars" in title.lower()


def test_title_search_orders_by_ratings(client):
    body = client.get("/items/search", params={"q": "the", "n": 30}).json()
    counts = [item["n_ratings"] for item in body["items"]]
    assert len(counts) == 30
    assert counts == sorted(counts, reverse=True)


def test_title_search_without_match(client):
    body = client.get("/items/search", params={"q": "zzzqqq"}).json()
    assert body["items"] == []


def test_user_search_by_prefix(client):
    body = client.get("/users/search", params={"q": "12", "n": 50}).json()
    ids = [user["user_id"] for user in body["users"]]
    assert body["n_users"] == 943
    assert ids == sorted(ids)
    assert ids[:2] == [12, 120]
    assert all(str(user_id).startswith("12") for user_id in ids)


def test_user_summary(client, recommender):
    body = client.get("/users/4").json()
    index = recommender.encoder_.users.lookup([4])[0]
    assert body == {"user_id": 4, "n_ratings": int(recommender.seen_[index].nnz)}


def test_health_and_model_metadata(client):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["generation"] == 1
    model = client.get("/model").json()
    assert model["format"] == "fmrec.recommender"
    assert model["format_version"] == 1
    assert model["file_name"] == "a.fmrec"
    assert model["params"]["n_factors"] == FACTORS_A
    assert len(model["history"]) == 5
    assert model["n_users"] == 943
    assert model["n_items"] > 1600
    assert model["n_training_ratings"] == 80000
    assert model["info"]["dataset"] == "ml-100k"


def test_openapi_lists_endpoints(client):
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    for path in [
        "/health",
        "/model",
        "/admin/reload",
        "/users/search",
        "/users/{user_id}/recommendations",
        "/users/{user_id}/items/{item_id}/prediction",
        "/users/{user_id}/items/{item_id}/explanation",
        "/items/popular",
        "/items/search",
        "/items/{item_id}/similar",
        "/new-user/recommendations",
    ]:
        assert path in paths
    parameters = schema["paths"]["/items/popular"]["get"]["parameters"]
    n = next(p for p in parameters if p["name"] == "n")
    assert n["schema"]["maximum"] == 50


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>fmrec movie recommendations</h1>" in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/static/style.css").status_code == 200


def test_requests_are_logged(client, caplog):
    with caplog.at_level(logging.INFO, logger="fmrec.service.access"):
        client.get("/items/popular", params={"n": 3})
        client.get("/users/999999/recommendations")
    lines = [record.getMessage() for record in caplog.records]
    assert any(re.fullmatch(r"GET /items/popular 200 \d+\.\d\d ms", x) for x in lines)
    assert any(
        re.fullmatch(r"GET /users/999999/recommendations 404 \d+\.\d\d ms", x)
        for x in lines
    )
