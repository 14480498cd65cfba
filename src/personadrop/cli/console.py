"""Where the CLI writes, and how: results on stdout, progress and errors on stderr, never as markup.

User text (paths, ids, condition names, data) may contain ``[...]``, which rich would read as markup:
every helper here prints with ``markup=False``, and styled pieces are built as :class:`rich.text.Text`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from personadrop.workers import silence_library_bars

out = Console(markup=False)
err = Console(stderr=True, markup=False)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` without terminal control characters (escape sequences in data must not reach the terminal)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def say(text: str, *, style: str | None = None, console: Console | None = None) -> None:
    """Print plain text (never markup), optionally in one style."""
    (console or out).print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


def print_error(message: str) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True, highlight=False)


def caution(message: str) -> None:
    out.print(Text.assemble(("caution: ", "yellow"), message), highlight=False)


@contextmanager
def resumable() -> Iterator[None]:
    """Ctrl-C during long work: one line saying nothing finished is lost, and exit code 130."""
    try:
        yield
    except KeyboardInterrupt:
        say("interrupted; finished work is kept and the same command resumes from it", console=err)
        raise typer.Exit(130) from None


class _WarningsToStderr(logging.Handler):
    """Our library's warnings (skipped rows, a suspicious split) as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(
            Text.assemble(("warning: ", "yellow"), record.getMessage()), soft_wrap=True, highlight=False
        )


def show_warnings() -> None:
    """Route personadrop's log warnings to the terminal (once per process)."""
    logger = logging.getLogger("personadrop")
    if not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
        handler = _WarningsToStderr(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False


def quiet_libraries(progress: bool) -> None:
    """With --no-progress, the libraries' own bars (loading weights, writing shards, datasets) stay off
    too."""
    if not progress:
        silence_library_bars()
