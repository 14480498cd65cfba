"""The LLM judge against a real local HTTP server, through the real anthropic and openai SDK clients."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path

import pytest

from personadrop.judges import JudgeRequest
from personadrop.judges.backends import BackendUnusable

from llm_judge_support import expected_scores, judge_for, requests_with_markers

# The fake server and API-key fixtures (`llm_server`, `llm_keys`).
pytest_plugins = ["llm_judge_fixtures"]

APIS = ["anthropic", "openai"]


@pytest.mark.parametrize("api", APIS)
def test_scores_come_back_in_request_order_although_candidates_are_shuffled(
    llm_server, llm_keys, api, aita_posts
):
    posts = [p["post"] for p in list(aita_posts.values())[:6]]  # real, messy context text
    reqs = [
        JudgeRequest(
            f"ex{i}",
            post,
            "YTA, you should have told her.",
            tuple(f"take {j} score={(6 * i + j + 1) / 40:.3f}" for j in range(6)),
        )
        for i, post in enumerate(posts)
    ]
    judge = judge_for(llm_server, api, None)
    assert judge.score(reqs) == expected_scores(reqs)
    # One call per request, and the judge did not read candidates in the order they were given.
    assert llm_server.requests == len(reqs)
    # Calls arrive concurrently, in any order: match each call to its request by its set of candidates.
    shown = {
        frozenset(text for _, text in seen.candidates): [text for _, text in seen.candidates]
        for seen in llm_server.seen
    }
    assert set(shown) == {frozenset(r.generations) for r in reqs}
    assert any(shown[frozenset(r.generations)] != list(r.generations) for r in reqs)
    assert all(seen.api == api for seen in llm_server.seen)


@pytest.mark.parametrize("api", APIS)
def test_transient_faults_are_retried_until_they_succeed(llm_server, llm_keys, api):
    llm_server.script.extend(["429", "500", "broken", "hang", "wrong-ids"])
    reqs = requests_with_markers(1, 3)
    judge = judge_for(llm_server, api, None, max_attempts=6)
    assert judge.score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 6  # five faults, then the answer
    assert judge.usage.calls == 6 and judge.retries == 5 and judge.usage.failures == 0


def test_a_repairable_answer_needs_no_second_call(llm_server, llm_keys):
    llm_server.script.append("fenced")
    reqs = requests_with_markers(1, 2)
    judge = judge_for(llm_server, "anthropic", None)
    assert judge.score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 1


@pytest.mark.parametrize("api", APIS)
def test_a_permanent_fault_gives_nan_and_counted_failures_never_zero(llm_server, llm_keys, api):
    llm_server.default = "503"
    reqs = requests_with_markers(2, 3)
    judge = judge_for(llm_server, api, None, max_attempts=3)
    scores = judge.score(reqs)
    assert all(math.isnan(s) for row in scores for s in row)
    assert judge.usage.failures == 6 and judge.summary()["failures"] == 6
    assert llm_server.requests == 2 * 3  # the retry budget, and not one request more
    assert judge.usage.calls == llm_server.requests


def test_only_the_failing_call_is_missing(llm_server, llm_keys):
    llm_server.script.extend(["ok", "503"])  # one call in flight at a time: the second one fails for good
    reqs = requests_with_markers(3, 2)
    judge = judge_for(llm_server, "openai", None, max_attempts=1, concurrency=1)
    scores = judge.score(reqs)
    missing = [all(math.isnan(s) for s in row) for row in scores]
    assert missing.count(True) == 1 and judge.usage.failures == 2
    for row, exp, gone in zip(scores, expected_scores(reqs), missing, strict=True):
        if not gone:
            assert row == exp


def test_a_rejected_call_is_not_retried(llm_server, llm_keys):
    llm_server.default = "400"
    judge = judge_for(llm_server, "anthropic", None, max_attempts=5)
    assert all(math.isnan(s) for s in judge.score(requests_with_markers(1, 2))[0])
    assert llm_server.requests == 1 and judge.usage.failures == 2


def test_the_deadline_bounds_a_call_that_keeps_hanging(llm_server, llm_keys):
    llm_server.default = "hang"
    import openai  # noqa: F401  (imported up front so the timing below is judging, not importing)

    judge = judge_for(llm_server, "openai", None, max_attempts=10, call_timeout=0.3, deadline=0.7)
    start = time.monotonic()
    scores = judge.score(requests_with_markers(1, 2))
    assert all(math.isnan(s) for s in scores[0])
    assert time.monotonic() - start < 1.5
    assert llm_server.requests <= 3  # far below max_attempts: the deadline, not the attempt count, ended it


@pytest.mark.parametrize("api", APIS)
def test_a_bad_key_stops_the_run_with_one_clear_error(llm_server, llm_keys, api):
    llm_server.default = "401"
    judge = judge_for(llm_server, api, None)
    with pytest.raises(BackendUnusable) as err:
        judge.score(requests_with_markers(4, 2))
    assert "401" in str(err.value) and "\n" not in str(err.value)
    assert llm_keys[api] not in str(err.value)
    assert llm_server.requests <= 4  # no retries of an authentication failure


def test_batching_puts_all_generations_of_a_request_in_one_call(llm_server, llm_keys):
    reqs = requests_with_markers(3, 4)
    assert judge_for(llm_server, "anthropic", None).score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 3
    assert judge_for(llm_server, "anthropic", None, batch_size=1).score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 3 + 12
    assert judge_for(llm_server, "anthropic", None, batch_size=3).score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 3 + 12 + 6


def test_identical_requests_share_one_call(llm_server, llm_keys):
    reqs = requests_with_markers(2, 2)
    judge = judge_for(llm_server, "openai", None)
    assert judge.score([*reqs, reqs[0], reqs[0]]) == expected_scores([*reqs, reqs[0], reqs[0]])
    assert llm_server.requests == 2


def test_concurrency_is_limited(llm_keys):
    from fake_llm_server import FakeLLMServer

    with FakeLLMServer(latency=0.05) as slow:
        judge = judge_for(slow, "anthropic", None, concurrency=3)
        reqs = requests_with_markers(12, 1)
        assert judge.score(reqs) == expected_scores(reqs)
        assert 2 <= slow.max_in_flight <= 3


def test_state_dimensions_use_their_own_prompt(llm_server, llm_keys):
    reqs = requests_with_markers(1, 2, dimension="stance")
    reqs.append(
        JudgeRequest("w", "ctx", "ref", ("a score=0.3",), "emotion", {"emotion": "mild annoyance at OP"})
    )
    judge = judge_for(llm_server, "anthropic", None)
    assert judge.score(reqs) == expected_scores(reqs)
    systems = [seen.body["system"] for seen in llm_server.seen]
    assert len(set(systems)) == 2
    assert any("mild annoyance at OP" in str(seen.body["messages"]) for seen in llm_server.seen)


def test_score_works_inside_a_running_event_loop_and_from_threads(llm_server, llm_keys):
    reqs = requests_with_markers(2, 2)
    judge = judge_for(llm_server, "openai", None)

    async def from_async_code() -> list[list[float]]:
        return judge.score(reqs)

    assert asyncio.run(from_async_code()) == expected_scores(reqs)
    results: list[list[list[float]]] = []
    threads = [threading.Thread(target=lambda: results.append(judge.score(reqs))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected_scores(reqs)] * 3
    assert judge.usage.calls == llm_server.requests == 8


def test_empty_requests_make_no_call(llm_server, llm_keys):
    judge = judge_for(llm_server, "anthropic", None)
    assert judge.score([]) == []
    assert judge.score([JudgeRequest("e", "c", "r", ())]) == [[]]
    assert llm_server.requests == 0


def test_openai_sends_temperature_zero_and_anthropic_sends_none(llm_server, llm_keys, tmp_path: Path):
    reqs = requests_with_markers(1, 1)
    judge_for(llm_server, "openai", None).score(reqs)
    judge_for(llm_server, "anthropic", None).score(reqs)
    openai_body, anthropic_body = llm_server.seen[0].body, llm_server.seen[1].body
    assert openai_body["temperature"] == 0 and openai_body["response_format"]["type"] == "json_schema"
    assert (
        "temperature" not in anthropic_body
        and anthropic_body["output_config"]["format"]["type"] == "json_schema"
    )


def test_a_requests_per_minute_limit_is_kept_across_calls(llm_server, llm_keys):
    # A budget of one minute's worth (120 calls) that refills at 2 per second, as the APIs count.
    # Generous timeouts: this is about pacing, and a loaded machine must not turn slow calls into failures.
    judge = judge_for(
        llm_server, "openai", None, requests_per_minute=120, concurrency=16, call_timeout=10.0, deadline=60.0
    )
    start = time.monotonic()
    judge.score(requests_with_markers(118, 1))
    # Within the budget the calls go out as a burst: paced at 2 per second they would take ~59 s. (A loose
    # bound, so a loaded machine cannot fail it.)
    assert time.monotonic() - start < 30.0
    judge.score([JudgeRequest(f"late{i}", "ctx", "ref", (f"g{i} score=0.5",)) for i in range(4)])
    # The budget carried over: 122 calls against 120 a minute refilled at 2 per second take at least ~1 s.
    assert time.monotonic() - start >= 0.9
    assert llm_server.requests == 122
    judge.close()


def test_a_call_larger_than_the_token_budget_is_refused_not_hung(llm_server, llm_keys):
    judge = judge_for(llm_server, "openai", None, tokens_per_minute=50)
    scores = judge.score(requests_with_markers(1, 2))
    assert all(math.isnan(s) for s in scores[0]) and llm_server.requests == 0 and judge.usage.failures == 2


@pytest.mark.parametrize("api", APIS)
def test_a_200_whose_body_is_not_json_is_a_fault_worth_retrying(llm_server, llm_keys, api):
    llm_server.script.extend(["not-json", "not-json"])
    judge = judge_for(llm_server, api, None, max_attempts=3)
    reqs = requests_with_markers(1, 2)
    assert judge.score(reqs) == expected_scores(reqs)
    assert llm_server.requests == 3 and judge.retries == 2
