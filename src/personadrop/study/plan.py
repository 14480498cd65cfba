"""What a study will do, before it does any of it (``personadrop study --dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StudyPlan:
    """Runs to train, the evaluation grid and what judging it costs."""

    data: str
    eval_examples: int | None
    runs: list[dict[str, Any]]
    conditions: list[str]
    variants: list[str]
    dimensions: list[str]
    judge_lines: list[str] = field(default_factory=list)
    samples: dict[str, int] = field(default_factory=dict)  # simulators that answer a sample of the examples

    @property
    def generations(self) -> int | None:
        if self.eval_examples is None:
            return None
        n = self.eval_examples
        return len(self.conditions) * sum(min(n, self.samples.get(v, n)) for v in self.variants)

    def lines(self) -> list[str]:
        n = f"{self.eval_examples:,}" if self.eval_examples is not None else "all"
        out = [f"data: {self.data}; evaluation on {n} examples"]
        for r in self.runs:
            warm = f"  warm start: {r['warm_start']}" if r.get("warm_start") else ""
            out.append(
                f"train {r['variant']:<19} method={r['method']:<8} train_condition={r['train_condition']}"
                f"{warm}{'  (done)' if r.get('done') else ''}"
            )
        gen = f"{self.generations:,}" if self.generations is not None else "?"
        dims = f"{len(self.dimensions)} dimension" + ("s" if len(self.dimensions) != 1 else "")
        sampled = "".join(f"; {v}: a sample of {k:,}" for v, k in self.samples.items())
        out.append(
            f"evaluate {len(self.variants)} simulators (variants x training seeds, references, external) x "
            f"{len(self.conditions)} conditions x {n} examples{sampled} = {gen} generations, judged on {dims}"
        )
        return out + self.judge_lines
