"""Model reload: the endpoint, SIGHUP, broken files and requests in flight."""

import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from fmrec.service import create_app, install_reload_signal
from service_helpers import (
    FACTORS_A,
    FACTORS_B,
    ServerThread,
    free_port,
    replace_file,
    save_pair,
    trained_models,
    wait_until_up,
)

USERS = [1, 2, 4, 13, 196, 500, 943]


@pytest.fixture(scope="module")
def model_files(movielens_dir, tmp_path_factory):
    return save_pair(movielens_dir, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def expected(movielens_dir):
    """Top-10 item ids of each test user under model A and under model B."""
    model_a, model_b, _ = trained_models(str(movielens_dir))
    return {
        name: {
            user: rec.recommend(user, 10).items["item_id"].tolist() for user in USERS
        }
        for name, rec in (("a", model_a), ("b", model_b))
    }


@pytest.fixture
def model_path(model_files, tmp_path):
    """A served model file that starts as a copy of model A."""
    path = tmp_path / "served.fmrec"
    shutil.copyfile(model_files[0], path)
    return path


@pytest.fixture
def client(model_path):
    with TestClient(
        create_app(model_path), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def top_ids(client, user):
    response = client.get(f"/users/{user}/recommendations")
    assert response.status_code == 200
    return [item["item_id"] for item in response.json()["items"]]


def test_reload_swaps_to_new_file(client, model_path, model_files, expected):
    assert top_ids(client, 4) == expected["a"][4]
    replace_file(model_files[1], model_path)
    response = client.post("/admin/reload")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "reloaded"
    assert body["model"]["generation"] == 2
    assert body["model"]["params"]["n_factors"] == FACTORS_B
    assert client.get("/health").json()["generation"] == 2
    for user in USERS:
        assert top_ids(client, user) == expected["b"][user]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing", "empty"])
def test_broken_file_keeps_old_model(
    client, model_path, model_files, expected, caplog, damage
):
    if damage == "garbage":
        model_path.write_bytes(b"this is not a model file")
    elif damage == "truncated":
        content = model_files[1].read_bytes()
        model_path.write_bytes(content[: len(content) // 2])
    elif damage == "missing":
        model_path.unlink()
    else:
        model_path.write_bytes(b"")
    with caplog.at_level(logging.ERROR, logger="fmrec.service.holder"):
        response = client.post("/admin/reload")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "reload_failed"
    assert "previous model (generation 1) is still serving" in error["message"]
    assert "Traceback" not in response.text
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None
    assert client.get("/health").json()["generation"] == 1
    assert client.get("/model").json()["params"]["n_factors"] == FACTORS_A
    for user in USERS:
        assert top_ids(client, user) == expected["a"][user]


def test_good_file_after_broken_one(client, model_path, model_files, expected):
    model_path.write_bytes(b"broken")
    assert client.post("/admin/reload").status_code == 500
    replace_file(model_files[1], model_path)
    assert client.post("/admin/reload").status_code == 200
    assert client.get("/health").json()["generation"] == 2
    assert top_ids(client, 4) == expected["b"][4]


def test_old_model_serves_while_new_one_loads(
    client, model_path, model_files, expected, monkeypatch
):
    from fmrec.service import holder as holder_module

    started = threading.Event()
    release = threading.Event()
    original_load = holder_module.persistence.load

    def slow_load(path):
        started.set()
        assert release.wait(30)
        return original_load(path)

    monkeypatch.setattr(holder_module.persistence, "load", slow_load)
    replace_file(model_files[1], model_path)
    thread = client.app.state.holder.reload_in_background()
    assert started.wait(30)
    assert client.get("/health").json()["generation"] == 1
    assert top_ids(client, 4) == expected["a"][4]
    release.set()
    thread.join(30)
    assert client.get("/health").json()["generation"] == 2
    assert top_ids(client, 4) == expected["b"][4]


def test_request_in_flight_finishes_on_old_model(
    model_path, model_files, expected, monkeypatch
):
    app = create_app(model_path)
    old_lists = app.state.holder.current.top_lists
    entered = threading.Event()
    release = threading.Event()
    original = old_lists.get

    def held_get(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    # An explained list is computed in the thread pool, where it can be held
    # without blocking the server.
    monkeypatch.setattr(old_lists, "get", held_get)
    results = {}
    with ServerThread(app) as server:

        def slow_request():
            url = f"{server.url}/users/4/recommendations?explain=true"
            results["slow"] = httpx.get(url, timeout=60)

        worker = threading.Thread(target=slow_request)
        worker.start()
        assert entered.wait(30)
        replace_file(model_files[1], model_path)
        reload = httpx.post(f"{server.url}/admin/reload", timeout=60)
        assert reload.status_code == 200
        after = httpx.get(f"{server.url}/users/4/recommendations", timeout=60)
        release.set()
        worker.join(60)
    slow = results["slow"]
    assert slow.status_code == 200
    assert [item["item_id"] for item in slow.json()["items"]] == expected["a"][4]
    assert [item["item_id"] for item in after.json()["items"]] == expected["b"][4]


def test_requests_during_reloads_all_succeed(model_path, model_files, expected):
    app = create_app(model_path)
    failures = []
    answers = {"a": 0, "b": 0}
    stop = threading.Event()
    lock = threading.Lock()

    def hammer(seed):
        rng = random.Random(seed)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not stop.is_set():
                user = rng.choice(USERS)
                response = http.get(f"/users/{user}/recommendations")
                if response.status_code != 200:
                    failures.append(response.text)
                    continue
                ids = [item["item_id"] for item in response.json()["items"]]
                matches = [k for k in ("a", "b") if expected[k][user] == ids]
                with lock:
                    if not matches:
                        failures.append(f"user {user}: {ids} matches neither model")
                    for name in matches:
                        answers[name] += 1

    with ServerThread(app) as server:
        workers = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for round_number in range(6):
            source = model_files[(round_number + 1) % 2]
            replace_file(source, model_path)
            response = httpx.post(f"{server.url}/admin/reload", timeout=60)
            assert response.status_code == 200
            time.sleep(0.2)
        stop.set()
        for worker in workers:
            worker.join(60)
        generation = httpx.get(f"{server.url}/health").json()["generation"]
    assert failures == []
    assert answers["a"] > 0
    assert answers["b"] > 0
    assert generation == 7


def test_reload_signal_in_process(model_path, model_files):
    app = create_app(model_path)
    holder = app.state.holder
    previous = signal.getsignal(signal.SIGHUP)
    try:
        install_reload_signal(holder)
        replace_file(model_files[1], model_path)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while holder.current.generation == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert holder.current.generation == 2
    assert holder.current.recommender.model.n_factors == FACTORS_B


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_serve_command_reloads_on_sighup(model_path, model_files, tmp_path, expected):
    port = free_port()
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fmrec", "serve", "--model", str(model_path)]
    with open(log_path, "w") as log:
        server = subprocess.Popen([*command, "--port", str(port)], stderr=log)
    try:
        wait_until_up(base)
        assert httpx.get(f"{base}/model").json()["params"]["n_factors"] == FACTORS_A

        replace_file(model_files[1], model_path)
        server.send_signal(signal.SIGHUP)
        assert wait_for(lambda: httpx.get(f"{base}/health").json()["generation"] == 2)
        assert httpx.get(f"{base}/model").json()["params"]["n_factors"] == FACTORS_B

        model_path.write_bytes(b"broken")
        server.send_signal(signal.SIGHUP)
        assert wait_for(
            lambda: "failed; generation 2 keeps serving" in log_path.read_text()
        )
        assert httpx.get(f"{base}/health").json()["generation"] == 2
        response = httpx.get(f"{base}/users/4/recommendations")
        assert [item["item_id"] for item in response.json()["items"]] == expected["b"][
            4
        ]
    finally:
        server.terminate()
        code = server.wait(30)
    # Recent uvicorn releases re-raise SIGTERM after a clean shutdown.
    assert code in (0, -signal.SIGTERM)
    log_text = log_path.read_text()
    assert "Finished server process" in log_text
    assert "Reloading" in log_text
    assert "on SIGHUP" in log_text
    assert "GET /users/4/recommendations 200" in log_text
    assert "Traceback" in log_text
