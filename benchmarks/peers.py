"""Compare fmrec's rating accuracy, speed and memory with myFM and scikit-surprise.

Run from the repository root, with the MovieLens 1M data set where
``load_movielens("ml-1m")`` finds it (``$FMREC_DATA_DIR`` or ``--data-dir``):

    python benchmarks/peers.py --protocol 80-20 --rank 32 --iterations 200 \\
        --out benchmarks/results/peers-80-20.json
    python benchmarks/peers.py --protocol 90-10 --folds 3 \\
        --out benchmarks/results/peers-90-10.json

Every model runs on the same split, one after another, each in its own child
process (see ``peers_measure.py``). fmrec's MCMC and myFM get identical
feature blocks, rank, iterations and burn-in. The script writes a JSON record
(results, command, hardware, versions, date) to ``--out`` after every model,
prints it, and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from peers_measure import N_FOLDS, run_in_child, thread_settings  # noqa: E402
from peers_models import model_specs  # noqa: E402

logger = logging.getLogger("peers")

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = {
    "80-20": [
        "fmrec-sgd",
        "fmrec-als",
        "fmrec-mcmc",
        "fmrec-mcmc-all",
        "fmrec-mcmc-k10",
        "myfm",
        "myfm-all",
        "myfm-k10",
        "svd",
        "svd-tuned",
        "svdpp",
    ],
    "90-10": ["fmrec-mcmc-all", "myfm-all", "svd-tuned"],
}
# ALS penalties (reg_w, reg_v) chosen on a validation split carved from the
# 80/20 training ratings (see peers_tuning.py).
ALS_REG = (1.0, 20.0)
# The best FM result on MovieLens 1M that this comparison cites: myFM's
# regression example examples/ml-1m-extended.ipynb (commit b9ba70e, April 2023),
# fold 0 of a 10-fold split, rank 32, 512 Gibbs iterations, with day-of-rating,
# user-implicit and item-implicit features.
PUBLISHED = {
    "library": "myFM",
    "rmse": 0.8161,
    "folds": 1,
    "rank": 32,
    "iterations": 512,
}
PACKAGES = ("fmrec", "myfm", "scikit-surprise", "numpy", "scipy", "numba", "pandas")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(DEFAULT_MODELS), default="80-20")
    parser.add_argument(
        "--models",
        nargs="+",
        help="configurations to run, in order (default: all for 80-20, and "
        "fmrec-mcmc-all, myfm-all and svd-tuned for 90-10)",
    )

    parser.add_argument("--rank", type=int, default=32, help="factor dimension")
    parser.add_argument(
        "--iterations",
        type=int,
        default=200,
        help="MCMC iterations, and the maximum number of ALS epochs",
    )
    parser.add_argument("--burn-in", type=int, default=20, help="MCMC burn-in")
    parser.add_argument(
        "--kept-samples",
        type=int,
        help="MCMC samples fmrec averages (default: every sample after the "
        "burn-in, as myFM does)",
    )
    parser.add_argument(
        "--als-reg",
        type=float,
        nargs=2,
        default=ALS_REG,
        metavar=("REG_W", "REG_V"),
        help="fmrec ALS penalties",
    )
    parser.add_argument(
        "--init-std",
        type=float,
        help="standard deviation of fmrec's initial factors for ALS and MCMC "
        "(default: the estimator's default)",
    )

    parser.add_argument("--folds", type=int, default=3, help="90-10: folds to run")
    parser.add_argument("--seed", type=int, default=42, help="split and model seed")
    parser.add_argument("--data", default="ml-1m", help="data set name or path")
    parser.add_argument(
        "--data-dir", help="folder of data sets (default: $FMREC_DATA_DIR)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="set NUMBA_NUM_THREADS and OMP_NUM_THREADS for the children "
        "(default: leave them as they are)",
    )

    parser.add_argument("--out", type=Path, help="JSON file for the record")
    args = parser.parse_args(argv)
    if args.kept_samples is None:
        args.kept_samples = args.iterations - args.burn_in
    if not 1 <= args.folds <= N_FOLDS:
        parser.error(f"--folds must be between 1 and {N_FOLDS}, got {args.folds}.")
    return args


def environment() -> dict:
    """Return the hardware, software and fmrec revision of this run."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        ),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "fmrec_commit": _git("rev-parse", "--short", "HEAD"),
        "fmrec_src_modified": bool(_git("status", "--porcelain", "--", "src")),
        "threads": thread_settings(),
    }


