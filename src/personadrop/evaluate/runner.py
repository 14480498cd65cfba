"""Run the condition grid: every (variant, condition, test example) generated, judged and stored.

Two stages, each resumable from the store:

1. generate: each simulator writes a reply for each example under each condition. The mask is keyed by
   (seed, example id, epoch 0), so every variant sees exactly the same persona under a condition.
2. judge: replies are grouped by (condition, example) across variants, and each group is one judge request
   per dimension, so an LLM judge compares the variants' replies side by side in one call and a study
   pays one call per group rather than one per variant.

A reply that did not parse (a HumanLM output without ``<response>``) scores 0 on every dimension: the
simulator failed. A judge failure stays NaN and is left out of every mean, and so does a generation that
could not be had (an API simulator's call that failed): it is missing, and a re-run asks for it again.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from personadrop.evaluate.grid import GENERATION_CHUNK, generate_chunk, grid_chunks
from personadrop.evaluate.parallel import generate_in_workers
from personadrop.evaluate.store import Generation, ResultsStore, ScoreRow
from personadrop.evaluate.task import EvalTask
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.models.base import Simulator

_BARS = Console(stderr=True, markup=False)  # progress is not a result: it goes to stderr


@dataclass
class GridWork:
    """What one run of the grid did: generations written and scores stored (0 and 0: it was all done)."""

    generated: int = 0
    judged: int = 0

    @property
    def any(self) -> bool:
        return bool(self.generated or self.judged)


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
    store: ResultsStore,
    variants: Sequence[str],
    task: EvalTask,
    judge_name: str,
    tasks: Mapping[str, EvalTask] | None = None,
) -> GridPlan:
    keys = grid_keys(variants, task, tasks)
    groups = {(c, e) for v, c, e in keys if not store.has_scores((v, c, e), judge_name)}
    return GridPlan(
        variants=len(variants),
        conditions=len(task.conditions),
        examples=len(task.examples),
        dimensions=len(task.dimensions),
        generations_todo=sum(not store.has_generation(k) for k in keys),
        judge_groups_todo=len(groups),
    )


def grid_keys(
    variants: Sequence[str], task: EvalTask, tasks: Mapping[str, EvalTask] | None = None
) -> list[tuple[str, str, str]]:
    """Every (variant, condition, example id) the grid asks for: each variant's cells of its own task
    (``tasks``: a sampled one) or of ``task``."""
    tasks = tasks or {}
    return [(v, c, e) for v in variants for c, e in tasks.get(v, task).cells()]


def run_grid(
    store: ResultsStore,
    simulators: Mapping[str, Simulator],
    task: EvalTask,
    judge: Judge | None,
    *,
    batch_size: int = GENERATION_CHUNK,
    judge_batch_size: int = 64,
    progress: bool = True,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    pool: Executor | None = None,
    tasks: Mapping[str, EvalTask] | None = None,
) -> GridWork:
    """Generate and judge whatever the store does not hold yet (failed judgements are tried again).

    ``simulators`` maps the names results are stored under to simulators; each answers its own
    ``inference_task``. ``batch_size`` items go to a simulator at a time (it may split them further).
    ``workers`` > 1 spreads the generation of heavy simulators (that know their ``source``) over that many
    one-thread processes (``pool``'s, when given), with the same rows as one process; judging stays in
    this process.
    ``shard`` (index, count): generate only every count-th chunk, from index on (one process of a launched
    evaluation); with ``judge`` None nothing is judged. ``tasks``: a task of its own for a simulator that
    answers a sample of ``task``'s examples.
    """
    tasks = tasks or {}
    chunks = {name: grid_chunks(tasks.get(name, task), batch_size) for name in simulators}
    work = GridWork()
    with _progress(progress) as bar:
        bars = {
            name: bar.add_task(f"generate {name}", total=sum(len(c) for c in chunks[name]))
            for name in simulators
        }
        spread: list[tuple[str, Simulator, int]] = []
        for number, (name, simulator, index) in enumerate(
            (n, sim, i) for n, sim in simulators.items() for i in range(len(chunks[n]))
        ):
            chunk = chunks[name][index]
            if number % shard[1] != shard[0]:
                continue  # another process's chunk
            if all(store.has_generation((name, c.name, e.id)) for c, e in chunk):
                bar.advance(bars[name], len(chunk))
            elif workers > 1 and simulator.parallel_worthwhile and simulator.source is not None:
                spread.append((name, simulator, index))
            else:
                rows = generate_chunk(name, simulator, chunk, task.seed)
                store.add_generations(rows)
                work.generated += len(rows)
                bar.advance(bars[name], len(chunk))
        if spread:
            # Whole chunks first and the short last chunk of each simulator at the end, so the workers
            # finish together rather than one waiting while the other writes a whole chunk.
            spread.sort(key=lambda job: len(chunks[job[0]][job[2]]), reverse=True)

            work.generated += generate_in_workers(
                store,
                spread,
                task,
                tasks,
                workers=min(workers, len(spread)),
                batch_size=batch_size,
                advance=lambda name, n: bar.advance(bars[name], n),
                pool=pool,
            )
        if judge is not None:
            work.judged = judge_missing(
                store, list(simulators), task, judge, judge_batch_size=judge_batch_size, bar=bar
            )
    return work


def judge_missing(
    store: ResultsStore,
    names: Sequence[str],
    task: EvalTask,
    judge: Judge,
    *,
    judge_batch_size: int = 64,
    bar: Progress | None = None,
) -> int:
    """Judge every stored generation of ``names`` in ``task`` that has no score from ``judge`` yet, or only a
    failed one; returns how many were judged."""
    wanted, conditions = set(names), set(task.condition_names)
    groups: dict[tuple[str, str], list[Generation]] = defaultdict(list)
    for g in store.generations.values():
        if (
            g.variant in wanted
            and g.condition in conditions
            and g.example_id in task.by_id
            and not store.has_scores(g.key, judge.name)
        ):
            groups[(g.condition, g.example_id)].append(g)
    ordered = sorted(groups.items())
    bar_id = bar.add_task(f"judge ({judge.name})", total=sum(len(gs) for _, gs in ordered)) if bar else None
    for start in range(0, len(ordered), judge_batch_size):
        batch = ordered[start : start + judge_batch_size]
        store.add_scores(_judge(batch, task, judge))
        if bar is not None and bar_id is not None:
            bar.advance(bar_id, sum(len(gs) for _, gs in batch))
    return sum(len(gs) for _, gs in ordered)


def _judge(
    groups: Sequence[tuple[tuple[str, str], list[Generation]]], task: EvalTask, judge: Judge
) -> list[ScoreRow]:
    requests: list[JudgeRequest] = []
    slots: list[
        tuple[list[Generation], list[str], int]
    ] = []  # per group: its generations, unique replies, first request
    for (_, example_id), gens in groups:
        replies = list(dict.fromkeys(g.reply for g in gens if g.reply is not None))
        slots.append((gens, replies, len(requests)))
        if replies:
            requests.extend(
                JudgeRequest.about(task.by_id[example_id], replies, dim) for dim in task.dimensions
            )
    scores = judge.score(requests) if requests else []
    rows = []
    for gens, replies, first in slots:
        position = {reply: i for i, reply in enumerate(replies)}
        for g in gens:
            if g.reply is None:
                values = dict.fromkeys(task.dimensions, 0.0)  # the simulator failed to answer: a real zero
            else:
                values = {
                    dim: _clip(scores[first + d][position[g.reply]]) for d, dim in enumerate(task.dimensions)
                }
            rows.append(ScoreRow(g.variant, g.condition, g.example_id, judge.name, values))
    return rows


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, float(value)))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_BARS,
        disable=not enabled,
        transient=False,
    )
