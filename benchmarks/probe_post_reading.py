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
from collections import defaultdict
from pathlib import Path

from personadrop.data.example import Example
from personadrop.data.humanual import load_examples
from personadrop.data.world.parse import parse_text
from personadrop.evaluate.store import ResultsStore


def truth(example: Example) -> tuple[str | None, frozenset[str]]:
    """The post's target and value pair, read from the reply's true states."""
    states = example.states or {}
    stance, value = parse_text(states.get("stance", "")), parse_text(states.get("value", ""))
    target = stance.single("target")
    return target, frozenset(value.get("winner") | value.get("loser"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("world_dir", type=Path)
    ap.add_argument("--condition", default="full")
    args = ap.parse_args()

    examples = {ex.id: ex for ex in load_examples(args.world_dir).examples}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # replies, target named, pair named
    for gen in ResultsStore(args.eval_dir).generations.values():  # shards of a launched evaluation too
        if gen.condition != args.condition or gen.example_id not in examples:
            continue
        target, pair = truth(examples[gen.example_id])
        reading = parse_text(gen.reply or "")
        named = reading.get("winner") | reading.get("loser")
        c = counts[gen.variant]
        c[0] += 1
        c[1] += target is not None and target in reading.get("target")
        c[2] += len(pair) == 2 and pair <= named
    print(f"condition {args.condition}: share of replies naming the post's ...")
    print(f"{'variant':<14} {'replies':>7} {'target':>7} {'value pair':>10}")
    for variant, (n, t, p) in sorted(counts.items()):
        print(f"{variant:<14} {n:>7} {t / n:>7.3f} {p / n:>10.3f}")


if __name__ == "__main__":
    main()
