"""The Factorization Machine estimator for regression.

A 2-way FM (Rendle, 2010) predicts

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l

for a sparse feature vector x, with a bias w0, linear weights w and a
k-dimensional factor vector v_j per feature. Training minimises the mean
squared error plus L2 penalties ``reg_w`` on w and ``reg_v`` on V; the
solver and its update rule are documented in :mod:`fmrec.solvers`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from fmrec._validation import check_matrix, check_number, check_targets
from fmrec.exceptions import TrainingDivergedError
from fmrec.solvers import FMParams, Rows, SGDSolver

logger = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """Scores of one training epoch; ``valid_rmse`` is None without a validation set."""

    epoch: int
    train_rmse: float
    valid_rmse: float | None
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def postfix(self) -> dict[str, str]:
        """Return the scores as short strings for a progress bar."""
        scores = {"train": f"{self.train_rmse:.4f}"}
        if self.valid_rmse is not None:
            scores["valid"] = f"{self.valid_rmse:.4f}"
        return scores


class FactorizationMachine:
    """2-way Factorization Machine regressor trained by SGD.

    Parameters
    ----------
    n_factors : int, default=64
        Dimension k of the factor vectors; 0 gives a linear model.
    learning_rate : float, default=0.007
        SGD step size.
    reg_w : float, default=0.02
        L2 penalty on the linear weights (the bias is not penalised).
    reg_v : float, default=0.05
        L2 penalty on the factors.
    init_std : float, default=0.05
        Standard deviation of the normal distribution the factors start from.
    n_epochs : int, default=100
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training rows (unless a
        validation set is passed to :meth:`fit`), stop once the validation
        RMSE has not improved for ``patience`` epochs, and restore the
        parameters of the best epoch.
    validation_fraction : float, default=0.05
        Share of the training rows held out for early stopping.
    patience : int, default=3
        Epochs without improvement of the validation RMSE before stopping.
    target_range : tuple of float, optional
        ``(low, high)``: :meth:`predict` clips to this range, and the RMSE in
        the training history is computed on clipped predictions.
    random_state : int, numpy Generator or None, default=None
        Seed of the factor initialisation, the validation split and the
        shuffling. Two fits with the same integer seed are bitwise identical.
    verbose : bool, default=False
        Show a progress bar with per-epoch scores on stderr.

    Attributes
    ----------
    w0_ : float
        Global bias.
    w_ : ndarray of shape (n_features,)
        Linear weights.
    V_ : ndarray of shape (n_features, n_factors)
        Factor vectors.
    n_features_in_ : int
        Number of columns seen in :meth:`fit`.
    history_ : list of EpochRecord
        Scores of every epoch that ran.
    best_epoch_ : int
        1-based epoch whose parameters were kept.
    """

    def __init__(
        self,
        n_factors: int = 64,
        *,
        learning_rate: float = 0.007,
        reg_w: float = 0.02,
        reg_v: float = 0.05,
        init_std: float = 0.05,
        n_epochs: int = 100,
        early_stopping: bool = True,
        validation_fraction: float = 0.05,
        patience: int = 3,
        target_range: tuple[float, float] | None = None,
        random_state: int | np.random.Generator | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.reg_w = reg_w
        self.reg_v = reg_v
        self.init_std = init_std
        self.n_epochs = n_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.target_range = target_range
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self) -> dict[str, object]:
        """Return the constructor arguments."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def fit(
        self,
        X: sp.spmatrix | np.ndarray,
        y: np.ndarray,
        *,
        X_valid: sp.spmatrix | np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> FactorizationMachine:
        """Train on rows ``X`` with targets ``y``.

        ``X_valid``/``y_valid``, when given, are scored every epoch and replace
        the held-out share used for early stopping. A fit that raises leaves
        the estimator's learned attributes as they were.

        Raises
        ------
        ValueError
            For an invalid hyperparameter, mismatched shapes, non-finite values
            or zero training rows.
        TrainingDivergedError
            When the loss or a parameter becomes NaN or infinite.
        """
        self._check_params()
        X = check_matrix(X)
        y = check_targets(y, X.shape[0])
        if X.shape[0] == 0:
            raise ValueError("Cannot fit a FactorizationMachine on zero rows.")
        rng = np.random.default_rng(self.random_state)
        train, valid = self._split_validation(X, y, X_valid, y_valid, rng)
        params = FMParams.initial(X.shape[1], self.n_factors, self.init_std, rng)
        params, history, best_epoch = self._train(train, valid, params, rng)

        self.w0_ = float(params.w0[0])
        self.w_ = params.w
        self.V_ = params.V
        self.n_features_in_ = X.shape[1]
        self.history_ = history
        self.best_epoch_ = best_epoch
        return self

    def decision_function(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Return the raw FM output for each row of ``X``, never clipped."""
        rows = Rows.from_sparse(self._check_input(X))
        return rows.predict(self._params())

    def predict(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Return predictions, clipped to ``target_range`` when it is set."""
        return self._clip(self.decision_function(X))

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "n_factors", self.n_factors, low=0, integer=True)
        check_number(owner, "learning_rate", self.learning_rate, low=0, low_open=True)
        check_number(owner, "reg_w", self.reg_w, low=0)
        check_number(owner, "reg_v", self.reg_v, low=0)
        check_number(owner, "init_std", self.init_std, low=0)
        check_number(owner, "n_epochs", self.n_epochs, low=1, integer=True)
        check_number(owner, "patience", self.patience, low=1, integer=True)
        check_number(
            owner,
            "validation_fraction",
            self.validation_fraction,
            low=0,
            low_open=True,
            high=0.5,
        )
        if self.target_range is not None:
            low, high = self.target_range
            if not low < high:
                raise ValueError(
                    f"The 'target_range' parameter of {owner} must be (low, high) with "
                    f"low < high. Got {self.target_range!r} instead."
                )

    def _check_input(self, X: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
        if not hasattr(self, "V_"):
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet; call fit first."
            )
        X = check_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}."
            )
        return X

    def _params(self) -> FMParams:
        return FMParams(np.array([self.w0_]), self.w_, self.V_)

    def _clip(self, values: np.ndarray) -> np.ndarray:
        if self.target_range is None:
            return values
        return np.clip(values, *self.target_range)

    def _split_validation(self, X, y, X_valid, y_valid, rng):
        train = Rows.from_sparse(X, y)
        if X_valid is not None or y_valid is not None:
            if X_valid is None or y_valid is None:
                raise ValueError("Pass both X_valid and y_valid, or neither.")
            X_valid = check_matrix(X_valid, "X_valid")
            if X_valid.shape[1] != X.shape[1]:
                raise ValueError(
                    f"X_valid has {X_valid.shape[1]} features but X has {X.shape[1]}."
                )
            y_valid = check_targets(y_valid, X_valid.shape[0], "y_valid")
            return train, Rows.from_sparse(X_valid, y_valid)
        if not self.early_stopping:
            return train, None
        n_valid = int(round(self.validation_fraction * train.n_rows))
        if n_valid < 1 or n_valid >= train.n_rows:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {train.n_rows} "
                "rows leaves no validation or no training rows; pass X_valid/y_valid "
                "or set early_stopping=False."
            )
        order = rng.permutation(train.n_rows)
        return train.take(np.sort(order[n_valid:])), train.take(
            np.sort(order[:n_valid])
        )

    def _rmse(self, rows: Rows, params: FMParams) -> float:
        errors = self._clip(rows.predict(params)) - rows.y
        return float(np.sqrt(np.mean(errors * errors)))

    def _train(self, train: Rows, valid: Rows | None, params: FMParams, rng):
        solver = SGDSolver(self.learning_rate, self.reg_w, self.reg_v)
        train = solver.prepare(train, rng)
        history: list[EpochRecord] = []
        best = (np.inf, 0, params.copy())
        epochs = tqdm(
            range(1, self.n_epochs + 1),
            desc="SGD",
            unit="epoch",
            disable=not self.verbose,
            leave=False,
        )
        for epoch in epochs:
            start = time.perf_counter()
            mse = solver.run_epoch(train, params, rng)
            self._check_finite(epoch, mse, params)
            record = EpochRecord(
                epoch,
                self._rmse(train, params),
                None if valid is None else self._rmse(valid, params),
                time.perf_counter() - start,
            )
            history.append(record)
            epochs.set_postfix(record.postfix())
            logger.debug("epoch %s", record)
            if valid is None:
                continue
            if record.valid_rmse < best[0]:
                best = (record.valid_rmse, epoch, params.copy())
            elif epoch - best[1] >= self.patience:
                logger.info(
                    "Early stopping after epoch %d; restoring epoch %d "
                    "(validation RMSE %.4f).",
                    epoch,
                    best[1],
                    best[0],
                )
                break
        if valid is None:
            return params, history, len(history)
        return best[2], history, best[1]

    def _check_finite(self, epoch: int, mse: float, params: FMParams) -> None:
        bad = params.first_non_finite()
        if bad is None and np.isfinite(mse):
            return
        what = f"parameter {bad}" if bad else "the training loss"
        raise TrainingDivergedError(
            f"SGD diverged in epoch {epoch}: {what} became NaN or infinite. "
            f"Lower learning_rate (now {self.learning_rate}) or raise reg_w/reg_v "
            f"(now {self.reg_w}/{self.reg_v}), and check the targets' scale."
        )


_PARAM_NAMES = (
    "n_factors",
    "learning_rate",
    "reg_w",
    "reg_v",
    "init_std",
    "n_epochs",
    "early_stopping",
    "validation_fraction",
    "patience",
    "target_range",
    "random_state",
    "verbose",
)