def _cpu_model() -> str | None:
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(args: argparse.Namespace) -> dict:
    """Run every model on every fold and return the record."""
    specs = model_specs(
        args.rank,
        args.iterations,
        args.burn_in,
        args.kept_samples,
        tuple(args.als_reg),
        args.seed,
        args.init_std,
    )
    names = args.models or DEFAULT_MODELS[args.protocol]
    unknown = [name for name in names if name not in specs]
    if unknown:
        raise SystemExit(f"Unknown models {unknown}; choose from {sorted(specs)}.")
    folds = range(args.folds) if args.protocol == "90-10" else [0]

    record = {
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "protocol": args.protocol,
        "data": args.data,
        "seed": args.seed,
        "environment": environment(),
        "published": PUBLISHED,
        "results": [],
    }
    for fold in folds:
        for name in names:
            job = {
                "spec": specs[name],
                "protocol": args.protocol,
                "fold": fold,
                "seed": args.seed,
                "data": args.data,
                "data_dir": args.data_dir,
            }
            logger.info("Starting %s, fold %d.", name, fold)
            # Other work may change fmrec during a long run, so each result
            # records the revision it started from.
            commit = _git("rev-parse", "--short", "HEAD")
            result = run_in_child(job)
            result["fmrec_commit"] = commit
            if "error" in result:
                logger.error("%s, fold %d failed: %s", name, fold, result["error"])
            else:
                logger.info(
                    "Finished %s, fold %d: RMSE %.4f, fit %.1f s.",
                    name,
                    fold,
                    result["rmse"],
                    result["fit_seconds"],
                )
            record["results"].append(result)
            if args.out is not None:
                _write(args.out, record)
    record["summary"] = summarise(record["results"])
    record["fit_time_ratios"] = fit_time_ratios(record["results"], specs)
    if args.out is not None:
        _write(args.out, record)
    return record


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def summarise(results: list[dict]) -> list[dict]:
    """Return mean and sample standard deviation over folds, per model."""
    summary = []
    names = list(dict.fromkeys(result["name"] for result in results))
    for name in names:
        runs = [r for r in results if r["name"] == name and "error" not in r]
        if not runs:
            continue
        row = {"name": name, "folds": [r["fold"] for r in runs]}
        keys = (
            "rmse",
            "mae",
            "fit_seconds",
            "fit_cpu_seconds",
            "predict_seconds",
            "peak_rss_mib",
        )
        for key in keys:
            values = np.array([r[key] for r in runs])
            row[key] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else None
        summary.append(row)
    return summary


def fit_time_ratios(results: list[dict], specs: dict) -> list[dict]:
    """Return fmrec/myFM fit-time ratios of the like-for-like pairs, per fold."""
    ratios = []
    by_key = {(r["name"], r["fold"]): r for r in results if "error" not in r}
    for (name, fold), peer in by_key.items():
        pair = specs[name].pair
        if pair is None or (pair, fold) not in by_key:
            continue
        ours = by_key[(pair, fold)]
        ratios.append(
            {
                "fmrec": pair,
                "peer": name,
                "fold": fold,
                "fmrec_fit_seconds": ours["fit_seconds"],
                "peer_fit_seconds": peer["fit_seconds"],
                "ratio": ours["fit_seconds"] / peer["fit_seconds"],
                "fmrec_fit_cpu_seconds": ours["fit_cpu_seconds"],
                "peer_fit_cpu_seconds": peer["fit_cpu_seconds"],
                "cpu_ratio": ours["fit_cpu_seconds"] / peer["fit_cpu_seconds"],
                "fmrec_rmse": ours["rmse"],
                "peer_rmse": peer["rmse"],
            }
        )
    return ratios


