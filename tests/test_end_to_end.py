"""The command line end to end on the real MovieLens 1M and 100K data."""

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from fmrec.cli.main import main
from fmrec.datasets import load_movielens
from fmrec.features import GROUPS
from fmrec.split import random_split


def run_json(capsys, *args):
    code = main([*args, "--json", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


@pytest.fixture(scope="module")
def ml1m(movielens_dir):
    return load_movielens(movielens_dir / "ml-1m")


@pytest.fixture(scope="module")
def seed_run(movielens_dir):
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            [
                "run",
                "--data",
                str(movielens_dir / "ml-1m"),
                "--protocol",
                "seed",
                "--json",
                "--no-progress",
            ]
        )
    assert code == 0
    return json.loads(buffer.getvalue())


def test_seed_protocol_accuracy(seed_run):
    assert seed_run["test_rmse"] <= 0.922
    assert seed_run["ndcg_at_10"] >= 0.905
    assert seed_run["n_train"] == 800167
    assert seed_run["n_test"] == 200042
    # 6,038 users have test ratings; 6,018 of them have the two that NDCG needs.
    assert seed_run["ndcg_users"] == 6018
    assert len(seed_run["epochs"]) == 5
    assert seed_run["best_epoch"] == 5
    for record in seed_run["epochs"]:
        assert set(record) == {"epoch", "train_rmse", "valid_rmse", "seconds"}
        assert record["valid_rmse"] is None
    train_rmse = [record["train_rmse"] for record in seed_run["epochs"]]
    assert train_rmse == sorted(train_rmse, reverse=True)
    for key in ("test_mae", "fit_seconds", "total_seconds", "load_seconds"):
        assert seed_run[key] > 0


def test_seed_protocol_recommendations(seed_run, ml1m):
    user_list = seed_run["recommendations"]["user"]
    assert user_list["user"] == 4
    assert not user_list["cold_start"]
    items = [entry["item_id"] for entry in user_list["items"]]
    rated = set(ml1m.ratings.loc[ml1m.ratings["user_id"] == 4, "item_id"])
    assert len(items) == 5
    assert not rated & set(items)
    titles = ml1m.items.set_index("item_id")["title"]
    assert [entry["title"] for entry in user_list["items"]] == list(titles[items])

    new_user = seed_run["recommendations"]["new_user"]
    assert new_user["cold_start"]
    train, _ = random_split(ml1m.ratings, 0.2, 42)
    counts = train["item_id"].value_counts()
    expected = sorted(counts.index, key=lambda item: (-counts[item], item))[:5]
    assert [entry["item_id"] for entry in new_user["items"]] == expected
    assert new_user["items"][0]["title"] == "American Beauty (1999)"


def test_seed_protocol_topn_metrics(seed_run):
    topn = seed_run["topn"]
    assert topn["k"] == 10
    assert topn["threshold"] == 4.0
    for key in ("ndcg_at_10", "recall_at_10", "hr_at_10", "map_at_10"):
        assert 0.0 < topn[key] < 1.0
    assert topn["n_users"] + topn["skipped"]["no relevant test items"] == 6038


def test_sgd_protocol_beats_seed(movielens_dir, capsys, seed_run):
    result = run_json(
        capsys, "run", "--data", str(movielens_dir / "ml-1m"), "--protocol", "sgd"
    )
    assert result["test_rmse"] <= 0.870
    assert result["test_rmse"] < seed_run["test_rmse"]
    valid = [record["valid_rmse"] for record in result["epochs"]]
    assert all(value is not None for value in valid)
    assert result["best_epoch"] == int(np.argmin(valid)) + 1


def test_default_protocol_is_mcmc_with_all_groups(movielens_dir, capsys):
    result = run_json(capsys, "run", "--data", str(movielens_dir / "ml-1m"))
    assert result["params"]["solver"] == "mcmc"
    assert result["features"] == list(GROUPS)
    assert result["test_rmse"] <= 0.835
    assert result["ndcg_at_10"] >= 0.925
    assert len(result["epochs"]) == result["params"]["n_epochs"]
    user_items = [
        entry["item_id"] for entry in result["recommendations"]["user"]["items"]
    ]
    assert len(user_items) == 5


def fmrec_process(*args):
    """Run the command in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "fmrec", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_train_evaluate_recommend_in_fresh_processes(movielens_dir, tmp_path):
    model = tmp_path / "ml100k.fmrec"
    data = str(movielens_dir / "ml-100k")
    trained = fmrec_process(
        "train",
        "--data",
        data,
        "--protocol",
        "seed",
        "--out",
        str(model),
        "--no-progress",
    )
    assert trained.returncode == 0, trained.stderr
    assert model.is_file()

    evaluated = fmrec_process(
        "evaluate", "--model", str(model), "--data", data, "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)
    assert 0.85 < scores["test_rmse"] < 1.0
    assert scores["n_test"] == 20000

    listed = fmrec_process(
        "recommend", "--model", str(model), "--user", "1", "-n", "7", "--json"
    )
    assert listed.returncode == 0, listed.stderr
    result = json.loads(listed.stdout)
    assert len(result["items"]) == 7
    dataset = load_movielens(data)
    rated = set(dataset.ratings.loc[dataset.ratings["user_id"] == 1, "item_id"])
    train, _ = random_split(dataset.ratings, 0.2, 42)
    rated_in_train = set(train.loc[train["user_id"] == 1, "item_id"])
    assert not rated_in_train & {entry["item_id"] for entry in result["items"]}
    assert rated >= rated_in_train

    unknown = fmrec_process("recommend", "--model", str(model), "--user", "999999")
    assert unknown.returncode == 0, unknown.stderr
    assert "Popular items (cold start) for user 999999" in unknown.stdout
    assert "user 999999 is unknown" in unknown.stdout


def test_evaluate_rejects_other_data(movielens_dir, tmp_path, caplog):
    model = tmp_path / "model.fmrec"
    code = main(
        [
            "train",
            "--data",
            str(movielens_dir / "ml-100k"),
            "--protocol",
            "seed",
            "--epochs",
            "1",
            "--out",
            str(model),
            "--no-progress",
        ]
    )
    assert code == 0
    code = main(
        [
            "evaluate",
            "--model",
            str(model),
            "--data",
            str(movielens_dir / "ml-latest-small"),
            "--no-progress",
        ]
    )
    assert code == 1
    assert "differ from those the model was trained on" in caplog.text


def test_cli_reports_broken_model_file(tmp_path, caplog):
    broken = tmp_path / "broken.fmrec"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["recommend", "--model", str(broken)]) == 1
    assert "not a readable fmrec model file (a truncated or corrupt" in caplog.text


def test_cli_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as error:
        main(["run", "--protocol", "fastest"])
    assert error.value.code == 2
    assert "invalid choice: 'fastest'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["run", "--test-size", "1.5"], "--test-size"),
        (["run", "--epochs", "0"], "--epochs"),
        (["run", "-n", "0"], "-n"),
        (["train", "--out", "x", "--learning-rate", "-1"], "--learning-rate"),
        (["recommend", "--model", "x", "-n", "0"], "-n"),
        (["tune", "--out", "x", "--trials", "0"], "--trials"),
        (["run", "--features", "user,colour"], "--features"),
        (["run", "--features", " , "], "--features"),
    ],
)
def test_cli_rejects_bad_option_values(capsys, argv, option):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert error.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, message",
    [
        (
            ["train", "--out", "{missing}/m.fmrec"],
            "--out {missing}/m.fmrec: the folder",
        ),
        (["train", "--out", "{tmp}"], "is a folder; give a file path"),
        (
            ["train", "--out", "{tmp}/m.fmrec", "--plot", "{missing}/c.png"],
            "--plot {missing}/c.png: the folder {missing} does not exist",
        ),
        (["tune", "--out", "{missing}/best.json"], "--out {missing}/best.json"),
    ],
)
def test_unwritable_outputs_fail_before_training(tmp_path, caplog, command, message):
    caplog.set_level(logging.INFO)
    names = {"missing": str(tmp_path / "absent"), "tmp": str(tmp_path)}
    args = [part.format(**names) for part in command]
    assert main([*args, "--data", "ml-100k", "--no-download"]) == 1
    assert message.format(**names) in caplog.text
    # Nothing was trained: no data set was even loaded.
    assert "Loaded" not in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_evaluate_finds_training_folder(movielens_dir, tmp_path):
    # A reduced copy of ML-100K whose ratings differ from the named data set.
    copy = tmp_path / "my-ratings"
    copy.mkdir()
    for path in (movielens_dir / "ml-100k").iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    lines = (copy / "u.data").read_text().splitlines(keepends=True)
    (copy / "u.data").write_text("".join(lines[: len(lines) // 2]))
    model = tmp_path / "m.fmrec"
    args = ["--data", str(copy), "--protocol", "seed", "--no-progress"]
    assert main(["train", "--out", str(model), *args]) == 0
    assert main(["evaluate", "--model", str(model), "--no-progress"]) == 0
