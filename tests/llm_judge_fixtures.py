"""Pytest fixtures for the LLM judge tests (loaded with ``pytest_plugins``): a fake server, API keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_llm_server import FakeLLMServer
from llm_judge_support import SECRET


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    """A fresh fake Anthropic/OpenAI server on 127.0.0.1 for one test."""
    with FakeLLMServer(hang_seconds=2.0) as s:
        yield s


@pytest.fixture
def llm_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake API keys in the environment; tests check they never leak into files or logs."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET["anthropic"])
    monkeypatch.setenv("OPENAI_API_KEY", SECRET["openai"])
    return SECRET
