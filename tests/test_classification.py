"""Binary classification: the logistic SGD step, probit ALS/MCMC, labels, scores."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, ndtr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sklearn_log_loss

from fmrec.exceptions import TrainingDivergedError
from fmrec.kernels.sgd import LOGISTIC_LOSS, SQUARED_LOSS, sgd_epoch
from fmrec.model import ClassificationEpochRecord, FactorizationMachine, label_signs


def naive_fm(x, w0, w, V):
    """The FM equation with the O(k n^2) double sum over feature pairs."""
    total = w0 + float(w @ x)
    for j in range(x.size):
        for m in range(j + 1, x.size):
            total += float(V[j] @ V[m]) * x[j] * x[m]
    return total


def random_problem(seed, n_rows, n_features=10, n_factors=3, density=0.4):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_features, density=density, random_state=seed, format="csr")
    X.data = rng.normal(size=X.data.size)
    w0 = rng.normal()
    w = rng.normal(size=n_features)
    V = rng.normal(scale=0.5, size=(n_features, n_factors))
    signs = np.where(rng.random(n_rows) < 0.5, -1.0, 1.0)
    return X, w0, w, V, signs


def csr_arrays(X):
    return X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data.astype(float)


def logistic_objective(x, t, w0, w, V, reg_w, reg_v):
    """log(1 + exp(-t y(x))) plus L2 on the features active in x."""
    active = x != 0
    margin = naive_fm(x, w0, w, V)
    penalty = reg_w * np.sum(w[active] ** 2) + reg_v * np.sum(V[active] ** 2)
    return np.log1p(np.exp(-t * margin)) + 0.5 * penalty


def pairwise_labels(seed, n_rows=3000, n_features=8):
    """Return ±1 features and labels sign(x0 x1 + x2 x3 + x4 / 2), 2% flipped.

    The products carry most of the signal, and a linear model can only use x4,
    which gets about 75% right.
    """
    rng = np.random.default_rng(seed)
    dense = rng.choice([-1.0, 1.0], size=(n_rows, n_features))
    truth = dense[:, 0] * dense[:, 1] + dense[:, 2] * dense[:, 3] + 0.5 * dense[:, 4]
    y = (truth > 0).astype(float)
    flip = rng.random(n_rows) < 0.02
    y[flip] = 1.0 - y[flip]
    return sp.csr_matrix(dense), y


# --- the kernel -----------------------------------------------------------------


def test_logistic_step_matches_finite_difference_gradient():
    X, w0, w, V, signs = random_problem(seed=1, n_rows=1, density=0.6)
    x = X.toarray()[0]
    reg_w, reg_v = 0.3, 0.2
    new_w0, new_w, new_V = np.array([w0]), w.copy(), V.copy()
    # With learning_rate=1 the step equals the gradient exactly.
    sgd_epoch(
        *csr_arrays(X),
        signs,
        np.array([0]),
        new_w0,
        new_w,
        new_V,
        1.0,
        reg_w,
        reg_v,
        LOGISTIC_LOSS,
    )
    eps = 1e-6

    def loss(w0_, w_, V_):
        return logistic_objective(x, signs[0], w0_, w_, V_, reg_w, reg_v)

    numeric_w0 = (loss(w0 + eps, w, V) - loss(w0 - eps, w, V)) / (2 * eps)
    assert w0 - new_w0[0] == pytest.approx(numeric_w0, abs=1e-7)
    for j in np.flatnonzero(x):
        step = np.zeros_like(w)
        step[j] = eps
        numeric = (loss(w0, w + step, V) - loss(w0, w - step, V)) / (2 * eps)
        assert w[j] - new_w[j] == pytest.approx(numeric, abs=1e-7)
        for f in range(V.shape[1]):
            step = np.zeros_like(V)
            step[j, f] = eps
            numeric = (loss(w0, w, V + step) - loss(w0, w, V - step)) / (2 * eps)
            assert V[j, f] - new_V[j, f] == pytest.approx(numeric, abs=1e-7)
    inactive = x == 0
    np.testing.assert_array_equal(new_w[inactive], w[inactive])
    np.testing.assert_array_equal(new_V[inactive], V[inactive])


def test_logistic_epoch_matches_python_loop():
    X, w0, w, V, signs = random_problem(seed=3, n_rows=40)
    order = np.random.default_rng(4).permutation(40)
    lr, reg_w, reg_v = 0.05, 0.1, 0.03
    fast = (np.array([w0]), w.copy(), V.copy())
    total = sgd_epoch(
        *csr_arrays(X), signs, order, *fast, lr, reg_w, reg_v, LOGISTIC_LOSS
    )

    ref_w0, ref_w, ref_V = w0, w.copy(), V.copy()
    dense = X.toarray()
    ref_total = 0.0
    for row in order:
        x, t = dense[row], signs[row]
        margin = naive_fm(x, ref_w0, ref_w, ref_V)
        ref_total += np.log1p(np.exp(-t * margin))
        slope = -t / (1.0 + np.exp(t * margin))
        active = x != 0
        q = x @ ref_V
        grad_w = slope * x + reg_w * ref_w * active
        grad_V = (
            slope * (np.outer(x, q) - ref_V * (x**2)[:, None])
            + reg_v * ref_V * active[:, None]
        )
        ref_w0 -= lr * slope
        ref_w = ref_w - lr * grad_w
        ref_V = ref_V - lr * grad_V

    assert total == pytest.approx(ref_total, rel=1e-12)
    assert fast[0][0] == pytest.approx(ref_w0, rel=1e-12)
    np.testing.assert_allclose(fast[1], ref_w, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fast[2], ref_V, rtol=1e-11, atol=1e-13)


def test_logistic_loss_stays_finite_for_huge_margins():
    X = sp.csr_matrix(np.array([[1.0], [1.0]]))
    w = np.array([800.0])
    V = np.zeros((1, 1))
    signs = np.array([1.0, -1.0])
    total = sgd_epoch(
        *csr_arrays(X),
        signs,
        np.array([0, 1]),
        np.zeros(1),
        w,
        V,
        1e-12,
        0.0,
        0.0,
        LOGISTIC_LOSS,
    )
    # The first row costs log(1 + e^-800), 0 in float64, the second 800 + that.
    assert total == pytest.approx(800.0, rel=1e-12)


def test_squared_code_is_the_default():
    X, w0, w, V, _ = random_problem(seed=5, n_rows=20)
    y = np.random.default_rng(5).normal(size=20)
    order = np.arange(20)
    by_default = (np.array([w0]), w.copy(), V.copy())
    explicit = (np.array([w0]), w.copy(), V.copy())
    sse = sgd_epoch(*csr_arrays(X), y, order, *by_default, 0.01, 0.1, 0.1)
    sse_explicit = sgd_epoch(
        *csr_arrays(X), y, order, *explicit, 0.01, 0.1, 0.1, SQUARED_LOSS
    )
    assert sse == sse_explicit
    for a, b in zip(by_default, explicit, strict=True):
        np.testing.assert_array_equal(a, b)


# --- labels ---------------------------------------------------------------------


def test_label_signs_accepts_both_conventions():
    signs, classes = label_signs(np.array([0, 1, 1, 0]))
    np.testing.assert_array_equal(signs, [-1, 1, 1, -1])
    np.testing.assert_array_equal(classes, [0, 1])
    signs, classes = label_signs(np.array([-1.0, 1.0, -1.0]))
    np.testing.assert_array_equal(signs, [-1, 1, -1])
    np.testing.assert_array_equal(classes, [-1, 1])
    signs, classes = label_signs(np.array([True, False]))
    np.testing.assert_array_equal(signs, [1, -1])
    np.testing.assert_array_equal(classes, [0, 1])


@pytest.mark.parametrize("labels", [[0, 1, 2], [-1, 0, 1], [0.5, 1.0]])
def test_label_signs_rejects_other_values(labels):
    with pytest.raises(ValueError, match=r"binary labels in \{0, 1\} or \{-1, 1\}"):
        label_signs(np.array(labels))


@pytest.mark.parametrize("solver, loss", [("sgd", "logistic"), ("als", "probit")])
def test_label_conventions_give_the_same_model(solver, loss):
    X, y = pairwise_labels(seed=0, n_rows=400)
    common = dict(
        solver=solver, loss=loss, n_epochs=5, early_stopping=False, random_state=3
    )
    zero_one = FactorizationMachine(3, **common).fit(X, y)
    plus_minus = FactorizationMachine(3, **common).fit(X, 2 * y - 1)
    np.testing.assert_array_equal(zero_one.V_, plus_minus.V_)
    np.testing.assert_array_equal(zero_one.classes_, [0, 1])
    np.testing.assert_array_equal(plus_minus.classes_, [-1, 1])
    np.testing.assert_array_equal(plus_minus.predict(X), 2 * zero_one.predict(X) - 1)


@pytest.mark.parametrize(
    "solver, loss, message",
    [
        ("als", "logistic", r"loss='logistic' is trained by solver 'sgd'"),
        ("mcmc", "logistic", r"loss='logistic' is trained by solver 'sgd'"),
        ("sgd", "probit", r"loss='probit' is trained by solver 'als' or 'mcmc'"),
        ("sgd", "hinge", r"'loss' parameter .* must be one of"),
    ],
)
def test_loss_and_solver_must_match(solver, loss, message):
    X, y = pairwise_labels(seed=0, n_rows=50)
    with pytest.raises(ValueError, match=message):
        FactorizationMachine(2, solver=solver, loss=loss).fit(X, y)


def test_classifier_rejects_rating_targets():
    X, _ = pairwise_labels(seed=0, n_rows=50)
    ratings = np.arange(50) % 5 + 1.0
    with pytest.raises(ValueError, match=r"got the values \[1.0, 2.0, 3.0"):
        FactorizationMachine(2, loss="logistic").fit(X, ratings)


def test_validation_labels_are_checked():
    X, y = pairwise_labels(seed=0, n_rows=60)
    model = FactorizationMachine(2, loss="logistic", n_epochs=2)
    with pytest.raises(ValueError, match=r"y_valid must hold binary labels"):
        model.fit(X[:40], y[:40], X_valid=X[40:], y_valid=np.full(20, 3.0))


# --- probabilities and predictions ------------------------------------------------


@pytest.mark.parametrize(
    "solver, loss, link",
    [("sgd", "logistic", expit), ("als", "probit", ndtr), ("mcmc", "probit", ndtr)],
)
def test_predict_proba_applies_the_link(solver, loss, link):
    X, y = pairwise_labels(seed=1, n_rows=300)
    model = FactorizationMachine(
        3,
        solver=solver,
        loss=loss,
        n_epochs=12,
        burn_in=4,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    margins = model.decision_function(X)
    proba = model.predict_proba(X)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba[:, 1], link(margins), rtol=1e-12)
    np.testing.assert_allclose(proba[:, 0], link(-margins), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), (margins > 0).astype(float))


def test_predict_proba_needs_a_classifier():
    X, y = pairwise_labels(seed=1, n_rows=100)
    model = FactorizationMachine(2, n_epochs=2, early_stopping=False).fit(X, y)
    with pytest.raises(RuntimeError, match=r"fitted with loss='squared'"):
        model.predict_proba(X)
    assert not hasattr(model, "classes_")


def test_refit_as_regressor_drops_classes():
    X, y = pairwise_labels(seed=1, n_rows=100)
    model = FactorizationMachine(2, loss="logistic", n_epochs=2, early_stopping=False)
    model.fit(X, y)
    assert hasattr(model, "classes_")
    model.set_params(loss="squared").fit(X, y)
    assert not hasattr(model, "classes_")
    np.testing.assert_array_equal(model.predict(X), model.decision_function(X))


# --- training ---------------------------------------------------------------------


@pytest.mark.parametrize("solver, loss", [("sgd", "logistic"), ("als", "probit")])
def test_early_stopping_on_validation_log_loss(solver, loss):
    X, y = pairwise_labels(seed=2, n_rows=1500)
    model = FactorizationMachine(
        4,
        solver=solver,
        loss=loss,
        learning_rate=0.05,
        reg_w=0.001,
        reg_v=0.001,
        n_epochs=60,
        patience=2,
        random_state=0,
    )
    model.fit(X[:1000], y[:1000], X_valid=X[1000:], y_valid=y[1000:])
    assert all(isinstance(r, ClassificationEpochRecord) for r in model.history_)
    scores = [record.valid_log_loss for record in model.history_]
    assert model.best_epoch_ == int(np.argmin(scores)) + 1
    stopped_early = len(model.history_) < 60
    assert stopped_early
    assert len(model.history_) == model.best_epoch_ + 2
    # The kept parameters are those of the best epoch, scored like sklearn.
    proba = model.predict_proba(X[1000:])
    expected = sklearn_log_loss(y[1000:], proba[:, 1])
    assert scores[model.best_epoch_ - 1] == pytest.approx(expected, rel=1e-9)


def test_mcmc_records_log_loss_of_the_averaged_model():
    X, y = pairwise_labels(seed=3, n_rows=900)
    model = FactorizationMachine(
        3, solver="mcmc", loss="probit", n_epochs=25, burn_in=5, random_state=0
    )
    model.fit(X[:600], y[:600], X_valid=X[600:], y_valid=y[600:])
    assert len(model.history_) == 25
    assert model.history_[4].valid_log_loss is None
    assert model.history_[5].valid_log_loss is not None
    proba = model.predict_proba(X[600:])
    expected = sklearn_log_loss(y[600:], proba[:, 1])
    assert model.history_[-1].valid_log_loss == pytest.approx(expected, rel=1e-9)


def test_training_log_loss_matches_predictions():
    X, y = pairwise_labels(seed=4, n_rows=500)
    for solver, loss in (("sgd", "logistic"), ("als", "probit")):
        model = FactorizationMachine(
            3, solver=solver, loss=loss, n_epochs=4, early_stopping=False
        ).fit(X, y)
        expected = sklearn_log_loss(y, model.predict_proba(X)[:, 1])
        assert model.history_[-1].train_log_loss == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "solver, loss", [("sgd", "logistic"), ("als", "probit"), ("mcmc", "probit")]
)
def test_classifier_fits_are_reproducible(solver, loss):
    X, y = pairwise_labels(seed=5, n_rows=400)

    def fit():
        return FactorizationMachine(
            3, solver=solver, loss=loss, n_epochs=8, burn_in=2, random_state=11
        ).fit(X, y)

    first, second = fit(), fit()
    np.testing.assert_array_equal(first.V_, second.V_)
    np.testing.assert_array_equal(first.w_, second.w_)
    assert first.w0_ == second.w0_


def test_logistic_divergence_raises_and_keeps_the_old_model():
    X, y = pairwise_labels(seed=6, n_rows=200)
    model = FactorizationMachine(
        3, loss="logistic", n_epochs=2, early_stopping=False, random_state=0
    ).fit(X, y)
    before = model.V_.copy()
    model.set_params(learning_rate=1e8, init_std=10.0)
    with pytest.raises(TrainingDivergedError, match=r"SGD diverged in epoch \d"):
        model.fit(X * 1e3, y)
    np.testing.assert_array_equal(model.V_, before)


@pytest.mark.parametrize("solver, loss", [("sgd", "logistic"), ("als", "probit")])
def test_fm_learns_pairwise_labels_a_linear_model_cannot(solver, loss):
    X, y = pairwise_labels(seed=7, n_rows=4000)
    train, test = slice(0, 3000), slice(3000, None)
    linear = LogisticRegression().fit(X[train], y[train])
    linear_accuracy = np.mean(linear.predict(X[test]) == y[test])
    model = FactorizationMachine(
        4,
        solver=solver,
        loss=loss,
        learning_rate=0.05,
        reg_w=0.001,
        reg_v=0.001,
        init_std=0.1,
        n_epochs=40,
        random_state=0,
    ).fit(X[train], y[train])
    accuracy = np.mean(model.predict(X[test]) == y[test])
    assert linear_accuracy < 0.8
    assert accuracy > 0.95
