"""Generations per second of a prompted simulator against a served model, at several concurrencies, with a
check that the served replies are the in-process ones.

`personadrop serve MODEL` is started in its own process on 127.0.0.1; the evaluation grid's items (every
example under every condition) are asked through ``openai:<name>@<url>`` with the reply cache off, once per
concurrency, round robin over ``--repeats`` rounds. Then the same model writes the same items in process,
greedy, and the script counts replies that differ (the served path must change nothing).

    python benchmarks/bench_api_simulator.py runs/demo-quick/runs/grpo/seed-0 runs/demo-quick/data
    python benchmarks/bench_api_simulator.py world-tiny WORLD_DIR --concurrency 1 16

MODEL: a run directory, a checkpoint or a model name (world-tiny, smollm2-135m); WORLD_DIR: the data the
grid is drawn from. Run it alone (two CPU cores: the server and the client share them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 120.0) -> str:
    """The served model's name, once the server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                return json.load(r)["data"][0]["id"]
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a run directory, a checkpoint directory or a model name")
    ap.add_argument("data", help="the world (or data) directory the grid is drawn from")
    ap.add_argument("--examples", type=int, default=16, help="test examples (x the grid's conditions)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="calls in flight at once")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over all concurrencies")
    ap.add_argument("--port", type=int, default=0, help="port to serve on (0: a free one)")
    ap.add_argument("--out", type=Path, help="write the results here as JSON")
    args = ap.parse_args()

    from personadrop.dropout import DEFAULT_CONDITIONS
    from personadrop.evaluate import EvalTask
    from personadrop.evaluate.grid import grid_item
    from personadrop.prompts import parse_output
    from personadrop.serve.server import free_port
    from personadrop.simulators import load_simulator

    task = EvalTask.load(args.data, max_examples=args.examples, seed=0, conditions=list(DEFAULT_CONDITIONS))
    items = [grid_item(c, e, task.seed) for c in task.conditions for e in task.examples]
    port = args.port or free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/v1"
    server = subprocess.Popen(
        [sys.executable, "-m", "personadrop", "serve", args.model, "--data", args.data, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        name = wait_for(url, server)
        seconds = {c: [] for c in args.concurrency}
        served: list[str | None] = []
        for _ in range(args.repeats):
            for c in args.concurrency:
                sim = load_simulator(f"openai:{name}@{url}", api={"concurrency": c, "cache": False})
                start = time.perf_counter()
                served = sim.generate(items)
                seconds[c].append(time.perf_counter() - start)
                sim.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    model = load_simulator(args.model, data=args.data)
    task_name = (
        model.inference_task
    )  # a HumanLM run writes states, then its reply (the server sends the reply)
    outputs = model.generate(
        [grid_item(c, e, task.seed, task_name) for c in task.conditions for e in task.examples]
    )
    local = [parse_output(o, task_name) for o in outputs]
    differ = sum(a != b for a, b in zip(served, local, strict=True))
    failed = sum(s is None for s in served)
    print(f"{len(items)} generations ({len(task.examples)} examples x {len(task.conditions)} conditions)")
    print(f"{'concurrency':>11}  {'best s':>7}  {'gen/s':>6}")
    results = {}
    for c, times in seconds.items():
        best = min(times)
        results[c] = {"seconds": times, "generations_per_second": len(items) / best}
        print(f"{c:>11}  {best:7.2f}  {len(items) / best:6.2f}")
    print(
        f"served replies that differ from in-process ones: {differ} of {len(items)} (failed calls: {failed})"
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {"items": len(items), "results": results, "differ": differ, "failed": failed}, indent=2
            )
        )


if __name__ == "__main__":
    main()
