"""The LLM judge: Claude or any chat-completions model scoring generations with the rubric.

One judge call covers all generations of one (context, real reply, dimension), shown in a shuffled
order (against position bias) under opaque ids and mapped back by id. Calls run concurrently on an
event loop behind a semaphore and optional rate limits; each call has one retry layer (exponential
backoff with jitter, honouring Retry-After) and an overall deadline. A judgement that finally fails is
NaN for its generations and counted in ``usage.failures``; it is never scored 0 and never cached.
Successful judgements go to a SQLite cache, so a re-run makes no call at all.

:meth:`LLMJudge.score` is synchronous: it runs its own event loop, in a worker thread when the caller
is already inside one (a notebook, an async server), so trainers and evaluators can call it directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
            key = cache_key({
                **identity, "rubric": RUBRIC_VERSION, "seed": seed, "dimension": req.dimension,
                "context": req.context, "reference": req.reference, "reference_state": state,
                "generations": list(gens),
            })
            if key not in jobs:
                # Seeded by the key, so the same inputs are always read in the same order.
                order = list(range(len(gens)))
                random.Random(key).shuffle(order)
                jobs[key] = JudgeJob(key, req.dimension, req.context, req.reference, state, gens, tuple(order))
            jobs[key].targets.append((r_index, offset))
    return list(jobs.values())


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, whether or not an event loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Blocking inside a running loop would deadlock it; give the coroutine a loop of its own instead.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="personadrop-judge") as pool:
        return pool.submit(asyncio.run, coro).result()


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
        requests_per_minute, tokens_per_minute: optional rate limits (tokens estimated before sending).
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
        from personadrop.judges.ratelimit import RateLimiter

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
        self._limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self._lock = threading.Lock()
        self._jitter = random.Random()

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
        return {"backend": self.backend, "model": self.model,
                "decoding": {"temperature": self.temperature, "structured": self.structured}}

    @property
    def cache(self) -> JudgeCache | None:
        """The judgement cache, opened on first use; None when caching is off."""
        if self._cache is None and self._cache_enabled:
            self._cache = JudgeCache.in_dir(self._cache_dir)
        return self._cache

    def summary(self) -> dict[str, object]:
        return {**super().summary(), "rubric": RUBRIC_VERSION, "retries": self.retries}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """One list per request, one score per generation, in order; NaN where judging finally failed."""
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
            for job, scores in zip(pending, run_coroutine(self._judge_all(pending)), strict=True):
                self._fill(results, job, scores)
        missing = sum(1 for row in results for s in row if math.isnan(s))
        with self._lock:
            self.usage.failures += missing
        return results

    @staticmethod
    def _fill(results: list[list[float]], job: JudgeJob, scores: list[float]) -> None:
        for r_index, offset in job.targets:
            results[r_index][offset : offset + len(scores)] = scores

    def _open_backend(self) -> ChatBackend:
        key = self._api_key() or ""
        if self.backend == "anthropic":
            return AnthropicBackend(self.model, api_key=key, base_url=self.base_url, timeout=self.call_timeout,
                                    structured=self.structured)
        return OpenAIBackend(self.model, api_key=key, base_url=self.base_url, timeout=self.call_timeout,
                             temperature=self.temperature, structured=self.structured)

    async def _judge_all(self, jobs: Sequence[JudgeJob]) -> list[list[float]]:
        backend = self._open_backend()
        gate = asyncio.Semaphore(self.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._judge_one(backend, gate, job)) for job in jobs]
        except BaseExceptionGroup as eg:
            # A bad key or model fails every call alike: stop the whole run with one clear error.
            unusable = [e for e in eg.exceptions if isinstance(e, BackendUnusable)]
            if unusable:
                raise unusable[0] from None
            raise
        finally:
            await backend.aclose()
        return [t.result() for t in tasks]

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2**attempt)
        # Half fixed, half random: spreads out callers that failed together without ever retrying at once.
        delay = cap / 2 + self._jitter.uniform(0, cap / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _record(self, reply: Completion) -> None:
        with self._lock:
            self.usage.input_tokens += reply.input_tokens
            self.usage.output_tokens += reply.output_tokens
            self.usage.cost_usd += cost_usd(self.model, reply.input_tokens, reply.output_tokens, self.prices)

    async def _judge_one(self, backend: ChatBackend, gate: asyncio.Semaphore, job: JudgeJob) -> list[float]:
        """Scores for ``job`` in generation order, or NaN for all of them once retries are spent."""
        prompt = job.prompt()
        n = len(job.generations)
        max_tokens = max_answer_tokens(n)
        estimate = estimate_tokens(prompt.system) + estimate_tokens(prompt.user) + max_tokens
        schema = answer_schema()
        loop = asyncio.get_running_loop()
        started: float | None = None
        reason = "no attempt made"
        for attempt in range(self.max_attempts):
            await self._limiter.acquire(estimate)
            async with gate:
                started = loop.time() if started is None else started
                remaining = started + self.deadline - loop.time()
                if remaining <= 0:
                    reason = "deadline passed"
                    break
                with self._lock:
                    self.usage.calls += 1
                    self.retries += attempt > 0
                try:
                    reply = await asyncio.wait_for(
                        backend.complete(prompt.system, prompt.user, schema, max_tokens),
                        timeout=min(self.call_timeout, remaining),
                    )
                    self._record(reply)
                    by_id = parse_answer(reply.text, prompt.ids)
                except TimeoutError:
                    fault = TransientFault("timed out")
                except MalformedAnswer as e:
                    fault = TransientFault(f"malformed answer: {e}")
                except TransientFault as e:
                    fault = e
                except CallRejected as e:
                    reason = str(e)
                    break
                else:
                    scores = [math.nan] * n
                    for cid, g_index in zip(prompt.ids, job.order, strict=True):
                        scores[g_index] = by_id[cid]
                    if self.cache is not None:
                        self.cache.put(job.key, scores, reply.input_tokens, reply.output_tokens)
                    return scores
            reason = fault.reason
            if attempt + 1 == self.max_attempts:
                break
            delay = self._backoff(attempt, fault.retry_after)
            if loop.time() + delay >= started + self.deadline:
                reason += " (deadline reached)"
                break
            await asyncio.sleep(delay)
        log.warning("%s could not judge %d generation(s) after %d attempt(s): %s",
                    self.name, n, attempt + 1, scrub(reason, self._api_key()))
        return [math.nan] * n
