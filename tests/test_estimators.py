"""scikit-learn estimators: the estimator checks, pipelines, search and partial_fit."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, ndtr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fmrec.estimators import FMClassifier, FMRegressor
from fmrec.exceptions import TrainingDivergedError
from fmrec.kernels.sgd import LOGISTIC_LOSS, SQUARED_LOSS
from fmrec.model import FactorizationMachine
from fmrec.solvers import FMParams, Rows
from fmrec.solvers.sgd import sgd_pass

# Every solver of both estimators, with few epochs to keep the checks fast.
CHECKED_ESTIMATORS = [
    FMRegressor(n_epochs=30, random_state=0),
    FMClassifier(n_epochs=30, random_state=0),
    FMRegressor(solver="als", n_epochs=10, random_state=0),
    FMClassifier(solver="als", n_epochs=10, random_state=0),
    FMRegressor(solver="mcmc", n_epochs=20, burn_in=5, random_state=0),
    FMClassifier(solver="mcmc", n_epochs=20, burn_in=5, random_state=0),
    FMRegressor(reg_bias=0.5, n_epochs=30, random_state=0),
    FMClassifier(solver="als", fit_bias=False, n_epochs=10, random_state=0),
]

# No check is excluded or expected to fail. The one check scikit-learn skips in
# this process, check_array_api_input, needs SCIPY_ARRAY_API set before SciPy
# is imported, so test_array_api_check_in_subprocess runs it in a fresh process.
_CHECKS = parametrize_with_checks(CHECKED_ESTIMATORS)
_ARGNAMES, _ALL_CHECKS = _CHECKS.args
ARRAY_API_CHECK = "check_array_api_input"


def _check_name(param) -> str:
    check = param[1] if isinstance(param, tuple) else param.values[1]
    return getattr(check, "func", check).__name__


LOCAL_CHECKS = [p for p in _ALL_CHECKS if _check_name(p) != ARRAY_API_CHECK]


@pytest.mark.parametrize(_ARGNAMES, LOCAL_CHECKS, ids=_CHECKS.kwargs["ids"])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_estimator_gets_many_checks():
    names = [_check_name(p) for p in _ALL_CHECKS]
    assert names.count(ARRAY_API_CHECK) == len(CHECKED_ESTIMATORS)
    assert len(LOCAL_CHECKS) > 40 * len(CHECKED_ESTIMATORS)
    assert "check_classifier_not_supporting_multiclass" in names
    assert "check_estimators_partial_fit_n_features" in names


def test_array_api_check_in_subprocess():
    script = textwrap.dedent(
        """
        from sklearn.utils.estimator_checks import check_array_api_input
        from fmrec.estimators import FMClassifier, FMRegressor

        for estimator in (
            FMRegressor(n_epochs=5, random_state=0),
            FMClassifier(n_epochs=5, random_state=0),
            FMClassifier(solver="als", n_epochs=5, random_state=0),
        ):
            check_array_api_input(
                type(estimator).__name__,
                estimator,
                array_namespace="numpy",
                expect_only_array_outputs=False,
            )
        print("array API checks passed")
        """
    )
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "array API checks passed" in result.stdout


# --- data -------------------------------------------------------------------------


def one_hot_ratings(seed=0, n_users=40, n_items=30, n_rows=900):
    """Sparse user/item one-hot rows with targets from a rank-2 FM plus noise."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    rows = np.repeat(np.arange(n_rows), 2)
    cols = np.column_stack([users, n_users + items]).ravel()
    X = sp.csr_matrix((np.ones(2 * n_rows), (rows, cols)), (n_rows, n_users + n_items))
    U = rng.normal(size=(n_users, 2))
    V = rng.normal(size=(n_items, 2))
    y = 3.0 + np.sum(U[users] * V[items], axis=1) + rng.normal(0, 0.1, n_rows)
    return X, y


def pairwise_labels(seed, n_rows=600, n_features=8):
    """Dense ±1 features labelled by sign(x0 x1 + x2 x3 + x4 / 2)."""
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 1.0], size=(n_rows, n_features))
    y = (X[:, 0] * X[:, 1] + X[:, 2] * X[:, 3] + 0.5 * X[:, 4] > 0).astype(int)
    return X, y


