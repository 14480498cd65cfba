"""People's ratings of simulated replies: a blind, seeded sample of an evaluation, and the ratings given.

A ratings directory (``personadrop annotate EVAL_DIR --out RATINGS``) holds::

    sample.json     the items to rate: each a context, the real reply and one simulated reply, with the
                    variant, condition and example it came from (never shown to a rater)
    ratings.jsonl   one JSON line per rating given: item, rater, dimension, value, time

A rating is on the judges' own scale, 0 to 1 (the page offers 0, 0.25, 0.5, 0.75 and 1). Lines are appended
and flushed as they are given, so closing the page loses nothing; a later line for the same (item, rater,
dimension) replaces an earlier one. Several named raters rate the same sample.

Ratings gathered elsewhere (a crowd platform) come in as CSV or JSON lines with the same four columns:
``item`` (an id from sample.json), ``rater``, ``dimension``, ``value`` (0 to 1). Unknown items, unknown
dimensions and values off the scale are errors naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from personadrop.errors import DataError
from personadrop.evaluate.directory import EvaluationDir
from personadrop.files import drop_torn_tail, write_json
from personadrop.settings import first_error

SAMPLE = "sample.json"
RATINGS = "ratings.jsonl"
#: The steps a rater picks from on the page (keys 0-4); imported ratings may take any value in [0, 1].
STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


class RatingItem(BaseModel):
    """One thing to rate: a simulated reply to a thread, beside the real one."""

    model_config = ConfigDict(frozen=True)

    id: str
    example_id: str
    variant: str  # hidden from raters
    condition: str  # hidden from raters
    context: str
    reference: str
    reply: str


class Sample(BaseModel):
    """The items of one ratings directory and what they were drawn from."""

    evaluation: str  # the evaluation directory
    judge: str  # the judge that scored it
    seed: int
    dimensions: list[str]
    items: list[RatingItem]

    def item_ids(self) -> set[str]:
        return {i.id for i in self.items}


class Rating(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: str = Field(min_length=1)
    rater: str = Field(min_length=1, max_length=64)
    dimension: str = Field(min_length=1)
    value: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    time: float | None = None


def item_id(variant: str, condition: str, example_id: str) -> str:
    """A stable id that says nothing of the variant or condition."""
    digest = hashlib.blake2b("\x1f".join((variant, condition, example_id)).encode(), digest_size=6)
    return "i" + digest.hexdigest()


def draw_sample(ev: EvaluationDir, n: int, seed: int, dimensions: Sequence[str] | None = None) -> Sample:
    """``n`` items stratified over (variant, condition): the cells take turns, each giving its generations
    in a seeded order, so every cell is rated about equally; the items are then shuffled (blind)."""
    from personadrop.data.humanual import load_examples

    rng = random.Random(seed)
    cells: dict[tuple[str, str], list] = defaultdict(list)
    for g in sorted(ev.store.generations.values(), key=lambda g: g.key):
        if g.reply is not None:
            cells[(g.variant, g.condition)].append(g)
    if not cells:
        raise DataError(f"{ev.path} holds no replies to rate")
    for gens in cells.values():
        rng.shuffle(gens)
    order = sorted(cells)
    picked = []
    while len(picked) < n and any(cells.values()):
        for cell in order:
            if cells[cell] and len(picked) < n:
                picked.append(cells[cell].pop())
    rng.shuffle(picked)
    if ev.meta.data is None:
        raise DataError(f"{ev.path} does not record the data it evaluated, so the threads cannot be shown")
    wanted = {g.example_id for g in picked}
    examples = {e.id: e for e in load_examples(ev.meta.data, split=ev.meta.split).examples if e.id in wanted}
    missing = wanted - set(examples)
    if missing:
        raise DataError(
            f"{len(missing)} rated examples are no longer in {ev.meta.data} (e.g. {min(missing)})"
        )
    items = [
        RatingItem(
            id=item_id(g.variant, g.condition, g.example_id),
            example_id=g.example_id,
            variant=g.variant,
            condition=g.condition,
            context=examples[g.example_id].context_text(),
            reference=examples[g.example_id].response,
            reply=g.reply,
        )
        for g in picked
    ]
    return Sample(
        evaluation=str(ev.path),
        judge=ev.meta.judge,
        seed=seed,
        dimensions=list(dimensions or ev.meta.dimensions),
        items=items,
    )


class RatingsDir:
    """A ratings directory: its sample, and the ratings given so far."""

    def __init__(self, path: Path, sample: Sample):
        self.path = path
        self.sample = sample

    @classmethod
    def create(cls, path: str | Path, ev: EvaluationDir, *, n: int, seed: int) -> RatingsDir:
        """The ratings directory at ``path``: its own sample when it has one (another rater goes on with the
        same items), else a new sample of ``ev``."""
        path = Path(path)
        if (path / SAMPLE).exists():
            ratings = cls.open(path)
            if Path(ratings.sample.evaluation).resolve() != ev.path.resolve():
                raise DataError(f"{path} rates another evaluation ({ratings.sample.evaluation})")
            return ratings
        path.mkdir(parents=True, exist_ok=True)
        sample = draw_sample(ev, n, seed)
        write_json(path / SAMPLE, sample.model_dump(mode="json"))
        return cls(path, sample)

    @classmethod
    def open(cls, path: str | Path) -> RatingsDir:
        path = Path(path)
        if not (path / SAMPLE).is_file():
            raise DataError(
                f"{path} is not a ratings directory (no {SAMPLE}; `personadrop annotate` writes one)"
            )
        try:
            sample = Sample.model_validate_json((path / SAMPLE).read_text(encoding="utf-8"))
        except (ValueError, ValidationError) as err:
            raise DataError(f"{path / SAMPLE}: not a readable sample ({str(err).splitlines()[0]})") from None
        return cls(path, sample)

    def add(self, ratings: Iterable[Rating]) -> None:
        """Append ``ratings`` and flush them to disk before returning."""
        file = self.path / RATINGS
        if file.exists():
            drop_torn_tail(file)  # a line cut by a kill would swallow the next one
        with file.open("a", encoding="utf-8") as fh:
            for r in ratings:
                fh.write(r.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def ratings(self) -> list[Rating]:
        file = self.path / RATINGS
        return read_ratings(file, self.sample) if file.exists() else []

    def given(self, rater: str) -> dict[str, dict[str, float]]:
        """{item: {dimension: value}} that ``rater`` has given."""
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for r in self.ratings():
            if r.rater == rater:
                out[r.item][r.dimension] = r.value
        return dict(out)


def read_ratings(path: Path, sample: Sample) -> list[Rating]:
    """The ratings of a JSON-lines or CSV file on ``sample``, the last of each (item, rater, dimension)
    kept; :class:`DataError` naming file and line for anything else."""
    if path.is_dir():
        path = path / RATINGS
    if not path.is_file():
        raise DataError(f"{path}: no such ratings file")
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _json_rows(path)
    ids, dims = sample.item_ids(), set(sample.dimensions)
    out: dict[tuple[str, str, str], Rating] = {}
    for where, row in rows:
        try:
            rating = Rating.model_validate(row)
        except ValidationError as err:
            raise DataError(
                f"{path}:{where}: {first_error(err)} (values are on the judges' scale, 0 to 1)"
            ) from None
        if rating.item not in ids:
            raise DataError(f"{path}:{where}: item {rating.item!r} is not in the sample")
        if rating.dimension not in dims:
            raise DataError(
                f"{path}:{where}: dimension {rating.dimension!r} is not rated here "
                f"({', '.join(sample.dimensions)})"
            )
        out[(rating.item, rating.rater, rating.dimension)] = rating
    return list(out.values())


def _json_rows(path: Path) -> list[tuple[int, object]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError:
            raise DataError(f"{path}:{lineno}: not a JSON object") from None
    return rows


def _csv_rows(path: Path) -> list[tuple[int, object]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"item", "rater", "dimension", "value"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(
                f"{path}: the header lacks {', '.join(sorted(missing))} (item, rater, dimension, value)"
            )
        rows: list[tuple[int, object]] = []
        for row in reader:
            value = row.get("value", "")
            try:
                number = float(value)
            except ValueError:
                raise DataError(f"{path}:{reader.line_num}: value {value!r} is not a number") from None
            if math.isnan(number):
                raise DataError(f"{path}:{reader.line_num}: value is NaN")
            rows.append((reader.line_num, {**row, "value": number, "time": None}))
        return rows


def now() -> float:
    return round(time.time(), 3)
