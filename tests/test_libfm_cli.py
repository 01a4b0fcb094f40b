"""``fmrec libfm``: libFM options, predictions files and rejected options."""

import logging

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


@pytest.mark.parametrize(
    "dim, regular, logged",
    [
        ("1,1,4", "0,0,0", "(from -regular r1=0, r2=0)"),
        ("1,0,4", "0,0,0", "(from -regular r2=0)"),
        ("1,1,4", "0,0,2", "(from -regular r1=0)"),
        ("1,0,4", "0,0,2", None),
    ],
)
def test_mcmc_logs_only_used_zero_precisions(files, caplog, dim, regular, logged):
    caplog.set_level(logging.INFO)
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), "-iter", "3", "-dim", dim]
    assert main([*args, "-regular", regular]) == 0
    lines = [r.message for r in caplog.records if "prior precisions" in r.message]
    assert len(lines) == (0 if logged is None else 1)
    if logged is not None:
        assert logged in lines[0]


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


# --- -dim and -regular ----------------------------------------------------------------


def run_cli(files, method, *extra):
    args = ["libfm", "-task", "r", "-train", str(files["train_r"])]
    args += ["-test", str(files["test_r"]), "-method", method, "-iter", "10"]
    args += ["-learn_rate", "0.05", "-init_stdev", "0.2", "-seed", "4"]
    args += ["-out", str(files["out"]), *extra]
    assert main(args) == 0
    return read_predictions(files["out"])


def fit_reference(files, method, **params):
    data, model = reference_model(
        files["train_r"],
        files["test_r"],
        n_factors=params.pop("n_factors", 4),
        solver=method,
        learning_rate=0.05,
        init_std=0.2,
        n_epochs=10,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=10,
        target_range=(1.0, 5.0),
        random_state=4,
        **params,
    )
    return data, model.fit(data["train"].X, data["train"].y)


def naive_predictions(X, w0, w, V):
    """The FM equation with the O(k n^2) double sum over feature pairs."""
    out = []
    for x in X.toarray():
        total = w0 + float(w @ x)
        for j in range(x.size):
            for m in range(j + 1, x.size):
                total += float(V[j] @ V[m]) * x[j] * x[m]
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("method", ["sgd", "als", "mcmc"])
@pytest.mark.parametrize(
    "dim, fit_bias, fit_linear",
    [("0,1,4", False, True), ("1,0,4", True, False), ("0,0,4", False, False)],
)
def test_dim_switches_off_bias_and_linear(files, method, dim, fit_bias, fit_linear):
    predictions = run_cli(files, method, "-dim", dim, "-regular", "0,0.01,0.02")
    data, model = fit_reference(
        files,
        method,
        fit_bias=fit_bias,
        fit_linear=fit_linear,
        reg_w=0.01,
        reg_v=0.02,
    )
    np.testing.assert_array_equal(predictions, model.predict(data["test"].X))
    if fit_bias:
        assert model.w0_ != 0.0
    else:
        assert model.w0_ == 0.0
    if fit_linear:
        assert np.any(model.w_ != 0.0)
    else:
        np.testing.assert_array_equal(model.w_, np.zeros(6))
    # The outputs are the FM equation with the fixed terms at 0, and the
    # file contains them clipped to the training ratings' range.
    w0 = model.w0_ if fit_bias else 0.0
    w = model.w_ if fit_linear else np.zeros(6)
    expected = naive_predictions(data["test"].X, w0, w, model.V_)
    outputs = model.decision_function(data["test"].X)
    np.testing.assert_allclose(outputs, expected, rtol=1e-12)
    np.testing.assert_allclose(predictions, np.clip(expected, 1.0, 5.0), rtol=1e-12)


def test_dim_all_zero_predicts_clipped_zero(files):
    # With k0 = k1 = k2 = 0 every output is 0, clipped to the lowest rating 1.
    predictions = run_cli(files, "als", "-dim", "0,0,0")
    np.testing.assert_array_equal(predictions, [1.0, 1.0])


def test_dim_rank_zero_als_is_linear_model(files):
    predictions = run_cli(files, "als", "-dim", "1,1,0", "-regular", "0,0.5,0")
    data, model = fit_reference(files, "als", n_factors=0, reg_w=0.5, reg_v=0.0)
    np.testing.assert_array_equal(predictions, model.predict(data["test"].X))
    assert model.V_.shape == (6, 0)


