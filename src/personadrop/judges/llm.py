"""The LLM judge: Claude or any chat-completions model scoring generations with the rubric.

One judge call covers all generations of one (context, real reply, dimension), shown in a shuffled
order (against position bias) under opaque ids and mapped back by id. Calls run concurrently behind a
semaphore and optional per-minute rate limits (aiolimiter); each call has one retry layer (tenacity:
exponential backoff with jitter, honouring Retry-After) and an overall deadline. A judgement that finally
fails is NaN for its generations and counted in ``usage.failures``; it is never scored 0 and never
cached. Successful judgements go to a SQLite cache, so a re-run makes no call at all.

Every call of one judge runs on the judge's own event loop, in a background thread, for the judge's
whole life: SDK connections and rate-limit budgets carry over from one :meth:`LLMJudge.score` to the
next. ``score`` is synchronous and may be called from any thread, or from inside a running event loop
(a notebook, an async server); ``ascore`` is its awaitable twin (TRL awaits async reward functions).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import random
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from personadrop.errors import ConfigError
from personadrop.judges.backends import (
    KEY_ENV,
    AnthropicBackend,
    BackendUnusable,
    CallRejected,
    ChatBackend,
    Completion,
    MissingAPIKeyError,
    OpenAIBackend,
    TransientFault,
    scrub,
)
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.judges.cache import JudgeCache, cache_key
from personadrop.judges.pricing import Price, cost_usd, load_prices
from personadrop.judges.rubric import (
    RUBRIC_VERSION,
    MalformedAnswer,
    RubricPrompt,
    answer_schema,
    build_prompt,
    max_answer_tokens,
    parse_answer,
)

log = logging.getLogger("personadrop.judges")
T = TypeVar("T")

DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
# Local servers (vLLM, Ollama) rarely check keys; the SDKs still want a non-empty one.
_NO_KEY = "no-key-needed"


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token of English), for limits and plans."""
    return (len(text) + 3) // 4


def _is_loopback(base_url: str | None) -> bool:
    host = urlparse(base_url).hostname if base_url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class JudgeJob:
    """One judge call: a set of generations for one (context, real reply, dimension).

    ``order``: the reading order, ``order[k]`` is the index (into ``generations``) of the k-th candidate
    shown. ``targets``: where the scores go, as (request index, offset of this chunk in that request);
    identical calls from several requests share one job.
    """

    key: str
    dimension: str
    context: str
    reference: str
    reference_state: str | None
    generations: tuple[str, ...]
    order: tuple[int, ...]
    targets: list[tuple[int, int]] = field(default_factory=list)

    def prompt(self) -> RubricPrompt:
        shown = [self.generations[i] for i in self.order]
        return build_prompt(self.dimension, self.context, self.reference, shown, self.reference_state)


def plan_jobs(
    requests: Sequence[JudgeRequest], *, identity: Mapping[str, object], batch_size: int | None, seed: int
) -> list[JudgeJob]:
    """Split requests into judge calls (chunks of ``batch_size`` generations; None: all in one call).

    ``identity``: what names the judge in cache keys (backend, model, decoding settings).
    """
    jobs: dict[str, JudgeJob] = {}
    for r_index, req in enumerate(requests):
        state = (req.reference_states or {}).get(req.dimension) if req.dimension != "response" else None
        step = batch_size or max(len(req.generations), 1)
        for offset in range(0, len(req.generations), step):
            gens = tuple(req.generations[offset : offset + step])
            key = cache_key(
                {
                    **identity,
                    "rubric": RUBRIC_VERSION,
                    "seed": seed,
                    "dimension": req.dimension,
                    "context": req.context,
                    "reference": req.reference,
                    "reference_state": state,
                    "generations": list(gens),
                }
            )
            if key not in jobs:
                # Seeded by the key, so the same inputs are always read in the same order.
                order = list(range(len(gens)))
                random.Random(key).shuffle(order)
                jobs[key] = JudgeJob(
                    key, req.dimension, req.context, req.reference, state, gens, tuple(order)
                )
            jobs[key].targets.append((r_index, offset))
    return list(jobs.values())


