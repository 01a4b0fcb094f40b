"""Kernels and the estimator against naive references."""

import numpy as np
import pytest
import scipy.sparse as sp

from fmrec.exceptions import TrainingDivergedError
from fmrec.kernels import fm_predict, fm_row_terms, sgd_epoch
from fmrec.kernels.sgd import SQUARED_LOSS
from fmrec.model import FactorizationMachine
from fmrec.solvers.sgd import epoch_order


def naive_fm(x: np.ndarray, w0: float, w: np.ndarray, V: np.ndarray) -> float:
    """The FM equation with the O(k n^2) double sum over feature pairs."""
    total = w0 + float(w @ x)
    n = x.size
    for j in range(n):
        for m in range(j + 1, n):
            total += float(V[j] @ V[m]) * x[j] * x[m]
    return total


def random_problem(seed=0, n_rows=40, n_features=12, n_factors=4, density=0.3):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=seed, format="csr")
    X.data = rng.normal(size=X.data.size)
    w0 = rng.normal()
    w = rng.normal(size=n_features)
    V = rng.normal(size=(n_features, n_factors))
    return X, w0, w, V


def csr_arrays(X):
    return X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data.astype(float)


def sample_loss(x, y, w0, w, V, reg_w, reg_v):
    """Squared loss of one sample plus L2 on the features active in it."""
    active = x != 0
    err = naive_fm(x, w0, w, V) - y
    penalty = reg_w * np.sum(w[active] ** 2) + reg_v * np.sum(V[active] ** 2)
    return 0.5 * err * err + 0.5 * penalty


def test_predict_matches_naive_pairwise_sum():
    X, w0, w, V = random_problem()
    fast = fm_predict(*csr_arrays(X), w0, w, V)
    dense = X.toarray()
    naive = np.array([naive_fm(row, w0, w, V) for row in dense])
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)


def test_row_terms_recombine_to_prediction():
    X, w0, w, V = random_problem(seed=1, n_features=10)
    left, right = X[:, :6], X[:, 6:]
    pad = sp.csr_matrix((X.shape[0], 4))
    s_a, q_a = fm_row_terms(*csr_arrays(sp.hstack([left, pad]).tocsr()), w, V)
    pad = sp.csr_matrix((X.shape[0], 6))
    s_b, q_b = fm_row_terms(*csr_arrays(sp.hstack([pad, right]).tocsr()), w, V)
    combined = w0 + s_a + s_b + np.sum(q_a * q_b, axis=1)
    np.testing.assert_allclose(
        combined, fm_predict(*csr_arrays(X), w0, w, V), rtol=1e-12
    )


def test_sgd_step_matches_finite_difference_gradient():
    X, w0, w, V = random_problem(
        seed=2, n_rows=1, n_features=8, n_factors=3, density=0.6
    )
    x = X.toarray()[0]
    y = np.array([1.7])
    reg_w, reg_v = 0.3, 0.2
    new_w0, new_w, new_V = np.array([w0]), w.copy(), V.copy()
    # With learning_rate=1 the step equals the gradient exactly.
    sgd_epoch(*csr_arrays(X), y, np.array([0]), new_w0, new_w, new_V, 1.0, reg_w, reg_v)
    eps = 1e-6

    def loss(w0_, w_, V_):
        return sample_loss(x, y[0], w0_, w_, V_, reg_w, reg_v)

    numeric_w0 = (loss(w0 + eps, w, V) - loss(w0 - eps, w, V)) / (2 * eps)
    assert new_w0[0] == pytest.approx(w0 - numeric_w0, abs=1e-6)
    for j in np.flatnonzero(x):
        step = np.zeros_like(w)
        step[j] = eps
        numeric = (loss(w0, w + step, V) - loss(w0, w - step, V)) / (2 * eps)
        assert w[j] - new_w[j] == pytest.approx(numeric, abs=1e-6)
        for f in range(V.shape[1]):
            step = np.zeros_like(V)
            step[j, f] = eps
            numeric = (loss(w0, w, V + step) - loss(w0, w, V - step)) / (2 * eps)
            assert V[j, f] - new_V[j, f] == pytest.approx(numeric, abs=1e-6)
    inactive = x == 0
    np.testing.assert_array_equal(new_w[inactive], w[inactive])
    np.testing.assert_array_equal(new_V[inactive], V[inactive])


