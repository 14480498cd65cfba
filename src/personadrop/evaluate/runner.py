"""Run the condition grid: every (variant, condition, test example) generated, judged and stored.

Two stages, each resumable from the store:

1. generate: each variant writes a reply for each example under each condition. The mask is keyed by
   (seed, example id, epoch 0), so every variant sees exactly the same persona under a condition.
2. judge: replies are grouped by (condition, example) across variants, and each group is one judge request
   per dimension, so an LLM judge compares the variants' replies side by side in one call and a study
   pays one call per group rather than one per variant.

A reply that did not parse (a HumanLM output without ``<response>``) scores 0 on every dimension: the
simulator failed. A judge failure stays NaN and is left out of every mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from personadrop.data.example import Example
from personadrop.dropout import MaskKey, Policy
from personadrop.evaluate.store import Generation, ResultsStore, ScoreRow
from personadrop.judges.base import DIMENSIONS, Judge, JudgeRequest
from personadrop.models.base import SimulationItem, Simulator
from personadrop.prompts import parse_output

EVAL_EPOCH = 0


@dataclass(frozen=True)
class Variant:
    """A named simulator and the task it answers (``states+response`` for HumanLM variants)."""

    name: str
    simulator: Simulator
    task: str = "response"


@dataclass(frozen=True)
class GridPlan:
    """How much work an evaluation is, before any is done (what ``--dry-run`` prints)."""

    variants: int
    conditions: int
    examples: int
    dimensions: int
    generations_todo: int
    judge_groups_todo: int

    @property
    def generations(self) -> int:
        return self.variants * self.conditions * self.examples

    @property
    def judge_requests_todo(self) -> int:
        return self.judge_groups_todo * self.dimensions


def plan_grid(
    store: ResultsStore, variants: Sequence[str], conditions: Sequence[Policy], examples: Sequence[Example],
    judge_name: str, dimensions: Sequence[str] = DIMENSIONS,
) -> GridPlan:
    keys = [(v, c.name, e.id) for v in variants for c in conditions for e in examples]
    groups = {(c, e) for v, c, e in keys if not store.has_scores((v, c, e), judge_name)}
    return GridPlan(
        variants=len(variants),
        conditions=len(conditions),
        examples=len(examples),
        dimensions=len(dimensions),
        generations_todo=sum(not store.has_generation(k) for k in keys),
        judge_groups_todo=len(groups),
    )


def run_grid(
    store: ResultsStore,
    variants: Sequence[Variant],
    conditions: Sequence[Policy],
    examples: Sequence[Example],
    judge: Judge,
    *,
    seed: int,
    dimensions: Sequence[str] = DIMENSIONS,
    batch_size: int = 512,
    judge_batch_size: int = 64,
    progress: bool = True,
    on_batch: Callable[[], None] | None = None,
) -> None:
    """Generate and judge whatever the store does not hold yet. ``on_batch`` runs after each stored batch.

    ``batch_size`` items go to the simulator at a time (it may split them further); larger chunks let it
    group prompts of similar length, and the grid is ordered by condition, whose prompts are alike.
    """
    by_id = {e.id: e for e in examples}
    grid = [(c, e) for c in conditions for e in examples]
    with _progress(progress) as bar:
        for variant in variants:
            task = bar.add_task(f"generate {variant.name}", total=len(grid))
            # Fixed chunks of the whole grid, redone whole when any row is missing: a resumed run feeds the
            # simulator exactly the batches an uninterrupted one would, so batched generation (whose
            # numerics depend on batch shape) gives the same replies.
            for start in range(0, len(grid), batch_size):
                chunk = grid[start : start + batch_size]
                if any(not store.has_generation((variant.name, c.name, e.id)) for c, e in chunk):
                    store.add_generations(_generate(variant, chunk, seed))
                    if on_batch:
                        on_batch()
                bar.advance(task, len(chunk))

        groups: dict[tuple[str, str], list[Generation]] = defaultdict(list)
        wanted = {v.name for v in variants}
        names = {c.name for c in conditions}
        for g in store.generations.values():
            if g.variant in wanted and g.condition in names and g.example_id in by_id and not store.has_scores(g.key, judge.name):
                groups[(g.condition, g.example_id)].append(g)
        ordered = sorted(groups.items())
        task = bar.add_task(f"judge ({judge.name})", total=sum(len(gs) for _, gs in ordered))
        for start in range(0, len(ordered), judge_batch_size):
            batch = ordered[start : start + judge_batch_size]
            store.add_scores(_judge(batch, by_id, judge, dimensions))
            bar.advance(task, sum(len(gs) for _, gs in batch))
            if on_batch:
                on_batch()


def _generate(variant: Variant, batch: Sequence[tuple[Policy, Example]], seed: int) -> list[Generation]:
    items = [SimulationItem(e, c(e.persona, MaskKey(seed, e.id, EVAL_EPOCH)), variant.task) for c, e in batch]
    outputs = variant.simulator.generate(items)
    if len(outputs) != len(items):
        raise RuntimeError(f"simulator {variant.name} returned {len(outputs)} outputs for {len(items)} items")
    return [
        Generation(variant.name, c.name, e.id, out, parse_output(out, variant.task), item.visible.visibility())
        for (c, e), item, out in zip(batch, items, outputs, strict=True)
    ]


def _judge(
    groups: Sequence[tuple[tuple[str, str], list[Generation]]],
    by_id: dict[str, Example],
    judge: Judge,
    dimensions: Sequence[str],
) -> list[ScoreRow]:
    requests: list[JudgeRequest] = []
    slots: list[tuple[list[Generation], list[str], int]] = []  # per group: its generations, unique replies, first request
    for (_, example_id), gens in groups:
        ex = by_id[example_id]
        replies = list(dict.fromkeys(g.reply for g in gens if g.reply is not None))
        slots.append((gens, replies, len(requests)))
        if replies:
            requests.extend(
                JudgeRequest(ex.id, ex.context_text(), ex.response, tuple(replies), dim, ex.states) for dim in dimensions
            )
    scores = judge.score(requests) if requests else []
    rows = []
    for gens, replies, first in slots:
        position = {reply: i for i, reply in enumerate(replies)}
        for g in gens:
            if g.reply is None:
                values = dict.fromkeys(dimensions, 0.0)  # the simulator failed to answer: a real zero
            else:
                values = {dim: _clip(scores[first + d][position[g.reply]]) for d, dim in enumerate(dimensions)}
            rows.append(ScoreRow(g.variant, g.condition, g.example_id, judge.name, values))
    return rows


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, float(value)))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