# --- equivalence with the underlying model ------------------------------------------


def test_regressor_equals_factorization_machine():
    X, y = one_hot_ratings()
    settings = dict(
        solver="sgd",
        learning_rate=0.01,
        reg_w=0.01,
        reg_v=0.02,
        init_std=0.1,
        n_epochs=7,
        early_stopping=False,
        random_state=4,
    )
    estimator = FMRegressor(3, **settings).fit(X, y)
    model = FactorizationMachine(3, **settings).fit(X, y)
    # One-hot columns have a maximum of 1, so scaling leaves them unchanged.
    np.testing.assert_array_equal(estimator.feature_scale_, np.ones(X.shape[1]))
    np.testing.assert_array_equal(estimator.V_, model.V_)
    np.testing.assert_array_equal(estimator.predict(X), model.predict(X))
    assert estimator.n_iter_ == 7
    assert len(estimator.history_) == 7


def test_scaled_features_give_parameters_for_raw_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5)) * np.array([1.0, 10.0, 100.0, 0.1, 3.0])
    y = X[:, 0] + 0.01 * X[:, 2] + 0.1 * X[:, 1] * X[:, 3]
    estimator = FMRegressor(2, n_epochs=5, random_state=0).fit(X, y)
    largest = np.abs(X).max(axis=0)
    np.testing.assert_allclose(estimator.feature_scale_, 1.0 / largest, rtol=1e-15)

    scaled = X / largest
    model = FactorizationMachine(
        2,
        learning_rate=0.001,
        reg_w=0.01,
        reg_v=0.01,
        init_std=0.1,
        n_epochs=5,
        early_stopping=False,
        random_state=0,
    ).fit(scaled, y)
    np.testing.assert_allclose(estimator.predict(X), model.predict(scaled), rtol=1e-10)


def test_dense_and_sparse_input_give_the_same_model():
    X, y = pairwise_labels(seed=2)
    dense = FMClassifier(3, n_epochs=5, random_state=1).fit(X, y)
    sparse = FMClassifier(3, n_epochs=5, random_state=1).fit(sp.csr_matrix(X), y)
    np.testing.assert_array_equal(dense.V_, sparse.V_)
    np.testing.assert_array_equal(
        dense.predict_proba(X), sparse.predict_proba(sp.csc_matrix(X))
    )


# --- the classifier --------------------------------------------------------------


@pytest.mark.parametrize("solver, link", [("sgd", expit), ("als", ndtr)])
def test_classifier_probabilities_follow_the_solver(solver, link):
    X, y = pairwise_labels(seed=3)
    model = FMClassifier(3, solver=solver, n_epochs=8, random_state=0).fit(X, y)
    margins = model.decision_function(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], link(margins), rtol=1e-12)
    np.testing.assert_allclose(proba[:, 0], link(-margins), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), (margins > 0).astype(int))


def test_classifier_keeps_string_labels():
    X, y = pairwise_labels(seed=4)
    labels = np.where(y == 1, "like", "dislike")
    model = FMClassifier(3, n_epochs=10, random_state=0).fit(X, labels)
    np.testing.assert_array_equal(model.classes_, ["dislike", "like"])
    margins = model.decision_function(X)
    expected = np.where(margins > 0, "like", "dislike")
    np.testing.assert_array_equal(model.predict(X), expected)


def test_classifier_rejects_three_classes():
    X, _ = pairwise_labels(seed=5, n_rows=30)
    y = np.arange(30) % 3
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        FMClassifier(n_epochs=2).fit(X, y)


def test_one_vs_rest_handles_three_classes():
    X, _ = pairwise_labels(seed=5, n_rows=90)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    model = OneVsRestClassifier(FMClassifier(2, n_epochs=20, random_state=0))
    model.fit(X, y)
    assert model.predict_proba(X).shape == (90, 3)
    assert np.mean(model.predict(X) == y) > 0.9


