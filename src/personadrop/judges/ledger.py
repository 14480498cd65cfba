"""The bookkeeping of paid calls: calls, retries, cache hits, failures, tokens and cost, thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from personadrop.judges.backends import Completion
from personadrop.judges.base import JudgeUsage
from personadrop.judges.pricing import Price, cost_usd


class Ledger:
    """Counts what calls to one model cost, into a :class:`JudgeUsage` (which a judge reports)."""

    def __init__(self, model: str, prices: Mapping[str, Price], usage: JudgeUsage | None = None):
        self.model = model
        self.prices = prices
        self.usage = usage if usage is not None else JudgeUsage()
        self.retries = 0
        self._lock = threading.Lock()

    def call(self, retry: bool) -> None:
        with self._lock:
            self.usage.calls += 1
            self.retries += retry

    def reply(self, reply: Completion) -> None:
        with self._lock:
            self.usage.input_tokens += reply.input_tokens
            self.usage.output_tokens += reply.output_tokens
            self.usage.cost_usd += cost_usd(self.model, reply.input_tokens, reply.output_tokens, self.prices)

    def cache_hit(self) -> None:
        with self._lock:
            self.usage.cache_hits += 1

    def failures(self, n: int) -> None:
        with self._lock:
            self.usage.failures += n
