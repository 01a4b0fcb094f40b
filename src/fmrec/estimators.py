"""scikit-learn estimators backed by the Factorization Machine.

:class:`FMRegressor` and :class:`FMClassifier` follow scikit-learn's estimator
API, so they work in ``Pipeline``, ``GridSearchCV`` and ``clone``: the
constructor only stores hyperparameters, ``fit`` validates the input with
scikit-learn's tools and trains a :class:`~fmrec.model.FactorizationMachine`,
and both accept dense arrays and SciPy sparse matrices.

The regressor minimises the squared error. The classifier is binary: SGD
minimises the logistic loss, so ``predict_proba`` gives sigma(m) of the margin
m, and ALS and MCMC fit the probit model, so it gives Phi(m), the standard
normal distribution function. Multiclass problems can use scikit-learn's
``OneVsRestClassifier`` around :class:`FMClassifier`.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from fmrec.exceptions import TrainingDivergedError
from fmrec.kernels.sgd import LOGISTIC_LOSS, SQUARED_LOSS
from fmrec.model import FactorizationMachine, probability
from fmrec.solvers import FMParams, Rows
from fmrec.solvers.sgd import sgd_pass

__all__ = ["FMClassifier", "FMRegressor"]


def _uses_sgd(estimator: _FMEstimator) -> bool:
    if estimator.solver != "sgd":
        raise AttributeError(
            f"partial_fit needs solver='sgd', but this {type(estimator).__name__} "
            f"has solver={estimator.solver!r}."
        )
    return True


# Parameter and attribute documentation shared by both estimators; each class
# adds its own entries and its learning rate default.
_PARAMETERS_HEAD = """    n_factors : int, default=8
        Dimension k of the factor vectors; 0 gives a linear model.
    solver : {"sgd", "als", "mcmc"}, default="sgd"
        Training algorithm, see :class:`~fmrec.model.FactorizationMachine`.
"""

_PARAMETERS_TAIL = """    reg_w : float, default=0.01
        L2 penalty on the linear weights (per SGD step; the total penalty for
        ALS; the initial prior precision for MCMC).
    reg_v : float, default=0.01
        L2 penalty on the factors, in the same sense.
    reg_bias : float, default=0.0
        L2 penalty on the bias, in the same sense, except that for MCMC it is
        the fixed precision of the bias prior N(0, 1/reg_bias), where 0 gives
        a flat prior.
    fit_bias : bool, default=True
        Learn the bias. When False, ``w0_`` stays 0.
    fit_linear : bool, default=True
        Learn the linear weights. When False, ``w_`` stays all 0.
    init_std : float, default=0.1
        Standard deviation of the normal distribution the factors start from.
    n_epochs : int, default=50
        Maximum number of passes (SGD, ALS) or the number of MCMC iterations.
    early_stopping : bool, default=False
        SGD and ALS: hold out ``validation_fraction`` of the rows and stop once
        the validation score has not improved for ``patience`` epochs.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.
    patience : int, default=5
        Epochs without improvement before stopping.
    burn_in : int, default=10
        MCMC iterations discarded before samples are kept.
    n_kept_samples : int, default=32
        MCMC samples averaged by the fitted model.
    scale_features : bool, default=True
        Train on each feature divided by its maximum absolute value in the
        training rows, as ``sklearn.preprocessing.MaxAbsScaler`` does, so that
        the SGD step suits features of any scale and sparse input stays
        sparse. The learned parameters are converted back, so ``w_`` and
        ``V_`` apply to the unscaled features; the L2 penalties act on the
        scaled ones. One-hot features are left as they are.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, shuffling and sampling. A RandomState
        instance gives a seed drawn from it.
    verbose : bool, default=False
        Show a progress bar with per-epoch scores on stderr.