@pytest.mark.parametrize(
    "reg_bias, fit_bias, fit_linear",
    [
        (0.0, True, True),
        (0.5, True, True),
        (0.5, False, True),
        (0.0, True, False),
        (0.5, False, False),
    ],
)
def test_sgd_epoch_matches_python_loop(reg_bias, fit_bias, fit_linear):
    X, w0, w, V = random_problem(seed=3, n_rows=30)
    y = np.random.default_rng(3).normal(size=30)
    order = np.random.default_rng(4).permutation(30)
    fast = (np.array([w0]), w.copy(), V.copy())
    if (reg_bias, fit_bias, fit_linear) == (0.0, True, True):
        # The call every existing caller makes, without the new arguments.
        sse = sgd_epoch(*csr_arrays(X), y, order, *fast, 0.01, 0.1, 0.05)
    else:
        sse = sgd_epoch(
            *csr_arrays(X),
            y,
            order,
            *fast,
            0.01,
            0.1,
            0.05,
            SQUARED_LOSS,
            reg_bias,
            fit_bias,
            fit_linear,
        )

    ref_w0, ref_w, ref_V = w0, w.copy(), V.copy()
    dense = X.toarray()
    ref_sse = 0.0
    for row in order:
        x = dense[row]
        err = naive_fm(x, ref_w0, ref_w, ref_V) - y[row]
        ref_sse += err * err
        q = x @ ref_V
        grad_w = err * x + 0.1 * ref_w * (x != 0)
        grad_V = (
            err * (np.outer(x, q) - ref_V * (x**2)[:, None])
            + 0.05 * ref_V * (x != 0)[:, None]
        )
        if fit_bias:
            ref_w0 -= 0.01 * (err + reg_bias * ref_w0)
        if fit_linear:
            ref_w = ref_w - 0.01 * grad_w
        ref_V = ref_V - 0.01 * grad_V
    assert sse == pytest.approx(ref_sse, rel=1e-10)
    assert fast[0][0] == pytest.approx(ref_w0, abs=1e-12)
    np.testing.assert_allclose(fast[1], ref_w, atol=1e-12)
    np.testing.assert_allclose(fast[2], ref_V, atol=1e-12)
    if not fit_bias:
        assert fast[0][0] == w0
    if not fit_linear:
        np.testing.assert_array_equal(fast[1], w)


def test_sgd_penalised_bias_step_by_hand():
    # One sample with features 0 and 2 set to 1 and target 4, k = 1.
    X = sp.csr_matrix(np.array([[1.0, 0.0, 1.0]]))
    y = np.array([4.0])
    w0 = np.array([0.5])
    w = np.array([0.1, 0.0, 0.3])
    V = np.array([[1.0], [0.0], [0.5]])
    sse = sgd_epoch(
        *csr_arrays(X), y, np.array([0]), w0, w, V, 0.1, 0.0, 0.0, SQUARED_LOSS, 0.5
    )
    # Prediction 0.5 + 0.1 + 0.3 + 1.0 * 0.5 = 1.4, so the error is -2.6 and
    # w0 <- 0.5 - 0.1 * (-2.6 + 0.5 * 0.5) = 0.735.
    assert sse == pytest.approx(2.6**2, rel=1e-12)
    assert w0[0] == pytest.approx(0.735, rel=1e-12)
    # w_j <- w_j - 0.1 * (-2.6 * 1): the bias penalty leaves the weights alone.
    np.testing.assert_allclose(w, [0.36, 0.0, 0.56], rtol=1e-12)


def test_sgd_bias_penalty_shrinks_fitted_bias():
    """A bias-only model minimises 1/2 mean (y - w0)^2 + 1/2 reg_bias w0^2.

    Its minimum is w0 = mean(y) / (1 + reg_bias). With a step size a = 0.001
    the SGD iterate fluctuates around it with a standard deviation of about
    sqrt(a var(y) / (2 (1 + reg_bias))), at most 0.042 for var(y) = 3.5 here,
    so the tolerance of 0.15 is over 3.5 deviations.
    """
    X, y = synthetic_ratings()
    kwargs = dict(
        n_factors=0,
        fit_linear=False,
        learning_rate=0.001,
        n_epochs=3,
        early_stopping=False,
        random_state=0,
    )
    free = FactorizationMachine(**kwargs).fit(X, y)
    penalised = FactorizationMachine(reg_bias=1.0, **kwargs).fit(X, y)
    assert free.w0_ == pytest.approx(y.mean(), abs=0.15)
    assert penalised.w0_ == pytest.approx(y.mean() / 2.0, abs=0.15)


