"""make_judge resolves every judge spec, rejects anything else clearly, and imports nothing heavy early."""

from __future__ import annotations

import subprocess
import sys

import pytest

from personadrop.errors import ConfigError
from personadrop.judges import JUDGE_FORMS, make_judge, parse_llm_spec, plan_cost
from personadrop.judges.llm import LLMJudge


def test_llm_specs_resolve_backend_model_and_base_url():
    j = make_judge("anthropic:claude-haiku-4-5", cache=False)
    assert isinstance(j, LLMJudge) and j.name == "anthropic:claude-haiku-4-5" and j.base_url is None
    assert make_judge("anthropic", cache=False).model == "claude-haiku-4-5"
    o = make_judge("openai:qwen3:8b@http://localhost:11434/v1", cache=False, concurrency=2)
    assert (o.backend, o.model, o.base_url, o.settings.concurrency) == (
        "openai",
        "qwen3:8b",
        "http://localhost:11434/v1",
        2,
    )
    assert parse_llm_spec("openai:gpt-5-mini") == ("openai", "gpt-5-mini", None)


def test_local_judges_resolve_and_drop_shared_options_they_have_no_use_for(tmp_path):
    assert make_judge("embedding", cache_dir=tmp_path, seed=3).name == "embedding"
    assert make_judge("exact", cache_dir=tmp_path, seed=3).name == "exact"


@pytest.mark.parametrize(
    "spec", ["", "claude", "gpt-4o", "openai", "openai:", "openai:gpt-5@localhost:8000", "anthropics:claude"]
)
def test_anything_else_is_a_config_error_listing_the_valid_forms(spec: str):
    with pytest.raises(ConfigError) as err:
        make_judge(spec)
    message = str(err.value)
    assert all(form in message for form in JUDGE_FORMS) and "\n" not in message


def test_unknown_options_are_a_config_error():
    with pytest.raises(ConfigError, match="concurrencyy"):
        make_judge("anthropic", concurrencyy=3)
    with pytest.raises(ConfigError):
        make_judge("openai:gpt-5-mini", batch_size=0)


def test_importing_the_registry_imports_no_sdk_and_no_torch():
    code = (
        "import sys, personadrop.judges as j; j.make_judge('anthropic', cache=False);"
        "j.plan_cost('openai:gpt-5-mini', n_requests=3);"
        "heavy = [m for m in ('torch', 'anthropic', 'openai', 'sentence_transformers', 'scipy') if m in "
        "sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_dry_run_plans_calls_tokens_and_cost_without_a_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    plan = plan_cost("anthropic:claude-haiku-4-5", n_requests=100, generations_per_request=4)
    assert plan.calls == 100 and plan.generations == 400 and plan.priced
    assert plan.input_tokens > 100 * 500 and plan.output_tokens > 0
    assert plan.cost_usd == pytest.approx((plan.input_tokens * 1.0 + plan.output_tokens * 5.0) / 1e6)
    unbatched = plan_cost(
        "anthropic:claude-haiku-4-5", n_requests=100, generations_per_request=4, batch_size=1
    )
    assert unbatched.calls == 400 and unbatched.input_tokens > plan.input_tokens
    assert "400 calls" in unbatched.describe() and "$" in unbatched.describe()
    local = plan_cost("exact", n_requests=100, generations_per_request=4)
    assert local.calls == 0 and local.cost_usd == 0 and "no API calls" in local.describe()
    unpriced = plan_cost("openai:my-llama@http://localhost:8000/v1", n_requests=10)
    assert not unpriced.priced and "unknown" in unpriced.describe()


def test_a_dry_run_over_real_requests_leaves_out_cached_calls(tmp_path, monkeypatch):
    from personadrop.judges import JudgeRequest
    from personadrop.judges.cache import JudgeCache
    from personadrop.judges.llm import plan_jobs

    reqs = [JudgeRequest(f"e{i}", f"thread {i} " * 100, "ref", ("a", "b", "c")) for i in range(5)]
    judge = make_judge("anthropic", cache_dir=tmp_path)
    first = plan_jobs(reqs, identity=judge.identity(), batch_size=None, seed=0)[0]
    JudgeCache.in_dir(tmp_path).put(first.key, [0.1, 0.2, 0.3], 10, 10)
    plan = plan_cost("anthropic", reqs, cache_dir=tmp_path, check_cache=True)
    assert (plan.calls, plan.cached, plan.generations) == (4, 1, 15)
