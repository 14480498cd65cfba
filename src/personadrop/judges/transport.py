"""How calls to an LLM API are made: on one event loop, behind limits, retried under a deadline.

Every call of one client runs on the client's own event loop, in a background thread, for the client's
whole life: SDK connections and rate-limit budgets carry over from one batch of calls to the next, and the
caller may be any thread, or code inside another running event loop (a notebook, an async server).

A call is a coroutine ``attempt(backend, seconds_left)`` made by the caller (ask the API, read the answer):
it runs behind a semaphore (``concurrency``) and optional per-minute limits (aiolimiter), with one retry layer
(tenacity: exponential backoff with jitter, honouring Retry-After) for :class:`TransientFault`, and an
overall deadline counted from its first attempt. A call that finally fails raises :class:`CallFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from personadrop.judges.backends import (
    AnthropicBackend,
    BackendUnusable,
    CallRejected,
    ChatBackend,
    OpenAIBackend,
    TransientFault,
    scrub,
)
from personadrop.judges.ledger import Ledger
from personadrop.judges.llm_settings import LLMSettings

log = logging.getLogger("personadrop.judges")
T = TypeVar("T")


class CallFailed(Exception):
    """A call that finally failed (retries spent, deadline passed, or rejected); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Loop:
    """An event loop running in a daemon thread; coroutines from any thread are run on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="personadrop-llm", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


Attempt = Callable[[ChatBackend, float], Awaitable[T]]


class LLMTransport:
    """Calls to one model (``settings``), counted in ``ledger``."""

    def __init__(self, settings: LLMSettings, ledger: Ledger):
        self.settings = settings
        self.ledger = ledger
        s = settings
        self._request_limit = AsyncLimiter(s.requests_per_minute) if s.requests_per_minute else None
        self._token_limit = AsyncLimiter(s.tokens_per_minute) if s.tokens_per_minute else None
        self._lock = threading.Lock()
        self._jitter = random.Random()
        self._loop: _Loop | None = None  # started on the first call
        self._backend: ChatBackend | None = None  # lives on the loop, reused by every call
        self._gate: asyncio.Semaphore | None = None

    # ------------------------------------------------------------------ running coroutines on the loop
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and wait for it (from any thread)."""
        return self._event_loop().run(coro)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and await it from another loop."""
        return await self._event_loop().arun(coro)

    async def gather(self, calls: list[Coroutine[Any, Any, T]]) -> list[T]:
        """Run ``calls`` concurrently (on the client's loop); a backend that cannot be used at all (a bad
        key or model) stops them all with its one error."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(c) for c in calls]
        except BaseExceptionGroup as eg:
            unusable = [e for e in eg.exceptions if isinstance(e, BackendUnusable)]
            if unusable:
                raise unusable[0] from None
            raise
        return [t.result() for t in tasks]

    def close(self) -> None:
        if self._loop is not None:
            if self._backend is not None:
                self._loop.run(self._backend.aclose())
                self._backend = None
            self._loop.stop()
            self._loop = None

    # ------------------------------------------------------------------ one call
    async def call(self, attempt: Attempt[T], *, tokens: int, what: str) -> T:
        """``attempt(backend, seconds_left)`` behind the limits, retried on :class:`TransientFault` until it
        succeeds, the attempts are spent or the deadline passes (then :class:`CallFailed`).

        ``tokens``: the call's estimated size, for ``tokens_per_minute``; ``what``: what the call is, for
        the log line of a failure.
        """
        s = self.settings
        backend = self._open()
        loop = asyncio.get_running_loop()
        clock: dict[str, float] = {}  # when the first attempt started: the deadline counts from there

        async def once() -> T:
            if self._token_limit is not None:
                if tokens > self._token_limit.max_rate:
                    raise CallRejected(f"the call needs ~{tokens} tokens, more than tokens_per_minute allows")
                await self._token_limit.acquire(tokens)
            if self._request_limit is not None:
                await self._request_limit.acquire()
            assert self._gate is not None
            async with self._gate:
                started = clock.setdefault("started", loop.time())
                remaining = started + s.deadline - loop.time()
                if remaining <= 0:
                    raise CallFailed("deadline passed")
                self.ledger.call(retry="first" in clock)
                clock["first"] = started
                try:
                    return await asyncio.wait_for(
                        attempt(backend, remaining), timeout=min(s.call_timeout, remaining)
                    )
                except TimeoutError:
                    raise TransientFault("timed out") from None

        def stop(state: RetryCallState) -> bool:
            # Out of attempts, or the next try would start after the deadline (tenacity has set its wait).
            if state.attempt_number >= s.max_attempts:
                return True
            started = clock.get("started")
            return started is not None and loop.time() + (state.upcoming_sleep or 0.0) >= started + s.deadline

        try:
            async for trying in AsyncRetrying(
                stop=stop, wait=self._wait, retry=retry_if_exception_type(TransientFault), reraise=True
            ):
                with trying:
                    return await once()
        except TransientFault as e:
            spent = trying.retry_state.attempt_number
            reason = e.reason + (" (deadline reached)" if spent < s.max_attempts else "")
        except (CallRejected, CallFailed) as e:
            spent = trying.retry_state.attempt_number
            reason = str(e)
        # Per call only in the log: a run that fails too often ends with one line that counts them all.
        log.info("%s could not %s after %d attempt(s): %s", s.name, what, spent, scrub(reason, s.api_key()))
        raise CallFailed(reason)

    def _wait(self, state: RetryCallState) -> float:
        """Backoff before the next try: about base * 2**k, half fixed and half jittered (callers that failed
        together spread out), capped at max, and at least the server's Retry-After (itself capped)."""
        s = self.settings
        cap = min(s.backoff_max, s.backoff_base * 2 ** (state.attempt_number - 1))
        delay = cap / 2 + self._jitter.uniform(0, cap / 2)
        fault = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(fault, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.backoff_max))
        return delay

    def _event_loop(self) -> _Loop:
        with self._lock:
            if self._loop is None:
                self._loop = _Loop()
            return self._loop

    def _open(self) -> ChatBackend:
        """The backend (opened on the loop at the first call, then reused)."""
        if self._backend is None:
            s = self.settings
            key = s.api_key() or ""
            if s.backend == "anthropic":
                self._backend = AnthropicBackend(
                    s.model, api_key=key, base_url=s.base_url, timeout=s.call_timeout, structured=s.structured
                )
            else:
                self._backend = OpenAIBackend(
                    s.model,
                    api_key=key,
                    base_url=s.base_url,
                    timeout=s.call_timeout,
                    temperature=s.temperature,
                    structured=s.structured,
                )
            self._gate = asyncio.Semaphore(s.concurrency)
        return self._backend
