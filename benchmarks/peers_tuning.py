"""Choose fmrec ALS penalties and Surprise SVD settings on a validation split.

Run from the repository root:

    python benchmarks/peers_tuning.py --out benchmarks/results/peers-tuning.json

The validation split is carved from the training part of the 80/20 split
(``random_split(train, 0.1, seed)``), so the test ratings of ``peers.py``
are never looked at. Every candidate is fitted on the remaining 90% of the
training ratings and scored on the validation 10%; ALS keeps its own early
stopping on a share of those 90%, as in ``peers.py``. The script prints a
JSON record and a Markdown table with the validation RMSE of each candidate.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from fmrec.datasets import load_movielens
from fmrec.split import random_split

sys.path.insert(0, str(Path(__file__).parent))
from peers import environment  # noqa: E402
from peers_models import ID_GROUPS, ModelSpec, make_runner, rating_errors  # noqa: E402

logger = logging.getLogger("peers_tuning")

# (reg_w, reg_v) candidates for fmrec ALS. The first pair is SGD's default.
ALS_GRID = [
    (0.02, 0.05),
    (1.0, 5.0),
    (1.0, 10.0),
    (1.0, 15.0),
    (1.0, 20.0),
    (1.0, 25.0),
    (1.0, 40.0),
    (10.0, 20.0),
]
# Surprise SVD candidates. The first is the library default.
SVD_GRID = [
    {},
    {"n_epochs": 50, "reg_all": 0.05},
    {"n_epochs": 50, "reg_all": 0.1},
    {"n_factors": 50, "n_epochs": 50, "reg_all": 0.05},
    {"n_factors": 200, "n_epochs": 50, "reg_all": 0.05},
]


def candidates(rank: int, iterations: int, seed: int) -> list[ModelSpec]:
    specs = []
    for reg_w, reg_v in ALS_GRID:
        params = {
            "solver": "als",
            "n_factors": rank,
            "n_epochs": iterations,
            "reg_w": reg_w,
            "reg_v": reg_v,
            "random_state": seed,
        }
        specs.append(ModelSpec("fmrec-als", "fmrec", ID_GROUPS, params))
    for settings in SVD_GRID:
        params = {"algorithm": "SVD", "random_state": seed, **settings}
        specs.append(ModelSpec("svd", "surprise", ID_GROUPS, params))
    return specs


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=32, help="ALS factor dimension")
    parser.add_argument(
        "--iterations", type=int, default=200, help="ALS maximum epochs"
    )
    parser.add_argument("--seed", type=int, default=42, help="split and model seed")
    parser.add_argument("--data", default="ml-1m", help="data set name or path")
    parser.add_argument(
        "--data-dir", help="folder of data sets (default: $FMREC_DATA_DIR)"
    )
    parser.add_argument(
        "--only", choices=["fmrec", "surprise"], help="tune one library"
    )
    parser.add_argument("--out", type=Path, help="JSON file for the record")
    args = parser.parse_args(argv)

    data = load_movielens(args.data, data_dir=args.data_dir, download=False)
    train, _ = random_split(data.ratings, 0.2, args.seed)
    fit_part, valid = random_split(train, 0.1, args.seed)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "n_fit": len(fit_part),
        "n_valid": len(valid),
        "environment": environment(),
        "results": [],
    }
    for spec in candidates(args.rank, args.iterations, args.seed):
        if args.only is not None and spec.library != args.only:
            continue
        runner = make_runner(spec)
        runner.prepare(fit_part, valid, data)
        start = time.perf_counter()
        runner.fit()
        fit_seconds = time.perf_counter() - start
        scores = rating_errors(runner.predict(), valid["rating"].to_numpy())
        result = {**spec.describe(), **scores, "fit_seconds": fit_seconds}
        result.update(runner.details())
        logger.info(
            "%s %s: validation RMSE %.4f", spec.name, spec.params, scores["rmse"]
        )
        record["results"].append(result)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=2) + "\n")

    print(json.dumps(record, indent=2))
    print()
    print("| Model | Settings | Validation RMSE | MAE | Fit s | Epochs |")
    print("|---|---|---:|---:|---:|---:|")
    for r in record["results"]:
        settings = {
            key: value
            for key, value in r["params"].items()
            if key not in ("algorithm", "random_state", "solver")
        }
        epochs = r.get("epochs_run", "")
        print(
            f"| {r['name']} | {settings} | {r['rmse']:.4f} | {r['mae']:.4f} | "
            f"{r['fit_seconds']:.0f} | {epochs} |"
        )


if __name__ == "__main__":
    main()
