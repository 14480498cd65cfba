"""SFT as a user meets it: `personadrop train`, a self-describing run directory, resume and skip."""

from __future__ import annotations

import csv
import json

import pytest

from personadrop.cli import main
from personadrop.data.humanual import write_jsonl
from personadrop.data.rows import example_to_row
from personadrop.errors import ConfigError
from personadrop.train.run import RunDir
from personadrop.train.variant import train_variant

from trainkit import SFT_SETTINGS, sft_run, small_world_dir, world


def run_main(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as exit_:
        assert exit_.code in (0, None)


def curve(run_dir, stage: str, name: str) -> list[float]:
    with (run_dir / "curves.csv").open() as fh:
        return [float(r["value"]) for r in csv.DictReader(fh) if r["stage"] == stage and r["name"] == name]


def test_train_cli_sft_learns_and_writes_a_self_describing_run_dir(tmp_path, capsys):
    train, _ = world()
    data = tmp_path / "data"
    write_jsonl([example_to_row(e) for e in train], data / "train.jsonl")
    config = tmp_path / "train.json"
    config.write_text(
        json.dumps({"sft": {"epochs": 4, "max_steps": 12}, "logging_steps": 2, "max_train_examples": None})
    )
    out = tmp_path / "run"
    run_main(
        "train",
        "--method",
        "sft",
        "--data",
        str(data),
        "--out",
        str(out),
        "--profile",
        "quick",
        "--config",
        str(config),
        "--no-progress",
        "--field-dropout",
        "0.6",
        "--seed",
        "3",
    )
    assert "sft" in capsys.readouterr().out

    loss = curve(out, "sft", "loss")
    assert len(loss) >= 4 and loss[-1] < loss[0] - 1.0, loss  # real learning, not noise
    cfg = json.loads((out / "config.json").read_text())
    assert (
        cfg["method"] == "sft"
        and cfg["train_condition"] == "fields:0.6"
        and cfg["seed"] == 3
        and cfg["sft"]["max_steps"] == 12
    )
    assert json.loads((out / "data.json").read_text())["examples"] == len(train)
    versions = json.loads((out / "versions.json").read_text())
    assert {"torch", "transformers", "trl", "peft"} <= set(versions)
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "done" and meta["name"] == "sft+fd" and meta["inference_task"] == "response"
    assert (out / "tokenizer" / "tokenizer.json").exists() and (out / "model" / "config.json").exists()
    assert not list((out / "sft").glob("checkpoint-*"))  # resume state is dropped once a stage is done

    # Which fields each training prompt showed, per (example, epoch): fresh masks every epoch.
    shown = [json.loads(line) for line in (out / "shown-sft.jsonl").read_text().splitlines()]
    epochs = {r["epoch"] for r in shown}
    assert epochs == {0, 1, 2, 3} and len(shown) == 4 * len(train)
    by_epoch = {e: {r["example_id"]: tuple(r["fields"]) for r in shown if r["epoch"] == e} for e in epochs}
    assert by_epoch[0] != by_epoch[1]
    hidden = sum(5 - len(r["fields"]) for r in shown) / (5 * len(shown))
    assert 0.45 < hidden < 0.7  # FieldDropout(0.6) with min_keep=1 hides ~58%


def test_a_finished_run_is_skipped_and_a_changed_config_is_refused(tmp_path):
    run = sft_run(tmp_path.parent)
    mtime = (run.model_dir / "model.safetensors").stat().st_mtime
    train, _ = world()
    again = train_variant("sft", train, run.path, profile="quick", config=SFT_SETTINGS)
    assert again.done and (again.model_dir / "model.safetensors").stat().st_mtime == mtime
    with pytest.raises(ConfigError, match="different config"):
        train_variant("sft", train, run.path, profile="quick", config=SFT_SETTINGS, seed=7)


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    import personadrop.train.stages as variant_mod
    from personadrop.train import run as run_mod

    train, _ = world()
    settings = {
        "sft": {"epochs": 4, "max_steps": 8},
        "save_steps": 3,
        "logging_steps": 1,
        "progress": False,
        "max_train_examples": None,
    }
    real_callback = run_mod.curves_callback

    class Killed(Exception):
        pass

    def dying_callback(run, stage):
        cb = real_callback(run, stage)
        original = cb.on_step_end

        def on_step_end(args, state, control, **kw):
            original(args, state, control, **kw)
            if state.global_step == 4:
                raise Killed  # after checkpoint-3 was written

        cb.on_step_end = on_step_end
        return cb

    monkeypatch.setattr(variant_mod, "curves_callback", dying_callback)
    with pytest.raises(Killed):
        train_variant("sft", train, tmp_path / "run", profile="quick", config=settings)
    run = RunDir(tmp_path / "run")
    assert not run.done and run.last_checkpoint("sft").endswith("checkpoint-3")
    # A checkpoint cut off mid-save (the state file is written last) is passed over, and rewritten.
    partial = run.stage_dir("sft") / "checkpoint-6"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\0" * 64)
    assert run.last_checkpoint("sft").endswith("checkpoint-3") and not partial.exists()

    monkeypatch.setattr(variant_mod, "curves_callback", real_callback)
    run = train_variant("sft", train, tmp_path / "run", profile="quick", config=settings)
    assert run.done
    steps = [r["step"] for r in run.read_curves() if r["name"] == "loss"]
    # Steps 1-3 logged before the kill, 4-8 after the resume; the killed step 4 is logged once.
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == 8
    state = json.loads((run.path / "sft" / "final" / "config.json").read_text())
    assert state["model_type"] == "llama"


def test_a_local_checkpoint_trains_with_lora_and_reloads_merged(tmp_path):
    """`--model PATH --lora`: any local HF causal LM works in place of the embedded one (here a tiny one)."""
    from personadrop.data.humanual import load_examples
    from personadrop.models.tiny import PRESETS, build_model
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts
    from personadrop.simulators import load_simulator

    data = small_world_dir(tmp_path)
    train = load_examples(data, split="train").examples
    base = tmp_path / "base"
    tokenizer = build_tokenizer(corpus_texts(train), vocab_size=600)
    build_model(PRESETS["tiny"], tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    out = tmp_path / "run"
    run_main(
        "train",
        "--method",
        "grpo",
        "--data",
        str(data),
        "--out",
        str(out),
        "--profile",
        "quick",
        "--model",
        str(base),
        "--lora",
        "--no-progress",
        "--judge",
        "exact",
    )
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "done" and set(meta["stages"]) == {"sft", "grpo"}
    assert meta["stages"]["grpo"]["judge"] == "exact"  # the world's exact judge rewarded it
    assert json.loads((out / "config.json").read_text())["model"]["lora"]["r"] == 16
    assert not (out / "tokenizer").exists()  # the checkpoint's own tokenizer is used
    assert not list((out / "model").glob("adapter_*"))  # adapters are merged into plain weights
    assert len(load_simulator(out).generate([])) == 0


def test_train_cli_user_errors_are_one_line_before_any_training(tmp_path, capsys):
    data = tmp_path / "data"
    train, _ = world()
    write_jsonl([example_to_row(e) for e in train], data / "train.jsonl")
    cases = [
        (["--method", "sft", "--report-to", "tensorboard"], "tensorboard package"),
        (["--method", "humanlm", "--lora"], "--lora needs --model PATH"),
        (["--method", "sft", "--warm-start", str(tmp_path)], "cannot start from"),
        (["--method", "grpo", "--model", str(tmp_path / "nowhere")], "neither a local model directory"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--profile", "quick", *args])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "model").exists()


def test_sft_rows_hold_exactly_what_inference_sees_and_writes():
    """Prompt + answer prefix, then the reply's rest and the turn's end; also with a Qwen3-style think
    block."""
    from personadrop.dropout import Full
    from personadrop.models.tokenizer import CHAT_TEMPLATE, build_tokenizer, corpus_texts
    from personadrop.prompts import PromptBuilder
    from personadrop.train.datasets import build_rows, states_then_reply
    from personadrop.train.sft import tokenized_dataset

    train, _ = world()
    tokenizer = build_tokenizer(corpus_texts(train), vocab_size=600)
    for template in (
        CHAT_TEMPLATE,
        CHAT_TEMPLATE.replace("<|assistant|>{%- else -%}", "<|assistant|>[think][/think]{%- else -%}"),
    ):
        tokenizer.chat_template = template
        rows = build_rows(
            train[:6],
            Full(),
            PromptBuilder(tokenizer, 352),
            seed=0,
            epochs=1,
            with_targets=True,
            tasks=states_then_reply(0, 1.0),
            stage="sft",
        ).rows
        for row, tokens in zip(rows, tokenized_dataset(rows, tokenizer, 1000), strict=True):
            trained = tokenizer.decode(
                [t for t, label in zip(tokens["input_ids"], tokens["labels"], strict=True) if label != -100]
            )
            assert tokenizer.decode(tokens["input_ids"]) == row["prompt"] + trained
            assert row["prompt"].endswith(("<|assistant|><stance>", "<|assistant|>\n<" + row["task"] + ">"))
            assert (
                trained.endswith("<|end|>")
                and (row["prompt"][-12:] + trained).count(row["completion"][-20:]) == 1
            )
