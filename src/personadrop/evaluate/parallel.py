"""Generation spread over worker processes, with exactly the rows one process would write.

The grid is cut into fixed chunks (:func:`~personadrop.evaluate.runner.grid_chunks`), and a chunk is
always generated whole by one simulator call: batched generation, whose numerics depend on batch shape,
then writes the same replies whichever process runs the chunk, or whether a resumed run redoes it. Workers
load each simulator once (from its ``source``) and send rows back; the parent alone writes the store, so
a killed worker loses only the chunk in flight and nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from personadrop.evaluate.runner import generate_chunk, grid_chunks
from personadrop.evaluate.store import Generation, ResultsStore
from personadrop.evaluate.task import EvalTask
from personadrop.models.base import Simulator

_WORKER: dict[str, Any] = {}  # per worker process: the task, its chunks, simulators loaded so far


def _setup(task: EvalTask, batch_size: int) -> None:
    _WORKER.update(task=task, chunks=grid_chunks(task, batch_size), simulators={})


def _generate(job: tuple[str, dict[str, Any], int]) -> tuple[str, list[Generation]]:
    from personadrop.simulators import reload_simulator

    name, source, index = job
    simulators = _WORKER["simulators"]
    if name not in simulators:
        simulators[name] = reload_simulator(source)
    return name, generate_chunk(name, simulators[name], _WORKER["chunks"][index], _WORKER["task"].seed)


def generate_in_workers(
    store: ResultsStore,
    jobs: Sequence[tuple[str, Simulator, int]],
    task: EvalTask,
    *,
    workers: int,
    batch_size: int,
    advance: Callable[[str, int], None],
) -> int:
    """Generate the chunks ``jobs`` names ((variant, simulator, chunk index)) in ``workers`` processes of
    one torch thread each; returns how many rows were written. ``advance(variant, rows)`` reports progress."""
    from concurrent.futures import as_completed

    from personadrop.workers import worker_pool

    written = 0
    with worker_pool(workers, 1, _setup, task, batch_size) as pool:
        # In order, so each worker tends to stay with one simulator (loaded once per worker).
        futures = [pool.submit(_generate, (name, sim.source, index)) for name, sim, index in jobs]
        for future in as_completed(futures):
            name, rows = future.result()
            store.add_generations(rows)
            written += len(rows)
            advance(name, len(rows))
    return written
