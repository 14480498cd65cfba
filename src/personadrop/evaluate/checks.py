"""Small evaluations on top of :func:`~personadrop.evaluate.evaluate`: the Bayes ceiling table of a world,
and a held-out check of one simulator under one condition (tests and benchmarks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from personadrop.data.example import Example
from personadrop.dropout import Full, ItemDropout, KeepOnly, NoPersona, Policy
from personadrop.evaluate.evaluation import evaluate
from personadrop.evaluate.metrics import Estimate
from personadrop.evaluate.task import EvalTask
from personadrop.judges.base import Judge
from personadrop.models.base import Simulator
from personadrop.persona import FIELD_NAMES

#: The field-informativeness conditions ``personadrop world`` reports.
CEILING_CONDITIONS: tuple[Policy, ...] = (
    Full(),
    NoPersona(),
    *(KeepOnly((f,)) for f in FIELD_NAMES),
    ItemDropout(0.9),
)


@dataclass(frozen=True)
class CeilingRow:
    """The reference's mean exact-judge response score under one condition, with its 95% interval."""

    condition: str
    estimate: Estimate
    unseen: Estimate  # over rows of users never seen in training
    scores: tuple[float, ...] = field(default=(), repr=False)  # per example, in order (NaN: not judged)

    @property
    def mean(self) -> float:
        return self.estimate.mean


def ceiling_table(
    examples: Sequence[Example],
    simulator: Simulator,
    conditions: Sequence[Policy] = CEILING_CONDITIONS,
    *,
    judge: Judge | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[CeilingRow]:
    """Response score of ``simulator`` (the world's Bayes reference) per condition, masked like an evaluation.

    ``judge`` defaults to the exact judge.
    """
    if judge is None:
        from personadrop.judges.exact import ExactJudge

        judge = ExactJudge()
    task = EvalTask(tuple(examples), tuple(conditions), seed, ("response",))
    results = evaluate(task, {"ceiling": simulator}, judge, progress=progress)
    return [
        CeilingRow(
            c.name,
            results.estimate("ceiling", c.name),
            results.estimate("ceiling", c.name, users="unseen"),
            tuple(float(s) for s in results.scores("ceiling", c.name)),
        )
        for c in task.conditions
    ]


@dataclass(frozen=True)
class HeldOutScore:
    """Mean alignment (unparsable replies count 0; judge failures are left out) and what it rests on."""

    mean: float
    n: int
    parsed_share: float
    replies: tuple[str | None, ...]


def heldout_alignment(
    simulator: Simulator,
    examples: Sequence[Example],
    judge: Judge,
    condition: Policy = Full(),  # noqa: B008 - policies are immutable
    *,
    seed: int = 0,
) -> HeldOutScore:
    """Generate a reply per example under ``condition`` (mask epoch 0), in the simulator's inference task,
    and score it with ``judge``."""
    policy = condition
    results = evaluate(
        EvalTask(tuple(examples), (policy,), seed, ("response",)), {"heldout": simulator}, judge
    )
    scores = results.scores("heldout", policy.name)
    replies = results.replies("heldout", policy.name)
    valid = [float(s) for s in scores if not math.isnan(s)]
    return HeldOutScore(
        mean=sum(valid) / len(valid) if valid else math.nan,
        n=len(valid),
        parsed_share=sum(r is not None for r in replies) / len(replies) if replies else 0.0,
        replies=tuple(replies),
    )
