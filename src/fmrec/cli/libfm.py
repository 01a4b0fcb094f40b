"""``fmrec libfm``: train and predict with libFM's command-line options.

``fmrec libfm -task r -train train.libfm -test test.libfm -dim '1,1,8' -iter 100
-method mcmc -out predictions.txt`` reads libFM text files (index base 0, see
:mod:`fmrec.datasets.libfm`), trains a
:class:`~fmrec.model.FactorizationMachine` and writes one prediction per test
line: the rating for ``-task r`` and the probability of the positive class for
``-task c``. Options fmrec does not implement are rejected by name with exit
code 2, never ignored, and so are malformed values.

``-dim 'k0,k1,k2'`` maps to the model's ``fit_bias`` (k0), ``fit_linear``
(k1) and ``n_factors`` (k2): ``-dim '0,0,8'`` trains a model whose bias and
linear weights stay 0. ``-regular 'r0,r1,r2'`` maps to ``reg_bias``,
``reg_w`` and ``reg_v``, and a single value sets all three. SGD applies each
penalty at every step, and ALS takes it as the total penalty of the
objective. MCMC takes r0 as the fixed precision of the bias prior
N(0, 1/r0), where 0 gives a flat prior, and r1 and r2 as the initial prior
precisions of w and V, starting a value of 0 at 1.

Two differences from libFM change results. The random numbers differ, so
results match libFM's in distribution only. ``-validation`` stops SGD and ALS
early and keeps their best iteration, and MCMC only scores it. MCMC predicts
the average of the samples of every iteration, with no burn-in.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np

from fmrec.cli._options import check_output_paths
from fmrec.datasets.libfm import LibFMData, read_libfm_files
from fmrec.exceptions import DataFormatError
from fmrec.model import FactorizationMachine

logger = logging.getLogger(__name__)

METHODS = ("sgd", "als", "mcmc")

# libFM options that fmrec does not implement, with what each one does.
UNSUPPORTED = {
    "-relation": "block-structured relational data files",
    "-cache_size": "the binary data cache",
    "-rlog": "the per-iteration log file",
    "-meta": "feature groups from a meta file",
    "-load_model": "loading a saved model",
    "-save_model": "saving the model",
}
UNSUPPORTED_METHODS = {"sgda": "SGD with adaptive regularisation"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "libfm",
        help="train and predict with libFM's command-line options",
        description="Train a Factorization Machine on libFM text files and write "
        "one prediction per test line, with the options of libFM's command line. "
        "Options fmrec does not implement exit with code 2.",
        allow_abbrev=False,
    )
    parser.add_argument("-help", action="help", help="show this help and exit")
    parser.add_argument(
        "-task",
        required=True,
        choices=("r", "c"),
        help="r: regression; c: binary classification, where a target above 0 "
        "is the positive class",
    )
    parser.add_argument("-train", required=True, metavar="FILE", help="training data")
    parser.add_argument(
        "-test",
        required=True,
        metavar="FILE",
        help="test data; its targets are only used for the reported score",
    )
    parser.add_argument(
        "-validation",
        metavar="FILE",
        help="validation data: SGD and ALS stop when its score has not improved "
        "for 3 iterations and keep the best iteration; MCMC only scores it",
    )
    parser.add_argument(
        "-dim",
        default="1,1,8",
        metavar="'k0,k1,k2'",
        help="k0 is 1 to learn the bias or 0 to fix it at 0, k1 is the same "
        "for the linear weights, and k2 is the number of factors "
        "(default: '1,1,8')",
    )
    parser.add_argument(
        "-iter", type=int, default=100, help="number of iterations (default: 100)"
    )
    parser.add_argument(
        "-method",
        default="mcmc",
        type=str.lower,
        help="learning method: sgd, als or mcmc (default: mcmc)",
    )
    parser.add_argument(
        "-learn_rate", type=float, default=0.1, help="SGD step size (default: 0.1)"
    )
    parser.add_argument(
        "-regular",
        default="0,0,0",
        metavar="'r0,r1,r2'",
        help="L2 penalties of the bias, the linear weights and the factors, or "
        "one value for all three: per step for SGD, in total for ALS. MCMC "
        "takes r0 as the fixed precision of the bias prior (0: flat) and r1, "
        "r2 as initial prior precisions, starting zeros at 1 (default: '0,0,0')",
    )
    parser.add_argument(
        "-init_stdev",
        type=float,
        default=0.1,
        help="standard deviation of the initial factors (default: 0.1)",
    )
    parser.add_argument(
        "-out", metavar="FILE", help="write one prediction per test line here"
    )
    parser.add_argument("-seed", type=int, help="random seed (default: none)")
    parser.add_argument(
        "-verbosity",
        type=int,
        default=0,
        help="0: print the final test score; 1 or more: also one line per "
        "iteration (default: 0)",
    )
    for option in UNSUPPORTED:
        parser.add_argument(option, help=argparse.SUPPRESS, dest=_dest(option))
    parser.set_defaults(execute=execute, libfm_parser=parser)


def execute(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.libfm_parser
    _reject_unsupported(parser, args)
    fit_bias, fit_linear, n_factors = _parse_dim(parser, args.dim)
    reg_bias, reg_w, reg_v = _parse_regular(parser, args.regular)
    if args.method == "mcmc":
        reg_w, reg_v = _initial_precisions(reg_w, reg_v, fit_linear)
    if args.iter < 1:
        parser.error(f"-iter must be at least 1, got {args.iter}.")
    if args.seed is not None and args.seed < 0:
        parser.error(f"-seed must be 0 or more, got {args.seed}.")
    if not (math.isfinite(args.learn_rate) and args.learn_rate > 0):
        parser.error(f"-learn_rate must be above 0, got {args.learn_rate:g}.")
    if not (math.isfinite(args.init_stdev) and args.init_stdev >= 0):
        parser.error(f"-init_stdev must be 0 or more, got {args.init_stdev:g}.")

    check_output_paths({"-out": args.out})
    files = {"train": args.train, "test": args.test}
    if args.validation:
        files["validation"] = args.validation
    data = read_libfm_files(files, base=0)
    for role, path in files.items():
        if data[role].y.size == 0:
            raise DataFormatError(path, None, f"the {role} file has no data rows")
    train, test = data["train"], data["test"]
    classify = args.task == "c"
    model = FactorizationMachine(
        n_factors,
        solver=args.method,
        loss=_loss(args.method) if classify else "squared",
        learning_rate=args.learn_rate,
        reg_w=reg_w,
        reg_v=reg_v,
        reg_bias=reg_bias,
        fit_bias=fit_bias,
        fit_linear=fit_linear,
        init_std=args.init_stdev,
        n_epochs=args.iter,
        early_stopping=False,
        burn_in=0,
        n_kept_samples=args.iter,
        target_range=None if classify else _target_range(train),
        random_state=args.seed,
    )
    valid = data.get("validation")
    fit_valid = {}
    if valid is not None:
        fit_valid = {"X_valid": valid.X, "y_valid": _targets(valid, classify)}
    model.fit(train.X, _targets(train, classify), **fit_valid)

    if classify:
        predictions = model.predict_proba(test.X)[:, 1]
    else:
        predictions = model.predict(test.X)
    if args.verbosity > 0:
        _print_history(model)
    print(_score_line(test, predictions, classify))
    if args.out:
        _write_predictions(Path(args.out), predictions)
    return 0


def _dest(option: str) -> str:
    return "unsupported_" + option.lstrip("-")


def _reject_unsupported(parser: argparse.ArgumentParser, args) -> None:
    for option, meaning in UNSUPPORTED.items():
        if getattr(args, _dest(option)) is not None:
            parser.error(
                f"{option} ({meaning}) is not supported by fmrec libfm; remove it."
            )
    if args.method in UNSUPPORTED_METHODS:
        parser.error(
            f"-method {args.method} ({UNSUPPORTED_METHODS[args.method]}) is not "
            f"supported by fmrec libfm; use one of {', '.join(METHODS)}."
        )
    if args.method not in METHODS:
        parser.error(
            f"-method {args.method!r} is invalid; use one of {', '.join(METHODS)}."
        )


def _numbers(parser, option: str, text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        parser.error(f"{option} {text!r} is invalid: expected comma-separated numbers.")
    if not all(math.isfinite(value) and value >= 0 for value in values):
        parser.error(f"{option} {text!r} is invalid: values must be finite and >= 0.")
    return values


def _parse_dim(parser, text: str) -> tuple[bool, bool, int]:
    """Return (fit_bias, fit_linear, n_factors) of ``'k0,k1,k2'``.

    k0 and k1 must be 0 or 1, and k2 an integer of at least 0.
    """
    values = _numbers(parser, "-dim", text)
    if len(values) != 3 or not all(value.is_integer() for value in values):
        parser.error(f"-dim {text!r} is invalid: expected three integers 'k0,k1,k2'.")
    use_bias, use_linear, n_factors = (int(value) for value in values)
    if use_bias not in (0, 1) or use_linear not in (0, 1):
        parser.error(
            f"-dim {text!r} is invalid: k0 (bias) and k1 (linear weights) must "
            "be 0 or 1."
        )
    return use_bias == 1, use_linear == 1, n_factors


def _parse_regular(parser, text: str) -> tuple[float, float, float]:
    """Return (r0, r1, r2) of ``'r0,r1,r2'``, or a single value three times."""
    values = _numbers(parser, "-regular", text)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        parser.error(
            f"-regular {text!r} is invalid: expected 'r0,r1,r2' or a single value."
        )
    return values[0], values[1], values[2]


def _initial_precisions(
    reg_w: float, reg_v: float, fit_linear: bool
) -> tuple[float, float]:
    """Replace zero MCMC prior precisions by 1, the mean of their Gamma(1, 1)
    hyperprior, because a zero precision makes the first draw of the prior
    means infinite. Without linear weights their prior is never drawn."""
    zeros = [f"r2={reg_v:g}"] if reg_v == 0 else []
    if fit_linear and reg_w == 0:
        zeros.insert(0, f"r1={reg_w:g}")
    if zeros:
        logger.info(
            "MCMC starts the prior precisions of zero at 1 (from -regular %s); "
            "later iterations draw them from the data.",
            ", ".join(zeros),
        )
    return reg_w or 1.0, reg_v or 1.0


def _loss(method: str) -> str:
    return "logistic" if method == "sgd" else "probit"


def _targets(data: LibFMData, classify: bool) -> np.ndarray:
    if classify:
        return (data.y > 0).astype(np.float64)
    return data.y


def _target_range(train: LibFMData) -> tuple[float, float] | None:
    """Return the training targets' range, which regression predictions are
    clipped to, or None when every target is equal."""
    low, high = float(train.y.min()), float(train.y.max())
    return (low, high) if low < high else None


def _score_line(test: LibFMData, predictions: np.ndarray, classify: bool) -> str:
    if not classify:
        rmse = float(np.sqrt(np.mean((predictions - test.y) ** 2)))
        return f"Test RMSE: {rmse:.6f} ({test.y.size} rows)"
    positive = test.y > 0
    accuracy = float(np.mean((predictions > 0.5) == positive))
    clipped = np.clip(predictions, 1e-15, 1 - 1e-15)
    log_loss = -float(np.mean(np.where(positive, np.log(clipped), np.log1p(-clipped))))
    return (
        f"Test accuracy: {accuracy:.6f}, log loss: {log_loss:.6f} ({test.y.size} rows)"
    )


def _print_history(model: FactorizationMachine) -> None:
    for record in model.history_:
        scores = record.as_dict()
        parts = [f"iteration {scores.pop('epoch')}"]
        scores.pop("seconds")
        parts += [
            f"{name} {value:.6f}" for name, value in scores.items() if value is not None
        ]
        print(", ".join(parts))


def _write_predictions(path: Path, predictions: np.ndarray) -> None:
    text = "".join(f"{value!r}\n" for value in predictions.tolist())
    path.write_text(text, encoding="ascii")
    logger.info("Wrote %d predictions to %s", predictions.size, path)
