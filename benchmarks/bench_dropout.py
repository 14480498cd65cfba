"""Personas per second for mask + render on one core (target: >= 50,000/s).

Run: `make bench` or `python benchmarks/bench_dropout.py [--n 50000]`. Personas are HUMANUAL-sized:
6 demographic keys, 8-12 items in interests/values/communication, 5-10 in statistics.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from personadrop.dropout import MaskKey, parse_condition
from personadrop.persona import Persona


def make_personas(n: int, seed: int = 0) -> list[Persona]:
    rng = random.Random(seed)
    words = [
        "kind",
        "honest",
        "loyal",
        "family",
        "career",
        "music",
        "hiking",
        "cooking",
        "sarcastic",
        "formal",
        "brief",
        "long",
        "verdict",
    ]

    def phrase() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))

    return [
        Persona.from_raw(
            {
                "demographics": {
                    k: rng.choice(["NA", phrase()])
                    for k in ("age group", "gender", "location", "occupation", "nationality", "other")
                },
                "interests": [phrase() for _ in range(rng.randint(8, 12))],
                "values": [phrase() for _ in range(rng.randint(8, 12))],
                "communication": [phrase() for _ in range(rng.randint(8, 12))],
                "statistics": [phrase() for _ in range(rng.randint(5, 10))],
            }
        )
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000, help="personas per condition")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    personas = make_personas(2_000)
    print(f"{'condition':<22} {'personas/s':>12}   (mask + render, one core, n={args.n:,})")
    for name in ("full", "fields:0.6", "only:values", "items:0.5", "items:0.9", "fields:0.6,items:0.3"):
        policy = parse_condition(name)
        start = time.perf_counter()
        chars = 0
        for i in range(args.n):
            chars += len(policy(personas[i % len(personas)], MaskKey(0, f"ex{i}", i % 3)).render())
        rate = args.n / (time.perf_counter() - start)
        print(f"{name:<22} {rate:>12,.0f}")


if __name__ == "__main__":
    main()