def test_classifier_learns_pairwise_labels():
    X, y = pairwise_labels(seed=6, n_rows=2000)
    linear = LogisticRegression().fit(X[:1500], y[:1500])
    model = FMClassifier(4, learning_rate=0.05, n_epochs=30, random_state=0)
    model.fit(X[:1500], y[:1500])
    assert linear.score(X[1500:], y[1500:]) < 0.8
    assert model.score(X[1500:], y[1500:]) > 0.97


def test_random_state_instance_is_accepted():
    X, y = pairwise_labels(seed=7, n_rows=100)
    first = FMClassifier(2, n_epochs=2, random_state=np.random.RandomState(5))
    second = FMClassifier(2, n_epochs=2, random_state=np.random.RandomState(5))
    np.testing.assert_array_equal(first.fit(X, y).V_, second.fit(X, y).V_)


# --- partial_fit ------------------------------------------------------------------


def test_regressor_partial_fit_continues_from_last_call():
    X, y = one_hot_ratings(seed=8, n_rows=300)
    estimator = FMRegressor(3, learning_rate=0.02, random_state=6)
    estimator.partial_fit(X[:150], y[:150])
    estimator.partial_fit(X[150:], y[150:])

    rng = np.random.default_rng(6)
    params = FMParams.initial(X.shape[1], 3, 0.1, rng)
    for part in (slice(0, 150), slice(150, 300)):
        rows = Rows.from_sparse(X[part], y[part])
        sgd_pass(rows, params, rng, 0.02, 0.01, 0.01, SQUARED_LOSS)
    np.testing.assert_array_equal(estimator.V_, params.V)
    np.testing.assert_array_equal(estimator.w_, params.w)
    assert estimator.w0_ == params.w0[0]
    assert estimator.n_iter_ == 2


def test_partial_fit_passes_bias_switches():
    X, y = one_hot_ratings(seed=8, n_rows=300)
    estimator = FMRegressor(
        3, learning_rate=0.02, reg_bias=0.3, fit_linear=False, random_state=6
    )
    estimator.partial_fit(X, y)

    rng = np.random.default_rng(6)
    params = FMParams.initial(X.shape[1], 3, 0.1, rng)
    rows = Rows.from_sparse(X, y)
    sgd_pass(
        rows,
        params,
        rng,
        0.02,
        0.01,
        0.01,
        SQUARED_LOSS,
        reg_bias=0.3,
        fit_linear=False,
    )
    np.testing.assert_array_equal(estimator.V_, params.V)
    np.testing.assert_array_equal(estimator.w_, np.zeros(X.shape[1]))
    assert estimator.w0_ == params.w0[0]


@pytest.mark.parametrize("solver", ["sgd", "als", "mcmc"])
def test_estimators_keep_fixed_terms_zero(solver):
    X, y = one_hot_ratings(seed=11, n_rows=300)
    kwargs = dict(n_epochs=5, burn_in=2, random_state=0, solver=solver)
    no_linear = FMRegressor(2, fit_linear=False, **kwargs).fit(X, y)
    np.testing.assert_array_equal(no_linear.w_, np.zeros(X.shape[1]))
    assert no_linear.w0_ != 0.0
    no_bias = FMClassifier(2, fit_bias=False, **kwargs).fit(X, y > 3)
    assert no_bias.w0_ == 0.0
    assert np.any(no_bias.w_ != 0.0)


