"""The ``personadrop`` command line. Each command is a thin shell over the library.

Errors a user can cause end in one line on stderr and a non-zero exit, never a traceback. Nothing a user
typed or a file holds is ever read as console markup: text goes out with ``markup=False`` (see ``console``).
"""

from __future__ import annotations

import sys

import typer

from personadrop.cli.app import app
from personadrop.cli.console import print_error, show_warnings
from personadrop.errors import PersonadropError

# Each module adds its commands to ``app`` on import.
from personadrop.cli import data as _data  # noqa: F401  isort: skip
from personadrop.cli import models as _models  # noqa: F401  isort: skip
from personadrop.cli import train as _train  # noqa: F401  isort: skip
from personadrop.cli import study as _study  # noqa: F401  isort: skip
from personadrop.cli import serve as _serve  # noqa: F401  isort: skip
from personadrop.cli import export as _export  # noqa: F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors (a bad option or value too) become one line on stderr and exit code 2."""
    show_warnings()
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except typer.TyperException as e:  # an unknown option, a bad value: one line, and where to look
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # the help text, as for --help
            sys.exit(0)
        ctx = getattr(e, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print_error(e.format_message().replace("Value error, ", "") + where)
        sys.exit(e.exit_code)
    except PersonadropError as e:
        print_error(str(e))
        sys.exit(e.exit_code)
    except (
        OSError
    ) as e:  # a path a user gave: unreadable, read-only, full disk, a file where a directory goes
        where = f"{e.filename}: " if e.filename else ""
        print_error(f"{where}{e.strerror or e}")
        sys.exit(2)
    except RecursionError:
        print_error("input nested too deeply to read")
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


__all__ = ["app", "main"]
