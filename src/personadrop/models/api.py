"""Prompted simulators behind an API: ``openai:<model>[@base_url]`` (any OpenAI-compatible chat endpoint:
OpenAI, vLLM, the llama.cpp server, ``personadrop serve``) and ``anthropic:<model>`` (Claude).

They are asked exactly as trained simulators are: the persona under the condition, with the task's
instruction, as the system message, and the thread as the messages after it
(:func:`personadrop.prompts.simulator_messages`). The thread is sent whole: API models read far longer
prompts than our real rows hold, and a served checkpoint cuts it to its own budget.

The judges' machinery is reused, not copied: settings with the key read from the environment
(:class:`~personadrop.judges.llm_settings.LLMSettings`), one event loop with concurrency and per-minute
limits and retries with backoff under a deadline (:class:`~personadrop.judges.transport.LLMTransport`),
tokens and cost (:class:`~personadrop.judges.ledger.Ledger`), and the SQLite cache keyed by model, endpoint,
messages, decoding and seed, so a re-run makes no call. A call that finally fails gives no reply (None): the
evaluation records it as missing, never as an empty reply scored 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from personadrop.judges.backends import ChatBackend, Completion, TransientFault, scrub
from personadrop.judges.base import JudgeUsage
from personadrop.judges.cache import JudgeCache, cache_key
from personadrop.judges.ledger import Ledger
from personadrop.judges.llm import estimate_tokens
from personadrop.judges.llm_settings import LLMSettings, is_loopback
from personadrop.judges.pricing import Price, cost_usd, load_prices, price_for
from personadrop.judges.transport import CallFailed, LLMTransport
from personadrop.models.base import SimulationItem, Simulator
from personadrop.prompts import simulator_messages

#: Anthropic requires a reply limit; OpenAI-compatible servers get none unless asked (a served checkpoint
#: then writes with its own, as in process). 2,048 leaves room for real replies of ~800 words.
ANTHROPIC_MAX_TOKENS = 2048
#: What a dry run counts for a reply without a limit: a typical real reply (~200 words).
TYPICAL_REPLY_TOKENS = 300


class APISimulator(Simulator):
    """A model behind a chat API, prompted with the persona.

    ``temperature``: openai only (0: greedy; None: the server's default, which reasoning models require).
    ``max_tokens``: the reply's limit (None: the server's own, for openai). ``seed``: sent with every call
    (openai) and part of the cache key. ``limits``: the other fields of
    :class:`~personadrop.judges.llm_settings.LLMSettings` (``concurrency``, ``requests_per_minute``,
    ``tokens_per_minute``, ``max_attempts``, ``backoff_base``, ``backoff_max``, ``call_timeout``,
    ``deadline``).
    """

    external = True

    def __init__(
        self,
        backend: str,
        model: str,
        *,
        base_url: str | None = None,
        name: str | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        seed: int = 0,
        cache: bool = True,
        cache_dir: str | Path | None = None,
        prices: str | Path | Mapping[str, object] | None = None,
        **limits: Any,
    ):
        # Calls are made as a judge's are: concurrency, per-minute limits, attempts, backoff and timeouts are
        # LLMSettings fields (``limits``); a simulator's calls take longer, so its timeouts are longer.
        limits = {"call_timeout": 120.0, "deadline": 600.0, **limits}
        self.settings = LLMSettings(
            backend=backend,
            model=model,
            base_url=base_url,
            temperature=temperature,
            structured=False,  # a reply is free text, never schema-constrained
            **limits,
        )
        if max_tokens is None and backend == "anthropic":
            max_tokens = ANTHROPIC_MAX_TOKENS
        self.name = name or self.settings.name
        self.max_tokens, self.seed = max_tokens, seed
        self.usage = JudgeUsage()
        table = load_prices(prices)
        if is_loopback(base_url) and price_for(model, table) is None:
            table[model] = Price(0.0, 0.0)  # a model served on this machine costs nothing
        self.ledger = Ledger(model, table, self.usage)
        self.transport = LLMTransport(self.settings, self.ledger)
        self.identity = {
            "backend": backend,
            "model": model,
            "endpoint": scrub(base_url, None) if base_url else "default",
            "temperature": str(self.settings.temperature),
            "max_tokens": str(max_tokens),
        }
        self._cache = JudgeCache.in_dir(cache_dir) if cache else None

    def check_ready(self) -> None:
        """Fail in one line (naming the variable) when no API key is available."""
        self.settings.check_ready("simulator")

    def close(self) -> None:
        self.transport.close()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def generate(self, items: Sequence[SimulationItem]) -> list[str | None]:
        return self.transport.run(self.transport.gather([self._one(item) for item in items]))

    def messages(self, item: SimulationItem) -> list[dict[str, str]]:
        """What is sent for ``item``: the system message (instruction, visible persona), then the thread."""
        return simulator_messages(item.example, item.visible, item.task)

    def plan(self, items: Sequence[SimulationItem]) -> str:
        """One line for a dry run: the calls ``items`` would make (those cached left out), their tokens and
        cost. Needs no key and makes no call; tokens are estimated (four characters per token in, the reply
        limit or a typical real reply out)."""
        calls = cached = tokens_in = 0
        for item in items:
            messages = self.messages(item)
            if self._cache is not None and self._cache.get_reply(self._key(item, messages)) is not None:
                cached += 1
                continue
            calls += 1
            tokens_in += sum(estimate_tokens(m["content"]) for m in messages)
        return self._plan_line(calls, cached, tokens_in)

    def plan_estimate(self, calls: int, prompt_chars: int) -> str:
        """The dry-run line before the data is at hand: ``calls`` prompts of about ``prompt_chars``."""
        return self._plan_line(calls, 0, calls * estimate_tokens("x" * prompt_chars))

    def _plan_line(self, calls: int, cached: int, tokens_in: int) -> str:
        typical = min(TYPICAL_REPLY_TOKENS, self.max_tokens or TYPICAL_REPLY_TOKENS)
        model, prices = self.settings.model, self.ledger.prices
        if price_for(model, prices) is None:
            cost = "cost unknown (no price for this model; a served model costs nothing)"
        else:
            cost = f"~${cost_usd(model, tokens_in, calls * typical, prices):,.2f}"
            if self.max_tokens:
                most = cost_usd(model, tokens_in, calls * self.max_tokens, prices)
                cost += f" (at most ${most:,.2f}, every reply at its {self.max_tokens:,}-token limit)"
        more = f" ({cached:,} more already cached)" if cached else ""
        return (
            f"simulator {self.name}: {calls:,} replies to ask for{more}, ~{tokens_in:,} input + "
            f"~{calls * typical:,} output tokens, {cost}"
        )

    def _key(self, item: SimulationItem, messages: list[dict[str, str]]) -> str:
        seed = item.seed if item.seed is not None else self.seed
        return cache_key(
            {
                "kind": "simulator reply",
                **self.settings.identity(),
                "endpoint": self.identity["endpoint"],
                "max_tokens": self.max_tokens,
                "seed": seed,
                "messages": messages,
            }
        )

    async def _one(self, item: SimulationItem) -> str | None:
        messages = self.messages(item)
        seed = item.seed if item.seed is not None else self.seed
        key = self._key(item, messages)
        if self._cache is not None and (hit := self._cache.get_reply(key)) is not None:
            self.ledger.cache_hit()
            return hit.text

        async def attempt(backend: ChatBackend, seconds_left: float) -> Completion:
            reply = await backend.complete(messages[0]["content"], messages[1:], self.max_tokens, seed=seed)
            self.ledger.reply(reply)
            if not reply.text.strip():
                raise TransientFault("an empty reply")
            return reply

        tokens = sum(estimate_tokens(m["content"]) for m in messages) + (self.max_tokens or 512)
        try:
            reply = await self.transport.call(attempt, tokens=tokens, what="simulate a reply")
        except CallFailed:
            self.ledger.failures(1)
            return None
        if self._cache is not None:
            self._cache.put_reply(key, reply.text, reply.input_tokens, reply.output_tokens)
        return reply.text
