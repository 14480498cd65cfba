"""The one evaluation entry point, :func:`evaluate`, and what it returns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from personadrop.distributed import barrier, is_main, launched, rank, world_size
from personadrop.errors import PersonadropError
from personadrop.evaluate.directory import EvaluationDir, EvaluationMeta
from personadrop.evaluate.grid import GENERATION_CHUNK
from personadrop.evaluate.metrics import Bootstrap, Estimate
from personadrop.evaluate.runner import GridWork, grid_keys, judge_missing, run_grid
from personadrop.evaluate.store import ResultsStore
from personadrop.evaluate.task import EvalTask
from personadrop.judges.base import Judge, JudgeUsage
from personadrop.models.base import Simulator, SimulatorRecord


@dataclass
class EvalResults:
    """The scored grid of one evaluation, readable per (variant, condition, dimension)."""

    task: EvalTask
    store: ResultsStore
    judge: str
    work: GridWork = field(default_factory=GridWork)  # what this call generated and judged
    notes: list[str] = field(default_factory=list)  # what the simulators said of the grid (extra replies)
    tasks: dict[str, EvalTask] = field(default_factory=dict)  # a sampled task of a simulator's own

    def failures(self) -> tuple[int, int]:
        """(failed, all) judgements of this task's grid: a failed one is NaN, left out of every mean."""
        wanted = set(self.task.condition_names)
        rows = [
            r
            for r in self.store.score_rows(self.judge)
            if r.condition in wanted and r.example_id in self.task.by_id
        ]
        values = [v for r in rows for v in r.scores.values()]
        return sum(math.isnan(v) for v in values), len(values)

    def missing_generations(self, variants: Sequence[str]) -> tuple[int, int]:
        """(missing, all) generations of ``variants`` in this task's grid: a row an API simulator could not
        answer has none, and is left out of every mean."""
        keys = grid_keys(variants, self.task, self.tasks)
        return sum(not self.store.has_generation(k) for k in keys), len(keys)

    def scores(self, variant: str, condition: str, dimension: str = "response") -> np.ndarray:
        """One score per task example, in task order; NaN where nothing was judged or the judge failed."""
        out = np.full(len(self.task.examples), np.nan)
        for i, e in enumerate(self.task.examples):
            row = self.store.scores.get((variant, condition, e.id, self.judge))
            if row is not None:
                out[i] = row.scores.get(dimension, np.nan)
        return out

    def replies(self, variant: str, condition: str) -> list[str | None]:
        """The parsed reply per task example (None where the output did not parse or was not generated)."""
        gens = [self.store.generations.get((variant, condition, e.id)) for e in self.task.examples]
        return [g.reply if g is not None else None for g in gens]

    def estimate(
        self,
        variant: str,
        condition: str,
        dimension: str = "response",
        *,
        users: Literal["all", "seen", "unseen"] = "all",
        seed: int = 0,
        resamples: int = 2000,
    ) -> Estimate:
        """Mean score with its 95% percentile-bootstrap interval over examples (judge failures left out)."""
        values = self.scores(variant, condition, dimension)
        if users != "all":
            unseen = np.array([e.unseen_user for e in self.task.examples], dtype=bool)
            values = values[unseen if users == "unseen" else ~unseen]
        return Bootstrap(seed, resamples).mean(values)


