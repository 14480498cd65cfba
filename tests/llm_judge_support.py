"""Shared helpers for the LLM judge tests: a judge wired to the fake server with fast fault settings,
and requests whose expected scores are known. The fixtures are in llm_judge_fixtures.py."""

from __future__ import annotations

from pathlib import Path

from personadrop.judges import JudgeRequest, make_judge
from personadrop.judges.llm import LLMJudge

from fake_llm_server import FakeLLMServer

SECRET = {
    "anthropic": "sk-ant-api03-TESTKEY-do-not-leak-4f9a2c",
    "openai": "sk-proj-TESTKEY-do-not-leak-77e1b0",
}
# Short timeouts and backoff so fault tests take fractions of a second.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "call_timeout": 0.4, "deadline": 5.0}


def judge_for(server: FakeLLMServer, api: str, cache_dir: Path | None, **options: object) -> LLMJudge:
    """An LLM judge of ``api`` pointed at the fake server, with fast fault handling."""
    opts = {**FAST, **options}
    if cache_dir is None:
        opts["cache"] = False
    judge = make_judge(f"{api}:judge-test-model@{server.url(api)}", cache_dir=cache_dir, **opts)
    assert isinstance(judge, LLMJudge)
    return judge


def requests_with_markers(n: int, k: int, dimension: str = "response") -> list[JudgeRequest]:
    """``n`` requests of ``k`` generations, each carrying a distinct ``score=`` marker the server reads."""
    return [
        JudgeRequest(
            example_id=f"ex{i}",
            context=f"OP: AITA for skipping my cousin's wedding #{i}?",
            reference="NTA. You told them months ago and they planned it anyway.",
            generations=tuple(
                f"reply {j} of {i} score={(i * k + j + 1) / (n * k + 1):.4f}" for j in range(k)
            ),
            dimension=dimension,
        )
        for i in range(n)
    ]


def expected_scores(requests: list[JudgeRequest]) -> list[list[float]]:
    from fake_llm_server import marker_score

    return [[marker_score(g) for g in r.generations] for r in requests]
