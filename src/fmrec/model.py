"""The Factorization Machine estimator for regression and binary classification.

A 2-way FM (Rendle, 2010) predicts

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l

for a sparse feature vector x, with a bias w0, linear weights w and a
k-dimensional factor vector v_j per feature. Three solvers fit it: SGD on
the mean squared error with L2 penalties (:mod:`fmrec.solvers.sgd`), ALS,
which minimises the penalised squared error one coordinate at a time, and
MCMC, the Bayesian FM sampled by Gibbs sampling
(:mod:`fmrec.solvers.coordinate`).

For binary labels the FM output is a margin m = y(x). SGD then minimises the
logistic loss log(1 + exp(-t m)) for labels t in {-1, +1}, so that
P(t = 1 | x) = sigma(m) = 1 / (1 + exp(-m)) (:mod:`fmrec.kernels.sgd`). ALS
and MCMC fit the probit model P(t = 1 | x) = Phi(m), with Phi the standard
normal distribution function, through latent targets z ~ N(m, 1) with
t = sign(z) (:meth:`fmrec.solvers.coordinate.CoordinateSolver._update_latent`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_ndtr, ndtr

from fmrec._validation import check_matrix, check_number, check_targets
from fmrec.kernels.sgd import LOGISTIC_LOSS, SQUARED_LOSS
from fmrec.solvers import FMParams, Rows, SGDSolver
from fmrec.solvers.blocks import Blocks
from fmrec.solvers.coordinate import CoordinateSolver
from fmrec.solvers.training import (
    EpochRecord,
    LoopResult,
    LoopSettings,
    run_epochs,
    run_samples,
)

logger = logging.getLogger(__name__)

SOLVERS = ("sgd", "als", "mcmc")
LOSSES = ("squared", "logistic", "probit")
CLASSIFICATION_LOSSES = ("logistic", "probit")
# The solvers that train each loss.
LOSS_SOLVERS = {"squared": SOLVERS, "logistic": ("sgd",), "probit": ("als", "mcmc")}

__all__ = [
    "CLASSIFICATION_LOSSES",
    "LOSSES",
    "SOLVERS",
    "ClassificationEpochRecord",
    "EpochRecord",
    "FactorizationMachine",
]


@dataclass
class ClassificationEpochRecord:
    """Scores of one epoch of a classifier: mean log loss on each split.

    The log loss is the mean negative log-likelihood of the labels under the
    model's probabilities (see :meth:`FactorizationMachine.predict_proba`);
    ``valid_log_loss`` is None without a validation set. For MCMC,
    ``train_log_loss`` is that of the current sample and ``valid_log_loss``
    that of the average margin over the samples kept so far.
    """

    epoch: int
    train_log_loss: float
    valid_log_loss: float | None
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


class FactorizationMachine:
    """2-way Factorization Machine for regression or binary classification.

    Parameters
    ----------
    n_factors : int, default=64
        Dimension k of the factor vectors; 0 gives a linear model.
    solver : {"sgd", "als", "mcmc"}, default="sgd"
        Training algorithm. ``"als"`` and ``"mcmc"`` need no learning rate;
        ``"mcmc"`` learns the regularisation of each feature group itself.
    loss : {"squared", "logistic", "probit"}, default="squared"
        ``"squared"`` is regression on the squared error, with any solver.
        ``"logistic"`` (SGD only) and ``"probit"`` (ALS and MCMC only) are
        binary classification: the targets are labels in {0, 1} or {-1, +1},
        and :meth:`predict_proba` gives sigma(m) or Phi(m) of the margin m
        from :meth:`decision_function`.
    learning_rate : float, default=0.007
        SGD step size.
    reg_w : float or sequence of float, optional
        L2 penalty on the linear weights. For SGD it applies at every step a
        feature takes part in (default 0.02); for ALS it is the total penalty
        of the objective (default 1.0); for MCMC it is the initial prior
        precision (default 1.0), after which MCMC draws a precision per
        feature group. ALS and MCMC also take one value per feature group,
        in the order of the group numbers given to :meth:`fit` (for a
        :class:`~fmrec.recommend.Recommender`, the order of
        ``encoder_.group_names_``). SGD takes a single value.
    reg_v : float or sequence of float, optional
        L2 penalty on the factors, in the same sense as ``reg_w`` (defaults:
        SGD 0.05, ALS 20.0, MCMC 1.0).
    reg_bias : float, default=0.0
        L2 penalty on the bias w0. SGD applies it at every step. For ALS it
        is the total penalty, so the bias update is w0 = sum_r (y_r - yhat_r
        + w0) / (n_rows + reg_bias). For MCMC it is the fixed precision of
        the bias prior N(0, 1/reg_bias), where 0 gives a flat prior. It has
        no effect when ``fit_bias`` is False.
    fit_bias : bool, default=True
        Learn the bias w0. When False, w0 stays 0.
    fit_linear : bool, default=True
        Learn the linear weights w. When False, w stays all 0 and the model
        has only the bias and the pairwise terms. MCMC then draws no prior
        for w.
    init_std : float, default=0.05
        Standard deviation of the normal distribution the factors start from.
    n_epochs : int, default=100
        Maximum number of passes (SGD, ALS) or the number of MCMC iterations.
    early_stopping : bool, default=True
        SGD and ALS: hold out ``validation_fraction`` of the training rows
        (unless a validation set is passed to :meth:`fit`), stop once the
        validation RMSE (the validation log loss for a classification loss)
        has not improved for ``patience`` epochs, and restore the parameters
        of the best epoch. MCMC never stops early; with a validation set it
        records the score of the averaged samples.
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
        the training history is computed on clipped predictions. Classification
        losses ignore it.
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
    history_ : list of EpochRecord or ClassificationEpochRecord
        Scores of every epoch that ran: RMSE for the squared loss, log loss
        for the classification losses.
    best_epoch_ : int
        1-based epoch whose parameters were kept (the last one for MCMC).
    classes_ : ndarray of shape (2,)
        Classification losses only: the label values, ``[0, 1]`` or
        ``[-1, 1]`` after the labels given to :meth:`fit` (``[0, 1]`` when
        every label is 1). :meth:`predict` returns these values.
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        solver: str = "sgd",
        loss: str = "squared",
        learning_rate: float = 0.007,
        reg_w: float | None = None,
        reg_v: float | None = None,
        reg_bias: float = 0.0,
        fit_bias: bool = True,
        fit_linear: bool = True,
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
        self.loss = loss
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
        stopping. For a classification loss, ``y`` and ``y_valid`` are labels
        in {0, 1} or {-1, +1}. A fit that raises leaves the learned attributes
        as they were.

        Raises
        ------
        ValueError
            For an invalid hyperparameter, mismatched shapes, non-finite values,
            labels outside {0, 1} and {-1, +1} for a classification loss, or
            zero training rows.
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
        classes = None
        if self.loss in CLASSIFICATION_LOSSES:
            y, classes = label_signs(y)
        rng = np.random.default_rng(self.random_state)
        train, valid = self._split_validation(data, y, X_valid, y_valid, rng)
        if classes is not None and valid is not None:
            valid = (valid[0], label_signs(valid[1], "y_valid")[0])
        params = FMParams.initial(n_features, self.n_factors, self.init_std, rng)
        result = self._train(train, valid, groups, params, rng)

        if classes is None:
            self.__dict__.pop("classes_", None)
        else:
            self.classes_ = classes
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
        """Return predictions, clipped to ``target_range`` when it is set.

        For a classification loss, return the label of ``classes_`` whose
        probability is above one half: ``classes_[1]`` where the margin is
        positive, else ``classes_[0]``.
        """
        scores = self.decision_function(X)
        if hasattr(self, "classes_"):
            return self.classes_[(scores > 0).astype(np.intp)]
        return self._clip(scores)

    def predict_proba(self, X: sp.spmatrix | np.ndarray | Blocks) -> np.ndarray:
        """Return the probability of each class for a classification loss.

        Column 1 is P(label = ``classes_[1]``): sigma(m) = 1 / (1 + exp(-m))
        for the logistic loss and Phi(m), the standard normal distribution
        function, for the probit loss, with m the margin of
        :meth:`decision_function`. Column 0 is one minus it, computed from
        -m so that small probabilities keep their precision. For MCMC the
        margin is the mean margin of the kept samples, so this is Phi of the
        mean margin, not the mean of the samples' probabilities, which is
        closer to one half where the samples disagree.

        Returns
        -------
        ndarray of shape (n_rows, 2)

        Raises
        ------
        RuntimeError
            If the model is not fitted, or was fitted with the squared loss.
        """
        self._check_fitted()
        if not hasattr(self, "classes_"):
            raise RuntimeError(
                f"predict_proba needs a classification loss, but this "
                f"{type(self).__name__} was fitted with loss='squared'."
            )
        margins = self.decision_function(X)
        return np.column_stack(
            [probability(-margins, self.loss), probability(margins, self.loss)]
        )

    def regularization(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        """Return ``(reg_w, reg_v)``, with the solver's defaults for unset values.

        The penalties mean different things per solver (per step for SGD, in
        total for ALS, the initial prior precision for MCMC), so each has its
        own defaults. A penalty given per feature group is returned as an
        array with one value per group.
        """
        defaults = _DEFAULT_REGULARIZATION[self.solver]
        return tuple(
            default if value is None else _penalty_value(value)
            for value, default in zip((self.reg_w, self.reg_v), defaults, strict=True)
        )

    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.solver not in SOLVERS:
            raise ValueError(
                f"The 'solver' parameter of {owner} must be one of {SOLVERS}. "
                f"Got {self.solver!r} instead."
            )
        if self.loss not in LOSSES:
            raise ValueError(
                f"The 'loss' parameter of {owner} must be one of {LOSSES}. "
                f"Got {self.loss!r} instead."
            )
        if self.solver not in LOSS_SOLVERS[self.loss]:
            raise ValueError(
                f"loss={self.loss!r} is trained by solver "
                f"{' or '.join(map(repr, LOSS_SOLVERS[self.loss]))}, not "
                f"solver={self.solver!r}."
            )
        check_number(owner, "n_factors", self.n_factors, low=0, integer=True)
        check_number(owner, "learning_rate", self.learning_rate, low=0, low_open=True)
        for name in ("reg_w", "reg_v"):
            value = getattr(self, name)
            if value is None:
                continue
            if np.ndim(value) == 0:
                check_number(owner, name, value, low=0)
                continue
            if self.solver == "sgd" or np.ndim(value) != 1 or len(value) == 0:
                raise ValueError(
                    f"The {name!r} parameter of {owner} must be a number, or for "
                    f"solver 'als' or 'mcmc' a sequence with one number per "
                    f"feature group. Got {value!r} with solver={self.solver!r}."
                )
            for item in value:
                check_number(owner, name, item, low=0)
        check_number(owner, "reg_bias", self.reg_bias, low=0)
        for name in ("fit_bias", "fit_linear"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(
                    f"The {name!r} parameter of {owner} must be a bool. "
                    f"Got {getattr(self, name)!r} instead."
                )
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
        reg = self.regularization()
        if self.solver == "sgd":
            remedy = (
                f"Lower learning_rate (now {self.learning_rate}) or raise "
                f"reg_w/reg_v (now {reg[0]}/{reg[1]}), and check the "
                "targets' scale."
            )
        else:
            remedy = (
                f"Raise reg_w/reg_v (now {reg[0]}/{reg[1]}) and check the "
                "inputs and targets for extreme values."
            )
        metric = "RMSE" if self.loss == "squared" else "log loss"
        return LoopSettings(
            self.solver, self.n_epochs, self.patience, self.verbose, remedy, metric
        )

    def _rmse(self, predicted: np.ndarray, y: np.ndarray) -> float:
        errors = self._clip(predicted) - y
        return float(np.sqrt(np.mean(errors * errors)))

    def _train(self, train, valid, groups, params, rng):
        if self.loss in CLASSIFICATION_LOSSES:
            return self._train_classifier(train, valid, groups, params, rng)
        settings = self._settings()
        score = None
        if valid is not None:
            valid_blocks, valid_y = valid

            def score(current: FMParams) -> float:
                predicted = valid_blocks.predict(current.w0[0], current.w, current.V)
                return self._rmse(predicted, valid_y)

        if self.solver == "sgd":
            return self._train_sgd(settings, train, params, rng, score)
        solver = self._coordinate_solver(train, groups, probit=False)
        if self.solver == "als":
            step = lambda: solver.iterate(params, rng)  # noqa: E731
            return run_epochs(settings, params, step, score)
        return self._train_mcmc(settings, solver, params, rng, valid)

    def _train_sgd(self, settings, train, params, rng, score):
        blocks, y = train
        solver = self._sgd_solver(SQUARED_LOSS)
        rows = solver.prepare(Rows.from_sparse(blocks.to_sparse(), y), rng)

        def step() -> float:
            solver.run_epoch(rows, params, rng)
            return self._rmse(rows.predict(params), rows.y)

        return run_epochs(settings, params, step, score)

    def _sgd_solver(self, loss: int) -> SGDSolver:
        reg_w, reg_v = self.regularization()
        return SGDSolver(
            self.learning_rate,
            reg_w,
            reg_v,
            loss,
            reg_bias=float(self.reg_bias),
            fit_bias=bool(self.fit_bias),
            fit_linear=bool(self.fit_linear),
        )

    def _coordinate_solver(self, train, groups, *, probit: bool) -> CoordinateSolver:
        n_groups = int(groups.max()) + 1 if groups.size else 1
        reg_w, reg_v = (
            _per_group(name, value, n_groups)
            for name, value in zip(
                ("reg_w", "reg_v"), self.regularization(), strict=True
            )
        )
        return CoordinateSolver(
            train[0],
            train[1],
            groups,
            n_groups,
            self.n_factors,
            sample=self.solver == "mcmc",
            reg_w=reg_w,
            reg_v=reg_v,
            probit=probit,
            reg_bias=float(self.reg_bias),
            fit_bias=bool(self.fit_bias),
            fit_linear=bool(self.fit_linear),
        )

    def _kept_epochs(self) -> set[int]:
        """Return the MCMC iterations whose samples are kept, 1-based."""
        n_after = self.n_epochs - self.burn_in
        count = min(self.n_kept_samples, n_after)
        return set(
            np.linspace(self.burn_in + 1, self.n_epochs, count).round().astype(int)
        )

    def _train_mcmc(self, settings, solver, params, rng, valid):
        keep = self._kept_epochs()
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

    def _train_classifier(self, train, valid, groups, params, rng) -> LoopResult:
        """Train on labels in {-1, +1}; every score is a mean log loss."""
        settings = self._settings()
        score = None
        if valid is not None:
            valid_blocks, valid_signs = valid

            def score(current: FMParams) -> float:
                margins = valid_blocks.predict(current.w0[0], current.w, current.V)
                return mean_log_loss(margins, valid_signs, self.loss)

        if self.solver == "sgd":
            result = self._train_logistic(settings, train, params, rng, score)
        elif self.solver == "als":
            solver = self._coordinate_solver(train, groups, probit=True)

            def step() -> float:
                solver.iterate(params, rng)
                return self._solver_log_loss(solver)

            result = run_epochs(settings, params, step, score)
        else:
            solver = self._coordinate_solver(train, groups, probit=True)
            result = self._train_probit_mcmc(settings, solver, params, rng, valid)
        return _as_classification_result(result)

    def _train_logistic(self, settings, train, params, rng, score) -> LoopResult:
        blocks, signs = train
        solver = self._sgd_solver(LOGISTIC_LOSS)
        rows = solver.prepare(Rows.from_sparse(blocks.to_sparse(), signs), rng)

        def step() -> float:
            solver.run_epoch(rows, params, rng)
            return mean_log_loss(rows.predict(params), rows.y, self.loss)

        return run_epochs(settings, params, step, score)

    def _solver_log_loss(self, solver: CoordinateSolver) -> float:
        """Return the training log loss of the parameters after a sweep.

        After a sweep the solver's residuals are its latent targets minus the
        current margins, so the margins are recovered without a prediction.
        """
        margins = solver.y - solver.residuals
        return mean_log_loss(margins, solver.labels, self.loss)

    def _train_probit_mcmc(self, settings, solver, params, rng, valid) -> LoopResult:
        """Run MCMC and score the running average margin of the kept samples.

        :func:`run_samples` scores the average by RMSE, so the validation log
        loss is computed here and put into the history afterwards.
        """
        keep = self._kept_epochs()
        valid_scores: dict[int, float] = {}
        state = {"epoch": 0, "margin_sum": None, "n_kept": 0}

        def step() -> float:
            solver.iterate(params, rng)
            state["epoch"] += 1
            if valid is not None and state["epoch"] in keep:
                valid_blocks, valid_signs = valid
                margins = valid_blocks.predict(params.w0[0], params.w, params.V)
                total = state["margin_sum"]
                state["margin_sum"] = margins if total is None else total + margins
                state["n_kept"] += 1
            if state["margin_sum"] is not None:
                average = state["margin_sum"] / state["n_kept"]
                valid_scores[state["epoch"]] = mean_log_loss(
                    average, valid[1], self.loss
                )
            return self._solver_log_loss(solver)

        result = run_samples(settings, params, step, keep, None, None, self._clip)
        for record in result.history:
            record.valid_rmse = valid_scores.get(record.epoch)
        return result


def label_signs(y: np.ndarray, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Map binary labels to -1.0 and +1.0 and return them with their values.

    Accepts labels in {0, 1} or in {-1, 1} (as numbers or booleans). Returns
    the signs and the two label values, ``[0, 1]`` or ``[-1, 1]``; labels
    that are all 1 give ``[0, 1]``.

    Raises
    ------
    ValueError
        If a label is outside both sets, or the labels mix 0 and -1.
    """
    labels = np.asarray(y, dtype=np.float64)
    values = set(np.unique(labels).tolist())
    if values <= {0.0, 1.0}:
        return np.where(labels > 0, 1.0, -1.0), np.array([0.0, 1.0])
    if values <= {-1.0, 1.0}:
        return labels.copy(), np.array([-1.0, 1.0])
    listed = sorted(values)[:6]
    raise ValueError(
        f"{name} must hold binary labels in {{0, 1}} or {{-1, 1}} for a "
        f"classification loss; got the values {listed}"
        f"{' and more' if len(values) > 6 else ''}."
    )


def probability(margins: np.ndarray, loss: str) -> np.ndarray:
    """Return P(label = +1) for margins: sigma(m) (logistic) or Phi(m) (probit)."""
    if loss == "logistic":
        return expit(margins)
    return ndtr(margins)


def mean_log_loss(margins: np.ndarray, signs: np.ndarray, loss: str) -> float:
    """Return the mean of -log P(label) for labels ``signs`` in {-1, +1}.

    The logistic loss is log(1 + exp(-t m)) and the probit loss -log Phi(t m)
    for label t and margin m. Both are computed without overflow or log(0).
    """
    signed = signs * margins
    # A diverged model's NaN margins give a NaN loss, which the caller reports.
    with np.errstate(invalid="ignore"):
        if loss == "logistic":
            return float(np.mean(np.logaddexp(0.0, -signed)))
        return float(np.mean(-log_ndtr(signed)))


def _as_classification_result(result: LoopResult) -> LoopResult:
    history = [
        ClassificationEpochRecord(r.epoch, r.train_rmse, r.valid_rmse, r.seconds)
        for r in result.history
    ]
    return LoopResult(result.params, history, result.best_epoch)


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


def _penalty_value(value) -> float | np.ndarray:
    """Return a penalty as a float, or as a float array when given per group."""
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value, dtype=np.float64)


def _per_group(name: str, value: float | np.ndarray, n_groups: int) -> np.ndarray:
    """Return one penalty per feature group, checking a per-group length."""
    if np.ndim(value) == 0:
        return np.full(n_groups, value)
    if value.size != n_groups:
        raise ValueError(
            f"{name} has {value.size} values, but the features have {n_groups} "
            "groups; give one value per group or a single number."
        )
    return value.copy()


# Default (reg_w, reg_v) per solver; see the class docstring.
_DEFAULT_REGULARIZATION = {
    "sgd": (0.02, 0.05),
    "als": (1.0, 20.0),
    "mcmc": (1.0, 1.0),
}

_PARAM_NAMES = (
    "n_factors",
    "solver",
    "loss",
    "learning_rate",
    "reg_w",
    "reg_v",
    "reg_bias",
    "fit_bias",
    "fit_linear",
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
