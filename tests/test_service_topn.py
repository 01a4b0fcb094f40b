"""The service's per-model cache of top-N lists, on small hand-made data."""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fmrec import persistence
from fmrec.model import FactorizationMachine
from fmrec.recommend import Recommender
from fmrec.service import create_app, topn
from fmrec.service.topn import TopListCache

N_ITEMS = 20
HEAVY_USER = 100


def make_recommender():
    """Fit a small model; user 100 rates 17 of the 20 items, the others 8."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(HEAVY_USER, HEAVY_USER + 12):
        n_rated = 17 if user == HEAVY_USER else 8
        for item in rng.choice(N_ITEMS, n_rated, replace=False):
            rows.append((user, 1000 + item, float(rng.integers(1, 6))))
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    model = FactorizationMachine(4, n_epochs=3, early_stopping=False, random_state=0)
    return Recommender(model).fit(ratings, rating_range=(1.0, 5.0))


@pytest.fixture(scope="module")
def recommender():
    return make_recommender()


def library_top(recommender, user, n):
    items = recommender.recommend(user, n).items
    return items["item_id"].tolist(), items["score"].to_numpy()


@pytest.mark.parametrize("fill", [True, False])
def test_lists_equal_library(recommender, fill):
    cache = TopListCache(recommender, depth=10)
    if fill:
        assert cache.fill()
        assert len(cache) == 12
    for index, user in enumerate(recommender.encoder_.users.ids.tolist()):
        for n in (1, 3):
            ranked = cache.get(index, n) if fill else cache.compute(user, index, n)
            ids, scores = library_top(recommender, user, n)
            assert recommender.encoder_.items.ids[ranked.item_index].tolist() == ids
            np.testing.assert_allclose(ranked.score, scores, rtol=0, atol=1e-12)


def test_short_list_is_not_answered_from_cache(recommender):
    cache = TopListCache(recommender, depth=10)
    cache.fill()
    assert cache.get(0, 3).item_index.size == 3
    assert cache.get(0, 4) is None
    assert cache.compute(HEAVY_USER, 0, 4) is None


def test_fill_skips_large_models(recommender, monkeypatch):
    monkeypatch.setattr(topn, "MAX_FILL_SCORES", 10)
    cache = TopListCache(recommender, depth=10)
    assert not cache.fill()
    assert len(cache) == 0
    assert cache.get(1, 5) is None
    assert cache.compute(101, 1, 5).item_index.size == 5
    assert cache.get(1, 5) is not None


def test_entry_limit_stops_caching(recommender):
    cache = TopListCache(recommender, depth=10, max_entries=12)
    assert not cache.fill()
    assert cache.compute(101, 1, 5) is not None
    assert cache.compute(102, 2, 5) is not None
    assert len(cache) == 1


@pytest.fixture
def client(recommender, tmp_path):
    path = persistence.save(recommender, tmp_path / "small.fmrec")
    with TestClient(create_app(path, max_n=10)) as test_client:
        yield test_client


def test_endpoint_notes_short_list(client, recommender):
    body = client.get(f"/users/{HEAVY_USER}/recommendations", params={"n": 5}).json()
    expected = recommender.recommend(HEAVY_USER, 5)
    assert [item["item_id"] for item in body["items"]] == library_top(
        recommender, HEAVY_USER, 5
    )[0]
    assert body["note"] == expected.note
    assert "only 3 unrated items are left" in body["note"]


def test_endpoint_computes_when_not_cached(recommender, tmp_path, monkeypatch):
    monkeypatch.setattr(topn, "MAX_FILL_SCORES", 10)
    path = persistence.save(recommender, tmp_path / "small.fmrec")
    with TestClient(create_app(path, max_n=10)) as test_client:
        served = test_client.app.state.holder.current
        assert len(served.top_lists) == 0
        for _ in range(2):
            body = test_client.get("/users/101/recommendations", params={"n": 4}).json()
            ids = [item["item_id"] for item in body["items"]]
            assert ids == library_top(recommender, 101, 4)[0]
        assert len(served.top_lists) == 1
