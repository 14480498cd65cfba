"""A results store that survives a kill: append-only JSON lines, read back with the last write winning.

Two files in the evaluation directory:

- ``generations.jsonl``: one row per (variant, condition, example): the raw output, the reply read from it
  (None when it did not parse) and what of the persona was visible;
- ``scores.jsonl``: one row per (variant, condition, example, judge): a score per dimension (None = the
  judgement failed, NaN in memory).

Rows are appended in batches and flushed to disk, so a killed run loses at most the batch in flight; a torn
last line (a kill in mid-write) is ignored on reading. A re-run skips every key already present, which is
what makes "no row lost, none judged twice" hold. A failed judgement (stored as null) is not held: a re-run
judges it again, and its new row replaces the old one (the last row of a key wins on reading). A store
without a directory lives in memory only (quick checks, the ceiling table).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from personadrop.errors import DataError
from personadrop.files import drop_torn_tail, read_lines
from personadrop.limits import MAX_LINE_BYTES
from personadrop.settings import first_error

Key = tuple[str, str, str]  # (variant, condition, example_id)


@dataclass(frozen=True)
class Generation:
    variant: str
    condition: str
    example_id: str
    output: str
    reply: str | None  # the reply read from the output; None: it did not parse
    visible: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.variant, self.condition, self.example_id)


@dataclass(frozen=True)
class ScoreRow:
    variant: str
    condition: str
    example_id: str
    judge: str
    scores: dict[str, float]  # NaN where the judgement failed

    @property
    def key(self) -> Key:
        return (self.variant, self.condition, self.example_id)


T = TypeVar("T")
_GENERATION = TypeAdapter(Generation)
_SCORE_ROW = TypeAdapter(ScoreRow)


class ResultsStore:
    """Generations and scores of one evaluation directory (or, with ``directory`` None, in memory)."""

    def __init__(self, directory: str | Path | None, *, shard: str | None = None):
        self.directory = Path(directory) if directory is not None else None
        self.shard = shard  # one process of a launched evaluation writes its generations apart
        self.generations: dict[Key, Generation] = {}
        self.scores: dict[tuple[str, str, str, str], ScoreRow] = {}
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # Generations: the main file and every shard's; a row stored twice is the same row.
        files = [self.directory / "generations.jsonl", *sorted(self.directory.glob("generations.*.jsonl"))]
        for path in (*files, self.scores_path):
            drop_torn_tail(path)
        for path in files:
            self.generations.update((g.key, g) for g in _read(path, _GENERATION))
        for s in _read(self.scores_path, _SCORE_ROW):
            self.scores[(*s.key, s.judge)] = s

    @property
    def generations_path(self) -> Path:
        """Where this store appends generations (its shard's file in a launched evaluation)."""
        assert self.directory is not None
        return self.directory / (f"generations.{self.shard}.jsonl" if self.shard else "generations.jsonl")

    @property
    def scores_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "scores.jsonl"

    # ------------------------------------------------------------------ writing
    def add_generations(self, rows: Iterable[Generation]) -> None:
        rows = [r for r in rows if r.key not in self.generations]
        if self.directory is not None:
            _append(self.generations_path, (asdict(r) for r in rows))
        self.generations.update((r.key, r) for r in rows)

    def add_scores(self, rows: Iterable[ScoreRow]) -> None:
        """Store scores of keys not held yet, or held only as a failed judgement (which they replace)."""
        rows = [r for r in rows if not self.has_scores(r.key, r.judge)]
        if self.directory is not None:
            _append(
                self.scores_path,
                ({**asdict(r), "scores": {k: _to_json(v) for k, v in r.scores.items()}} for r in rows),
            )
        self.scores.update(((*r.key, r.judge), r) for r in rows)

    # ------------------------------------------------------------------ reading
    def has_generation(self, key: Key) -> bool:
        return key in self.generations

    def has_scores(self, key: Key, judge: str) -> bool:
        """Whether ``judge`` has scored ``key`` on every dimension (a failed judgement, NaN, is not held)."""
        row = self.scores.get((*key, judge))
        return row is not None and not any(math.isnan(v) for v in row.scores.values())

    def score_rows(self, judge: str | None = None) -> list[ScoreRow]:
        return [s for s in self.scores.values() if judge is None or s.judge == judge]

    def judges(self) -> list[str]:
        return sorted({s.judge for s in self.scores.values()})


def _append(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if not lines:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(lines)
        fh.flush()
        os.fsync(fh.fileno())


def _read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of each line; a line that is not JSON (or not text) names itself."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for lineno, raw in read_lines(fh):
            try:
                if raw is None:
                    raise ValueError(f"longer than {MAX_LINE_BYTES:,} bytes")
                yield lineno, json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as err:  # JSON, UTF-8 and length errors alike
                reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err).split(":")[0]
                raise DataError(
                    f"{path}:{lineno}: corrupt results row ({reason}); remove the line to redo it"
                ) from None


def _read(path: Path, adapter: TypeAdapter[T]) -> Iterator[T]:
    """The rows of one results file, each checked for its shape (a line of the wrong shape names itself)."""
    for lineno, row in _read_rows(path):
        if adapter is _SCORE_ROW and isinstance(row, dict) and isinstance(row.get("scores"), dict):
            row = {**row, "scores": {k: _from_json(v) for k, v in row["scores"].items()}}
        try:
            yield adapter.validate_python(row)
        except ValidationError as err:
            raise DataError(
                f"{path}:{lineno}: not a results row ({first_error(err)}); remove the line to redo it"
            ) from None


def _to_json(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_json(value: float | None) -> float:
    return math.nan if value is None else float(value)
