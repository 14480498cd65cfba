"""verl: exported parquet rows with per-epoch masks, and the reward hook called the way verl's reward
managers call it (verl itself needs transformers < 5.11, so its documented contract stands in for it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from personadrop.data.humanual import load_examples
from personadrop.data.world import generate_world, world_config, write_world
from personadrop.dropout import MaskKey, parse_condition
from personadrop.integrations import verl
from personadrop.prompts import target_text

from fake_llm_server import FakeLLMServer


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    world = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=9, users=30, posts=80)), world)
    out = tmp_path_factory.mktemp("verl")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "personadrop",
            "export",
            "verl",
            "--data",
            str(world),
            "--out",
            str(out),
            "--condition",
            "fields:0.6",
            "--epochs",
            "2",
            "--method",
            "humanlm",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return world, out, pq.read_table(out / "train.parquet").to_pylist()


def test_rows_hold_every_task_of_every_example_with_each_epochs_own_mask(exported):
    world, out, rows = exported
    train = load_examples(world, split="train").examples
    assert len(rows) == len(train) * 7 * 2
    policy = parse_condition("fields:0.6")
    by_id = {e.id: e for e in train}
    shown = {}
    for row in rows:
        info = row["extra_info"]
        ex = by_id[info["example_id"]]
        assert row["prompt"][0]["role"] == "system" and row["reward_model"]["ground_truth"] == ex.response
        expected = policy(ex.persona, MaskKey(0, ex.id, info["epoch"]))
        assert json.loads(info["visible"]) == expected.visibility()
        assert expected.render() in row["prompt"][0]["content"]
        shown[(ex.id, info["epoch"])] = info["visible"]
    assert any(shown[(e.id, 0)] != shown[(e.id, 1)] for e in train)  # a new epoch draws new masks
    assert pq.read_table(out / "val.parquet").num_rows > 0


def test_the_hook_scores_as_verls_reward_managers_call_it(exported):
    world, _, rows = exported
    by_id = {e.id: e for e in load_examples(world, split="train").examples}
    sample = [r for r in rows if r["extra_info"]["epoch"] == 0][:14]
    solutions = [target_text(by_id[r["extra_info"]["example_id"]], r["extra_info"]["task"]) for r in sample]
    singles = [
        verl.compute_score(
            data_source=r["data_source"],
            solution_str=s,
            ground_truth=r["reward_model"]["ground_truth"],
            extra_info=r["extra_info"],
        )
        for r, s in zip(sample, solutions, strict=True)
    ]
    assert all(result["parsed"] and result["score"] == pytest.approx(1.0) for result in singles)
    batch = verl.compute_score_batch(
        [r["data_source"] for r in sample],
        solutions,
        [r["reward_model"]["ground_truth"] for r in sample],
        [r["extra_info"] for r in sample],
    )
    assert batch == singles
    garbage = verl.compute_score(
        "personadrop", "", sample[0]["reward_model"]["ground_truth"], sample[0]["extra_info"]
    )
    assert garbage == {"score": 0.0, "parsed": False, "dimension": sample[0]["extra_info"]["dimension"]}


def test_a_judge_failure_is_never_a_reward(exported, monkeypatch):
    _, _, rows = exported
    row = next(r for r in rows if r["extra_info"]["task"] == "states+response")
    with FakeLLMServer() as server:
        server.default = "500"
        with pytest.raises(verl.JudgeUnavailable, match="no missing-reward value"):
            verl.compute_score(
                row["data_source"],
                "<response>NTA, friend.</response>",
                row["reward_model"]["ground_truth"],
                row["extra_info"],
                judge=f"openai:fake@{server.openai_url}",
            )
