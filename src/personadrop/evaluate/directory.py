"""An evaluation directory: what was evaluated (``evaluation.json``), on which examples, and the results
store.

Layout::

    evaluation.json    data source, split, conditions, variants (with their tasks), judge, seed, dimensions
    examples.json      {example id: {user_id, post_id, unseen_user}} of the evaluated examples
    generations.jsonl  \\ the results store (personadrop.evaluate.store)
    scores.jsonl       /
    judge_usage.json   calls, tokens and cost per judge (and per API simulator, `simulator <name>`), summed
                       over every run that wrote here

A re-run with the same settings resumes; a re-run with different settings, or with another model under a
variant name the directory already holds, is refused, because it would mix rows of two experiments.
Data is identified by content, not by path, so a directory (or the study around it) can be moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from personadrop.data.example import Example
from personadrop.dropout import Condition
from personadrop.errors import ConfigError, DataError
from personadrop.evaluate.metrics import Member
from personadrop.evaluate.store import ResultsStore
from personadrop.files import read_json, write_json
from personadrop.judges.base import JudgeUsage
from personadrop.models.base import SimulatorRecord

META = "evaluation.json"
EXAMPLES = "examples.json"
USAGE = "judge_usage.json"
# Settings that must match for a re-run to resume rather than mix experiments.
_FIXED = ("data_sha256", "split", "seed", "judge", "dimensions")


class EvaluationMeta(BaseModel):
    """``evaluation.json``: what an evaluation directory holds, checked when it is opened."""

    model_config = ConfigDict(extra="allow")

    data: str | None = None
    data_sha256: str | None = None
    split: str | None = None
    seed: int = 0
    judge: str
    dimensions: list[str] = Field(default_factory=lambda: ["response"])
    conditions: list[Condition] = Field(default_factory=list)
    variants: dict[str, SimulatorRecord] = Field(default_factory=dict)

    def members(self) -> dict[str, Member]:
        """Which variant and seed each stored name is."""
        return {name: Member(r.variant or name, r.seed) for name, r in self.variants.items()}


@dataclass
class EvaluationDir:
    path: Path
    meta: EvaluationMeta
    examples: dict[str, dict[str, Any]]
    store: ResultsStore

    @classmethod
    def create(cls, path: str | Path, meta: EvaluationMeta, examples: Sequence[Example]) -> EvaluationDir:
        """Open ``path`` for this evaluation, creating it or checking that it holds the same one."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if (path / META).exists():
            old = _read_meta(path)
            fixed = _FIXED if old.data_sha256 else ("data", *_FIXED[1:])  # written before content hashes
            changed = [k.removesuffix("_sha256") for k in fixed if getattr(old, k) != getattr(meta, k)]
            if changed:
                raise ConfigError(
                    f"{path} holds an evaluation with different {', '.join(changed)}; use another --out "
                    f"directory"
                )
            _check_same_models(path, old.variants, meta.variants)
            # New conditions or variants extend the evaluation; old ones stay listed.
            meta = meta.model_copy(
                update={
                    "conditions": list({c.name: c for c in (*old.conditions, *meta.conditions)}.values()),
                    "variants": {**old.variants, **meta.variants},
                }
            )
        records = {
            e.id: {"user_id": e.user_id, "post_id": e.post_id, "unseen_user": e.unseen_user} for e in examples
        }
        if (path / EXAMPLES).exists():
            records = {**read_json(path / EXAMPLES, "evaluated examples"), **records}
        write_json(path / META, meta.model_dump(mode="json"))
        write_json(path / EXAMPLES, records)
        return cls(path, meta, records, ResultsStore(path))

    @classmethod
    def open(cls, path: str | Path) -> EvaluationDir:
        """Open an existing evaluation directory for reporting."""
        path = Path(path)
        if not (path / META).exists():
            raise DataError(
                f"{path} is not an evaluation directory (no {META}); run `personadrop evaluate` first"
            )
        return cls(
            path, _read_meta(path), read_json(path / EXAMPLES, "evaluated examples"), ResultsStore(path)
        )

    @property
    def judge_name(self) -> str:
        return self.meta.judge

    def unseen_users(self) -> dict[str, bool]:
        return {eid: bool(rec.get("unseen_user")) for eid, rec in self.examples.items()}

    def add_usage(self, judge: str, usage: JudgeUsage) -> None:
        totals = self.usage()
        current = totals.get(judge, {})
        fresh = usage.as_dict()
        totals[judge] = {k: current.get(k, 0) + fresh[k] for k in fresh if k != "failures"}
        write_json(self.path / USAGE, totals)

    def usage(self) -> dict[str, dict[str, float]]:
        path = self.path / USAGE
        return read_json(path, "judge usage") if path.exists() else {}

    def judge_block(self, judge: str | None = None) -> dict[str, Any]:
        """The ``judge`` block of summary.json; failures are counted from the stored scores."""
        judge = judge or self.judge_name
        usage = self.usage().get(judge, {})
        failures = sum(math.isnan(v) for row in self.store.score_rows(judge) for v in row.scores.values())
        block: dict[str, Any] = {"name": judge}
        for key in ("calls", "cache_hits", "input_tokens", "output_tokens"):
            block[key] = int(usage.get(key, 0))
        block["failures"] = failures
        block["cost_usd"] = round(float(usage.get("cost_usd", 0.0)), 6)
        return block


def _read_meta(path: Path) -> EvaluationMeta:
    try:
        return EvaluationMeta.model_validate(read_json(path / META, "evaluation record"))
    except ValidationError as err:
        from personadrop.settings import first_error

        raise DataError(f"{path / META}: not an evaluation record ({first_error(err)})") from None


def _check_same_models(
    path: Path, old: Mapping[str, SimulatorRecord], new: Mapping[str, SimulatorRecord]
) -> None:
    """Refuse a stored name that the directory holds rows of, when another model now answers under it."""
    for name, record in new.items():
        had, now = old[name].identity if name in old else None, record.identity
        if had is not None and now is not None and had != now:
            raise ConfigError(
                f"{path} holds rows of another model under the name {name!r} ({_describe(had)}, now "
                f"{_describe(now)}); use another --out directory, or evaluate it under another name"
            )


def _describe(identity: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {str(v)[:16]}" for k, v in identity.items())


def merge_unseen(dirs: Iterable[EvaluationDir]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for d in dirs:
        out.update(d.unseen_users())
    return out
