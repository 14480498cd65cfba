"""Train the study's five variants on a synthetic world and score them on held-out examples.

Reports per variant: training time and seconds per step of each stage, the final GRPO reward, and the
exact judge's mean response score on ``--n`` test examples under ``full`` and ``only:values`` (and the
Bayes-optimal ceiling for reference), plus generation throughput (replies/s) at the chosen batch size.

Run: `python benchmarks/bench_train.py --out /tmp/bench-train [--profile default] [--n 300] [--config JSON]`.
Timings on a shared 2-core machine are noisy; run it alone when the numbers matter.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from personadrop.data.humanual import load_examples
from personadrop.dropout import parse_condition
from personadrop.evaluate.checks import heldout_alignment
from personadrop.judges import make_judge
from personadrop.simulators import load_simulator
from personadrop.train.variant import train_variant
from personadrop.variants import VARIANTS

TRAIN_CONDITION = "fields:0.6"  # what the study's "+fd" variants see
# The study's trained variants, and SFT with field dropout for comparison: (name, method, train condition).
RUNS = [
    (v.name, v.method, TRAIN_CONDITION if v.with_dropout else "full") for v in VARIANTS.values() if v.trained
]
RUNS.append(("sft+fd", "sft", TRAIN_CONDITION))
CONDITIONS = ("full", "only:values")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, help="a world directory (default: generate one under --out)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--n", type=int, default=300, help="held-out test examples to score")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--variants", default=",".join(v for v, _, _ in RUNS))
    ap.add_argument(
        "--config", default="{}", help='TrainConfig overrides as JSON, e.g. \'{"sft": {"epochs": 4}}\''
    )
    args = ap.parse_args()

    data = args.data or args.out / "world"
    if not (data / "train.jsonl").exists():
        from personadrop.data.world import generate_world, world_config, write_world

        write_world(generate_world(world_config(seed=0)), data)
    test = load_examples(data, split="test").examples[: args.n]
    judge = make_judge("exact")
    wanted = args.variants.split(",")
    results: dict[str, dict] = {}
    for name, method, condition in RUNS:
        if name not in wanted:
            continue
        warm = args.out / "runs" / "sft" if name == "grpo" and "sft" in results else None
        t0 = time.perf_counter()
        run = train_variant(
            method,
            data,
            args.out / "runs" / name.replace("+", "_"),
            train_condition=condition,
            profile=args.profile,
            warm_start=warm,
            name=name,
            progress=False,
            config=json.loads(args.config),
        )
        wall = time.perf_counter() - t0
        meta = run.record.model_dump(mode="json")
        row = {
            "train_seconds": meta.get("train_seconds"),
            "wall_seconds": round(wall, 1),
            "stages": meta.get("stages"),
        }
        sim = load_simulator(run.path, batch_size=args.batch_size)
        for condition in CONDITIONS:
            t1 = time.perf_counter()
            score = heldout_alignment(sim, test, judge, parse_condition(condition))
            seconds = time.perf_counter() - t1
            row[condition] = round(score.mean, 4)
            row[f"{condition}/parsed"] = round(score.parsed_share, 3)
            row[f"{condition}/replies_per_s"] = round(len(test) / seconds, 1)
        results[name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "stages"}), flush=True)
    try:
        from personadrop.models.bayes import BayesSimulator

        bayes = BayesSimulator.from_data_dir(data)
        results["bayes"] = {
            c: round(heldout_alignment(bayes, test, judge, parse_condition(c)).mean, 4) for c in CONDITIONS
        }
        print("bayes", json.dumps(results["bayes"]))
    except Exception as err:  # the ceiling is context, not the point of this benchmark
        print("bayes ceiling unavailable:", err)
    (args.out / "bench_train.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
