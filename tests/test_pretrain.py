"""Pretraining a base on other worlds: valid random worlds, never a target's seed, deterministic, loadable;
the shipped base is one of them; a study refuses a base that saw its world; lean losses take plain heads."""

from __future__ import annotations

from pathlib import Path

import pytest

from personadrop.data.world.config import WorldConfig
from personadrop.data.world.lexicon import PERSONA_FIELDS
from personadrop.errors import ConfigError
from personadrop.train.pretrain import (
    PRETRAIN_SEED_BASE,
    PretrainConfig,
    describe_base,
    load_pretrain_config,
    one_state_task,
    pretrain_base,
    pretraining_examples,
    pretraining_worlds,
    random_world_config,
    read_manifest,
)


def test_random_world_configs_are_valid_varied_and_deterministic():
    configs = [random_world_config(PRETRAIN_SEED_BASE + k) for k in range(40)]
    assert all(isinstance(c, WorldConfig) and set(c.signal) == set(PERSONA_FIELDS) for c in configs)
    assert random_world_config(PRETRAIN_SEED_BASE + 3) == configs[3]
    assert len({c.model_dump_json(include={"signal"}) for c in configs}) == len(configs)


def test_the_state_stage_adds_one_state_to_each_examples_replies_and_covers_all_six():
    from personadrop.data.example import STATE_DIMENSIONS
    from personadrop.train.pretrain import mixture_tasks

    examples = pretraining_examples([random_world_config(PRETRAIN_SEED_BASE)])[:120]
    mixture = mixture_tasks("humanlm", seed=0, state_share=0.3)
    choose = one_state_task(0, mixture)
    tasks = [choose(ex, 0) for ex in examples]
    for ex, t in zip(examples, tasks, strict=True):
        # the mixture's reply formats are kept (its own single states are not), then exactly one state
        assert t[:-1] == tuple(x for x in mixture(ex, 0) if x in ("response", "states+response"))
        assert t[-1] in STATE_DIMENSIONS
    assert {t[-1] for t in tasks} == set(STATE_DIMENSIONS)
    assert {"states+response"} <= {x for t in tasks for x in t}
    assert tasks == [one_state_task(0, mixture)(ex, 0) for ex in examples]  # keyed, not drawn from a stream
    assert tasks != [choose(ex, 1) for ex in examples]  # a new epoch asks for other states


def test_pretraining_refuses_target_seeds():
    with pytest.raises(ValueError, match="target world"):
        pretraining_examples([WorldConfig(seed=0, users=8, posts=20)])
    assert all(c.seed >= PRETRAIN_SEED_BASE for c in pretraining_worlds(3, seed=2))


def test_pretraining_is_deterministic_for_a_seed_and_its_base_loads(tmp_path):
    from personadrop.data.world import generate_world, world_config
    from personadrop.dropout import MaskKey, parse_condition
    from personadrop.models.base import SimulationItem
    from personadrop.simulators import load_simulator

    cfg = PretrainConfig(worlds=2, users=16, posts=30, max_steps=6, post_first_steps=3, vocab_size=600)
    manifests = [pretrain_base(cfg, tmp_path / name, progress=False) for name in ("a", "b")]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (
        tmp_path / "b" / "model.safetensors"
    ).read_bytes()
    assert manifests[0]["world_seeds"] == [PRETRAIN_SEED_BASE, PRETRAIN_SEED_BASE + 1]
    assert read_manifest(tmp_path / "a")["persona"].startswith(
        "the post alone for 3 steps, then whole personas"
    )
    assert "3 steps on the posts alone, then 6 steps with whole personas" in describe_base(manifests[0])
    # The post-first stage changes the weights: it is not a label only.
    other = pretrain_base(cfg.model_copy(update={"post_first_steps": 0}), tmp_path / "c", progress=False)
    assert other["persona"] == "whole (no dropout)"
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (
        tmp_path / "a" / "model.safetensors"
    ).read_bytes()
    # So does a last stage on the single-state tasks, and the manifest says so.
    states = pretrain_base(cfg.model_copy(update={"state_last_steps": 2}), tmp_path / "d", progress=False)
    assert states["state_last_steps"] == 2
    assert describe_base(states).endswith("6 steps with whole personas, then 2 steps writing single states")
    assert (tmp_path / "d" / "model.safetensors").read_bytes() != (
        tmp_path / "a" / "model.safetensors"
    ).read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # written aside, then renamed into place
    sim = load_simulator(tmp_path / "a", max_new_tokens=8)
    ex = generate_world(world_config(seed=3, users=12, posts=20)).examples[0]
    out = sim.generate([SimulationItem(ex, parse_condition("full")(ex.persona, MaskKey(0, ex.id)))])
    assert len(out) == 1 and isinstance(out[0], str)
    with pytest.raises(ConfigError, match="already holds a base"):
        pretrain_base(cfg, tmp_path / "a", progress=False)


def test_the_shipped_base_saw_only_other_worlds_and_a_study_refuses_one_that_saw_its_own(tmp_path):
    from personadrop.models.registry import resolve_model
    from personadrop.study import Study, load_study_config

    manifest = read_manifest(resolve_model("world-tiny"))
    assert manifest["format"] == "personadrop-base"
    assert min(manifest["world_seeds"]) >= PRETRAIN_SEED_BASE
    # No field dropout in pretraining (the study applies it in fine-tuning only), and the shipped base is
    # the one its config in the repository builds.
    assert manifest["persona"].endswith("(no dropout)")
    shipped = Path(__file__).resolve().parents[1] / "configs" / "pretrain-world.yaml"
    assert manifest["config"] == load_pretrain_config(shipped).model_dump()
    seen = manifest["world_seeds"][0]
    cfg = load_study_config(None, "quick", seed=seen)
    with pytest.raises(ConfigError, match=f"world seed {seen}"):
        Study(cfg, tmp_path / "s", progress=False).run()


def test_plain_output_layer_detects_logit_scaling():
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM

    from personadrop.train.sft import plain_output_layer

    small = dict(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
    )
    assert plain_output_layer(LlamaForCausalLM(LlamaConfig(**small)))
    assert not plain_output_layer(Gemma2ForCausalLM(Gemma2Config(**small, final_logit_softcapping=0.5)))
