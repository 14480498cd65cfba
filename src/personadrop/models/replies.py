"""Replies made elsewhere: ``replies:<file>``, and the prompts file that asks for them.

``personadrop evaluate --export-prompts FILE`` writes, for every example under every condition, exactly
what a simulator is asked (the chat messages of :func:`personadrop.prompts.simulator_messages`, the persona
already masked), one JSON line each::

    {"id": "...", "condition": "only:values", "messages": [{"role": "system", "content": "..."}, ...]}

A job elsewhere (a cluster, a notebook) answers each line and writes, one JSON line each::

    {"id": "...", "condition": "only:values", "reply": "..."}

and ``--model replies:FILE`` evaluates those replies like any simulator's. The file is held to the same
standard as data: a line that is not such an object is an error naming the line; the same key twice with
different replies is an error; replies the evaluation does not ask for are counted and ignored; and keys the
evaluation asks for but the file lacks stop it before any work, naming how many and the first few.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from personadrop.dropout import parse_condition
from personadrop.errors import ConditionError, DataError
from personadrop.files import read_lines
from personadrop.models.base import SimulationItem, Simulator
from personadrop.settings import first_error

PREFIX = "replies:"
SHOWN = 3  # missing keys named in the error


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    condition: str = Field(min_length=1)
    reply: str


class RepliesSimulator(Simulator):
    """Answers each (example id, condition) with the reply a file holds for it."""

    external = True

    def __init__(self, path: str | Path, *, name: str | None = None):
        self.path = Path(path)
        self.name = name or f"{PREFIX}{self.path.stem}"
        self.replies = read_replies(self.path)
        self.identity = {"replies": self.path.name, "sha256": _sha256(self.path)}

    def expect(self, cells: Sequence[tuple[str, str]]) -> str | None:
        missing = [(c, e) for c, e in cells if (e, c) not in self.replies]
        if missing:
            first = ", ".join(f"{e} under {c}" for c, e in missing[:SHOWN])
            raise DataError(
                f"{self.path}: {len(missing):,} of {len(cells):,} replies the evaluation needs are missing "
                f"(first: {first}); answer every line of `evaluate --export-prompts`"
            )
        extra = len(self.replies) - len(set(cells))
        return f"{self.path}: replies the evaluation does not ask for, ignored: {extra:,}" if extra else None

    def generate(self, items: Sequence[SimulationItem]) -> list[str | None]:
        out = []
        for item in items:
            key = (item.example.id, item.condition or "")
            if key not in self.replies:
                raise DataError(f"{self.path}: no reply for {key[0]} under {key[1]}")
            out.append(self.replies[key])
        return out


def read_replies(path: Path) -> dict[tuple[str, str], str]:
    """{(example id, condition name): reply} from a replies file; :class:`DataError` naming the line for
    anything else."""
    if not path.is_file():
        raise DataError(f"{path}: no such replies file")
    replies: dict[tuple[str, str], str] = {}
    first_line: dict[tuple[str, str], int] = {}
    with path.open("rb") as fh:
        for lineno, raw in read_lines(fh):
            where = f"{path}:{lineno}"
            if raw is None:
                raise DataError(f"{where}: the line is too long to be a reply")
            if not raw.strip():
                continue
            try:
                row = _Row.model_validate(json.loads(raw))
            except json.JSONDecodeError:
                raise DataError(f"{where}: not a JSON object") from None
            except ValidationError as err:
                raise DataError(f"{where}: {first_error(err)}") from None
            except UnicodeDecodeError:
                raise DataError(f"{where}: not UTF-8 text") from None
            try:
                condition = parse_condition(row.condition).name  # only:values and only: values are one
            except ConditionError as err:
                raise DataError(f"{where}: {err}") from None
            key = (row.id, condition)
            if key in replies and replies[key] != row.reply:
                raise DataError(
                    f"{where}: {row.id} under {condition} has a different reply on line {first_line[key]}"
                )
            replies[key] = row.reply
            first_line.setdefault(key, lineno)
    if not replies:
        raise DataError(f"{path}: holds no reply")
    return replies


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
