"""A quick held-out check of a trained simulator: mean judge alignment of its replies under one condition.

Tests and the training benchmark use it to see that training moved the score; the study's evaluation
(many conditions, confidence intervals, a results store) lives in :mod:`personadrop.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from personadrop.data.example import Example
from personadrop.dropout import MaskKey, parse_condition
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.models.base import SimulationItem
from personadrop.models.checkpoint import HFSimulator
from personadrop.prompts import parse_output


@dataclass(frozen=True)
class HeldOutScore:
    """Mean alignment (unparsable replies count 0; judge failures are left out) and what it rests on."""

    mean: float
    n: int
    parsed_share: float
    replies: tuple[str, ...]


def heldout_alignment(
    simulator: HFSimulator,
    examples: Sequence[Example],
    judge: Judge,
    condition: str = "full",
    *,
    seed: int = 0,
    task: str | None = None,
) -> HeldOutScore:
    """Generate a reply per example under ``condition`` (mask epoch 0) and score it with ``judge``.

    ``task`` defaults to the simulator's inference task (``states+response`` for HumanLM runs).
    """
    policy = parse_condition(condition)
    task = task or simulator.inference_task
    items = [SimulationItem(ex, policy(ex.persona, MaskKey(seed, ex.id)), task) for ex in examples]
    raw = simulator.generate(items)
    replies = [parse_output(text, task) for text in raw]
    scored = [(ex, r) for ex, r in zip(examples, replies, strict=True) if r is not None]
    requests = [
        JudgeRequest(ex.id, ex.context_text(), ex.response, (r,), "response", ex.states) for ex, r in scored
    ]
    scores = [s[0] for s in judge.score(requests)] if requests else []
    values = [s for s in scores if not math.isnan(s)] + [0.0] * (len(replies) - len(scored))
    return HeldOutScore(
        mean=sum(values) / len(values) if values else float("nan"),
        n=len(values),
        parsed_share=len(scored) / len(replies) if replies else 0.0,
        replies=tuple(raw),
    )