class _JudgeLoop:
    """An event loop running in a daemon thread; coroutines from any thread are run on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="personadrop-judge", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it (from any thread, even one inside another loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and await it from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _Failed(Exception):
    """A call that finally failed (retries spent, deadline passed, or rejected); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LLMJudge(Judge):
    """Scores generations with an LLM following the rubric in :mod:`personadrop.judges.rubric`.

    Args:
        backend: ``anthropic`` or ``openai`` (any chat-completions server).
        model: the judge model, e.g. ``claude-haiku-4-5``, ``gpt-5-mini``, ``qwen3:8b``.
        base_url: the API endpoint; None for the vendor's default. For a loopback URL no key is needed.
        temperature: openai only (default 0; None leaves the server's default, which reasoning models
            require). The Anthropic API of SDK 2.x takes no sampling settings at all.
        structured: ask the API for JSON-schema-constrained output; turn off for servers without it.
        batch_size: generations per call; None puts all generations of a request in one call.
        concurrency: calls in flight at once.
        requests_per_minute, tokens_per_minute: optional rate limits (tokens estimated before sending), kept
            as the APIs count them: a budget of one minute's worth that refills continuously.
        max_attempts: tries per call, the first included; faults worth retrying are 429, 408, 409, 5xx,
            connection errors, timeouts and malformed answers.
        backoff_base, backoff_max: seconds; the wait before try k+1 is about base * 2**k, jittered,
            capped at max, and at least the server's Retry-After (itself capped at max).
        call_timeout: seconds one attempt may take; deadline: seconds one call may take, all attempts and
            waits included, counted from its first attempt.
        seed: seeds the candidate shuffle (part of the cache key).
        cache: keep judgements in SQLite; cache_dir: where (a run directory), None for the user cache dir.
        prices: a price table file or mapping that updates the built-in one (see :mod:`.pricing`).
    """

    def __init__(
        self,
        backend: str = "anthropic",
        model: str = DEFAULT_ANTHROPIC_MODEL,
        *,
        base_url: str | None = None,
        temperature: float | None = 0.0,
        structured: bool = True,
        batch_size: int | None = None,
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        call_timeout: float = 60.0,
        deadline: float = 300.0,
        seed: int = 0,
        cache: bool = True,
        cache_dir: str | Path | None = None,
        prices: str | Path | Mapping[str, object] | None = None,
    ):
        super().__init__()
        if backend not in KEY_ENV:
            raise ConfigError(f"unknown LLM judge backend {backend!r}; use anthropic or openai")
        if not model:
            raise ConfigError(f"the {backend} judge needs a model name, e.g. {backend}:<model>")
        if batch_size is not None and batch_size < 1:
            raise ConfigError("judge batch_size must be at least 1 (or None for one call per request)")
        if concurrency < 1 or max_attempts < 1:
            raise ConfigError("judge concurrency and max_attempts must be at least 1")
        self.backend, self.model, self.base_url = backend, model, base_url
        self.name = f"{backend}:{model}"
        # Anthropic's current API rejects sampling parameters, so none is sent or keyed for it.
        self.temperature = temperature if backend == "openai" else None
        self.structured = structured
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_attempts, self.backoff_base, self.backoff_max = max_attempts, backoff_base, backoff_max
        self.call_timeout, self.deadline, self.seed = call_timeout, deadline, seed
        self.prices: dict[str, Price] = load_prices(prices)
        self.retries = 0
        self._cache_enabled, self._cache_dir = cache, cache_dir
        self._cache: JudgeCache | None = None
        for name, limit in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if limit is not None and limit <= 0:
                raise ConfigError(f"judge {name} must be positive, got {limit}")
        self._request_limit = AsyncLimiter(requests_per_minute) if requests_per_minute else None
        self._token_limit = AsyncLimiter(tokens_per_minute) if tokens_per_minute else None
        self._lock = threading.Lock()
        self._jitter = random.Random()
        self._loop: _JudgeLoop | None = None  # started on the first call
        self._backend: ChatBackend | None = None  # lives on the loop, reused by every call
        self._gate: asyncio.Semaphore | None = None

    # ------------------------------------------------------------------ readiness and identity
    @property
    def key_env(self) -> str:
        """The environment variable the API key is read from."""
        return KEY_ENV[self.backend]

    def _api_key(self) -> str | None:
        key = os.environ.get(self.key_env, "").strip()
        if key:
            return key
        return _NO_KEY if _is_loopback(self.base_url) else None

    def check_ready(self) -> None:
        """Raise :class:`MissingAPIKeyError` (one line, naming the variable) if no key is available."""
        if self._api_key() is None:
            raise MissingAPIKeyError(
                f"{self.key_env} is not set: the {self.name} judge reads its API key from it "
                "(export it, or choose --judge exact or embedding)"
            )

    def identity(self) -> dict[str, object]:
        """What names this judge in cache keys: backend, model and decoding settings (no endpoint, no key)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "decoding": {"temperature": self.temperature, "structured": self.structured},
        }

    @property
    def cache(self) -> JudgeCache | None:
        """The judgement cache, opened on first use; None when caching is off."""
        if self._cache is None and self._cache_enabled:
            self._cache = JudgeCache.in_dir(self._cache_dir)
        return self._cache

    def summary(self) -> dict[str, object]:
        return {**super().summary(), "rubric": RUBRIC_VERSION, "retries": self.retries}

    def close(self) -> None:
        if self._loop is not None:
            if self._backend is not None:
                self._loop.run(self._backend.aclose())
                self._backend = None
            self._loop.stop()
            self._loop = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """One list per request, one score per generation, in order; NaN where judging finally failed."""
        results, pending = self._from_cache(requests)
        if pending:
            self._fill_pending(results, pending, self._event_loop().run(self._judge_all(pending)))
        return self._finish(results)

    async def ascore(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """:meth:`score`, awaitable from any event loop."""
        results, pending = self._from_cache(requests)
        if pending:
            self._fill_pending(results, pending, await self._event_loop().arun(self._judge_all(pending)))
        return self._finish(results)

    # ------------------------------------------------------------------ internals
    def _from_cache(self, requests: Sequence[JudgeRequest]) -> tuple[list[list[float]], list[JudgeJob]]:
        results = [[math.nan] * len(r.generations) for r in requests]
        jobs = plan_jobs(requests, identity=self.identity(), batch_size=self.batch_size, seed=self.seed)
        pending: list[JudgeJob] = []
        for job in jobs:
            hit = self.cache.get(job.key) if self.cache is not None else None
            if hit is not None and len(hit.scores) == len(job.generations):
                self._fill(results, job, list(hit.scores))
                with self._lock:
                    self.usage.cache_hits += 1
            else:
                pending.append(job)
        if pending:
            self.check_ready()
        return results, pending

    def _fill_pending(
        self, results: list[list[float]], jobs: list[JudgeJob], scores: list[list[float]]
    ) -> None:
        for job, job_scores in zip(jobs, scores, strict=True):
            self._fill(results, job, job_scores)

    def _finish(self, results: list[list[float]]) -> list[list[float]]:
        missing = sum(1 for row in results for s in row if math.isnan(s))
        with self._lock:
            self.usage.failures += missing
        return results

    @staticmethod
    def _fill(results: list[list[float]], job: JudgeJob, scores: list[float]) -> None:
        for r_index, offset in job.targets:
            results[r_index][offset : offset + len(scores)] = scores

    def _event_loop(self) -> _JudgeLoop:
        with self._lock:
            if self._loop is None:
                self._loop = _JudgeLoop()
            return self._loop

    def _open_backend(self) -> ChatBackend:
        key = self._api_key() or ""
        if self.backend == "anthropic":
            return AnthropicBackend(
                self.model,
                api_key=key,
                base_url=self.base_url,
                timeout=self.call_timeout,
                structured=self.structured,
            )
        return OpenAIBackend(
            self.model,
            api_key=key,
            base_url=self.base_url,
            timeout=self.call_timeout,
            temperature=self.temperature,
            structured=self.structured,
        )

    async def _judge_all(self, jobs: Sequence[JudgeJob]) -> list[list[float]]:
        """Judge ``jobs`` concurrently (runs on the judge's loop)."""
        if self._backend is None:
            self._backend = self._open_backend()
            self._gate = asyncio.Semaphore(self.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._judge_one(job)) for job in jobs]
        except BaseExceptionGroup as eg:
            # A bad key or model fails every call alike: stop the whole run with one clear error.
            unusable = [e for e in eg.exceptions if isinstance(e, BackendUnusable)]
            if unusable:
                raise unusable[0] from None
            raise
        return [t.result() for t in tasks]

    def _wait(self, state: RetryCallState) -> float:
        """Backoff before the next try: about base * 2**k, half fixed and half jittered (callers that failed
        together spread out), capped at max, and at least the server's Retry-After (itself capped)."""
        cap = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        delay = cap / 2 + self._jitter.uniform(0, cap / 2)
        fault = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(fault, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _record(self, reply: Completion) -> None:
        with self._lock:
            self.usage.input_tokens += reply.input_tokens
            self.usage.output_tokens += reply.output_tokens
            self.usage.cost_usd += cost_usd(self.model, reply.input_tokens, reply.output_tokens, self.prices)

    async def _judge_one(self, job: JudgeJob) -> list[float]:
        """Scores for ``job`` in generation order, or NaN for all of them once retries are spent."""
        prompt = job.prompt()
        n = len(job.generations)
        max_tokens = max_answer_tokens(n)
        estimate = estimate_tokens(prompt.system) + estimate_tokens(prompt.user) + max_tokens
        loop = asyncio.get_running_loop()
        clock: dict[str, float] = {}  # when the first attempt started: the deadline counts from there

        async def attempt() -> tuple[list[float], Completion]:
            if self._token_limit is not None:
                if estimate > self._token_limit.max_rate:
                    raise CallRejected(
                        f"the call needs ~{estimate} tokens, more than tokens_per_minute allows"
                    )
                await self._token_limit.acquire(estimate)
            if self._request_limit is not None:
                await self._request_limit.acquire()
            assert self._backend is not None and self._gate is not None
            async with self._gate:
                started = clock.setdefault("started", loop.time())
                remaining = started + self.deadline - loop.time()
                if remaining <= 0:
                    raise _Failed("deadline passed")
                with self._lock:
                    self.usage.calls += 1
                    self.retries += "first" in clock
                clock["first"] = started
                try:
                    reply = await asyncio.wait_for(
                        self._backend.complete(prompt.system, prompt.user, answer_schema(), max_tokens),
                        timeout=min(self.call_timeout, remaining),
                    )
                except TimeoutError:
                    raise TransientFault("timed out") from None
            self._record(reply)
            try:
                by_id = parse_answer(reply.text, prompt.ids)
            except MalformedAnswer as e:
                raise TransientFault(f"malformed answer: {e}") from None
            scores = [math.nan] * n
            for cid, g_index in zip(prompt.ids, job.order, strict=True):
                scores[g_index] = by_id[cid]
            return scores, reply

        def stop(state: RetryCallState) -> bool:
            # Out of attempts, or the next try would start after the deadline (tenacity has set its wait).
            if state.attempt_number >= self.max_attempts:
                return True
            started = clock.get("started")
            return (
                started is not None and loop.time() + (state.upcoming_sleep or 0.0) >= started + self.deadline
            )

        try:
            async for trying in AsyncRetrying(
                stop=stop, wait=self._wait, retry=retry_if_exception_type(TransientFault), reraise=True
            ):
                with trying:
                    scores, reply = await attempt()
        except TransientFault as e:
            reason = e.reason + (
                " (deadline reached)" if trying.retry_state.attempt_number < self.max_attempts else ""
            )
        except (CallRejected, _Failed) as e:
            reason = str(e)
        else:
            if self.cache is not None:
                self.cache.put(job.key, scores, reply.input_tokens, reply.output_tokens)
            return scores
        # Per call only in the log: a run that fails too often ends with one line that counts them all.
        log.info(
            "%s could not judge %d generation(s) after %d attempt(s): %s",
            self.name,
            n,
            trying.retry_state.attempt_number,
            scrub(reason, self._api_key()),
        )
        return [math.nan] * n
