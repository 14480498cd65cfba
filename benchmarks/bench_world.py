"""Time to draw and write the default synthetic world, and to compute its ceiling table.

Run: `python benchmarks/bench_world.py [--repeat 3] [--config FILE]`. The budget: a default world in
seconds (it is part of every study's first stage).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from personadrop.data.world import generate_world, load_world_config, world_config, world_counts, write_world
from personadrop.evaluate.checks import ceiling_table
from personadrop.models.bayes import BayesSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--config", default=None, help="a world config file (default: the built-in world)")
    args = parser.parse_args()
    config = load_world_config(args.config) if args.config else world_config()
    draws, writes = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        world = generate_world(config)
        draws.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_world(world, tmp)
            writes.append(time.perf_counter() - start)
    start = time.perf_counter()
    rows = ceiling_table(world.split("test"), BayesSimulator(config))
    ceiling_s = time.perf_counter() - start
    print(f"counts: {world_counts(world)}")
    print(
        f"generate: best {min(draws):.2f} s; write: best {min(writes):.2f} s; "
        f"ceiling table ({len(rows)} conditions x {rows[0].n} test rows): {ceiling_s:.2f} s"
    )
    for r in rows:
        e = r.estimate
        print(
            f"  {r.condition:20s} {e.mean:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]   unseen users "
            f"{r.unseen.mean:.3f} (n={r.unseen.n})"
        )


if __name__ == "__main__":
    main()
