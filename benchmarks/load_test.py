"""Load-test ``fmrec serve``: top-10 requests for random users, with a reload.

Run from the repository root, with wrk installed (Debian: ``apt-get install
wrk``) and the data folder set as for the tests:

    python benchmarks/load_test.py --data ml-1m --duration 30 --connections 8

The script trains two models with ``fmrec train`` (model A with the default
protocol, model B with the seed protocol), starts ``fmrec serve`` on a copy
of A at 127.0.0.1, and runs wrk from a second process: every request is
for the top 10 of a user drawn at random from the model's users. Halfway
through, it copies B over the served file and sends ``POST /admin/reload``.
It prints one JSON record (requests per second, p50/p90/p99 latency, errors
of any kind, the reload's status and time) and a Markdown table of it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from fmrec import persistence

# wrk runs this Lua script in each of its threads. Each thread counts the
# responses that are not 200, and done() prints the totals as one JSON line.
LUA_SCRIPT = """
local users = {%(users)s}
local threads = {}
non_ok = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local user = users[math.random(#users)]
  return wrk.format("GET", "/users/" .. user .. "/recommendations?n=10")
end

function response(status, headers, body)
  if status ~= 200 then
    non_ok = non_ok + 1
  end
end

function done(summary, latency, requests)
  local non_ok_total = 0
  for _, thread in ipairs(threads) do
    non_ok_total = non_ok_total + thread:get("non_ok")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "mean_us": %%.1f, "non_200": %%d, ' ..
    '"connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, ' ..
    '"timeouts": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    non_ok_total, errors.connect, errors.read, errors.write, errors.timeout))
end
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", help="data set (default: ml-1m)")
    parser.add_argument(
        "--duration",
        type=int,
        default=30,
        help="seconds of measured load (default: 30)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
        help="open HTTP connections, each sending one request at a time (default: 8)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (default: 1)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of unmeasured load first"
    )
    parser.add_argument("--port", type=int, default=8765, help="server port")
    parser.add_argument(
        "--workdir", help="folder for models and logs (default: a temporary folder)"
    )
    return parser.parse_args()


def fmrec(*args: str) -> list[str]:
    return [sys.executable, "-m", "fmrec", *args]


def train_models(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path]:
    model_a = workdir / "a.fmrec"
    model_b = workdir / "b.fmrec"
    for path, protocol in ((model_a, "default"), (model_b, "seed")):
        if not path.exists():
            command = fmrec("train", "--data", args.data, "--protocol", protocol)
            subprocess.run([*command, "--out", str(path), "--no-progress"], check=True)
    return model_a, model_b


def start_server(served: Path, port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - closed when the server stops
    server = subprocess.Popen(
        fmrec("serve", "--model", str(served), "--port", str(port)), stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"fmrec serve did not respond on {base}; see {log_path}")


def run_wrk(args, script: Path, seconds: int) -> dict:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{args.port}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    record = json.loads(output.strip().splitlines()[-1])
    record["command"] = " ".join(command[:-3] + ["load.lua", command[-1]])
    return record


def reload_midway(args, model_b: Path, served: Path, result: dict) -> None:
    time.sleep(args.duration / 2)
    staging = served.with_name(".served.new")
    shutil.copyfile(model_b, staging)
    os.replace(staging, served)
    start = time.perf_counter()
    response = httpx.post(f"http://127.0.0.1:{args.port}/admin/reload", timeout=60)
    result["reload_status"] = response.status_code
    result["reload_seconds"] = time.perf_counter() - start
    result["reload_at_seconds"] = args.duration / 2


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    return {
        "cpu": fields.get("Model name", "").strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed; install it with apt-get install wrk.",
            file=sys.stderr,
        )
        return 1
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fmrec-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model_a, model_b = train_models(args, workdir)
    served = workdir / "served.fmrec"
    shutil.copyfile(model_a, served)
    users = persistence.load(model_a).encoder_.users.ids
    script = workdir / "load.lua"
    script.write_text(LUA_SCRIPT % {"users": ",".join(str(u) for u in users)})

    # Other programs on the machine skew the figures, so the record keeps the
    # one-minute load average from before the run.
    load_before = os.getloadavg()[0]
    server = start_server(served, args.port, workdir / "serve.log")
    try:
        if args.warmup:
            run_wrk(args, script, args.warmup)
        reload: dict = {}
        reloader = threading.Thread(
            target=reload_midway, args=(args, model_b, served, reload)
        )
        reloader.start()
        record = run_wrk(args, script, args.duration)
        reloader.join()
        model = httpx.get(f"http://127.0.0.1:{args.port}/model").json()
    finally:
        server.terminate()
        server.wait(30)

    seconds = record["duration_us"] / 1e6
    errors = sum(
        record[key]
        for key in (
            "non_200",
            "connect_errors",
            "read_errors",
            "write_errors",
            "timeouts",
        )
    )
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "data": args.data,
        "n_users": int(users.size),
        "connections": args.connections,
        "requests": record["requests"],
        "requests_per_second": record["requests"] / seconds,
        "p50_ms": record["p50_us"] / 1000,
        "p90_ms": record["p90_us"] / 1000,
        "p99_ms": record["p99_us"] / 1000,
        "max_ms": record["max_us"] / 1000,
        "errors": errors,
        "wrk": record,
        **reload,
        "generation_after": model["generation"],
        "n_factors_after": model["params"]["n_factors"],
        "load_average_before": load_before,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    header = (
        "| connections | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| reload | load average before |"
    )
    row = (
        f"| {result['connections']} | {result['requests_per_second']:.0f} "
        f"| {result['p50_ms']:.2f} | {result['p90_ms']:.2f} "
        f"| {result['p99_ms']:.2f} | {result['max_ms']:.1f} | {result['errors']} "
        f"| {result['reload_status']} in {result['reload_seconds']:.2f} s "
        f"| {result['load_average_before']:.2f} |"
    )
    return "\n".join([header, "|" + " ---: |" * 7 + " --- | ---: |", row])


if __name__ == "__main__":
    sys.exit(main())
