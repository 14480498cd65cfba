"""Throughput and latency of `personadrop serve` under concurrent clients (the official openai client).

Serves one simulator in this process (uvicorn in a thread, dynamic batching on) and sends the same number of
chat requests at concurrency 1 and 16, reporting requests/s, p50/p95 latency, and generation calls per
request (how much batching happened).

Run it alone (two CPU cores):
    python benchmarks/bench_serve.py --model runs/demo-quick/runs/sft --data runs/demo-quick/data
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from personadrop.data.humanual import load_examples
from personadrop.serve import Served, create_app, running
from personadrop.simulators import describe_simulator, load_simulator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a run directory, checkpoint, model name, or bayes")
    ap.add_argument(
        "--data", required=True, help="a world or dataset directory (prompts come from its test split)"
    )
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--window-ms", type=float, default=10.0)
    args = ap.parse_args()

    name = describe_simulator(args.model)[0]
    served = Served(
        {name: load_simulator(args.model, data=args.data, name=name)}, window=args.window_ms / 1000
    )
    examples = load_examples(args.data, split="test").examples[: args.requests]
    with running(create_app(served)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=300)

        def ask(i: int) -> float:
            ex = examples[i % len(examples)]
            start = time.perf_counter()
            client.chat.completions.create(
                model=name,
                messages=[{"role": "user", "content": ex.context[0].content}],
                extra_body={"persona": ex.persona.to_dict()},
                user=f"bench-{i}",
            )
            return time.perf_counter() - start

        ask(0)  # warm up (first generation compiles caches)
        for concurrency in (1, 16):
            before = httpx.get(url + "/v1/stats").json()[name]
            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                latencies = sorted(pool.map(ask, range(args.requests)))
            wall = time.perf_counter() - start
            after = httpx.get(url + "/v1/stats").json()[name]
            calls = after["generate_calls"] - before["generate_calls"]
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            print(
                f"concurrency {concurrency:>2}: {args.requests / wall:6.1f} requests/s, "
                f"p50 {statistics.median(latencies) * 1000:6.0f} ms, p95 {p95 * 1000:6.0f} ms, "
                f"{calls} generation calls for {args.requests} requests"
            )


if __name__ == "__main__":
    main()
