"""Does a trained simulator read the post? Per-dimension exact-judge scores of one SFT run on held-out
examples.

A simulator that ignores the post can still learn the world's language and the user's tone; what it
cannot do without the post is name its target, say which two values were traded off, or take a side
that depends on them. So beside the judge's response score and its six dimensions this reports, under
each condition: how often the reply names the post's target (and its most common target), how often
the value it puts first is one of the post's two values, and its NTA share against the real users'.

Run: `python benchmarks/bench_learnability.py --out /tmp/learn --data WORLD_DIR [--n 200]
[--config '{"sft": {"epochs": 2}}'] [--preset '{"heads": 8}'] [--method sft] [--none]`.
``--preset`` replaces fields of the ``tiny`` preset for this process (architecture experiments);
``--none`` trains without any persona (a diagnostic: does the persona's length get in the way?).
Run it alone: two CPU cores, and the training seconds are part of the result.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from personadrop.data.example import STATE_DIMENSIONS
from personadrop.data.humanual import load_examples
from personadrop.data.world.parse import parse_text
from personadrop.dropout import MaskKey, parse_condition
from personadrop.judges.base import JudgeRequest
from personadrop.judges.exact import ExactJudge, reference_truth
from personadrop.models import tiny
from personadrop.models.base import SimulationItem
from personadrop.prompts import parse_output
from personadrop.simulators import load_simulator
from personadrop.train.variant import train_variant

DIMENSIONS = ("response", *STATE_DIMENSIONS)


def post_reading(replies: list[str], truths: list[dict[str, str]]) -> dict[str, float | str]:
    """Target match, value-from-the-post and NTA shares of ``replies`` against the true slots."""
    n = len(replies)
    readings = [parse_text(r) for r in replies]
    targets = Counter(next(iter(r.slots["target"])) if len(r.slots["target"]) == 1 else "-" for r in readings)
    post_values = [{t["winner"], t["loser"]} for t in truths]
    return {
        "target_match": sum(r.slots["target"] == {t["target"]} for r, t in zip(readings, truths, strict=True))
        / n,
        "top_target": f"{targets.most_common(1)[0][0]} {targets.most_common(1)[0][1] / n:.2f}",
        "value_in_post": sum(
            bool(r.slots["winner"]) and r.slots["winner"] <= pv
            for r, pv in zip(readings, post_values, strict=True)
        )
        / n,
        "nta": sum(r.slots["direction"] == {"agree"} for r in readings) / n,
        "nta_true": sum(t["direction"] == "agree" for t in truths) / n,
    }


def score_condition(sim, test, judge: ExactJudge, condition: str) -> dict[str, float | str]:
    policy = parse_condition(condition)
    task = sim.inference_task
    items = [SimulationItem(ex, policy(ex.persona, MaskKey(0, ex.id)), task) for ex in test]
    t0 = time.perf_counter()
    replies = [parse_output(text, task) or "" for text in sim.generate(items)]
    seconds = time.perf_counter() - t0
    row: dict[str, float | str] = {}
    for dim in DIMENSIONS:
        reqs = [
            JudgeRequest(ex.id, ex.context_text(), ex.response, (r,), dim, ex.states)
            for ex, r in zip(test, replies, strict=True)
        ]
        scores = [s[0] for s in judge.score(reqs)]
        kept = [s for s in scores if not math.isnan(s)]
        row[dim] = round(sum(kept) / len(kept), 3)
    truths = [reference_truth(ex.response, ex.states, "response") or {} for ex in test]
    row.update(
        {k: round(v, 3) if isinstance(v, float) else v for k, v in post_reading(replies, truths).items()}
    )
    row["gen_seconds"] = round(seconds, 1)
    row["sample"] = replies[0]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--data", type=Path, required=True, help="a world directory (personadrop world --out DIR)"
    )
    ap.add_argument("--n", type=int, default=200, help="held-out test examples to score")
    ap.add_argument("--method", default="sft")
    ap.add_argument("--config", default="{}", help="TrainConfig overrides as JSON")
    ap.add_argument("--preset", default="{}", help="fields of the tiny preset to replace, as JSON")
    ap.add_argument("--none", action="store_true", help="train with no persona (every field hidden)")
    ap.add_argument("--conditions", default="full,only:values")
    args = ap.parse_args()

    preset = json.loads(args.preset)
    if preset:
        tiny.PRESETS["tiny"] = replace(tiny.PRESETS["tiny"], **preset)
    config = json.loads(args.config)
    if args.none:
        config = {**config, "train_condition": "none"}
    test = load_examples(args.data, split="test").examples[: args.n]
    t0 = time.perf_counter()
    run = train_variant(
        args.method, args.data, args.out / "run", profile="default", progress=False, config=config
    )
    wall = time.perf_counter() - t0
    stages = run.record.model_dump(mode="json")["stages"]
    result: dict[str, object] = {
        "config": config,
        "preset": preset,
        "train_wall_seconds": round(wall, 1),
        "steps": {k: v.get("steps") for k, v in stages.items()},
        "step_seconds": {k: v.get("step_seconds") for k, v in stages.items()},
        "final_loss": {k: v.get("final", {}).get("loss") for k, v in stages.items()},
    }
    sim = load_simulator(run.path, batch_size=256)
    judge = ExactJudge()
    for condition in args.conditions.split(","):
        result[condition] = score_condition(sim, test, judge, condition)
    (args.out / "learnability.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