def test_grid_search_over_bias_switches():
    X, y = one_hot_ratings(seed=12, n_rows=300)
    search = GridSearchCV(
        FMRegressor(2, n_epochs=5, random_state=0),
        {"fit_linear": [True, False], "reg_bias": [0.0, 1.0]},
        cv=KFold(3),
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert set(search.best_params_) == {"fit_linear", "reg_bias"}
    expected_linear = search.best_params_["fit_linear"]
    assert np.any(search.best_estimator_.w_ != 0.0) == expected_linear


def test_classifier_partial_fit_maps_labels_to_signs():
    X, y = pairwise_labels(seed=9, n_rows=200)
    labels = np.where(y == 1, "b", "a")
    estimator = FMClassifier(2, scale_features=False, random_state=3)
    estimator.partial_fit(X, labels, classes=["a", "b"])

    rng = np.random.default_rng(3)
    params = FMParams.initial(X.shape[1], 2, 0.1, rng)
    rows = Rows.from_sparse(sp.csr_matrix(X), np.where(y == 1, 1.0, -1.0))
    sgd_pass(rows, params, rng, 0.01, 0.01, 0.01, LOGISTIC_LOSS)
    np.testing.assert_array_equal(estimator.V_, params.V)
    np.testing.assert_array_equal(estimator.classes_, ["a", "b"])


def test_partial_fit_after_fit_continues():
    X, y = one_hot_ratings(seed=10, n_rows=300)
    estimator = FMRegressor(2, n_epochs=3, random_state=0).fit(X, y)
    before = estimator.V_.copy()
    estimator.partial_fit(X, y)
    assert estimator.n_iter_ == 4
    assert not np.array_equal(estimator.V_, before)
    assert r2_score(y, estimator.predict(X)) > r2_score(
        y, FMRegressor(2, n_epochs=3, random_state=0).fit(X, y).predict(X)
    )


def test_classifier_partial_fit_needs_classes_first():
    X, y = pairwise_labels(seed=11, n_rows=20)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        FMClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="classes must list two labels, got 3"):
        FMClassifier().partial_fit(X, y, classes=[0, 1, 2])
    model = FMClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes_"):
        model.partial_fit(X, np.full(20, 7))


def test_diverged_partial_fit_leaves_estimator_unfitted():
    X, y = one_hot_ratings(seed=14, n_rows=200)
    estimator = FMRegressor(3, learning_rate=1e6, init_std=10.0, random_state=0)
    with pytest.raises(TrainingDivergedError, match="partial_fit diverged"):
        estimator.partial_fit(X, y * 1e6)
    with pytest.raises(NotFittedError):
        estimator.predict(X)


def test_partial_fit_only_with_sgd():
    assert hasattr(FMRegressor(), "partial_fit")
    assert not hasattr(FMRegressor(solver="als"), "partial_fit")
    assert not hasattr(FMClassifier(solver="mcmc"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        FMClassifier(solver="als").partial_fit  # noqa: B018
    assert "partial_fit needs solver='sgd'" in str(info.value.__cause__)


# --- pipelines and search ---------------------------------------------------------


def test_pipeline_on_sparse_input_equals_manual_steps():
    X, y = one_hot_ratings(seed=12)
    X = X.multiply(np.linspace(0.5, 2.0, X.shape[1])).tocsr()
    pipeline = Pipeline(
        [
            ("scale", MaxAbsScaler()),
            ("fm", FMRegressor(2, n_epochs=5, random_state=0)),
        ]
    ).fit(X, y)
    scaled = MaxAbsScaler().fit_transform(X)
    manual = FMRegressor(2, n_epochs=5, random_state=0).fit(scaled, y)
    np.testing.assert_array_equal(pipeline.predict(X), manual.predict(scaled))


def test_grid_search_matches_manual_cross_validation():
    X, y = one_hot_ratings(seed=13, n_rows=600)
    grid = {"n_factors": [1, 3], "reg_v": [0.0, 0.05]}
    base = FMRegressor(learning_rate=0.02, n_epochs=10, random_state=0)
    folds = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(base, grid, cv=folds).fit(X, y)

    for index, params in enumerate(search.cv_results_["params"]):
        scores = []
        for train, test in folds.split(X):
            model = clone(base).set_params(**params).fit(X[train], y[train])
            scores.append(r2_score(y[test], model.predict(X[test])))
        assert search.cv_results_["mean_test_score"][index] == pytest.approx(
            np.mean(scores), rel=1e-12
        )
    best = int(np.argmax(search.cv_results_["mean_test_score"]))
    assert search.best_params_ == search.cv_results_["params"][best]
    assert search.best_estimator_.n_factors == search.best_params_["n_factors"]
