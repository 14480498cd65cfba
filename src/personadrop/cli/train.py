"""`personadrop train`: one simulator, one resumable run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from personadrop.cli.app import OnBadRowOpt, ProgressOpt, app, seed_option
from personadrop.cli.console import clean, out, quiet_libraries, resumable
from personadrop.errors import PersonadropError
from personadrop.limits import MAX_EPOCHS, MAX_WORLDS
from personadrop.train.methods import METHODS

PRESET_NAMES = ("tiny", "small")


def _method(name: str) -> str:
    if name not in METHODS:
        raise typer.BadParameter(f"{name!r} is not a method; methods are {', '.join(METHODS)}")
    return name


@app.command("train")
def train_cmd(
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="The training method: " + "; ".join(f"`{m.name}`: {m.help}" for m in METHODS.values()) + ".",
            parser=_method,
            metavar="|".join(METHODS),
        ),
    ],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Dataset directory or file (its train split is used).")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory: resumed if it exists, skipped when finished.")
    ],
    train_condition: Annotated[
        str | None,
        typer.Option(
            "--train-condition",
            help="What of each training persona is shown, as a condition: `fields:0.6` (field dropout), "
            "`items:0.3`, `only:values`, ... Masks are redrawn each epoch. Default: full.",
        ),
    ] = None,
    field_dropout: Annotated[
        float | None, typer.Option("--field-dropout", help="Shorthand for `--train-condition fields:P`.")
    ] = None,
    profile: Annotated[
        Literal["quick", "default"],
        typer.Option(help="`quick`: a few steps (tests, smoke checks); `default`: what the study uses."),
    ] = "default",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML/JSON training config (a study config works too: its `training:` section and `model`).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="`tiny` or `small` (built from scratch), or a local Hugging Face checkpoint directory.",
        ),
    ] = None,
    lora: Annotated[
        bool, typer.Option("--lora", help="Train LoRA adapters on a checkpoint given with --model (peft).")
    ] = False,
    judge: Annotated[str | None, typer.Option(help="Reward judge for grpo/humanlm (default: exact).")] = None,
    warm_start: Annotated[
        Path | None,
        typer.Option(
            "--warm-start",
            help="grpo only: a finished sft run (same data, seed, train condition) to start from.",
        ),
    ] = None,
    seed: Annotated[int | None, seed_option("The one seed for masks, data order and initialization.")] = None,
    report_to: Annotated[
        list[str] | None, typer.Option("--report-to", help="Also log to tensorboard or wandb (repeatable).")
    ] = None,
    on_bad_row: OnBadRowOpt = "stop",
    progress: ProgressOpt = True,
) -> None:
    """Train one simulator and write a self-describing, resumable run directory."""
    from personadrop.train.variant import train_variant

    if field_dropout is not None and train_condition is not None:
        raise PersonadropError("give either --field-dropout or --train-condition, not both")
    quiet_libraries(progress)
    overrides: dict[str, object] = {
        "seed": seed,
        "judge": judge,
        "report_to": report_to,
        "progress": progress,
        "train_condition": train_condition,
    }
    if model is not None:
        overrides["model"] = {"preset": model} if model in PRESET_NAMES else {"path": model}
    if lora:
        if model is None or model in PRESET_NAMES:
            raise PersonadropError("--lora needs --model PATH (a local pretrained checkpoint)")
        overrides["model"] = {"path": model, "lora": {}}
    with resumable():
        run = train_variant(
            method,
            data,
            out_dir,
            field_dropout=field_dropout,
            profile=profile,
            config=config,
            warm_start=warm_start,
            on_bad_row=on_bad_row,
            **overrides,
        )
    from personadrop.distributed import is_main

    if not is_main():  # one summary for a launched (multi-process) run
        return
    record = run.record
    assert record is not None
    summary = Table(
        "stage",
        "steps",
        "seconds",
        "s/step",
        "final",
        title=clean(f"{record.variant} -> {run.path}"),
        title_justify="left",
    )
    for stage, s in record.stages.items():  # in the order they ran
        final = ", ".join(f"{k}={v:.3g}" for k, v in s.final.items() if k in ("loss", "reward"))
        summary.add_row(stage, str(s.steps), f"{s.seconds:.1f}", f"{s.step_seconds:.3f}", final)
    out.print(summary, markup=False)


@app.command("pretrain")
def pretrain_cmd(
    out_dir: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory for the base (checkpoint, tokenizer, pretrain.json)."),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Pretraining config (YAML), e.g. configs/pretrain-world.yaml (the shipped world-tiny base).",
        ),
    ] = None,
    seed: Annotated[
        int | None, seed_option("The one seed: worlds drawn, data order, initialization.")
    ] = None,
    worlds: Annotated[
        int | None, typer.Option(min=1, max=MAX_WORLDS, help="How many random worlds to pretrain on.")
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(min=0.01, max=MAX_EPOCHS, help="Epochs over their examples.")
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Pretrain a base simulator on other synthetic worlds (random seeds and signal tables, whole personas).

    The base knows what the world language's phrases mean but nothing of a study's own world; a study
    fine-tunes from it (`model: {path: DIR}`, or the shipped `world-tiny`).
    """
    from personadrop.train.pretrain import check_output, load_pretrain_config, pretrain_base

    cfg = load_pretrain_config(config, seed=seed, worlds=worlds, epochs=epochs)
    check_output(out_dir)
    quiet_libraries(progress)
    with resumable():
        manifest = pretrain_base(cfg, out_dir, progress=progress)
    out.print(
        clean(
            f"base written to {out_dir}: {manifest['examples']:,} examples from {cfg.worlds} worlds, "
            f"{manifest['steps']:,} steps in {manifest['seconds']['total']:.0f} s"
        ),
        markup=False,
    )
