"""The LLM judge: Claude or any chat-completions model scoring generations with the rubric.

One judge call covers all generations of one (context, real reply, dimension), shown in a shuffled
order (against position bias) under opaque ids and mapped back by id. How calls are made (limits,
retries, the deadline, the event loop) is :mod:`~personadrop.judges.transport`'s; what they cost is
counted by a :class:`~personadrop.judges.ledger.Ledger`; what the judge is, by its
:class:`~personadrop.judges.llm_settings.LLMSettings`. A judgement that finally fails is NaN for its
generations and counted in ``usage.failures``; it is never scored 0 and never cached. Successful
judgements go to a SQLite cache, so a re-run makes no call at all.

``score`` is synchronous and may be called from any thread, or from inside a running event loop (a
notebook, an async server); ``ascore`` is its awaitable twin (TRL awaits async reward functions).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from personadrop.errors import ConfigError
from personadrop.judges.backends import ChatBackend, TransientFault
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.judges.cache import JudgeCache, cache_key
from personadrop.judges.ledger import Ledger
from personadrop.judges.llm_settings import DEFAULT_ANTHROPIC_MODEL, LLMSettings
from personadrop.judges.pricing import load_prices
from personadrop.judges.rubric import (
    RUBRIC_VERSION,
    MalformedAnswer,
    RubricPrompt,
    answer_schema,
    build_prompt,
    max_answer_tokens,
    parse_answer,
)
from personadrop.judges.transport import CallFailed, LLMTransport


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token of English), for limits and plans."""
    return (len(text) + 3) // 4


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


class LLMJudge(Judge):
    """Scores generations with an LLM following the rubric in :mod:`personadrop.judges.rubric`.

    Args:
        backend, model, base_url, temperature, structured, concurrency, requests_per_minute,
            tokens_per_minute, max_attempts, backoff_base, backoff_max, call_timeout, deadline: the
            :class:`~personadrop.judges.llm_settings.LLMSettings` of the judge model (a loopback URL needs
            no key; faults worth retrying are 429, 408, 409, 5xx, connection errors, timeouts and malformed
            answers).
        batch_size: generations per call; None puts all generations of a request in one call.
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
        self.settings = LLMSettings(
            backend,
            model,
            base_url,
            temperature,
            structured,
            concurrency,
            requests_per_minute,
            tokens_per_minute,
            max_attempts,
            backoff_base,
            backoff_max,
            call_timeout,
            deadline,
        )
        if batch_size is not None and batch_size < 1:
            raise ConfigError("judge batch_size must be at least 1 (or None for one call per request)")
        self.name = self.settings.name
        self.batch_size, self.seed = batch_size, seed
        self.ledger = Ledger(model, load_prices(prices), self.usage)
        self.transport = LLMTransport(self.settings, self.ledger)
        self._cache_enabled, self._cache_dir = cache, cache_dir
        self._cache: JudgeCache | None = None

    # ------------------------------------------------------------------ readiness and identity
    @property
    def backend(self) -> str:
        return self.settings.backend

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def temperature(self) -> float | None:
        return self.settings.temperature

    @property
    def base_url(self) -> str | None:
        return self.settings.base_url

    @property
    def key_env(self) -> str:
        """The environment variable the API key is read from."""
        return self.settings.key_env

    @property
    def retries(self) -> int:
        return self.ledger.retries

    def check_ready(self) -> None:
        """Raise :class:`MissingAPIKeyError` (one line, naming the variable) if no key is available."""
        self.settings.check_ready("judge")

    def identity(self) -> dict[str, object]:
        """What names this judge in cache keys: backend, model and decoding settings (no endpoint, no key)."""
        return self.settings.identity()

    @property
    def cache(self) -> JudgeCache | None:
        """The judgement cache, opened on first use; None when caching is off."""
        if self._cache is None and self._cache_enabled:
            self._cache = JudgeCache.in_dir(self._cache_dir)
        return self._cache

    def summary(self) -> dict[str, object]:
        return {**super().summary(), "rubric": RUBRIC_VERSION, "retries": self.retries}

    def close(self) -> None:
        self.transport.close()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """One list per request, one score per generation, in order; NaN where judging finally failed."""
        results, pending = self._from_cache(requests)
        if pending:
            self._fill_all(results, pending, self.transport.run(self._judge_all(pending)))
        return self._finish(results)

    async def ascore(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """:meth:`score`, awaitable from any event loop."""
        results, pending = self._from_cache(requests)
        if pending:
            self._fill_all(results, pending, await self.transport.arun(self._judge_all(pending)))
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
                self.ledger.cache_hit()
            else:
                pending.append(job)
        if pending:
            self.check_ready()
        return results, pending

    def _fill_all(self, results: list[list[float]], jobs: list[JudgeJob], scores: list[list[float]]) -> None:
        for job, job_scores in zip(jobs, scores, strict=True):
            self._fill(results, job, job_scores)

    def _finish(self, results: list[list[float]]) -> list[list[float]]:
        self.ledger.failures(sum(1 for row in results for s in row if math.isnan(s)))
        return results

    @staticmethod
    def _fill(results: list[list[float]], job: JudgeJob, scores: list[float]) -> None:
        for r_index, offset in job.targets:
            results[r_index][offset : offset + len(scores)] = scores

    async def _judge_all(self, jobs: Sequence[JudgeJob]) -> list[list[float]]:
        """Judge ``jobs`` concurrently (runs on the transport's loop)."""
        return await self.transport.gather([self._judge_one(job) for job in jobs])

    async def _judge_one(self, job: JudgeJob) -> list[float]:
        """Scores for ``job`` in generation order, or NaN for all of them once the call finally failed."""
        prompt = job.prompt()
        n = len(job.generations)
        max_tokens = max_answer_tokens(n)

        async def attempt(backend: ChatBackend, seconds_left: float) -> list[float]:
            reply = await backend.complete(
                prompt.system,
                [{"role": "user", "content": prompt.user}],
                max_tokens,
                schema=answer_schema(),
            )
            self.ledger.reply(reply)
            try:
                by_id = parse_answer(reply.text, prompt.ids)
            except MalformedAnswer as e:
                raise TransientFault(f"malformed answer: {e}") from None
            scores = [math.nan] * n
            for cid, g_index in zip(prompt.ids, job.order, strict=True):
                scores[g_index] = by_id[cid]
            if self.cache is not None:
                self.cache.put(job.key, scores, reply.input_tokens, reply.output_tokens)
            return scores

        tokens = estimate_tokens(prompt.system) + estimate_tokens(prompt.user) + max_tokens
        try:
            return await self.transport.call(attempt, tokens=tokens, what=f"judge {n} generation(s)")
        except CallFailed:
            return [math.nan] * n
