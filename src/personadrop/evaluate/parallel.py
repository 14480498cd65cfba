"""Generation spread over worker processes, with exactly the rows one process would write.

The grid is cut into fixed chunks (:func:`~personadrop.evaluate.grid.grid_chunks`), and a chunk is
always generated whole by one simulator call: batched generation, whose numerics depend on batch shape,
then writes the same replies whichever process runs the chunk, or whether a resumed run redoes it. Workers
load each simulator once (from its ``source``) and send rows back; the parent alone writes the store, so
a killed worker loses only the chunk in flight and nothing is stored twice.

The workers may be a pool that already served another stage (a study trains in the same processes): the
task reaches them through a file, read once per worker, rather than through the pool's set-up.
"""

from __future__ import annotations

import pickle
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from personadrop.evaluate.grid import generate_chunk, grid_chunks
from personadrop.evaluate.store import Generation, ResultsStore
from personadrop.evaluate.task import EvalTask
from personadrop.models.base import Simulator

_WORKER: dict[str, Any] = {}  # per worker process: the task, its chunks, simulators loaded so far


def _generate(job: tuple[str, str, str, dict[str, Any], int]) -> tuple[str, list[Generation]]:
    import torch

    from personadrop.simulators import reload_simulator

    key, task_file, name, source, index = job
    if _WORKER.get("key") != key:  # this evaluation's first chunk in this process
        task, tasks, batch_size = pickle.loads(Path(task_file).read_bytes())
        _WORKER.clear()
        _WORKER.update(key=key, task=task, tasks=tasks, batch_size=batch_size, chunks={}, simulators={})
    torch.set_num_threads(1)  # a process that trained before may have had more
    simulators, chunks = _WORKER["simulators"], _WORKER["chunks"]
    if name not in simulators:
        simulators[name] = reload_simulator(source)
        chunks[name] = grid_chunks(_WORKER["tasks"].get(name, _WORKER["task"]), _WORKER["batch_size"])
    return name, generate_chunk(name, simulators[name], chunks[name][index], _WORKER["task"].seed)


def generate_in_workers(
    store: ResultsStore,
    jobs: Sequence[tuple[str, Simulator, int]],
    task: EvalTask,
    tasks: Mapping[str, EvalTask],
    *,
    workers: int,
    batch_size: int,
    advance: Callable[[str, int], None],
    pool: Executor | None = None,
) -> int:
    """Generate the chunks ``jobs`` names ((variant, simulator, chunk index)) in ``workers`` processes of
    one torch thread each (those of ``pool`` when given); returns how many rows were written. ``tasks``: a
    sampled task of its own for a simulator (see :func:`~personadrop.evaluate.runner.run_grid`).
    ``advance(variant, rows)`` reports progress."""
    from concurrent.futures import as_completed

    from personadrop.workers import worker_pool

    written = 0
    with ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(worker_pool(workers, 1))
        shared = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="personadrop-eval-")))
        task_file = shared / "task.pickle"
        task_file.write_bytes(pickle.dumps((task, dict(tasks), batch_size)))
        key = uuid.uuid4().hex
        # In order, so each worker tends to stay with one simulator (loaded once per worker).
        futures = [
            pool.submit(_generate, (key, str(task_file), name, sim.source, index))
            for name, sim, index in jobs
        ]
        try:
            for future in as_completed(futures):
                name, rows = future.result()
                store.add_generations(rows)
                written += len(rows)
                advance(name, len(rows))
        finally:  # on a failure, work not yet started is dropped (a borrowed pool goes on to other work)
            for future in futures:
                future.cancel()
    return written
