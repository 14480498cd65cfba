"""`personadrop export verl`: training rows for verl, with the masks of every epoch materialized."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personadrop.cli.app import OnBadRowOpt, app, condition_option, seed_option
from personadrop.cli.console import clean, say
from personadrop.dropout import Policy
from personadrop.errors import PersonadropError
from personadrop.limits import MAX_EPOCHS, MAX_EXPORT_ROWS
from personadrop.train.methods import MAIN_METHOD, METHODS

export_app = typer.Typer(help="Export training rows for other frameworks.", no_args_is_help=True)
app.add_typer(export_app, name="export")


def _rewarded_method(name: str) -> str:
    if name not in METHODS or not METHODS[name].uses_reward:
        rewarded = ", ".join(m.name for m in METHODS.values() if m.uses_reward)
        raise typer.BadParameter(f"{name!r} is not a method with a reward stage ({rewarded})")
    return name


@export_app.command("verl")
def export_verl(
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset directory, file or hub id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for train.parquet and val.parquet.")],
    condition: Annotated[
        Policy,
        condition_option(
            "What of each training persona is shown (fields:0.6 = field dropout); masks are keyed by seed, "
            "example and epoch.",
            "--condition",
        ),
    ] = "full",
    method: Annotated[
        str,
        typer.Option(
            help="A method with a reward stage; its GRPO tasks are written ("
            + ", ".join(m.name for m in METHODS.values() if m.uses_reward)
            + ").",
            parser=_rewarded_method,
            metavar="|".join(m.name for m in METHODS.values() if m.uses_reward),
        ),
    ] = MAIN_METHOD,
    epochs: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_EPOCHS,
            help="Epoch blocks to write, each with fresh masks (train verl one epoch over the file).",
        ),
    ] = 1,
    seed: Annotated[int, seed_option("Mask seed.")] = 0,
    on_bad_row: OnBadRowOpt = "stop",
) -> None:
    """Write verl's parquet rows (one per task, example and epoch) and print how to train on them.

    The reward hook is `personadrop.integrations.verl.compute_score` (or `compute_score_batch`).
    """
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import Full
    from personadrop.files import output_dir
    from personadrop.train.config import resolve_config
    from personadrop.train.export import verl_rows, write_parquet

    spec = METHODS[method]
    output_dir(out, "export")
    loaded = load_examples(data, on_bad_row=on_bad_row)
    train = loaded.split("train")
    held_out = loaded.split("val") or loaded.split("test")
    choose = spec.grpo_tasks(resolve_config(method, seed=seed)) if spec.grpo_tasks else None
    tasks = choose(train[0], 0) if train and choose else ()
    rows = len(train) * len(tasks) * epochs
    if rows > MAX_EXPORT_ROWS:  # the rows are built in memory before the file is written
        raise PersonadropError(
            f"--epochs {epochs}: {rows:,} training rows ({len(train):,} examples x {len(tasks)} tasks x "
            f"{epochs} epochs) is more than the {MAX_EXPORT_ROWS:,} one export writes; export fewer epochs"
        )
    write_parquet(verl_rows(train, condition, seed=seed, epochs=epochs, tasks=tasks), out / "train.parquet")
    write_parquet(verl_rows(held_out, Full(), seed=seed, tasks=(spec.inference_task,)), out / "val.parquet")
    import personadrop.integrations.verl as hook

    say(
        clean(
            f"{len(train) * len(tasks) * epochs:,} training rows ({len(train):,} examples x {len(tasks)} "
            f"tasks x "
            f"{epochs} epochs, condition {condition.name}) and {len(held_out):,} validation rows in {out}"
        )
    )
    say(
        clean(
            f"verl: data.train_files={out / 'train.parquet'} data.val_files={out / 'val.parquet'} "
            f"custom_reward_function.path={hook.__file__} custom_reward_function.name=compute_score"
        )
    )
