"""The Typer application every command module adds itself to, and options several commands share."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from personadrop.dropout import CONDITION_FORMS, Policy, parse_condition, parse_conditions
from personadrop.limits import SEED_LIMIT

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


# Conditions are read here, once, as the command line passes them: commands receive policies.
CONDITION_HELP = "Forms: " + ", ".join(CONDITION_FORMS) + " (e.g. only:values, items:0.9, fields:0.6)."


def read_condition(name: str) -> Policy:
    """The policy a condition name on the command line names (ConditionError, one line, when none)."""
    return parse_condition(name)


def read_conditions(names: str) -> list[Policy]:
    """The policies of a space-separated list of condition names."""
    return parse_conditions(names)


def condition_option(help: str, *names: str) -> typer.models.OptionInfo:
    """A ``--condition``-style option that hands the command a policy."""
    return typer.Option(*names, help=f"{help} {CONDITION_HELP}", parser=read_condition, metavar="CONDITION")


def seed_option(help: str) -> typer.models.OptionInfo:
    """A ``--seed`` option: seeds are checked here, where they are typed (``personadrop.limits.Seed``)."""
    return typer.Option(min=0, max=SEED_LIMIT - 1, help=help)


def within(low: float, high: float):
    """An option callback that keeps a float in [low, high]: click's ranges let NaN through."""

    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"{value} is not between {low:g} and {high:g}")
        return value

    return check
