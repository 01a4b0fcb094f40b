"""``fmrec libfm``: libFM options, predictions files and rejected options."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, ndtr

from fmrec.cli.main import main
from fmrec.datasets import load_movielens
from fmrec.datasets.libfm import read_libfm_files, write_libfm
from fmrec.model import FactorizationMachine
from fmrec.split import random_split

# Six ratings of three users (features 0-2) for three movies (features 3-5),
# and two test ratings; the indices are libFM's, from 0.
REGRESSION_TRAIN = """\
5 0:1 3:1
3 0:1 4:1
4 1:1 3:1
1 1:1 5:1
2 2:1 4:1
5 2:1 3:1
"""
REGRESSION_TEST = """\
4 0:1 5:1
2 1:1 4:1
"""
# Clicks with libFM's -1/+1 labels and a real-valued feature 6.
CLASSIFICATION_TRAIN = """\
1 0:1 3:1 6:0.5
-1 0:1 4:1
1 1:1 3:1 6:0.25
-1 1:1 5:1
-1 2:1 4:1 6:0.75
1 2:1 3:1
1 0:1 3:1
-1 2:1 5:1 6:1
"""
CLASSIFICATION_TEST = """\
1 1:1 3:1
-1 0:1 5:1 6:0.5
1 2:1 3:1 6:0.25
"""


@pytest.fixture()
def files(tmp_path):
    paths = {}
    texts = {
        "train_r": REGRESSION_TRAIN,
        "test_r": REGRESSION_TEST,
        "train_c": CLASSIFICATION_TRAIN,
        "test_c": CLASSIFICATION_TEST,
    }
    for name, text in texts.items():
        paths[name] = tmp_path / f"{name}.libfm"
        paths[name].write_text(text)
    paths["out"] = tmp_path / "predictions.txt"
    return paths


def read_predictions(path):
    return np.array([float(line) for line in path.read_text().splitlines()])


def reference_model(train, test, **params):
    data = read_libfm_files({"train": train, "test": test}, base=0)
    return data, FactorizationMachine(**params)


@pytest.mark.parametrize("method", ["sgd", "als", "mcmc"])
def test_regression_predictions_equal_the_library(files, method, capsys):
    code = main(
        [
            "libfm",
            "-task",
            "r",
            "-train",
            str(files["train_r"]),
            "-test",
            str(files["test_r"]),
            "-dim",
            "1,1,2",
            "-iter",
            "15",
            "-method",
            method,
            "-learn_rate",
            "0.05",
            "-regular",
            "0,0.01,0.02",
            "-init_stdev",
            "0.2",
            "-seed",
            "3",
            "-out",
            str(files["out"]),
        ]
    )
    assert code == 0
    data, model = reference_model(
        files["train_r"],
        files["test_r"],
        n_factors=2,
        solver=method,
        learning_rate=0.05,
        reg_w=0.01,
        reg_v=0.02,
        init_std=0.2,
        n_epochs=15,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=15,
        target_range=(1.0, 5.0),
        random_state=3,
    )
    model.fit(data["train"].X, data["train"].y)
    expected = model.predict(data["test"].X)
    predictions = read_predictions(files["out"])
    np.testing.assert_array_equal(predictions, expected)
    assert predictions.min() >= 1.0
    assert predictions.max() <= 5.0
    rmse = np.sqrt(np.mean((expected - np.array([4.0, 2.0])) ** 2))
    assert f"Test RMSE: {rmse:.6f} (2 rows)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "method, loss, link", [("sgd", "logistic", expit), ("als", "probit", ndtr)]
)
def test_classification_writes_probabilities(files, method, loss, link, capsys):
    args = ["libfm", "-task", "c", "-train", str(files["train_c"])]
    args += ["-test", str(files["test_c"]), "-method", method, "-iter", "20"]
    args += ["-dim", "1,1,3", "-learn_rate", "0.1", "-seed", "1"]
    args += ["-out", str(files["out"])]
    assert main(args) == 0
    data, model = reference_model(
        files["train_c"],
        files["test_c"],
        n_factors=3,
        solver=method,
        loss=loss,
        learning_rate=0.1,
        reg_w=0.0,
        reg_v=0.0,
        init_std=0.1,
        n_epochs=20,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=20,
        random_state=1,
    )
    model.fit(data["train"].X, (data["train"].y > 0).astype(float))
    margins = model.decision_function(data["test"].X)
    predictions = read_predictions(files["out"])
    np.testing.assert_allclose(predictions, link(margins), rtol=1e-15)
    assert np.all((predictions > 0) & (predictions < 1))
    accuracy = np.mean((predictions > 0.5) == np.array([True, False, True]))
    assert f"Test accuracy: {accuracy:.6f}" in capsys.readouterr().out


def test_mcmc_classification_starts_zero_precisions_at_one(files):
    args = ["libfm", "-task", "c", "-train", str(files["train_c"])]
    args += ["-test", str(files["test_c"]), "-iter", "12", "-seed", "5"]
    args += ["-out", str(files["out"])]
    assert main(args) == 0
    data, model = reference_model(
        files["train_c"],
        files["test_c"],
        n_factors=8,
        solver="mcmc",
        loss="probit",
        reg_w=1.0,
        reg_v=1.0,
        n_epochs=12,
        burn_in=0,
        n_kept_samples=12,
        init_std=0.1,
        random_state=5,
    )
    model.fit(data["train"].X, (data["train"].y > 0).astype(float))
    expected = model.predict_proba(data["test"].X)[:, 1]
    np.testing.assert_array_equal(read_predictions(files["out"]), expected)


def test_single_regular_value_of_zero_is_accepted(files):
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), "-method", "als", "-regular", "0"]
    args += ["-iter", "3", "-out", str(files["out"])]
    assert main(args) == 0
    assert read_predictions(files["out"]).size == 2


def test_verbosity_prints_each_iteration(files, capsys):
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), "-method", "als", "-iter", "4"]
    args += ["-verbosity", "1"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines[:4]] == [
        f"iteration {n}" for n in range(1, 5)
    ]
    assert lines[4].startswith("Test RMSE: ")


def test_validation_file_stops_sgd_early(files, tmp_path):
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 600), rng.integers(0, 20, 600)
    X = sp.csr_matrix(
        (
            np.ones(1200),
            (np.repeat(np.arange(600), 2), np.c_[users, 30 + items].ravel()),
        )
    )
    y = rng.integers(1, 6, 600).astype(float)
    paths = [tmp_path / f"{name}.libfm" for name in ("train", "valid", "test")]
    parts = (slice(0, 400), slice(400, 500), slice(500, 600))
    for path, rows in zip(paths, parts, strict=True):
        write_libfm(path, X[rows], y[rows], base=0)
    args = ["libfm", "-task", "r", "-train", str(paths[0]), "-test", str(paths[2])]
    args += ["-validation", str(paths[1]), "-method", "sgd", "-iter", "200"]
    args += ["-learn_rate", "0.1", "-seed", "0", "-out", str(files["out"])]
    assert main(args) == 0

    data = read_libfm_files(
        {"train": paths[0], "valid": paths[1], "test": paths[2]}, base=0
    )
    model = FactorizationMachine(
        8,
        learning_rate=0.1,
        reg_w=0.0,
        reg_v=0.0,
        init_std=0.1,
        n_epochs=200,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=200,
        target_range=(1.0, 5.0),
        random_state=0,
    )
    model.fit(
        data["train"].X,
        data["train"].y,
        X_valid=data["valid"].X,
        y_valid=data["valid"].y,
    )
    assert len(model.history_) < 200
    expected = model.predict(data["test"].X)
    np.testing.assert_array_equal(read_predictions(files["out"]), expected)


# --- rejected options and values ----------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-relation", "rel.x"], "-relation (block-structured relational data files)"),
        (
            ["-cache_size", "100"],
            "-cache_size (the binary data cache) is not supported",
        ),
        (["-rlog", "log.csv"], "-rlog (the per-iteration log file) is not supported"),
        (["-meta", "meta.txt"], "-meta (feature groups from a meta file)"),
        (["-save_model", "m.fm"], "-save_model (saving the model) is not supported"),
        (["-load_model", "m.fm"], "-load_model (loading a saved model)"),
        (["-method", "sgda"], "-method sgda (SGD with adaptive regularisation)"),
        (["-method", "lbfgs"], "-method 'lbfgs' is invalid"),
        (["-dim", "0,1,8"], "switches off the bias or the linear weights"),
        (["-dim", "1,0,8"], "switches off the bias or the linear weights"),
        (["-dim", "1,1"], "expected three integers"),
        (["-dim", "1,1,2.5"], "expected three integers"),
        (["-regular", "0.01"], "sets a bias penalty r0=0.01"),
        (["-regular", "0.1,0,0"], "use -regular '0,0,0'"),
        (["-regular", "0,1"], "expected 'r0,r1,r2' or a single value"),
        (["-regular", "0,x,1"], "expected comma-separated numbers"),
        (["-regular", "0,-1,1"], "values must be finite and >= 0"),
        (["-iter", "0"], "-iter must be at least 1"),
        (["-task", "x"], "argument -task: invalid choice"),
    ],
)
def test_unsupported_options_exit_with_code_2(files, extra, message, capsys):
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), *extra]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not files["out"].exists()


def test_missing_mandatory_option_exits_with_code_2(files, capsys):
    with pytest.raises(SystemExit) as info:
        main(["libfm", "-task", "r", "-train", str(files["train_r"])])
    assert info.value.code == 2
    assert "the following arguments are required: -test" in capsys.readouterr().err


def test_unknown_option_exits_with_code_2(files, capsys):
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), "-learning_rate", "0.1"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "unrecognized arguments: -learning_rate" in capsys.readouterr().err


def test_malformed_file_exits_with_code_1(files, tmp_path, caplog):
    bad = tmp_path / "bad.libfm"
    bad.write_text("5 0:1 3:1\n4 0:x\n")
    args = ["libfm", "-task", "r", "-train", str(bad), "-test", str(files["test_r"])]
    assert main(args) == 1
    assert "bad.libfm" in caplog.text
    assert "line 2" in caplog.text


# --- MovieLens 1M ---------------------------------------------------------------------


def test_ml_1m_files_from_the_writer(movielens_dir, tmp_path, capsys):
    ratings = load_movielens(movielens_dir / "ml-1m").ratings
    train, test = random_split(ratings, test_size=0.1, random_state=0)
    users = np.unique(ratings["user_id"])
    items = np.unique(ratings["item_id"])

    def one_hot(frame):
        rows = np.repeat(np.arange(len(frame)), 2)
        user_col = np.searchsorted(users, frame["user_id"].to_numpy())
        item_col = users.size + np.searchsorted(items, frame["item_id"].to_numpy())
        cols = np.c_[user_col, item_col].ravel()
        shape = (len(frame), users.size + items.size)
        return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)

    paths = {name: tmp_path / f"{name}.libfm" for name in ("train", "test")}
    for name, frame in (("train", train), ("test", test)):
        write_libfm(paths[name], one_hot(frame), frame["rating"], base=0)

    args = ["libfm", "-task", "r", "-train", str(paths["train"])]
    args += ["-test", str(paths["test"]), "-method", "als", "-iter", "6"]
    args += ["-dim", "1,1,8", "-regular", "0,5,5", "-seed", "1"]
    args += ["-out", str(tmp_path / "pred.txt")]
    assert main(args) == 0

    data = read_libfm_files(paths, base=0)
    model = FactorizationMachine(
        8,
        solver="als",
        reg_w=5.0,
        reg_v=5.0,
        init_std=0.1,
        n_epochs=6,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=6,
        target_range=(1.0, 5.0),
        random_state=1,
    ).fit(data["train"].X, data["train"].y)
    expected = model.predict(data["test"].X)
    predictions = read_predictions(tmp_path / "pred.txt")
    np.testing.assert_array_equal(predictions, expected)
    np.testing.assert_array_equal(data["test"].y, test["rating"].to_numpy())
    rmse = np.sqrt(np.mean((predictions - test["rating"].to_numpy()) ** 2))
    mean_rmse = np.std(test["rating"].to_numpy() - train["rating"].mean())
    assert rmse < 0.92
    assert rmse < 0.85 * mean_rmse
    assert f"Test RMSE: {rmse:.6f} ({len(test)} rows)" in capsys.readouterr().out