@pytest.mark.parametrize("n_rows", [1, 4095, 4096, 4097, 10000])
def test_epoch_order_is_permutation(n_rows):
    order = epoch_order(n_rows, np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(order), np.arange(n_rows))


def test_epoch_order_changes_every_epoch():
    rng = np.random.default_rng(0)
    first, second = epoch_order(10000, rng), epoch_order(10000, rng)
    assert not np.array_equal(first, second)


def synthetic_ratings(n_users=60, n_items=40, n_rows=1500, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    X = sp.csr_matrix(
        (
            np.ones(2 * n_rows),
            np.stack([users, n_users + items], 1).ravel(),
            np.arange(0, 2 * n_rows + 1, 2),
        ),
        shape=(n_rows, n_users + n_items),
    )
    user_f, item_f = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    noise = 0.1 * rng.normal(size=n_rows)
    y = 3 + np.sum(user_f[users] * item_f[items], axis=1) + noise
    return X, y


SOLVER_LOSSES = [
    ("sgd", "squared"),
    ("als", "squared"),
    ("mcmc", "squared"),
    ("sgd", "logistic"),
    ("als", "probit"),
    ("mcmc", "probit"),
]


def fit_small(solver, loss, **params):
    X, y = synthetic_ratings(n_rows=600)
    if loss != "squared":
        y = (y > 3).astype(float)
    model = FactorizationMachine(
        3,
        solver=solver,
        loss=loss,
        n_epochs=6,
        early_stopping=False,
        burn_in=2,
        n_kept_samples=3,
        random_state=0,
        **params,
    )
    return X, model.fit(X, y)


@pytest.mark.parametrize("solver, loss", SOLVER_LOSSES)
def test_fit_without_linear_keeps_weights_zero(solver, loss):
    X, model = fit_small(solver, loss, fit_linear=False)
    np.testing.assert_array_equal(model.w_, np.zeros(X.shape[1]))
    assert model.w0_ != 0.0
    dense = X[:40].toarray()
    naive = [naive_fm(row, model.w0_, np.zeros(X.shape[1]), model.V_) for row in dense]
    np.testing.assert_allclose(
        model.decision_function(X[:40]), naive, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("solver, loss", SOLVER_LOSSES)
def test_fit_without_bias_keeps_it_zero(solver, loss):
    X, model = fit_small(solver, loss, fit_bias=False, reg_bias=3.0)
    assert model.w0_ == 0.0
    assert np.any(model.w_ != 0.0)
    dense = X[:40].toarray()
    naive = [naive_fm(row, 0.0, model.w_, model.V_) for row in dense]
    np.testing.assert_allclose(
        model.decision_function(X[:40]), naive, rtol=1e-12, atol=1e-12
    )


def test_switches_are_parameters():
    model = FactorizationMachine()
    params = model.get_params()
    assert params["fit_bias"] is True
    assert params["fit_linear"] is True
    assert params["reg_bias"] == 0.0
    model.set_params(fit_bias=False, fit_linear=False, reg_bias=0.25)
    assert model.get_params()["fit_bias"] is False
    assert model.get_params()["fit_linear"] is False
    assert model.get_params()["reg_bias"] == 0.25


def test_fit_is_bitwise_reproducible():
    X, y = synthetic_ratings()
    first = FactorizationMachine(8, n_epochs=5, random_state=7).fit(X, y)
    second = FactorizationMachine(8, n_epochs=5, random_state=7).fit(X, y)
    assert first.w0_ == second.w0_
    np.testing.assert_array_equal(first.w_, second.w_)
    np.testing.assert_array_equal(first.V_, second.V_)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_fit_learns_synthetic_interactions():
    X, y = synthetic_ratings(n_rows=4000)
    model = FactorizationMachine(
        3,
        learning_rate=0.02,
        reg_w=0.0,
        reg_v=0.001,
        init_std=0.1,
        n_epochs=200,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    baseline = np.sqrt(np.mean((y - y.mean()) ** 2))
    trained = np.sqrt(np.mean((model.predict(X) - y) ** 2))
    assert trained < 0.3 * baseline


def test_early_stopping_restores_best_epoch():
    X, y = synthetic_ratings(n_rows=3000)
    model = FactorizationMachine(
        16,
        learning_rate=0.05,
        reg_w=0.0,
        reg_v=0.0,
        n_epochs=100,
        patience=2,
        validation_fraction=0.2,
        random_state=0,
    ).fit(X, y)
    valid = [record.valid_rmse for record in model.history_]
    assert len(valid) < 100
    assert model.best_epoch_ == int(np.argmin(valid)) + 1
    assert len(valid) - model.best_epoch_ == 2


def test_explicit_validation_set_is_scored():
    X, y = synthetic_ratings()
    model = FactorizationMachine(4, n_epochs=3, early_stopping=False, random_state=0)
    model.fit(X[:1000], y[:1000], X_valid=X[1000:], y_valid=y[1000:])
    for record in model.history_:
        assert record.valid_rmse is not None


def test_divergence_raises_and_keeps_previous_fit():
    X, y = synthetic_ratings()
    model = FactorizationMachine(4, n_epochs=2, early_stopping=False, random_state=0)
    model.fit(X, y)
    before = model.V_.copy()
    model.learning_rate = 1e6
    with pytest.raises(TrainingDivergedError, match=r"epoch 1.*Lower learning_rate"):
        model.fit(X, y * 1e6)
    np.testing.assert_array_equal(model.V_, before)
    assert np.isfinite(model.V_).all()


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_factors", -1),
        ("n_factors", 2.5),
        ("learning_rate", 0.0),
        ("reg_w", -0.1),
        ("n_epochs", 0),
        ("validation_fraction", 0.9),
        ("init_std", float("nan")),
        ("reg_bias", -0.5),
        ("reg_bias", float("inf")),
        ("reg_bias", None),
        ("fit_bias", "no"),
        ("fit_linear", 0),
    ],
)
def test_invalid_hyperparameter_is_named(name, value):
    X, y = synthetic_ratings()
    model = FactorizationMachine(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter of FactorizationMachine"):
        model.fit(X, y)


def test_invalid_switch_message_shows_value():
    X, y = synthetic_ratings()
    model = FactorizationMachine(fit_linear="no")
    with pytest.raises(ValueError, match="must be a bool. Got 'no' instead"):
        model.fit(X, y)


def test_fit_rejects_zero_rows_and_bad_targets():
    X, y = synthetic_ratings()
    with pytest.raises(ValueError, match="zero rows"):
        FactorizationMachine().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="NaN"):
        FactorizationMachine().fit(X, np.where(np.arange(y.size) == 3, np.nan, y))
    with pytest.raises(ValueError, match="1499 values but X has 1500 rows"):
        FactorizationMachine().fit(X, y[:-1])


def test_predict_checks_feature_count_and_fit():
    X, y = synthetic_ratings()
    with pytest.raises(RuntimeError, match="not fitted"):
        FactorizationMachine().predict(X)
    model = FactorizationMachine(4, n_epochs=1, early_stopping=False).fit(X, y)
    with pytest.raises(ValueError, match="fitted with 100"):
        model.predict(X[:, :50])


def test_target_range_clips_predict_only():
    X, y = synthetic_ratings()
    model = FactorizationMachine(
        4, n_epochs=2, early_stopping=False, target_range=(2.5, 3.5), random_state=0
    ).fit(X, y)
    raw = model.decision_function(X)
    np.testing.assert_array_equal(model.predict(X), np.clip(raw, 2.5, 3.5))
    assert raw.min() < 2.5 or raw.max() > 3.5


def test_benchmark_python_loop_matches_kernel():
    """The benchmark's per-sample baseline must compute the same epoch."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from reference_loop import python_sgd_epoch

    X, y = synthetic_ratings(n_rows=200)
    rng = np.random.default_rng(5)
    V = rng.normal(0, 0.1, (X.shape[1], 6))
    order = rng.permutation(200)
    params = {"w0": np.zeros(1), "w": np.zeros(X.shape[1]), "V": V.copy()}
    python_sgd_epoch(X, y, order, params, 0.01, 0.1)
    fast = (np.zeros(1), np.zeros(X.shape[1]), V.copy())
    sgd_epoch(*csr_arrays(X), y, order, *fast, 0.01, 0.1, 0.1)
    assert fast[0][0] == pytest.approx(params["w0"][0], abs=1e-12)
    np.testing.assert_allclose(fast[1], params["w"], atol=1e-12)
    np.testing.assert_allclose(fast[2], params["V"], atol=1e-12)