def evaluate(
    task: EvalTask,
    simulators: Mapping[str, Simulator],
    judge: Judge,
    *,
    out: str | Path | None = None,
    records: Mapping[str, SimulatorRecord] | None = None,
    progress: bool = False,
    batch_size: int = GENERATION_CHUNK,
    judge_batch_size: int = 64,
    workers: int = 1,
    pool: Executor | None = None,
) -> EvalResults:
    """Generate and judge ``task`` for every simulator; returns the results.

    ``out``: an evaluation directory (created, or resumed when it holds the same evaluation; held by this
    process while it runs); None keeps results in memory. ``records``: what each simulator is (its variant,
    seed, the run it came from), recorded in ``out`` with its identity and task. Failed judgements already
    stored are judged again. ``workers``: processes generation is spread over (the same rows as one process);
    ``pool``: worker processes to use for that (a study's, which trained in them), else a pool of its own.
    A simulator whose record has a ``sample`` answers a seeded sample of that many of the examples.
    """
    records = records or {}
    tasks = {name: task.sample(r.sample) for name, r in records.items() if r.sample and name in simulators}
    notes = [note for name, sim in simulators.items() if (note := sim.expect(tasks.get(name, task).cells()))]
    grid = {
        "batch_size": batch_size,
        "judge_batch_size": judge_batch_size,
        "progress": progress,
        "workers": workers,
        "pool": pool,
        "tasks": tasks,
    }
    if out is None:
        store = ResultsStore(None)
        work = run_grid(store, simulators, task, judge, **grid)
        return EvalResults(task, store, judge.name, work, notes, tasks)

    from personadrop.files import exclusive

    meta = EvaluationMeta(
        data=task.source,
        data_sha256=task.data_sha256,
        split=task.split,
        seed=task.seed,
        judge=judge.name,
        dimensions=list(task.dimensions),
        conditions=list(task.conditions),
        variants={
            name: (records.get(name) or SimulatorRecord()).model_copy(
                update={"task": sim.inference_task, "identity": sim.identity}
            )
            for name, sim in simulators.items()
        },
    )
    if launched():  # one of several processes (torchrun, accelerate launch): a share of the generation each
        return _evaluate_launched(task, simulators, judge, Path(out), meta, grid)
    with exclusive(out, "evaluation"):
        ev = EvaluationDir.create(out, meta, task.examples)
        counted = {judge.name: judge.usage} | {
            f"simulator {name}": sim.usage for name, sim in simulators.items() if sim.usage is not None
        }
        before = {name: JudgeUsage(**usage.as_dict()) for name, usage in counted.items()}
        try:
            work = run_grid(ev.store, simulators, task, judge, **grid)
        finally:
            for name, usage in counted.items():
                ev.add_usage(name, _spent(usage, before[name]))
    return EvalResults(task, ev.store, judge.name, work, notes, tasks)


def _evaluate_launched(
    task: EvalTask,
    simulators: Mapping[str, Simulator],
    judge: Judge,
    out: Path,
    meta: EvaluationMeta,
    grid: dict[str, Any],
) -> EvalResults:
    """Every process generates every n-th chunk into its own shard file; then the main process, which
    holds the directory throughout, reads all shards and judges (so judge calls stay cached and rate-
    limited in one place). A killed process's chunks are redone by the next run, shards merge on reading."""
    from contextlib import ExitStack

    from personadrop.files import exclusive

    grid = {**grid, "workers": 1, "pool": None}
    with ExitStack() as held:
        if is_main():
            held.enter_context(exclusive(out, "evaluation"))
            EvaluationDir.create(out, meta, task.examples)
        barrier()
        store = ResultsStore(out, shard=f"rank-{rank()}")
        work = run_grid(
            store,
            simulators,
            task,
            None,
            shard=(rank(), world_size()),
            **{k: v for k, v in grid.items() if k != "judge_batch_size"},
        )
        barrier()
        if not is_main():
            return EvalResults(task, store, judge.name, work, tasks=grid["tasks"])
        ev = EvaluationDir.open(out)  # every shard's generations
        before = JudgeUsage(**judge.usage.as_dict())
        try:
            work.judged = judge_missing(
                ev.store, list(simulators), task, judge, judge_batch_size=grid["judge_batch_size"]
            )
        finally:
            ev.add_usage(judge.name, _spent(judge.usage, before))
    return EvalResults(task, ev.store, judge.name, work, tasks=grid["tasks"])


def _spent(now: JudgeUsage, before: JudgeUsage) -> JudgeUsage:
    """What a judge used since ``before`` (a judge object may serve several evaluations)."""
    a, b = now.as_dict(), before.as_dict()
    return JudgeUsage(**{k: a[k] - b[k] for k in a})


def check_failures(
    failed: int, total: int, max_share: float, *, retry_hint: str, what: str = "judgements"
) -> None:
    """Raise a one-line error when the share of failed ``what`` (judgements, generations) passes
    ``max_share``."""
    if total and failed / total > max_share:
        raise PersonadropError(
            f"{failed:,} of {total:,} {what} failed ({failed / total:.1%}, more than the {max_share:.0%} "
            f"allowed); the numbers leave them out. {retry_hint}"
        )
