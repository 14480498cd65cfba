"""Does a simulator read the post? For the synthetic world, the share of replies that name what only the
post can tell: its target (the manager, the sister, ...) and the pair of moral values it weighs.

The Bayes-optimal reference reads every post perfectly, so its shares are 1.0 under every condition; a
simulator that ignores the post names one habitual target and pair, and lands near chance (about 1/20 for
the target). Persona reading and post reading are separate skills: a model can use the persona (score above
the ceiling's `none`) and still never look at the post, which caps it well below the Bayes ceiling.

    python benchmarks/probe_post_reading.py EVAL_DIR WORLD_DIR [--condition full]

EVAL_DIR is an evaluation directory (`personadrop evaluate --out`, or a study's `eval/`), WORLD_DIR the
world it was evaluated on (a study's `data/`).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from personadrop.data.world.parse import parse_text


def truth(row: dict) -> tuple[str | None, frozenset[str]]:
    """The post's target and value pair, read from the reply's true states."""
    states = row.get("states") or {}
    stance, value = parse_text(states.get("stance", "")), parse_text(states.get("value", ""))
    target = stance.single("target")
    return target, frozenset(value.get("winner") | value.get("loser"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("world_dir", type=Path)
    ap.add_argument("--condition", default="full")
    args = ap.parse_args()

    rows = {}
    for split in ("train", "val", "test"):
        path = args.world_dir / f"{split}.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                rows[row["id"]] = row
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # replies, target named, pair named
    for line in (args.eval_dir / "generations.jsonl").read_text().splitlines():
        gen = json.loads(line)
        if gen["condition"] != args.condition or gen["example_id"] not in rows:
            continue
        target, pair = truth(rows[gen["example_id"]])
        reading = parse_text(gen.get("reply") or "")
        named = reading.get("winner") | reading.get("loser")
        c = counts[gen["variant"]]
        c[0] += 1
        c[1] += target is not None and target in reading.get("target")
        c[2] += len(pair) == 2 and pair <= named
    print(f"condition {args.condition}: share of replies naming the post's ...")
    print(f"{'variant':<14} {'replies':>7} {'target':>7} {'value pair':>10}")
    for variant, (n, t, p) in sorted(counts.items()):
        print(f"{variant:<14} {n:>7} {t / n:>7.3f} {p / n:>10.3f}")


if __name__ == "__main__":
    main()