@pytest.mark.parametrize("method", ["sgd", "als", "mcmc"])
@pytest.mark.parametrize(
    "regular, penalties",
    [("0.1", (0.1, 0.1, 0.1)), ("0.5,0.1,0.1", (0.5, 0.1, 0.1))],
)
def test_regular_sets_bias_penalty(files, method, regular, penalties):
    predictions = run_cli(files, method, "-dim", "1,1,4", "-regular", regular)
    reg_bias, reg_w, reg_v = penalties
    data, model = fit_reference(
        files, method, reg_bias=reg_bias, reg_w=reg_w, reg_v=reg_v
    )
    np.testing.assert_array_equal(predictions, model.predict(data["test"].X))
    # The bias penalty changes the fit: the same run without it differs.
    _, free = fit_reference(files, method, reg_w=reg_w, reg_v=reg_v)
    assert free.w0_ != model.w0_


@pytest.mark.parametrize("regular, expected", [("3,0,0", 20 / 9), ("0", 20 / 6)])
def test_regular_bias_penalty_als_bias_only(files, regular, expected):
    # With -dim '1,0,0' the model is w0 alone, and ALS sets it to
    # sum(y) / (n + r0) = (5 + 3 + 4 + 1 + 2 + 5) / (6 + r0).
    predictions = run_cli(files, "als", "-dim", "1,0,0", "-regular", regular)
    np.testing.assert_allclose(predictions, [expected, expected], rtol=1e-12)


def test_regular_bias_penalty_is_mcmc_prior(files):
    """MCMC draws the bias from the prior N(0, 1/r0) times the likelihood.

    With r0 = 1e9 the bias stays within about 1e-4 of 0, so every prediction
    is clipped up to the lowest training rating, 1. With r0 = 0 the prior is
    flat and the bias averages 50 draws around the mean rating 20/6. Each
    draw has a standard deviation of roughly 0.6 (1 / sqrt(alpha n), with the
    noise precision alpha near 0.5 for these ratings), so their mean stays
    within 0.5 of 20/6.
    """
    tight = run_cli(files, "mcmc", "-dim", "1,0,0", "-regular", "1e9,0,0")
    np.testing.assert_array_equal(tight, [1.0, 1.0])
    flat = run_cli(files, "mcmc", "-dim", "1,0,0", "-regular", "0", "-iter", "50")
    assert flat[0] == flat[1]
    assert flat[0] == pytest.approx(20 / 6, abs=0.5)


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
        (["-dim", "2,1,8"], "-dim '2,1,8' is invalid: k0 (bias) and k1"),
        (["-dim", "1,3,8"], "-dim '1,3,8' is invalid: k0 (bias) and k1"),
        (["-dim", "1,1"], "-dim '1,1' is invalid: expected three integers"),
        (["-dim", "1,1,2.5"], "-dim '1,1,2.5' is invalid: expected three integers"),
        (["-dim", "1,-1,8"], "-dim '1,-1,8' is invalid: values must be finite"),
        (["-dim", "a,1,8"], "-dim 'a,1,8' is invalid: expected comma-separated"),
        (["-regular", "0,1"], "-regular '0,1' is invalid: expected 'r0,r1,r2'"),
        (["-regular", "0,x,1"], "-regular '0,x,1' is invalid: expected comma"),
        (["-regular", "-1"], "-regular '-1' is invalid: values must be finite"),
        (["-regular", "0,-1,1"], "values must be finite and >= 0"),
        (["-regular", "inf,0,0"], "-regular 'inf,0,0' is invalid: values must be"),
        (["-iter", "0"], "-iter must be at least 1"),
        (["-seed", "-5"], "-seed must be 0 or more, got -5"),
        (["-learn_rate", "0"], "-learn_rate must be above 0, got 0"),
        (["-learn_rate", "nan"], "-learn_rate must be above 0, got nan"),
        (["-init_stdev", "-1"], "-init_stdev must be 0 or more, got -1"),
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


@pytest.mark.parametrize("role", ["train", "test", "validation"])
def test_empty_file_exits_with_code_1(files, tmp_path, caplog, role):
    empty = tmp_path / "empty.libfm"
    empty.write_text("# only a comment\n\n")
    paths = {"train": files["train_r"], "test": files["test_r"]}
    paths[role] = empty
    args = ["libfm", "-task", "r", "-method", "sgd"]
    for name, path in paths.items():
        args += [f"-{name}", str(path)]
    assert main(args) == 1
    assert f"{empty}: the {role} file has no data rows" in caplog.text
    assert not files["out"].exists()


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
