"""Judge requests rebuilt from an evaluation directory, so a second judge can re-score the same replies."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from personadrop.data.humanual import load_examples
from personadrop.errors import DataError
from personadrop.evaluate.directory import EvaluationDir
from personadrop.judges.base import JudgeRequest


def agreement_requests(
    ev: EvaluationDir, dimensions: Sequence[str], *, max_groups: int | None = None, seed: int = 0
) -> list[JudgeRequest]:
    """One request per (condition, example, dimension) holding the stored replies of every variant.

    ``max_groups`` keeps a seeded sample of (condition, example) groups, to bound what an LLM judge costs.
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for g in ev.store.generations.values():
        if g.reply is not None and g.reply not in groups[(g.condition, g.example_id)]:
            groups[(g.condition, g.example_id)].append(g.reply)
    keys = sorted(k for k, replies in groups.items() if replies)
    if not keys:
        raise DataError(f"{ev.path} holds no parsed replies to re-score")
    if max_groups is not None and len(keys) > max_groups:
        keys = sorted(random.Random(seed).sample(keys, max_groups))
    wanted = {example_id for _, example_id in keys}
    if ev.meta.data is None:
        raise DataError(f"{ev.path} does not record the data it evaluated, so the examples cannot be rebuilt")
    examples = {e.id: e for e in load_examples(ev.meta.data, split=ev.meta.split).examples if e.id in wanted}
    missing = wanted - set(examples)
    if missing:
        raise DataError(
            f"{len(missing)} evaluated examples are no longer in {ev.meta.data} (e.g. {sorted(missing)[0]})"
        )
    return [
        JudgeRequest(
            example_id,
            examples[example_id].context_text(),
            examples[example_id].response,
            tuple(groups[(condition, example_id)]),
            dim,
            examples[example_id].states,
        )
        for condition, example_id in keys
        for dim in dimensions
    ]
