"""An evaluation directory: what was evaluated (``evaluation.json``), on which examples, and the results
store.

Layout::

    evaluation.json    data source, split, conditions, variants (with their tasks), judge, seed, dimensions
    examples.json      {example id: {user_id, post_id, unseen_user}} of the evaluated examples
    generations.jsonl  \\ the results store (personadrop.evaluate.store)
    scores.jsonl       /
    judge_usage.json   calls, tokens and cost per judge, summed over every run that wrote here

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

from personadrop.data.example import Example
from personadrop.errors import ConfigError, DataError
from personadrop.evaluate.store import ResultsStore
from personadrop.files import read_json, write_json
from personadrop.judges.base import JudgeUsage

META = "evaluation.json"
EXAMPLES = "examples.json"
USAGE = "judge_usage.json"
# Settings that must match for a re-run to resume rather than mix experiments.
_FIXED = ("data_sha256", "split", "seed", "judge", "dimensions")


@dataclass
class EvaluationDir:
    path: Path
    meta: dict[str, Any]
    examples: dict[str, dict[str, Any]]
    store: ResultsStore

    @classmethod
    def create(cls, path: str | Path, meta: Mapping[str, Any], examples: Sequence[Example]) -> EvaluationDir:
        """Open ``path`` for this evaluation, creating it or checking that it holds the same one."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        new_meta = dict(meta)
        if (path / META).exists():
            old = read_json(path / META, "evaluation record")
            fixed = _FIXED if "data_sha256" in old else ("data", *_FIXED[1:])  # written before content hashes
            changed = [k.removesuffix("_sha256") for k in fixed if old.get(k) != new_meta.get(k)]
            if changed:
                raise ConfigError(
                    f"{path} holds an evaluation with different {', '.join(changed)}; use another --out "
                    f"directory"
                )
            _check_same_models(path, old.get("variants", {}), new_meta.get("variants", {}))
            # New conditions or variants extend the evaluation; old ones stay listed.
            new_meta["conditions"] = list(
                dict.fromkeys([*old.get("conditions", []), *new_meta.get("conditions", [])])
            )
            new_meta["variants"] = {**old.get("variants", {}), **new_meta.get("variants", {})}
        records = {
            e.id: {"user_id": e.user_id, "post_id": e.post_id, "unseen_user": e.unseen_user} for e in examples
        }
        if (path / EXAMPLES).exists():
            records = {**read_json(path / EXAMPLES, "evaluated examples"), **records}
        write_json(path / META, new_meta)
        write_json(path / EXAMPLES, records)
        return cls(path, new_meta, records, ResultsStore(path))

    @classmethod
    def open(cls, path: str | Path) -> EvaluationDir:
        """Open an existing evaluation directory for reporting."""
        path = Path(path)
        if not (path / META).exists():
            raise DataError(
                f"{path} is not an evaluation directory (no {META}); run `personadrop evaluate` first"
            )
        return cls(
            path,
            read_json(path / META, "evaluation record"),
            read_json(path / EXAMPLES, "evaluated examples"),
            ResultsStore(path),
        )

    @property
    def judge_name(self) -> str:
        return str(self.meta["judge"])

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


def _check_same_models(path: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse a variant name that the directory holds rows of, when another model now answers under it."""
    for name, record in new.items():
        had, now = (old.get(name) or {}).get("identity"), (record or {}).get("identity")
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
