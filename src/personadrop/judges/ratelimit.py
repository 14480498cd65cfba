"""Requests-per-minute and tokens-per-minute limits for API calls, shared by every concurrent call.

Each limit is a budget that refills continuously at its per-minute rate, up to one second's worth
(so short bursts pass but the average never exceeds the limit). A caller reserves its share first and
then sleeps until the reservation is due, so callers are served in arrival order and the reservation
itself never waits on a lock held across an ``await``. State lives in plain numbers, not in asyncio
objects, so one limiter keeps counting across the event loops of successive judging runs.
"""

from __future__ import annotations

import asyncio
import threading
import time


class _Budget:
    """One continuously refilling budget, with reservations that may run it into debt."""

    def __init__(self, per_minute: float):
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60.0  # units per second
        self.capacity = max(self.rate, 1.0)  # one second's worth, and at least one unit
        self.level = self.capacity
        self.stamp = time.monotonic()

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount``; return how long to wait before the reservation is covered."""
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        # A single request larger than the whole capacity still goes through, after the refill it needs.
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate


class RateLimiter:
    """Optional requests- and tokens-per-minute limits; with neither set it never waits."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None):
        self._requests = _Budget(requests_per_minute) if requests_per_minute else None
        self._tokens = _Budget(tokens_per_minute) if tokens_per_minute else None
        self._lock = threading.Lock()

    def reserve(self, tokens: int) -> float:
        """Reserve one request of about ``tokens`` tokens; return the seconds to wait before sending."""
        with self._lock:
            now = time.monotonic()
            wait = 0.0
            if self._requests is not None:
                wait = max(wait, self._requests.reserve(1, now))
            if self._tokens is not None:
                wait = max(wait, self._tokens.reserve(tokens, now))
            return wait

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent."""
        wait = self.reserve(tokens)
        if wait > 0:
            await asyncio.sleep(wait)
