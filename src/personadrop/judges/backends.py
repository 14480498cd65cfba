"""Thin adapters over the official SDKs: send one chat (a judge prompt, or a simulator's thread), return the
text and the tokens it cost.

The adapters do no retrying of their own (the SDK clients are built with ``max_retries=0``): the LLM
judge owns the single retry layer, so faults are never retried twice over. What the adapters do is
sort every SDK failure into one of three kinds, with a message we write ourselves (status code and
error type, never the SDK's text, which may quote request headers):

- :class:`TransientFault`: worth another try later (429, 408, 409, 5xx, connection errors, timeouts);
- :class:`CallRejected`: this call is wrong and will stay wrong (other 4xx, e.g. a prompt too long);
- :class:`BackendUnusable`: no call can succeed (bad key, no permission, unknown model or endpoint).

SDK clients hold connections bound to one event loop, so a backend is opened per judging run.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from personadrop.errors import ConfigError, PersonadropError

#: Environment variable holding each backend's API key.
KEY_ENV: dict[str, str] = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


@dataclass(frozen=True)
class Completion:
    """The judge's text and the tokens the API billed for it."""

    text: str
    input_tokens: int
    output_tokens: int


class TransientFault(Exception):
    """A failure another attempt may fix. ``retry_after``: the server's requested wait, in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class CallRejected(Exception):
    """The API refused this call for a reason retrying cannot fix."""


class BackendUnusable(PersonadropError):
    """No judge call can succeed: a bad key, a missing permission, an unknown model or endpoint."""


_KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)")
_URL_USER = re.compile(r"(://)[^/@\s'\"]+@")


def scrub(text: str, secret: str | None) -> str:
    """``text`` with the secret, anything shaped like an API key or bearer token, and credentials inside
    URLs (``http://user:pw@host``) masked."""
    if secret:
        text = text.replace(secret, "***")
    return _URL_USER.sub(r"\1***@", _KEY_LIKE.sub("***", text))


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(float(ms) / 1000, 0.0)
        if (s := headers.get("retry-after")) is not None:
            return max(float(s), 0.0)
    except ValueError:  # an HTTP date: rare for these APIs, and our own backoff is a fine fallback
        return None
    return None


def classify(exc: Exception, sdk: Any, *, secret: str | None, what: str) -> Exception:
    """Map an exception from ``sdk`` (the anthropic or openai module) to one of our three kinds."""
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        kind = str(err.get("type") or err.get("code") or "error")[:60]
        reason = f"HTTP {status} {kind}"
        if status in (408, 409, 425, 429) or status >= 500:
            return TransientFault(reason, _retry_after(exc.response))
        if status in (401, 403, 404):
            return BackendUnusable(f"{what}: {reason}; check the API key, the model name and the base URL")
        detail = str(err.get("message") or "")[:200]
        return CallRejected(scrub(f"{reason}: {detail}" if detail else reason, secret))
    if isinstance(exc, sdk.APITimeoutError):
        return TransientFault("timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return TransientFault("connection error")
    if isinstance(exc, sdk.APIResponseValidationError):
        return TransientFault("response did not match the API schema")
    return exc


@contextmanager
def _unexpected_shape() -> Iterator[None]:
    """JSON that is not the API's answer shape (a misbehaving server) is a fault worth retrying."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError):
        raise TransientFault("the response does not have the API's shape") from None


Message = dict[str, str]


class ChatBackend(ABC):
    """One model behind one API (a judge's, or a prompted simulator's)."""

    #: ``anthropic`` or ``openai``.
    name: str

    def __init__(self, model: str, *, api_key: str, base_url: str | None, timeout: float):
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout

    @abstractmethod
    async def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int | None,
        *,
        schema: dict[str, object] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Ask once: ``system`` then ``messages`` (``user`` and ``assistant`` turns).

        ``max_tokens``: the answer's limit (None: the server's own, where the API allows); ``schema``:
        constrain the answer to this JSON schema (where the backend was built ``structured``); ``seed``: the
        sampling seed, where the API takes one. Raises :class:`TransientFault`, :class:`CallRejected` or
        :class:`BackendUnusable`."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the HTTP connections."""


class AnthropicBackend(ChatBackend):
    """Claude through the Messages API, with the answer constrained to the rubric's JSON schema.

    No temperature is sent: API version 2026-10-21 (what SDK 2.x speaks) rejects sampling parameters.
    """

    name = "anthropic"

    def __init__(
        self, model: str, *, api_key: str, base_url: str | None, timeout: float, structured: bool = True
    ):
        super().__init__(model, api_key=api_key, base_url=base_url, timeout=timeout)
        import anthropic

        self._sdk = anthropic
        self._structured = structured
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int | None,
        *,
        schema: dict[str, object] | None = None,
        seed: int | None = None,  # the Messages API takes no seed
    ) -> Completion:
        extra: dict[str, Any] = {}
        if self._structured and schema is not None:
            extra["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        try:
            msg = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens or 1024,  # the Messages API requires a limit
                system=system,
                messages=_anthropic_turns(messages),
                **extra,
            )
        except self._sdk.AnthropicError as e:
            raise classify(e, self._sdk, secret=self._api_key, what=f"anthropic:{self.model}") from None
        except ValueError:  # a 200 whose body is not JSON (a proxy's error page): worth another try
            raise TransientFault("the response body is not JSON") from None
        with _unexpected_shape():
            text = "".join(getattr(block, "text", "") for block in msg.content if block.type == "text")
            u = msg.usage
            # Prompt-cache reads and writes are input too; we never ask for prompt caching, so they are 0.
            tokens_in = (
                u.input_tokens + (u.cache_creation_input_tokens or 0) + (u.cache_read_input_tokens or 0)
            )
            return Completion(text, tokens_in, u.output_tokens)

    async def aclose(self) -> None:
        await self._client.close()


class OpenAIBackend(ChatBackend):
    """Any chat-completions server: OpenAI, vLLM, Ollama, llama.cpp, ...

    ``temperature``: None leaves the server's default (reasoning models accept nothing else);
    ``structured``: False drops ``response_format`` for servers without JSON-schema output.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None,
        timeout: float,
        temperature: float | None = 0.0,
        structured: bool = True,
    ):
        super().__init__(model, api_key=api_key, base_url=base_url, timeout=timeout)
        import openai

        self._sdk = openai
        self._temperature = temperature
        self._structured = structured
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    async def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int | None,
        *,
        schema: dict[str, object] | None = None,
        seed: int | None = None,
    ) -> Completion:
        extra: dict[str, Any] = {}
        if self._temperature is not None:
            extra["temperature"] = self._temperature
        if seed is not None:
            extra["seed"] = seed
        if max_tokens is not None:  # None: the server's own limit
            extra["max_completion_tokens"] = max_tokens
        if self._structured and schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "judgement", "schema": schema, "strict": True},
            }
        try:
            resp = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, *messages],
                **extra,
            )
        except self._sdk.OpenAIError as e:
            raise classify(e, self._sdk, secret=self._api_key, what=f"openai:{self.model}") from None
        except ValueError:  # a 200 whose body is not JSON (a proxy's error page): worth another try
            raise TransientFault("the response body is not JSON") from None
        with _unexpected_shape():
            text = (resp.choices[0].message.content or "") if resp.choices else ""
            u = resp.usage
            return Completion(text, u.prompt_tokens if u else 0, u.completion_tokens if u else 0)

    async def aclose(self) -> None:
        await self._client.close()


def _anthropic_turns(messages: list[Message]) -> list[Message]:
    """Messages the Messages API takes: it starts with a ``user`` turn and alternates, so a thread that opens
    with the simulated user's own post gets an empty-thread marker first, and consecutive turns of one role
    are joined (blank line between)."""
    turns: list[Message] = []
    for m in messages:
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1] = {"role": m["role"], "content": turns[-1]["content"] + "\n\n" + m["content"]}
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(the thread starts with your own post)"})
    return turns


class MissingAPIKeyError(ConfigError):
    """The environment variable that holds a judge's API key is not set."""
