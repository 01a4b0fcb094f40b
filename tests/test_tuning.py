"""Random search: draws, scoring on a validation split, config files."""

import json

import numpy as np
import pytest

from fmrec import persistence
from fmrec.cli.main import main
from fmrec.datasets import load_movielens
from fmrec.presets import read_config
from fmrec.split import random_split
from fmrec.tuning import SEARCH_SPACES, random_search, sample_params


def test_sample_params_stay_in_space():
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = sample_params(SEARCH_SPACES["sgd"], rng)
        assert params["n_factors"] in SEARCH_SPACES["sgd"]["n_factors"]
        assert 0.002 <= params["learning_rate"] <= 0.02
        assert 0.005 <= params["reg_v"] <= 0.2
        assert isinstance(params["n_factors"], int)


def test_sample_params_reproducible():
    first = sample_params(SEARCH_SPACES["als"], np.random.default_rng(3))
    second = sample_params(SEARCH_SPACES["als"], np.random.default_rng(3))
    assert first == second


@pytest.fixture(scope="module")
def ml100k(movielens_dir):
    return load_movielens(movielens_dir / "ml-100k")


def test_random_search_keeps_best_trial(ml100k):
    train, _ = random_split(ml100k.ratings, 0.2, 42)
    base = {"features": ["user", "item"], "params": {"solver": "sgd", "n_epochs": 5}}
    result = random_search(train, base, rating_range=(1, 5), n_trials=3, random_state=1)
    scores = [trial.validation_rmse for trial in result.trials]
    assert len(scores) == 3
    assert result.best_rmse == min(scores)
    assert result.best_params == result.trials[int(np.argmin(scores))].params
    assert all(trial.params["n_epochs"] == 5 for trial in result.trials)
    assert 0.85 < result.best_rmse < 1.2


def test_tune_writes_config_that_train_accepts(movielens_dir, tmp_path):
    data = str(movielens_dir / "ml-100k")
    config = tmp_path / "best.json"
    code = main(
        [
            "tune",
            "--data",
            data,
            "--protocol",
            "sgd",
            "--epochs",
            "3",
            "--trials",
            "2",
            "--out",
            str(config),
            "--no-progress",
        ]
    )
    assert code == 0
    written = json.loads(config.read_text())
    assert len(written["trials"]) == 2
    assert read_config(config)["params"] == written["params"]

    model = tmp_path / "model.fmrec"
    code = main(
        [
            "train",
            "--data",
            data,
            "--config",
            str(config),
            "--out",
            str(model),
            "--no-progress",
        ]
    )
    assert code == 0
    loaded = persistence.load(model)
    for name, value in written["params"].items():
        assert loaded.model.get_params()[name] == value


def test_read_config_rejects_bad_files(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable configuration file"):
        read_config(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"features": ["user", "colour"], "params": {}}))
    with pytest.raises(ValueError, match="'features' must be a list of groups"):
        read_config(wrong)


def test_read_config_rejects_unknown_parameters(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"features": ["user", "item"], "params": {"bogus": 1}})
    )
    with pytest.raises(ValueError, match=r"unknown parameters \['bogus'\]"):
        read_config(config)


def test_config_sets_bias_switches(movielens_dir, tmp_path):
    params = {
        "solver": "sgd",
        "n_factors": 4,
        "n_epochs": 2,
        "early_stopping": False,
        "fit_linear": False,
        "reg_bias": 0.5,
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"features": ["user", "item"], "params": params}))
    assert read_config(config)["params"] == params

    model = tmp_path / "model.fmrec"
    args = ["train", "--data", str(movielens_dir / "ml-100k"), "--config"]
    args += [str(config), "--out", str(model), "--no-progress"]
    assert main(args) == 0
    loaded = persistence.load(model).model
    assert loaded.fit_linear is False
    assert loaded.reg_bias == 0.5
    np.testing.assert_array_equal(loaded.w_, np.zeros(loaded.w_.size))