"""

_ATTRIBUTES = """    w0_ : float
        Global bias.
    w_ : ndarray of shape (n_features_in_,)
        Linear weights.
    V_ : ndarray of shape (n_features_in_, n_columns)
        Factor vectors (for MCMC the kept samples side by side).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_scale_ : ndarray of shape (n_features_in_,)
        Factor each feature was multiplied by for training: 1 / max |x_j|,
        or 1 for a feature that is all zeros or with ``scale_features=False``.
        ``partial_fit`` keeps the factors of its first call.
    history_ : list
        Per-epoch scores of the last ``fit``; ``partial_fit`` adds none.
    n_iter_ : int
        Epochs run by ``fit`` plus passes run by ``partial_fit`` since.
"""


class _FMEstimator(BaseEstimator):
    """Hyperparameters, training and prediction shared by both estimators.

    The parameters are documented on :class:`FMRegressor` and
    :class:`FMClassifier`.
    """

    _loss = "squared"

    def __init__(
        self,
        n_factors: int = 8,
        *,
        solver: str = "sgd",
        learning_rate: float = 0.01,
        reg_w: float = 0.01,
        reg_v: float = 0.01,
        reg_bias: float = 0.0,
        fit_bias: bool = True,
        fit_linear: bool = True,
        init_std: float = 0.1,
        n_epochs: int = 50,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        burn_in: int = 10,
        n_kept_samples: int = 32,
        scale_features: bool = True,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.solver = solver
        self.learning_rate = learning_rate
        self.reg_w = reg_w
        self.reg_v = reg_v
        self.reg_bias = reg_bias
        self.fit_bias = fit_bias
        self.fit_linear = fit_linear
        self.init_std = init_std
        self.n_epochs = n_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.burn_in = burn_in
        self.n_kept_samples = n_kept_samples
        self.scale_features = scale_features
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        # A partial_fit that raised may leave n_features_in_ but no parameters.
        return hasattr(self, "V_")

    def _model(self, loss: str, seed: int | None) -> FactorizationMachine:
        return FactorizationMachine(
            self.n_factors,
            solver=self.solver,
            loss=loss,
            learning_rate=self.learning_rate,
            reg_w=self.reg_w,
            reg_v=self.reg_v,
            reg_bias=self.reg_bias,
            fit_bias=self.fit_bias,
            fit_linear=self.fit_linear,
            init_std=self.init_std,
            n_epochs=self.n_epochs,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
            burn_in=self.burn_in,
            n_kept_samples=self.n_kept_samples,
            random_state=seed,
            verbose=self.verbose,
        )

    def _fit_model(self, X: sp.csr_matrix, targets: np.ndarray, loss: str) -> None:
        """Train a FactorizationMachine and copy its parameters and history."""
        scale = self._feature_scale(X)
        model = self._model(loss, _seed(self.random_state))
        model.fit(_scale_columns(X, scale), targets)
        self.feature_scale_ = scale
        self.w0_ = model.w0_
        self.w_ = model.w_ * scale
        self.V_ = model.V_ * scale[:, None]
        self.history_ = model.history_
        self.n_iter_ = len(model.history_)
        self._sgd_rng = None

    def _margins(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        params = FMParams(np.array([self.w0_]), self.w_, self.V_)
        return Rows.from_sparse(X).predict(params)

    def _sgd_pass(self, X: sp.csr_matrix, targets: np.ndarray, loss: int) -> None:
        """Run one SGD pass from the current parameters, or fresh ones at first.

        The parameters are replaced only when the pass stays finite.
        """
        if getattr(self, "_sgd_rng", None) is None:
            self._sgd_rng = np.random.default_rng(_seed(self.random_state))
        first = not hasattr(self, "V_")
        if first:
            self._model(self._loss, None)._check_params()
            scale = self._feature_scale(X)
            params = FMParams.initial(
                X.shape[1], self.n_factors, self.init_std, self._sgd_rng
            )
        else:
            scale = self.feature_scale_
            # The pass trains on scaled features: w_j / scale_j is the weight of
            # scaled feature j, and likewise for the factors.
            params = FMParams(
                np.array([self.w0_]), self.w_ / scale, self.V_ / scale[:, None]
            )
        rows = Rows.from_sparse(_scale_columns(X, scale), targets)
        total = sgd_pass(
            rows,
            params,
            self._sgd_rng,
            self.learning_rate,
            self.reg_w,
            self.reg_v,
            loss,
            reg_bias=float(self.reg_bias),
            fit_bias=bool(self.fit_bias),
            fit_linear=bool(self.fit_linear),
        )
        bad = params.first_non_finite()
        if bad is not None or not np.isfinite(total):
            raise TrainingDivergedError(
                f"partial_fit diverged: {bad or 'the loss'} became NaN or infinite. "
                f"Lower learning_rate (now {self.learning_rate}) or raise "
                f"reg_w/reg_v (now {self.reg_w}/{self.reg_v})."
            )
        if first:
            self.history_ = []
            self.n_iter_ = 0
        self.feature_scale_ = scale
        self.w0_ = float(params.w0[0])
        self.w_ = params.w * scale
        self.V_ = params.V * scale[:, None]
        self.n_iter_ += 1

    def _feature_scale(self, X: sp.csr_matrix) -> np.ndarray:
        """Return 1 / max |x_j| per column (1 for empty columns or no scaling)."""
        scale = np.ones(X.shape[1])
        if not self.scale_features or X.shape[0] == 0:
            return scale
        largest = np.asarray(abs(X).max(axis=0).todense()).ravel()
        np.divide(1.0, largest, out=scale, where=largest > 0)
        return scale


class FMRegressor(RegressorMixin, _FMEstimator):
    __doc__ = f"""Factorization Machine regressor on the squared error.

    Parameters
    ----------
{_PARAMETERS_HEAD}    learning_rate : float, default=0.001
        SGD step size. It is ten times smaller than the classifier's because
        the squared-loss gradient grows with the targets' scale: on targets
        with a standard deviation of about 40, 0.003 already diverges.
{_PARAMETERS_TAIL}    target_range : tuple of float, optional
        ``(low, high)``: ``predict`` clips to this range.

    Attributes
    ----------
{_ATTRIBUTES}    """

    def __init__(
        self,
        n_factors: int = 8,
        *,
        solver: str = "sgd",
        learning_rate: float = 0.001,
        reg_w: float = 0.01,
        reg_v: float = 0.01,
        reg_bias: float = 0.0,
        fit_bias: bool = True,
        fit_linear: bool = True,
        init_std: float = 0.1,
        n_epochs: int = 50,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        burn_in: int = 10,
        n_kept_samples: int = 32,
        target_range: tuple[float, float] | None = None,
        scale_features: bool = True,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            n_factors,
            solver=solver,
            learning_rate=learning_rate,
            reg_w=reg_w,
            reg_v=reg_v,
            reg_bias=reg_bias,
            fit_bias=fit_bias,
            fit_linear=fit_linear,
            init_std=init_std,
            n_epochs=n_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            patience=patience,
            burn_in=burn_in,
            n_kept_samples=n_kept_samples,
            scale_features=scale_features,
            random_state=random_state,
            verbose=verbose,
        )
        self.target_range = target_range

    def fit(self, X, y) -> FMRegressor:
        """Train on rows ``X`` (dense or sparse) with real targets ``y``."""
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=np.float64, y_numeric=True
        )
        self._fit_model(sp.csr_matrix(X), y, "squared")
        return self

    @available_if(_uses_sgd)
    def partial_fit(self, X, y) -> FMRegressor:
        """Run one SGD pass over the given rows, starting where the last call ended.

        The first call (on an unfitted estimator) initialises the parameters;
        later calls, and calls after ``fit``, continue from the current ones.
        Only available with ``solver="sgd"``.
        """
        first = not hasattr(self, "V_")
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=np.float64,
            y_numeric=True,
            reset=first,
        )
        self._sgd_pass(sp.csr_matrix(X), y, SQUARED_LOSS)
        return self

    def predict(self, X) -> np.ndarray:
        """Return the FM output of each row, clipped to ``target_range`` if set."""
        margins = self._margins(X)
        if self.target_range is None:
            return margins
        return np.clip(margins, *self.target_range)


class FMClassifier(ClassifierMixin, _FMEstimator):
    __doc__ = f"""Binary FM classifier: logistic loss (SGD) or probit model (ALS, MCMC).

    Labels may be of any type with two distinct values; ``classes_[1]``, the
    larger one, is the positive class.

    Parameters
    ----------
{_PARAMETERS_HEAD}    learning_rate : float, default=0.01
        SGD step size.
{_PARAMETERS_TAIL}
    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, sorted.
{_ATTRIBUTES}    """

    _loss = "logistic"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y) -> FMClassifier:
        """Train on rows ``X`` (dense or sparse) with two-valued labels ``y``.

        Raises
        ------
        ValueError
            For continuous targets, more than two classes or a single class.
        """
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64)
        classes, index = _binary_classes(y)
        self.classes_ = classes
        self._fit_model(sp.csr_matrix(X), index.astype(np.float64), self._solver_loss())
        return self

    @available_if(_uses_sgd)
    def partial_fit(self, X, y, classes=None) -> FMClassifier:
        """Run one SGD pass of the logistic loss over the given rows.

        The first call must list both labels in ``classes`` unless ``fit`` ran
        before; later calls continue from the current parameters. Only
        available with ``solver="sgd"``.
        """
        first = _check_partial_fit_first_call(self, classes)
        if first and len(self.classes_) != 2:
            found = len(self.classes_)
            del self.classes_
            raise ValueError(
                "Only binary classification is supported: classes must list two "
                f"labels, got {found}."
            )
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=np.float64,
            reset=not hasattr(self, "V_"),
        )
        check_classification_targets(y)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(
                f"y contains labels {np.unique(y[unknown])[:5].tolist()} that are "
                f"not in classes_ {self.classes_.tolist()}."
            )
        signs = np.where(y == self.classes_[1], 1.0, -1.0)
        self._sgd_pass(sp.csr_matrix(X), signs, LOGISTIC_LOSS)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Return the margin m of each row; positive margins predict ``classes_[1]``."""
        return self._margins(X)

    def predict(self, X) -> np.ndarray:
        """Return ``classes_[1]`` where the margin is positive, else ``classes_[0]``."""
        margins = self._margins(X)
        return self.classes_[(margins > 0).astype(np.intp)]

    def predict_proba(self, X) -> np.ndarray:
        """Return P(classes_[0]) and P(classes_[1]) for each row.

        P(classes_[1]) is sigma(m) = 1 / (1 + exp(-m)) with SGD and Phi(m) with
        ALS or MCMC, where m is the margin; for MCMC m is the mean margin of
        the kept samples. The first column is computed from -m, so both keep
        their relative precision.
        """
        margins = self._margins(X)
        loss = self._solver_loss()
        return np.column_stack(
            [probability(-margins, loss), probability(margins, loss)]
        )

    def _solver_loss(self) -> str:
        return "logistic" if self.solver == "sgd" else "probit"


def _scale_columns(X: sp.csr_matrix, scale: np.ndarray) -> sp.csr_matrix:
    """Return ``X`` with column j multiplied by ``scale[j]``."""
    scaled = X.copy()
    scaled.data = scaled.data * scale[scaled.indices]
    return scaled


def _binary_classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the two sorted labels and each row's index into them."""
    check_classification_targets(y)
    target_type = type_of_target(y, input_name="y")
    if target_type not in ("binary",):
        raise ValueError(
            "Only binary classification is supported. The type of the target "
            f"is {target_type}; wrap FMClassifier in "
            "sklearn.multiclass.OneVsRestClassifier for more classes."
        )
    classes, index = np.unique(y, return_inverse=True)
    if classes.size != 2:
        raise ValueError(
            f"FMClassifier needs samples of 2 classes, but the data contains only "
            f"one class: {classes[0]!r}."
        )
    return classes, index


def _seed(random_state: object) -> int | np.random.Generator | None:
    """Return a seed FactorizationMachine accepts, drawing one from a RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    raise ValueError(
        f"random_state must be None, an int, a RandomState or a Generator, got "
        f"{random_state!r}."
    )
