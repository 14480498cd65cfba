"""What an LLM client is: backend, model, endpoint, decoding, limits, retries and where its key comes from.

Settings are validated once, when a judge (or, next, an API simulator) is built; the key is read from the
environment at use, never stored in a setting, a cache key or a file.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlparse

from personadrop.errors import ConfigError
from personadrop.judges.backends import KEY_ENV, MissingAPIKeyError

DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
# Local servers (vLLM, Ollama) rarely check keys; the SDKs still want a non-empty one.
NO_KEY = "no-key-needed"


def is_loopback(base_url: str | None) -> bool:
    host = urlparse(base_url).hostname if base_url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LLMSettings:
    """One model behind one API, and how calls to it are made.

    ``temperature``: openai only (None leaves the server's default, which reasoning models require); the
    Anthropic API of SDK 2.x takes no sampling settings at all. ``structured``: ask for JSON-schema
    constrained output. ``concurrency``: calls in flight at once. ``requests_per_minute`` and
    ``tokens_per_minute``: optional limits, kept as the APIs count them (a minute's budget, refilled
    continuously). ``max_attempts``: tries per call, the first included. ``backoff_base`` and
    ``backoff_max``: seconds; the wait before try k+1 is about base * 2**k, jittered, capped, and at least the
    server's Retry-After. ``call_timeout``: seconds one attempt may take; ``deadline``: seconds one call may
    take, every attempt and wait included.
    """

    backend: str = "anthropic"
    model: str = DEFAULT_ANTHROPIC_MODEL
    base_url: str | None = None
    temperature: float | None = 0.0
    structured: bool = True
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    call_timeout: float = 60.0
    deadline: float = 300.0

    def __post_init__(self) -> None:
        if self.backend not in KEY_ENV:
            raise ConfigError(f"unknown LLM backend {self.backend!r}; use anthropic or openai")
        if not self.model:
            raise ConfigError(f"the {self.backend} backend needs a model name, e.g. {self.backend}:<model>")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ConfigError("concurrency and max_attempts must be at least 1")
        for name in ("requests_per_minute", "tokens_per_minute"):
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise ConfigError(f"{name} must be positive, got {limit}")
        if self.backend != "openai":  # the Anthropic API rejects sampling settings: none is sent or keyed
            object.__setattr__(self, "temperature", None)

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.model}"

    @property
    def key_env(self) -> str:
        """The environment variable the API key is read from."""
        return KEY_ENV[self.backend]

    def api_key(self) -> str | None:
        """The key from the environment (a placeholder for a loopback server); None when there is none."""
        key = os.environ.get(self.key_env, "").strip()
        if key:
            return key
        return NO_KEY if is_loopback(self.base_url) else None

    def check_ready(self, what: str) -> None:
        """Raise :class:`MissingAPIKeyError` (one line, naming the variable) if no key is available."""
        if self.api_key() is None:
            other = "choose --judge exact or embedding" if what == "judge" else "choose another simulator"
            raise MissingAPIKeyError(
                f"{self.key_env} is not set: the {self.name} {what} reads its API key from it "
                f"(export it, or {other})"
            )

    def identity(self) -> dict[str, object]:
        """What names calls to this model in cache keys: backend, model and decoding (no endpoint, no key)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "decoding": {"temperature": self.temperature, "structured": self.structured},
        }
