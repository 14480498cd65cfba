"""Train a study's variants: in this process, or side by side in worker processes with live bars.

Small CPU models use two cores better as two one-thread runs than as one two-thread run (measured 1.3x),
so runs that do not depend on each other train in parallel processes; a run that warm-starts from another
waits for it. Workers ignore Ctrl-C: the study catches it, stops them, and a re-run resumes from their
checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from personadrop.simulators import member_name
from personadrop.train.config import TrainConfig
from personadrop.train.methods import get_method
from personadrop.train.run import RunDir
from personadrop.workers import worker_pool


@dataclass(frozen=True)
class TrainJob:
    """One training run, as plain values that can cross into a worker process."""

    variant: str
    seed: int  # the training seed (also in ``config``)
    method: str
    data: str
    out_dir: str
    config: TrainConfig
    judge: str  # the reward judge's registry spec; each process builds (and closes) its own
    judge_options: Mapping[str, Any] = field(default_factory=dict)
    judge_cache: str | None = None
    warm_start: str | None = None  # the key of the job whose finished run this one starts from
    on_bad_row: str = "stop"
    quiet: bool = False  # in a worker process: the trainer's logs go to <out_dir>/train.log, not the terminal

    @property
    def key(self) -> str:
        """What the job is called in logs, timings and the results store (``grpo+fd/seed-1``)."""
        return member_name(self.variant, self.seed)

    def __call__(self, warm_start_dir: str | None = None) -> str:
        from personadrop.judges import make_judge
        from personadrop.train.variant import train_variant

        with _output_to(Path(self.out_dir) / "train.log") if self.quiet else nullcontext():
            judge = make_judge(self.judge, **{"cache_dir": self.judge_cache, **self.judge_options})
            try:
                run = train_variant(
                    self.method,
                    self.data,
                    self.out_dir,
                    config=self.config,
                    profile=self.config.profile,
                    judge=judge,
                    warm_start=warm_start_dir,
                    name=self.variant,
                    on_bad_row=self.on_bad_row,
                )
            finally:
                judge.close()
        return str(run.path)


def train_all(
    jobs: list[TrainJob],
    *,
    workers: int,
    console: Console,
    progress: bool,
    record: Callable[[str, float], None],
    pool: Executor | None = None,
) -> dict[str, Path]:
    """Train every job (finished runs are only checked and skipped); returns run directories by job key.

    ``workers`` > 1 trains that many runs at a time in worker processes (``pool``'s, when given: a study
    evaluates in the same processes afterwards). ``record(stage, seconds)`` is called as each run finishes.
    """
    runs: dict[str, Path] = {}
    parallel = []
    for job in jobs:
        if workers <= 1 or RunDir(job.out_dir).done:
            if not progress:  # the trainer's own bars too: a log that is not a terminal stays readable
                job = replace(job, config=job.config.model_copy(update={"progress": False}))
            runs[job.key] = _in_process(job, runs, console, record)
        else:
            parallel.append(job)
    if parallel:
        _in_workers(parallel, runs, workers, console, progress, record, pool)
    return runs


def _in_process(
    job: TrainJob, runs: dict[str, Path], console: Console, record: Callable[[str, float], None]
) -> Path:
    console.print(f"train {job.key} ...", markup=False, highlight=False)
    done_before = RunDir(job.out_dir).done  # then it is only checked: its training time stays recorded
    start = time.perf_counter()
    warm = runs.get(job.warm_start) if job.warm_start else None  # a finished run does not need it
    path = Path(job(str(warm) if warm else None))
    if not done_before:
        record(f"train {job.key}", time.perf_counter() - start)
    return path


def _in_workers(
    jobs: list[TrainJob],
    runs: dict[str, Path],
    workers: int,
    console: Console,
    progress: bool,
    record: Callable[[str, float], None],
    pool: Executor | None,
) -> None:
    threads = max(1, (os.cpu_count() or 2) // workers)
    pending = sorted(jobs, key=lambda j: not get_method(j.method).writes_states)  # the longest runs first
    running: dict[str, tuple[TrainJob, Future, float, Any]] = {}
    start_all = time.perf_counter()
    console.print(f"train {len(jobs)} variants, {workers} at a time ...", markup=False, highlight=False)
    bars = Progress(
        TextColumn("  {task.description:<22}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    # Each run sets its own threads; a failure or Ctrl-C stops the runs still training.
    with nullcontext(pool) if pool is not None else worker_pool(workers, threads=None) as pool, bars:
        while pending or running:
            for job in list(pending):
                if len(running) < workers and (job.warm_start is None or job.warm_start in runs):
                    job = replace(
                        job,
                        quiet=True,
                        config=job.config.model_copy(update={"threads": threads, "progress": False}),
                    )
                    warm = str(runs[job.warm_start]) if job.warm_start else None
                    pending.remove(next(j for j in pending if j.key == job.key))
                    bar = bars.add_task(job.key, total=None)
                    running[job.key] = (job, pool.submit(job, warm), time.perf_counter(), bar)
                    bars.console.print(
                        f"  training {job.key} (log: {Path(job.out_dir) / 'train.log'})",
                        markup=False,
                        highlight=False,
                    )
            time.sleep(0.5)
            for key, (job, result, started, bar) in list(running.items()):
                state = RunDir(job.out_dir).progress  # a worker's trainer reports its step there
                if state:
                    bars.update(
                        bar,
                        description=f"{key} ({state['stage']})",
                        completed=state["step"],
                        total=state["max_steps"],
                    )
                if result.done():
                    runs[key] = Path(result.result())  # a worker's exception is raised here
                    del running[key]
                    bars.remove_task(bar)
                    seconds = time.perf_counter() - started
                    record(f"train {key}", seconds)
                    bars.console.print(f"  trained {key} in {seconds:.0f} s", markup=False, highlight=False)
    record("train (all, parallel)", time.perf_counter() - start_all)


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (Python's and the C library's) to ``path`` for the block; the
    process's own come back after it (a worker goes on to other work)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    streams = sys.stdout, sys.stderr
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # Streams on the descriptors themselves: what a library bound to them writes follows the descriptors.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - owns no descriptor
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr, *streams):  # all of it into the log, before it is let go
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        sys.stdout, sys.stderr = streams
