"""The ``personadrop`` command line. Each command is a thin shell over the library.

Errors a user can cause end in one line on stderr and a non-zero exit, never a traceback. Nothing a user
typed or a file holds is ever read as console markup: text goes out with ``markup=False`` (see ``console``).
"""

from __future__ import annotations

import sys

from personadrop.cli.app import app
from personadrop.cli.console import print_error
from personadrop.errors import PersonadropError

# Each module adds its commands to ``app`` on import.
from personadrop.cli import data as _data  # noqa: F401  isort: skip
from personadrop.cli import train as _train  # noqa: F401  isort: skip
from personadrop.cli import study as _study  # noqa: F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit code 2.

    Typer formats usage errors (unknown option, bad value) itself in standalone mode.
    """
    try:
        app(args=argv)
    except PersonadropError as e:
        print_error(str(e))
        sys.exit(e.exit_code)


__all__ = ["app", "main"]
