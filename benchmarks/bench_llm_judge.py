"""Judging throughput of the LLM judge against a local fake API with simulated latency.

Judged generations per second at concurrency 1 and 16, with batching (all generations of a request in
one call) and without (one generation per call). The server sleeps ``--latency`` seconds per call, so
the figures measure how well the judge hides latency, not how fast a model is. No cache, no network.

Run: `python benchmarks/bench_llm_judge.py [--latency 0.2] [--requests 32] [--generations 4]`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from personadrop.judges import JudgeRequest, make_judge

from fake_llm_server import FakeLLMServer


def make_requests(n: int, k: int) -> list[JudgeRequest]:
    return [
        JudgeRequest(
            f"ex{i}",
            f"OP: AITA for thing number {i}? " * 20,
            "NTA, they had it coming.",
            tuple(f"generation {j} of {i} score=0.{(i + j) % 10}" for j in range(k)),
        )
        for i in range(n)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2, help="simulated seconds per API call")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--generations", type=int, default=4, help="generations per request")
    ap.add_argument("--api", choices=["anthropic", "openai"], default="anthropic")
    args = ap.parse_args()

    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-bench-not-a-real-key")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    requests = make_requests(args.requests, args.generations)
    n_gen = args.requests * args.generations
    print(
        f"{args.requests} requests x {args.generations} generations = {n_gen} generations; "
        f"{args.latency * 1000:.0f} ms simulated latency per call; {args.api} SDK"
    )
    print(f"{'concurrency':>11} {'batching':>22} {'calls':>6} {'seconds':>8} {'gen/s':>8}")
    with FakeLLMServer(latency=args.latency) as server:
        url = server.url(args.api)
        # Warm up: imports and the first connection are not part of judging throughput.
        make_judge(f"{args.api}:claude-haiku-4-5@{url}", cache=False).score(make_requests(1, 1))
        for concurrency in (1, 16):
            for batch_size, label in ((None, "all gens in one call"), (1, "one gen per call")):
                judge = make_judge(
                    f"{args.api}:claude-haiku-4-5@{url}",
                    cache=False,
                    concurrency=concurrency,
                    batch_size=batch_size,
                )
                before = server.requests
                start = time.perf_counter()
                scores = judge.score(requests)
                seconds = time.perf_counter() - start
                assert not any(math.isnan(s) for row in scores for s in row)
                print(
                    f"{concurrency:>11} {label:>22} {server.requests - before:>6} {seconds:>8.2f} "
                    f"{n_gen / seconds:>8.1f}"
                )


if __name__ == "__main__":
    main()