def settings_text(result: dict) -> str:
    """Return a short description of a configuration's settings."""
    params = result["params"]
    if result["library"] == "myfm":
        return (
            f"rank {params['rank']}, {params['n_iter']} it, burn-in "
            f"{params['burn_in']}, all later samples"
        )
    if result["library"] == "surprise":
        settings = {
            key: value
            for key, value in params.items()
            if key not in ("algorithm", "random_state")
        }
        return (
            ", ".join(f"{key} {value}" for key, value in settings.items()) or "defaults"
        )
    solver = params.get("solver", "sgd")
    if solver == "sgd":
        return f"SGD defaults, {result['epochs_run']} epochs (early stopping)"
    if solver == "als":
        return (
            f"ALS rank {params['n_factors']}, reg_w {params['reg_w']}, reg_v "
            f"{params['reg_v']}, {result['epochs_run']} epochs (early stopping)"
        )
    text = (
        f"MCMC rank {params['n_factors']}, {params['n_epochs']} it, burn-in "
        f"{params['burn_in']}, {params['n_kept_samples']} kept"
    )
    if "init_std" in params:
        text += f", init_std {params['init_std']}"
    return text


def features_text(result: dict) -> str:
    return "ids" if result["features"] == ["user", "item"] else "all groups"


def markdown(record: dict) -> str:
    """Return the record's Markdown tables."""
    if record["protocol"] == "80-20":
        lines = _single_split_table(record["results"])
    else:
        lines = _folds_table(record)
    ratios = record.get("fit_time_ratios", [])
    if ratios:
        lines += [
            "",
            "| fmrec | myFM | fold | fmrec fit s | myFM fit s | fmrec/myFM | "
            "fmrec/myFM CPU s | fmrec RMSE | myFM RMSE |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ratios:
            lines.append(
                f"| {r['fmrec']} | {r['peer']} | {r['fold']} | "
                f"{r['fmrec_fit_seconds']:.0f} | {r['peer_fit_seconds']:.0f} | "
                f"{r['ratio']:.2f} | {_ratio_text(r.get('cpu_ratio'))} | "
                f"{r['fmrec_rmse']:.4f} | "
                f"{r['peer_rmse']:.4f} |"
            )
    return "\n".join(lines)


def _ratio_text(ratio: float | None) -> str:
    # Records written before the CPU-time ratio was added lack it.
    return "" if ratio is None else f"{ratio:.2f}"


def _single_split_table(results: list[dict]) -> list[str]:
    lines = [
        "| Model | Features | Settings | RMSE | MAE | Fit s | Fit CPU s | "
        "Predict s | Peak RSS MiB | Fit+predict RSS increase MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['name']} | {features_text(r)} | {settings_text(r)} | "
            f"{r['rmse']:.4f} | {r['mae']:.4f} | {r['fit_seconds']:.1f} | "
            f"{r['fit_cpu_seconds']:.1f} | {r['predict_seconds']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['fit_predict_rss_increase_mib']:.0f} |"
        )
    return lines


def _folds_table(record: dict) -> list[str]:
    lines = [
        "| Model | Features | Folds | RMSE mean ± sd | MAE mean ± sd | "
        "Fit s mean | Fit CPU s mean | Predict s mean | Peak RSS MiB mean |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    first = {r["name"]: r for r in reversed(record["results"]) if "error" not in r}
    for row in record["summary"]:
        folds = ", ".join(str(fold) for fold in row["folds"])
        lines.append(
            f"| {row['name']} | {features_text(first[row['name']])} | {folds} | "
            f"{_mean_sd(row, 'rmse')} | {_mean_sd(row, 'mae')} | "
            f"{row['fit_seconds']:.0f} | {row['fit_cpu_seconds']:.0f} | "
            f"{row['predict_seconds']:.2f} | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    published = record["published"]
    lines.append(
        f"| {published['library']} (published) | ids, day, implicit | 1 fold of its "
        f"own split | {published['rmse']:.4f} | | | | | |"
    )
    return lines


def _mean_sd(row: dict, key: str) -> str:
    sd = row[f"{key}_std"]
    return f"{row[key]:.4f}" if sd is None else f"{row[key]:.4f} ± {sd:.4f}"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    if args.threads is not None:
        for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    # myFM draws a tqdm progress bar on every fit. The children inherit this
    # setting, which turns it off.
    os.environ.setdefault("TQDM_DISABLE", "1")
    record = run(args)
    print(json.dumps(record, indent=2))
    print()
    print(markdown(record))


if __name__ == "__main__":
    main()
