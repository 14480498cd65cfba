"""An evaluation directory: what was evaluated (``evaluation.json``), on which examples, and the results
store.

Layout::

    evaluation.json    data source, split, conditions, variants (with their tasks), judge, seed, dimensions
    examples.json      {example id: {user_id, post_id, unseen_user}} of the evaluated examples
    generations.jsonl  \\ the results store (personadrop.evaluate.store)
    scores.jsonl       /
    judge_usage.json   calls, tokens and cost per judge, summed over every run that wrote here

A re-run with the same settings resumes; a re-run with different settings for the same variant names
is refused, because it would mix rows of two experiments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personadrop.data.example import Example
from personadrop.errors import ConfigError, DataError
from personadrop.evaluate.store import ResultsStore
from personadrop.judges.base import JudgeUsage

META = "evaluation.json"
EXAMPLES = "examples.json"
USAGE = "judge_usage.json"
# Settings that must match for a re-run to resume rather than mix experiments.
_FIXED = ("data", "split", "seed", "judge", "dimensions")


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
            old = json.loads((path / META).read_text())
            changed = [k for k in _FIXED if old.get(k) != new_meta.get(k)]
            if changed:
                raise ConfigError(
                    f"{path} holds an evaluation with different {', '.join(changed)}; use another --out "
                    f"directory"
                )
            # New conditions or variants extend the evaluation; old ones stay listed.
            new_meta["conditions"] = list(
                dict.fromkeys([*old.get("conditions", []), *new_meta.get("conditions", [])])
            )
            new_meta["variants"] = {**old.get("variants", {}), **new_meta.get("variants", {})}
        records = {
            e.id: {"user_id": e.user_id, "post_id": e.post_id, "unseen_user": e.unseen_user} for e in examples
        }
        if (path / EXAMPLES).exists():
            records = {**json.loads((path / EXAMPLES).read_text()), **records}
        _write_json(path / META, new_meta)
        _write_json(path / EXAMPLES, records)
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
            json.loads((path / META).read_text()),
            json.loads((path / EXAMPLES).read_text()),
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
        _write_json(self.path / USAGE, totals)

    def usage(self) -> dict[str, dict[str, float]]:
        path = self.path / USAGE
        return json.loads(path.read_text()) if path.exists() else {}

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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def merge_unseen(dirs: Iterable[EvaluationDir]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for d in dirs:
        out.update(d.unseen_users())
    return out
