"""`personadrop models list | prepare NAME`: real checkpoints by name, prepared once into the user's cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from personadrop.cli.app import app
from personadrop.cli.console import clean, err, out, say

models_app = typer.Typer(
    help="Named real checkpoints: list them, prepare one into the cache.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """The models personadrop knows by name, and whether each is prepared (and where)."""
    from personadrop.models.registry import BASES, MODELS, is_prepared, model_dir

    table = Table("name", "model", "license", "prepared", title="named models", title_justify="left")
    for name, base in BASES.items():
        table.add_row(name, base.description, base.license, "shipped with personadrop")
    for name, m in MODELS.items():
        table.add_row(
            name, m.description, m.license, clean(str(model_dir(name))) if is_prepared(name) else "no"
        )
    out.print(table)


@models_app.command("prepare")
def models_prepare(
    name: Annotated[
        str, typer.Argument(help="A model name from `personadrop models list`, e.g. smollm2-135m.")
    ],
) -> None:
    """Convert a named model once into a plain Hugging Face checkpoint in the cache (idempotent).

    Everywhere a model path is accepted (`--model`, `model.path`), the name works too and is prepared on
    first use; this command just does it ahead of time.
    """
    from personadrop.models.registry import is_prepared, prepare

    if is_prepared(name):
        path = prepare(name)
        say(clean(f"{name} is prepared: {path}"))
        return
    with err.status(f"preparing {name}") as status:
        path = prepare(name, step=lambda what: status.update(f"preparing {name}: {what}"))
    say(clean(f"{name} prepared: {path}"))
