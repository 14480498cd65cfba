"""`personadrop export verl`: training rows for verl, with the masks of every epoch materialized."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from personadrop.cli.app import OnBadRowOpt, app
from personadrop.cli.console import clean, say

export_app = typer.Typer(help="Export training rows for other frameworks.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("verl")
def export_verl(
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset directory, file or hub id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for train.parquet and val.parquet.")],
    condition: Annotated[
        str,
        typer.Option(
            help="What of each training persona is shown (fields:0.6 = field "
            "dropout); masks are keyed by seed, example and epoch."
        ),
    ] = "full",
    method: Annotated[
        Literal["grpo", "humanlm"],
        typer.Option(help="`grpo`: the reply task; `humanlm`: six latent-state tasks and the reply."),
    ] = "humanlm",
    epochs: Annotated[
        int,
        typer.Option(
            min=1, help="Epoch blocks to write, each with fresh masks (train verl one epoch over the file)."
        ),
    ] = 1,
    seed: Annotated[int, typer.Option(help="Mask seed.")] = 0,
    on_bad_row: OnBadRowOpt = "stop",
) -> None:
    """Write verl's parquet rows (one per task, example and epoch) and print how to train on them.

    The reward hook is `personadrop.integrations.verl.compute_score` (or `compute_score_batch`).
    """
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import parse_condition
    from personadrop.files import output_dir
    from personadrop.train.datasets import grpo_tasks
    from personadrop.train.export import verl_rows, write_parquet

    policy = parse_condition(condition)
    output_dir(out, "export")
    loaded = load_examples(data, on_bad_row=on_bad_row)
    train = loaded.split("train")
    held_out = loaded.split("val") or loaded.split("test")
    tasks = grpo_tasks(method)(train[0], 0) if train else ()
    inference = "states+response" if method == "humanlm" else "response"
    write_parquet(verl_rows(train, policy, seed=seed, epochs=epochs, tasks=tasks), out / "train.parquet")
    write_parquet(
        verl_rows(held_out, parse_condition("full"), seed=seed, tasks=(inference,)), out / "val.parquet"
    )
    import personadrop.integrations.verl as hook

    say(
        clean(
            f"{len(train) * len(tasks) * epochs:,} training rows ({len(train):,} examples x {len(tasks)} "
            f"tasks x "
            f"{epochs} epochs, condition {policy.name}) and {len(held_out):,} validation rows in {out}"
        )
    )
    say(
        clean(
            f"verl: data.train_files={out / 'train.parquet'} data.val_files={out / 'val.parquet'} "
            f"custom_reward_function.path={hook.__file__} custom_reward_function.name=compute_score"
        )
    )
