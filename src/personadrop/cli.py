"""The ``personadrop`` command line. Each command is a thin shell over the library.

Errors a user can cause end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from personadrop.errors import PersonadropError

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
data_app = typer.Typer(help="Validate, summarize and render HUMANUAL-style datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)

OnBadRowOpt = Annotated[
    Literal["stop", "skip"],
    typer.Option("--on-bad-row", help="`stop` at the first invalid row (default) or `skip` invalid rows and count them."),
]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Only this split: train, val or test.")]


# --------------------------------------------------------------------------- data
@data_app.command("inspect")
def data_inspect(
    path: Annotated[str, typer.Argument(help="A .jsonl/.json/.parquet file, a directory of split files, or a hub id.")],
    split: SplitOpt = None,
    on_bad_row: OnBadRowOpt = "stop",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate every row and summarize: rows, users, posts, persona fields present, items per field."""
    from personadrop.data.humanual import load_examples
    from personadrop.data.summary import describe

    summary = describe(load_examples(path, split=split, on_bad_row=on_bad_row))
    if as_json:
        out.print_json(json.dumps(summary))
        return
    head = Table(title=f"{summary['source']}", show_header=False, title_justify="left")
    for key in ("rows", "users", "posts", "splits", "unseen_user_rows", "with_true_states", "text_personas",
                "context_turns_mean", "response_words_mean", "bad_rows"):
        value = summary[key]
        head.add_row(key.replace("_", " "), f"{value:.1f}" if isinstance(value, float) else str(value))
    out.print(head)
    fields = Table("field", "present", "items (mean)", "min", "max", title="persona fields", title_justify="left")
    for name, f in summary["fields"].items():
        fields.add_row(name, f"{f['present_share']:.0%}", f"{f['items_mean']:.1f}", str(f["items_min"]), str(f["items_max"]))
    out.print(fields)
    for line in summary["bad_row_examples"]:
        out.print(f"[yellow]skipped[/] {line}", markup=True, highlight=False)


@data_app.command("render")
def data_render(
    path: Annotated[str, typer.Argument(help="Dataset file, directory or hub id.")],
    condition: Annotated[str, typer.Option("--condition", "-c", help="What is visible: full, none, only:values, items:0.9, ...")] = "full",
    index: Annotated[int, typer.Option("--index", "-i", help="Which example (0-based, in file order).")] = 0,
    split: SplitOpt = None,
    task: Annotated[str, typer.Option(help="Prompt task: response, states+response, or a state dimension.")] = "response",
    seed: Annotated[int, typer.Option(help="Mask seed.")] = 0,
    epoch: Annotated[int, typer.Option(help="Mask epoch (training epochs draw fresh masks).")] = 0,
    omit_missing: Annotated[bool, typer.Option("--omit-missing", help="Leave hidden fields out instead of `Field: Missing`.")] = False,
) -> None:
    """Show one prompt exactly as the simulator sees it under a condition."""
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import MaskKey, parse_condition
    from personadrop.prompts import TASKS, simulator_messages

    policy = parse_condition(condition)
    if task not in TASKS:
        raise PersonadropError(f"unknown task {task!r}; tasks are: {', '.join(TASKS)}")
    if index < 0:
        raise PersonadropError("--index must be >= 0")
    examples = load_examples(path, split=split, limit=index + 1).examples
    if index >= len(examples):
        raise PersonadropError(f"--index {index} is out of range: {path} has {len(examples)} examples")
    ex = examples[index]
    visible = policy(ex.persona, MaskKey(seed, ex.id, epoch))
    messages = simulator_messages(ex, visible, task, "omit" if omit_missing else "marker")
    out.rule(f"example {ex.id} · user {ex.user_id} · condition {policy.name}")
    for m in messages:
        out.print(f"[bold]<{m['role']}>[/]", markup=True)
        out.print(m["content"], markup=False, highlight=False)
    out.rule("visible")
    out.print(json.dumps(visible.visibility()), markup=False, highlight=False)


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit code 2.

    Typer formats usage errors (unknown option, bad value) itself in standalone mode.
    """
    try:
        app(args=argv)
    except PersonadropError as e:
        err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; finished stages are kept and a re-run resumes from them")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])


__all__ = ["app", "main"]
