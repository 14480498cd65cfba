"""Directories a run writes (training runs, evaluations, studies): checked before use, held by one process.

- :func:`output_dir` makes sure a directory can be written before any work starts, with one clear error
  (a regular file in the way, no permission) instead of a traceback an hour later.
- :func:`exclusive` holds a lock file inside the directory (``filelock``; the OS releases it when the
  process dies, even on ``kill -9``), so a second process on the same directory is refused instead of
  interleaving rows or paying a judge twice.
- :func:`write_json` and :func:`read_json` write atomically and read with one-line errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock, Timeout

from personadrop.errors import ConfigError, DataError
from personadrop.limits import MAX_LINE_BYTES

LOCK_FILE = ".personadrop.lock"


def default_cache_dir() -> Path:
    """The per-user cache (judgements, prepared models): ``$PERSONADROP_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/personadrop``, else ``~/.cache/personadrop``."""
    if env := os.environ.get("PERSONADROP_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "personadrop"


def output_dir(path: str | Path, what: str = "output") -> Path:
    """``path`` created (with parents) and writable; a :class:`ConfigError` naming it otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} directory {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create {what} directory {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} directory {path} is not writable")
    return path


@contextmanager
def exclusive(path: str | Path, what: str = "output") -> Iterator[Path]:
    """Hold ``path`` (created if needed) for this process; refuse if another process holds it."""
    path = output_dir(path, what)
    lock = FileLock(path / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"{path} is in use by another personadrop process; wait for it to finish, or use another --out"
        ) from None
    try:
        yield path
    finally:
        lock.release()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically (a kill leaves the old file or the new one)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path, what: str) -> Any:
    """The JSON in ``path``; a :class:`DataError` naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing ({what})") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(
            f"{path}: corrupt or unreadable {what} ({type(err).__name__}); "
            "remove the directory to redo this work"
        ) from None


def drop_torn_tail(path: Path) -> None:
    """Cut a last line left unfinished by a kill, so the next append starts on a fresh line (JSON-lines
    files that are appended to: the evaluation store, a simulated conversation)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("r+b") as fh:
        # Only the tail is read: the files can be large, and the last newline is usually near the end.
        end = fh.seek(0, os.SEEK_END)
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            return
        cut, block = end, 1 << 16
        while cut > 0:
            start = max(0, cut - block)
            fh.seek(start)
            at = fh.read(cut - start).rfind(b"\n")
            if at >= 0:
                fh.truncate(start + at + 1)
                return
            cut = start
        fh.truncate(0)


def read_lines(fh: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` for each line of a file opened in binary mode; the line is None where it is
    longer than ``limit`` bytes, and is then skipped without ever being held in memory whole."""
    lineno = 0
    while line := fh.readline(limit + 1):
        lineno += 1
        if len(line) <= limit:
            yield lineno, line
            continue
        while line and not line.endswith(b"\n"):
            line = fh.readline(1 << 20)
        yield lineno, None
