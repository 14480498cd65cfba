"""Dynamic batching: concurrent requests to one simulator become one generation call.

Requests wait in a queue; the first one opens a short window (``window`` seconds) in which later requests
join it, up to ``max_batch``. The batch is generated in one call on a single worker thread (the model is
used by one batch at a time), and each request gets its own output back. Requests that ask for other
decoding settings (temperature, a length limit) are generated apart, in the same round.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from personadrop.models.base import SimulationItem, Simulator


class DynamicBatcher:
    """Batches ``generate`` calls to one simulator; ``calls`` and ``requests`` count what it did."""

    def __init__(self, simulator: Simulator, *, window: float = 0.01, max_batch: int = 64):
        self.simulator = simulator
        self.window, self.max_batch = window, max_batch
        self.calls = 0  # generation calls made
        self.requests = 0  # requests answered
        self._queue: asyncio.Queue[tuple[SimulationItem, tuple, asyncio.Future[str]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"generate-{simulator.name}")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def generate(self, item: SimulationItem, decoding: tuple = ()) -> str:
        """The simulator's output for ``item`` (with ``decoding`` overrides), batched with its neighbours."""
        assert self._queue is not None, "the batcher is not started"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, decoding, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window
            while len(batch) < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            groups: dict[tuple, list[tuple[SimulationItem, asyncio.Future[str]]]] = defaultdict(list)
            for item, decoding, future in batch:
                groups[decoding].append((item, future))
            for decoding, members in groups.items():
                items = [item for item, _ in members]
                try:
                    outputs = await loop.run_in_executor(self._executor, self._generate, items, decoding)
                except Exception as err:  # reported to each waiting request, the server goes on
                    for _, future in members:
                        if not future.done():
                            future.set_exception(err)
                    continue
                for (_, future), output in zip(members, outputs, strict=True):
                    if not future.done():
                        future.set_result(output)

    def _generate(self, items: Sequence[SimulationItem], decoding: tuple) -> list[str]:
        self.calls += 1
        self.requests += len(items)
        base = getattr(self.simulator, "decoding", None)
        if not decoding or base is None:
            return self.simulator.generate(items)
        # One batch at a time runs on this thread, so the settings can be swapped for it.
        self.simulator.decoding = base.model_copy(update=dict(decoding))  # type: ignore[attr-defined]
        try:
            return self.simulator.generate(items)
        finally:
            self.simulator.decoding = base  # type: ignore[attr-defined]

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "generate_calls": self.calls}
