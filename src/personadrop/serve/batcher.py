"""Dynamic batching: concurrent requests to one simulator become one generation call.

Requests wait in a queue; the first one opens a short window (``window`` seconds) in which later requests
join it, up to ``max_batch``. The batch is generated in one call on a single worker thread (the model is
used by one batch at a time), and each request gets its own output back. Requests that ask for other
decoding settings (temperature, a length limit) are generated apart, in the same round, shortest length
limit first, so a request asking for a long reply does not hold up the short ones beside it. Requests
with different seeds share a call (each row samples from its own seed).

A batch that fails is generated again one request at a time: a request that fails alone gets its error,
and the rest of its batch its answers.
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
            for decoding in sorted(groups, key=self._length_limit):
                await self._answer(groups[decoding], decoding)

    async def _answer(
        self, members: list[tuple[SimulationItem, asyncio.Future[str]]], decoding: tuple
    ) -> None:
        loop = asyncio.get_running_loop()
        items = [item for item, _ in members]
        try:
            outputs = await loop.run_in_executor(self._executor, self._generate, items, decoding)
        except Exception as err:
            if len(members) > 1:  # which request failed? each alone: the others still get answers
                for member in members:
                    await self._answer([member], decoding)
                return
            for _, future in members:  # reported to the waiting request; the server goes on
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), output in zip(members, outputs, strict=True):
            if not future.done():
                future.set_result(output)

    def _generate(self, items: Sequence[SimulationItem], decoding: tuple) -> list[str]:
        self.calls += 1
        base = getattr(self.simulator, "decoding", None)
        if not decoding or base is None:
            outputs = self.simulator.generate(items)
        else:
            # One batch at a time runs on this thread, so the settings can be swapped for it.
            self.simulator.decoding = base.model_copy(update=dict(decoding))  # type: ignore[attr-defined]
            try:
                outputs = self.simulator.generate(items)
            finally:
                self.simulator.decoding = base  # type: ignore[attr-defined]
        self.requests += len(items)
        return outputs

    def _length_limit(self, decoding: tuple) -> int:
        """The reply length a group of requests is generated to (its own limit, else the simulator's)."""
        base = getattr(self.simulator, "decoding", None)
        return int(dict(decoding).get("max_new_tokens", getattr(base, "max_new_tokens", 0)))

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "generate_calls": self.calls}
