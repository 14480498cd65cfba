"""The Typer application every command module adds itself to, and options several commands share."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

app = typer.Typer(
    name="personadrop",
    help="Train and evaluate user simulators that stay faithful when persona information is missing.\n\n"
    "Start with `personadrop study` (the whole experiment on the embedded synthetic world), or "
    "`personadrop data inspect PATH` to check a HUMANUAL-style dataset.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)

OnBadRowOpt = Annotated[
    Literal["stop", "skip"],
    typer.Option(
        "--on-bad-row",
        help="`stop` at the first invalid row (default) or `skip` invalid rows and count them.",
    ),
]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Only this split: train, val or test.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")]
