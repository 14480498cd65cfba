"""LLM judge bookkeeping: the persistent cache, usage and cost, and keeping API keys out of everything."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import pytest

from personadrop.errors import ConfigError, PersonadropError
from personadrop.judges import make_judge
from personadrop.judges.backends import MissingAPIKeyError
from personadrop.judges.cache import CACHE_FILE, JudgeCache, cache_key
from personadrop.judges.pricing import Price, cost_usd, load_prices, price_for

from llm_judge_support import expected_scores, judge_for, requests_with_markers

# The fake server and API-key fixtures (`llm_server`, `llm_keys`).
pytest_plugins = ["llm_judge_fixtures"]


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_a_second_run_is_served_from_the_cache_with_zero_requests(llm_server, llm_keys, api, tmp_path: Path):
    reqs = requests_with_markers(4, 3)
    first = judge_for(llm_server, api, tmp_path)
    scores = first.score(reqs)
    first.close()
    assert scores == expected_scores(reqs) and llm_server.requests == 4
    assert (tmp_path / CACHE_FILE).is_file()

    again = judge_for(llm_server, api, tmp_path)
    assert again.score(reqs) == scores
    assert llm_server.requests == 4  # not one new request
    assert again.usage.calls == 0 and again.usage.cache_hits == 4 and again.usage.cost_usd == 0


def test_the_cache_key_covers_model_rubric_settings_and_inputs(llm_server, llm_keys, tmp_path: Path):
    reqs = requests_with_markers(1, 2)
    judge_for(llm_server, "openai", tmp_path).score(reqs)
    judge_for(llm_server, "openai", tmp_path, temperature=0.3).score(reqs)  # other decoding settings
    judge_for(llm_server, "openai", tmp_path, seed=1).score(reqs)  # another shuffle
    judge_for(llm_server, "anthropic", tmp_path).score(reqs)  # another backend
    assert llm_server.requests == 4
    changed = [
        type(reqs[0])("ex0", reqs[0].context, reqs[0].reference, (*reqs[0].generations[:1], "new score=0.2"))
    ]
    judge_for(llm_server, "openai", tmp_path).score(changed)  # other inputs
    assert llm_server.requests == 5
    judge_for(llm_server, "openai", tmp_path).score(reqs)  # same again: cached
    assert llm_server.requests == 5


def test_failures_are_not_cached(llm_server, llm_keys, tmp_path: Path):
    reqs = requests_with_markers(2, 2)
    llm_server.default = "500"
    failed = judge_for(llm_server, "anthropic", tmp_path, max_attempts=2).score(reqs)
    assert all(math.isnan(s) for row in failed for s in row)
    llm_server.default = "ok"
    retried = judge_for(llm_server, "anthropic", tmp_path)
    assert retried.score(reqs) == expected_scores(reqs)
    assert retried.usage.calls == 2 and retried.usage.cache_hits == 0


def test_usage_and_cost_add_up_to_what_the_api_reported(llm_server, llm_keys):
    llm_server.script.extend(["broken", "429"])  # a billed malformed answer and an unbilled 429
    prices = {"judge-test-model": {"input": 2.0, "output": 10.0}}
    judge = judge_for(llm_server, "openai", None, prices=prices)
    judge.score(requests_with_markers(5, 3))
    u = judge.usage
    assert u.calls == llm_server.requests == 7
    assert (u.input_tokens, u.output_tokens) == (llm_server.input_tokens, llm_server.output_tokens)
    assert u.cost_usd == pytest.approx(
        (llm_server.input_tokens * 2.0 + llm_server.output_tokens * 10.0) / 1e6
    )
    summary = judge.summary()
    assert {
        "name",
        "calls",
        "cache_hits",
        "failures",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    } <= summary.keys()


def test_no_api_key_reaches_any_written_file_or_log(llm_server, llm_keys, tmp_path: Path, caplog):
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.DEBUG):  # the SDKs' own debug logging included
        for api in ("anthropic", "openai"):
            llm_server.script.extend(["400-echo", "500"])  # the first error message quotes the key back
            judge = judge_for(llm_server, api, run_dir)
            judge.score(requests_with_markers(3, 2, dimension="goal"))
            if api == "anthropic":
                llm_server.script.append("401")
                with pytest.raises(PersonadropError) as err:
                    judge.score(requests_with_markers(1, 2, dimension="value"))
                assert llm_keys[api] not in str(err.value)
            (run_dir / f"summary-{api}.json").write_text(str(judge.summary()))
            judge.close()
    assert any(
        llm_keys["anthropic"] in seen.authorization for seen in llm_server.seen
    )  # the key was really used
    assert any(llm_keys["openai"] in seen.authorization for seen in llm_server.seen)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == CACHE_FILE for p in written)
    for path in written:
        blob = path.read_bytes()
        for key in llm_keys.values():
            assert key.encode() not in blob, f"{path} holds an API key"
    assert "upstream refused" in caplog.text  # the echoed error was logged, scrubbed
    for key in llm_keys.values():
        assert key not in caplog.text


@pytest.mark.parametrize(("api", "env"), [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")])
def test_a_missing_key_is_one_line_naming_the_variable_before_any_call(monkeypatch, api, env):
    monkeypatch.delenv(env, raising=False)
    judge = make_judge(f"{api}:some-model@https://judge.example.invalid/v1", cache=False)
    with pytest.raises(MissingAPIKeyError) as err:
        judge.check_ready()
    assert isinstance(err.value, ConfigError)
    assert env in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MissingAPIKeyError):
        judge.score(requests_with_markers(1, 1))


def test_a_loopback_server_needs_no_key(llm_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = judge_for(llm_server, "openai", None)
    judge.check_ready()
    reqs = requests_with_markers(1, 2)
    assert judge.score(reqs) == expected_scores(reqs)


def test_a_cached_run_needs_no_key(llm_server, llm_keys, tmp_path: Path, monkeypatch):
    reqs = requests_with_markers(2, 2)
    judge_for(llm_server, "anthropic", tmp_path).score(reqs)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    cached = make_judge("anthropic:judge-test-model@https://judge.example.invalid", cache_dir=tmp_path)
    assert cached.score(reqs) == expected_scores(reqs)


# ------------------------------------------------------------------ cache and prices as units
def test_cache_keys_are_canonical_and_the_cache_refuses_failures(tmp_path: Path):
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    cache = JudgeCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError):
        cache.put("k", [0.5, math.nan], 10, 5)
    assert cache.get("k") is None


def test_the_cache_takes_concurrent_writers(tmp_path: Path):
    cache = JudgeCache.in_dir(tmp_path)

    def write(start: int) -> None:
        for i in range(start, start + 50):
            cache.put(f"k{i}", [i / 1000], i, 1)

    threads = [threading.Thread(target=write, args=(s,)) for s in range(0, 200, 50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 200 and cache.get("k123").scores == (0.123,)
    assert JudgeCache.in_dir(tmp_path).get("k7").input_tokens == 7  # persisted, readable by a new handle


def test_the_default_cache_dir_follows_the_environment(monkeypatch, tmp_path: Path):
    from personadrop.files import default_cache_dir

    monkeypatch.setenv("PERSONADROP_CACHE_DIR", str(tmp_path / "pd"))
    assert default_cache_dir() == tmp_path / "pd"
    monkeypatch.delenv("PERSONADROP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "personadrop"


def test_prices_resolve_dated_snapshots_and_unknown_models_cost_zero(tmp_path: Path, caplog):
    table = load_prices()
    assert price_for("claude-haiku-4-5-20251001", table) == table["claude-haiku-4-5"]
    assert price_for("gpt-5-mini-2025-08-07", table) == table["gpt-5-mini"]  # not priced as gpt-5
    assert cost_usd("claude-haiku-4-5", 1_000_000, 100_000, table) == pytest.approx(1.0 + 0.5)
    with caplog.at_level(logging.WARNING):
        assert cost_usd("my-local-llama", 5000, 500, table) == 0.0
    assert "my-local-llama" in caplog.text
    override = tmp_path / "prices.yaml"
    override.write_text("my-local-llama: {input: 0.1, output: 0.2}\n")
    assert load_prices(override)["my-local-llama"] == Price(0.1, 0.2)
    override.write_text("my-local-llama: 3\n")
    with pytest.raises(ConfigError):
        load_prices(override)
