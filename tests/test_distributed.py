"""Past one process: training and evaluation launched with torchrun (two CPU ranks on gloo), the same code an
`accelerate launch` on GPUs runs, and the shipped launch configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from personadrop.data.world import generate_world, world_config, write_world

pytestmark = pytest.mark.slow
LAUNCH = Path(__file__).resolve().parents[1] / "configs" / "launch"


def torchrun(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "personadrop", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def single(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "personadrop", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=12, users=40, posts=120)), out)
    return out


def test_two_processes_train_sft_as_one_run_with_the_masks_of_one_process(world, tmp_path):
    args = (
        "train",
        "--method",
        "sft",
        "--profile",
        "quick",
        "--data",
        str(world),
        "--train-condition",
        "fields:0.6",
        "--no-progress",
    )
    launched = torchrun(*args, "--out", str(tmp_path / "two"))
    assert launched.returncode == 0, launched.stderr[-3000:]
    alone = single(*args, "--out", str(tmp_path / "one"))
    assert alone.returncode == 0, alone.stderr[-3000:]
    meta = json.loads((tmp_path / "two" / "run.json").read_text())
    assert meta["status"] == "done" and meta["world_size"] == 2
    assert launched.stdout.count("sft+fd ->") == 1  # one run directory, reported once
    shown = [
        (tmp_path / d / f).read_text()
        for d, f in (
            ("two", "shown-sft.jsonl"),
            ("two", "shown-sft.rank-1.jsonl"),
            ("one", "shown-sft.jsonl"),
        )
    ]
    assert shown[0] == shown[1] == shown[2]
    # Each step takes a batch on both processes, so the same epochs take half the steps.
    steps = json.loads((tmp_path / "one" / "run.json").read_text())["stages"]["sft"]["steps"]
    assert meta["stages"]["sft"]["steps"] == max(1, -(-steps // 2)) or meta["stages"]["sft"]["steps"] < steps


def test_two_processes_train_grpo(world, tmp_path):
    launched = torchrun(
        "train",
        "--method",
        "grpo",
        "--profile",
        "quick",
        "--data",
        str(world),
        "--out",
        str(tmp_path / "grpo"),
        "--no-progress",
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    meta = json.loads((tmp_path / "grpo" / "run.json").read_text())
    assert meta["status"] == "done" and meta["world_size"] == 2 and meta["stages"]["grpo"]["steps"] == 2


def test_an_interrupted_two_process_run_resumes(world, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"sft": {"max_steps": 8, "epochs": 4}, "save_steps": 2, "logging_steps": 1}))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "personadrop",
        "train",
        "--method",
        "sft",
        "--profile",
        "quick",
        "--data",
        str(world),
        "--out",
        str(out),
        "--config",
        str(config),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "sft").glob("checkpoint-*")):
        time.sleep(0.2)
    os.killpg(proc.pid, 9)  # the launcher and both ranks
    proc.wait()
    assert (
        list((out / "sft").glob("checkpoint-*"))
        and json.loads((out / "run.json").read_text())["status"] == "running"
    )
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "done" and meta["world_size"] == 2
    logged = sorted({int(r["step"]) for r in _curves(out) if r["name"] == "loss"})
    assert logged[-1] == meta["stages"]["sft"]["steps"]


def _curves(run: Path) -> list[dict]:
    import csv

    with (run / "curves.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_launched_evaluation_writes_the_rows_and_scores_of_one_process(world, tmp_path):
    trained = single(
        "train",
        "--method",
        "sft",
        "--profile",
        "quick",
        "--data",
        str(world),
        "--out",
        str(tmp_path / "sft"),
        "--no-progress",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    args = (
        "evaluate",
        "--model",
        str(tmp_path / "sft"),
        "--model",
        "bayes",
        "--data",
        str(world),
        "--conditions",
        "full none only:values",
        "--max-examples",
        "30",
        "--no-progress",
    )
    assert single(*args, "--out", str(tmp_path / "one")).returncode == 0
    launched = torchrun(*args, "--out", str(tmp_path / "two"))
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").glob("generations*.jsonl")) == [
        "generations.rank-0.jsonl",
        "generations.rank-1.jsonl",
    ]

    def rows(directory: Path, pattern: str) -> set[str]:
        return {
            json.dumps(json.loads(line), sort_keys=True)
            for p in directory.glob(pattern)
            for line in p.read_text().splitlines()
        }

    assert rows(tmp_path / "one", "generations*.jsonl") == rows(tmp_path / "two", "generations*.jsonl")
    assert rows(tmp_path / "one", "scores.jsonl") == rows(tmp_path / "two", "scores.jsonl")


@pytest.mark.parametrize("name", sorted(p.name for p in LAUNCH.glob("*.yaml")))
def test_the_shipped_launch_configs_are_read_by_accelerate(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(LAUNCH / name))
    assert config.num_processes >= 2 and not config.use_cpu and config.mixed_precision == "bf16"
    if "zero3" in name:
        assert (
            config.deepspeed_config["zero_stage"] == 3
            and config.deepspeed_config["offload_param_device"] == "cpu"
        )
    if "fsdp" in name:
        assert config.distributed_type.value == "FSDP"
