"""HumanLM: a states-then-reply warm start, then GRPO over seven tasks through the same reward path."""

from __future__ import annotations

import json

import pytest

from personadrop.data.example import STATE_DIMENSIONS
from personadrop.dropout import Full, MaskKey
from personadrop.evaluate.checks import heldout_alignment
from personadrop.judges.base import DIMENSIONS
from personadrop.models.base import SimulationItem
from personadrop.prompts import parse_output
from personadrop.simulators import load_simulator
from personadrop.train.config import resolve_config
from personadrop.train.methods import get_method
from personadrop.train.variant import train_variant

from trainkit import OverlapJudge, world

SETTINGS = {
    "sft": {"epochs": 12, "max_steps": 160, "lr": 5e-3, "batch_size": 8, "state_task_share": 1.0},
    "grpo": {
        "max_steps": 4,
        "prompts_per_step": 4,
        "num_generations": 4,
        "max_completion_tokens_states": None,
        "lr": 1e-4,
        "temperature": 0.8,
    },
    "decoding": {"max_new_tokens_states": 120},
    "logging_steps": 1,
    "progress": False,
    "max_train_examples": None,
}


@pytest.fixture(scope="module")
def humanlm_run(tmp_path_factory):
    train, _ = world()
    judge = OverlapJudge()
    run = train_variant(
        "humanlm",
        train,
        tmp_path_factory.mktemp("humanlm") / "run",
        profile="quick",
        field_dropout=0.6,
        judge=judge,
        config=SETTINGS,
    )
    return run, judge


def test_every_humanlm_task_output_parses_on_held_out_prompts(humanlm_run):
    run, _ = humanlm_run
    assert run.record.inference_task == "states+response" and run.record.variant == "humanlm+fd"
    sim = load_simulator(run.path)
    _, test = world()
    for task in (*STATE_DIMENSIONS, "states+response"):
        items = [SimulationItem(ex, Full()(ex.persona, MaskKey(0, ex.id)), task) for ex in test]
        outputs = sim.generate(items)
        parsed = [parse_output(o, task) for o in outputs]
        rate = sum(p is not None for p in parsed) / len(parsed)
        assert rate >= 0.8, (task, outputs[:2])
    score = heldout_alignment(sim, test, OverlapJudge())
    assert score.parsed_share == 1.0 and score.mean > 0.3


def test_humanlm_grpo_rewards_each_task_on_its_own_dimension(humanlm_run):
    run, judge = humanlm_run
    train, _ = world()
    grpo_requests = judge.requests
    assert {r.dimension for r in grpo_requests} == set(DIMENSIONS)
    names = {r["name"] for r in run.read_curves() if r["stage"] == "grpo"}
    assert {f"reward/{d}" for d in DIMENSIONS} <= names
    stages = run.record.model_dump()["stages"]
    assert stages["grpo"]["rows"] == 7 * len(train)  # the task expansion is data: one row per (example, task)
    # The seven tasks of one example in one epoch share its mask; only the rows the 4 steps read were
    # rendered, and the record lists the examples they show, once each.
    shown = [json.loads(line) for line in (run.path / "shown-grpo.jsonl").read_text().splitlines()]
    assert 1 <= len(shown) == len({r["example_id"] for r in shown}) <= 4 * 4 < len(train)


def test_humanlm_examples_without_true_states_warm_start_on_their_reply():
    train, _ = world()
    known, bare = train[0], train[1].model_copy(update={"states": None})
    humanlm, grpo = get_method("humanlm"), get_method("grpo")
    choose = humanlm.sft_tasks(resolve_config("humanlm", config={"sft": {"state_task_share": 1.0}}))
    assert choose(bare, 0) == ("response",)  # HUMANUAL: no states to imitate, the judge teaches them in GRPO
    assert choose(known, 0)[0] == "states+response" and choose(known, 0)[1] in STATE_DIMENSIONS
    assert humanlm.grpo_tasks(resolve_config("humanlm"))(bare, 0) == (*STATE_DIMENSIONS, "states+response")
    assert grpo.grpo_tasks(resolve_config("grpo"))(known, 0) == ("response",)
