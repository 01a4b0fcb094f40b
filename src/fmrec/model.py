"""The Factorization Machine estimator for regression.

A 2-way FM (Rendle, 2010) predicts

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l

for a sparse feature vector x, with a bias w0, linear weights w and a
k-dimensional factor vector v_j per feature. Three solvers fit it: SGD on
the mean squared error with L2 penalties (:mod:`fmrec.solvers.sgd`), ALS,
which minimises the penalised squared error one coordinate at a time, and
MCMC, the Bayesian FM sampled by Gibbs sampling
(:mod:`fmrec.solvers.coordinate`).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from fmrec._validation import check_matrix, check_number, check_targets
from fmrec.solvers import FMParams, Rows, SGDSolver
from fmrec.solvers.blocks import Blocks
from fmrec.solvers.coordinate import CoordinateSolver
from fmrec.solvers.training import (
    EpochRecord,
    LoopSettings,
    run_epochs,
    run_samples,
)

logger = logging.getLogger(__name__)

SOLVERS = ("sgd", "als", "mcmc")

__all__ = ["SOLVERS", "EpochRecord", "FactorizationMachine"]


class FactorizationMachine:
    """2-way Factorization Machine regressor trained by SGD, ALS or MCMC.

    Parameters
    ----------
    n_factors : int, default=64
        Dimension k of the factor vectors; 0 gives a linear model.
    solver : {"sgd", "als", "mcmc"}, default="sgd"
        Training algorithm. ``"als"`` and ``"mcmc"`` need no learning rate;
        ``"mcmc"`` learns the regularisation of each feature group itself.
    learning_rate : float, default=0.007
        SGD step size.
    reg_w : float, default=0.02
        L2 penalty on the linear weights (the bias is not penalised). For
        SGD it applies at every step a feature takes part in; for ALS it is
        the total penalty of the objective; for MCMC it is the initial prior
        precision.
    reg_v : float, default=0.05
        L2 penalty on the factors, in the same sense as ``reg_w``.
    init_std : float, default=0.05
        Standard deviation of the normal distribution the factors start from.
    n_epochs : int, default=100
        Maximum number of passes (SGD, ALS) or the number of MCMC iterations.
    early_stopping : bool, default=True
        SGD and ALS: hold out ``validation_fraction`` of the training rows
        (unless a validation set is passed to :meth:`fit`), stop once the
        validation RMSE has not improved for ``patience`` epochs, and restore
        the parameters of the best epoch. MCMC never stops early; with a
        validation set it records the RMSE of the averaged samples.
    validation_fraction : float, default=0.05
        Share of the training rows held out for early stopping.
    patience : int, default=3
        Epochs without improvement of the validation RMSE before stopping.
    burn_in : int, default=20
        MCMC iterations discarded before samples are kept.
    n_kept_samples : int, default=32
        MCMC samples kept, spread evenly over the iterations after
        ``burn_in``; the fitted model predicts their average. The factor
        matrix ``V_`` then has ``n_kept_samples * n_factors`` columns.
    target_range : tuple of float, optional
        ``(low, high)``: :meth:`predict` clips to this range, and the RMSE in
        the training history is computed on clipped predictions.
    random_state : int, numpy Generator or None, default=None
        Seed of the factor initialisation, the validation split, the
        shuffling and the sampling. Two fits with the same integer seed are
        bitwise identical.
    verbose : bool, default=False
        Show a progress bar with per-epoch scores on stderr.

    Attributes
    ----------
    w0_ : float
        Global bias.
    w_ : ndarray of shape (n_features,)
        Linear weights.
    V_ : ndarray of shape (n_features, n_columns)
        Factor vectors: ``n_columns`` is ``n_factors``, or for MCMC
        ``n_kept_samples * n_factors`` (the kept samples side by side).
    n_features_in_ : int
        Number of columns seen in :meth:`fit`.
    history_ : list of EpochRecord
        Scores of every epoch that ran.
    best_epoch_ : int
        1-based epoch whose parameters were kept (the last one for MCMC).
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        solver: str = "sgd",
        learning_rate: float = 0.007,
        reg_w: float = 0.02,
        reg_v: float = 0.05,
        init_std: float = 0.05,
        n_epochs: int = 100,
        early_stopping: bool = True,
        validation_fraction: float = 0.05,
        patience: int = 3,
        burn_in: int = 20,
        n_kept_samples: int = 32,
        target_range: tuple[float, float] | None = None,
        random_state: int | np.random.Generator | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.solver = solver
        self.learning_rate = learning_rate
        self.reg_w = reg_w
        self.reg_v = reg_v
        self.init_std = init_std
        self.n_epochs = n_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.burn_in = burn_in
        self.n_kept_samples = n_kept_samples
        self.target_range = target_range
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self, deep: bool = True) -> dict[str, object]:
        """Return the constructor arguments."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params: object) -> FactorizationMachine:
        """Set constructor arguments; unknown names raise ValueError."""
        for name, value in params.items():
            if name not in _PARAM_NAMES:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}."
                )
            setattr(self, name, value)
        return self

    def fit(
        self,
        X: sp.spmatrix | np.ndarray | Blocks,
        y: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        X_valid: sp.spmatrix | np.ndarray | Blocks | None = None,
        y_valid: np.ndarray | None = None,
    ) -> FactorizationMachine:
        """Train on rows ``X`` with targets ``y``.

        ``X`` is a (sparse) matrix or :class:`~fmrec.solvers.blocks.Blocks`.
        ``groups`` gives each feature column a group number; MCMC draws a
        separate prior for each group. ``X_valid``/``y_valid``, when given,
        are scored every epoch and replace the held-out share used for early
        stopping. A fit that raises leaves the learned attributes as they were.

        Raises
        ------
        ValueError
            For an invalid hyperparameter, mismatched shapes, non-finite values
            or zero training rows.
        TrainingDivergedError
            When the loss or a parameter becomes NaN or infinite.
        """
        self._check_params()
        data = _as_blocks(X)
        y = check_targets(y, data.n_rows)
        if data.n_rows == 0:
            raise ValueError("Cannot fit a FactorizationMachine on zero rows.")
        n_features = data.n_features
        groups = _check_groups(groups, n_features)
        rng = np.random.default_rng(self.random_state)
        train, valid = self._split_validation(data, y, X_valid, y_valid, rng)
        params = FMParams.initial(n_features, self.n_factors, self.init_std, rng)
        result = self._train(train, valid, groups, params, rng)

        self.w0_ = float(result.params.w0[0])
        self.w_ = result.params.w
        self.V_ = result.params.V
        self.n_features_in_ = n_features
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        return self

    def decision_function(self, X: sp.spmatrix | np.ndarray | Blocks) -> np.ndarray:
        """Return the raw FM output for each row of ``X``, never clipped."""
        self._check_fitted()
        if isinstance(X, Blocks):
            self._check_width(X.n_features)
            return X.predict(self.w0_, self.w_, self.V_)
        X = check_matrix(X)
        self._check_width(X.shape[1])
        return Rows.from_sparse(X).predict(self._params())

    def predict(self, X: sp.spmatrix | np.ndarray | Blocks) -> np.ndarray:
        """Return predictions, clipped to ``target_range`` when it is set."""
        return self._clip(self.decision_function(X))

    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.solver not in SOLVERS:
            raise ValueError(
                f"The 'solver' parameter of {owner} must be one of {SOLVERS}. "
                f"Got {self.solver!r} instead."
            )
        check_number(owner, "n_factors", self.n_factors, low=0, integer=True)
        check_number(owner, "learning_rate", self.learning_rate, low=0, low_open=True)
        check_number(owner, "reg_w", self.reg_w, low=0)
        check_number(owner, "reg_v", self.reg_v, low=0)
        check_number(owner, "init_std", self.init_std, low=0)
        check_number(owner, "n_epochs", self.n_epochs, low=1, integer=True)
        check_number(owner, "patience", self.patience, low=1, integer=True)
        check_number(owner, "burn_in", self.burn_in, low=0, integer=True)
        check_number(owner, "n_kept_samples", self.n_kept_samples, low=1, integer=True)
        check_number(
            owner,
            "validation_fraction",
            self.validation_fraction,
            low=0,
            low_open=True,
            high=0.5,
        )
        if self.solver == "mcmc" and self.burn_in >= self.n_epochs:
            raise ValueError(
                f"burn_in={self.burn_in} leaves no MCMC samples out of "
                f"n_epochs={self.n_epochs}; raise n_epochs or lower burn_in."
            )
        if self.target_range is not None:
            low, high = self.target_range
            if not low < high:
                raise ValueError(
                    f"The 'target_range' parameter of {owner} must be (low, high) "
                    f"with low < high. Got {self.target_range!r} instead."
                )

    def _check_fitted(self) -> None:
        if not hasattr(self, "V_"):
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet; call fit first."
            )

    def _check_width(self, n_features: int) -> None:
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}."
            )

    def _params(self) -> FMParams:
        return FMParams(np.array([self.w0_]), self.w_, self.V_)

    def _clip(self, values: np.ndarray) -> np.ndarray:
        if self.target_range is None:
            return values
        return np.clip(values, *self.target_range)

    def _split_validation(self, data: Blocks, y, X_valid, y_valid, rng):
        if X_valid is not None or y_valid is not None:
            if X_valid is None or y_valid is None:
                raise ValueError("Pass both X_valid and y_valid, or neither.")
            valid = _as_blocks(X_valid, "X_valid")
            if valid.n_features != data.n_features:
                raise ValueError(
                    f"X_valid has {valid.n_features} features but X has "
                    f"{data.n_features}."
                )
            return (data, y), (valid, check_targets(y_valid, valid.n_rows, "y_valid"))
        if not self.early_stopping or self.solver == "mcmc":
            return (data, y), None
        n_valid = int(round(self.validation_fraction * data.n_rows))
        if n_valid < 1 or n_valid >= data.n_rows:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {data.n_rows} "
                "rows leaves no validation or no training rows; pass X_valid/y_valid "
                "or set early_stopping=False."
            )
        order = rng.permutation(data.n_rows)
        train_rows, valid_rows = np.sort(order[n_valid:]), np.sort(order[:n_valid])
        return (
            (data.take(train_rows), y[train_rows]),
            (data.take(valid_rows), y[valid_rows]),
        )

    def _settings(self) -> LoopSettings:
        if self.solver == "sgd":
            remedy = (
                f"Lower learning_rate (now {self.learning_rate}) or raise "
                f"reg_w/reg_v (now {self.reg_w}/{self.reg_v}), and check the "
                "targets' scale."
            )
        else:
            remedy = (
                f"Raise reg_w/reg_v (now {self.reg_w}/{self.reg_v}) and check the "
                "inputs and targets for extreme values."
            )
        return LoopSettings(
            self.solver, self.n_epochs, self.patience, self.verbose, remedy
        )

    def _rmse(self, predicted: np.ndarray, y: np.ndarray) -> float:
        errors = self._clip(predicted) - y
        return float(np.sqrt(np.mean(errors * errors)))

    def _train(self, train, valid, groups, params, rng):
        settings = self._settings()
        score = None
        if valid is not None:
            valid_blocks, valid_y = valid

            def score(current: FMParams) -> float:
                predicted = valid_blocks.predict(current.w0[0], current.w, current.V)
                return self._rmse(predicted, valid_y)

        if self.solver == "sgd":
            return self._train_sgd(settings, train, params, rng, score)
        n_groups = int(groups.max()) + 1 if groups.size else 1
        solver = CoordinateSolver(
            train[0],
            train[1],
            groups,
            n_groups,
            self.n_factors,
            sample=self.solver == "mcmc",
            reg_w=np.full(n_groups, float(self.reg_w)),
            reg_v=np.full(n_groups, float(self.reg_v)),
        )
        if self.solver == "als":
            step = lambda: solver.iterate(params, rng)  # noqa: E731
            return run_epochs(settings, params, step, score)
        return self._train_mcmc(settings, solver, params, rng, valid)

    def _train_sgd(self, settings, train, params, rng, score):
        blocks, y = train
        solver = SGDSolver(self.learning_rate, self.reg_w, self.reg_v)
        rows = solver.prepare(Rows.from_sparse(blocks.to_sparse(), y), rng)

        def step() -> float:
            solver.run_epoch(rows, params, rng)
            return self._rmse(rows.predict(params), rows.y)

        return run_epochs(settings, params, step, score)

    def _train_mcmc(self, settings, solver, params, rng, valid):
        n_after = self.n_epochs - self.burn_in
        count = min(self.n_kept_samples, n_after)
        keep = set(
            np.linspace(self.burn_in + 1, self.n_epochs, count).round().astype(int)
        )
        predict_valid, valid_y = None, None
        if valid is not None:
            valid_blocks, valid_y = valid

            def predict_valid(current: FMParams) -> np.ndarray:
                return valid_blocks.predict(current.w0[0], current.w, current.V)

        def step() -> float:
            return solver.iterate(params, rng)

        return run_samples(
            settings, params, step, keep, predict_valid, valid_y, self._clip
        )


def _as_blocks(X: object, name: str = "X") -> Blocks:
    if isinstance(X, Blocks):
        return X
    return Blocks.from_sparse(check_matrix(X, name))


def _check_groups(groups: np.ndarray | None, n_features: int) -> np.ndarray:
    if groups is None:
        return np.zeros(n_features, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != (n_features,) or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(
            f"groups must be an integer array with one entry per feature "
            f"({n_features}), got shape {groups.shape} and dtype {groups.dtype}."
        )
    if groups.size and groups.min() < 0:
        raise ValueError("groups must not contain negative group numbers.")
    return groups.astype(np.int64)


_PARAM_NAMES = (
    "n_factors",
    "solver",
    "learning_rate",
    "reg_w",
    "reg_v",
    "init_std",
    "n_epochs",
    "early_stopping",
    "validation_fraction",
    "patience",
    "burn_in",
    "n_kept_samples",
    "target_range",
    "random_state",
    "verbose",
)
