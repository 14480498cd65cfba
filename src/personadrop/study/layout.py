"""Where a study keeps each stage's output: one place that knows the paths of a study directory::

study.yaml                 the resolved config         timings.json   seconds per stage, per run
data/                      the synthetic world (when the data is a world)
runs/<variant>/seed-<k>/   training runs, one per variant and training seed
eval/                      the evaluation directory (generations, scores)
report/                    summary.json, results.csv, report.md, figures/
judge-cache/               LLM judgements, so a re-run pays for nothing twice
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudyLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "study.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def summary(self) -> Path:
        return self.report / "summary.json"

    @property
    def figures(self) -> Path:
        return self.report / "figures"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def judge_cache(self) -> Path:
        return self.root / "judge-cache"

    def run(self, variant: str, seed: int) -> Path:
        """The run directory of one trained variant and training seed."""
        return self.runs / variant / f"seed-{seed}"

    @property
    def is_study(self) -> bool:
        return self.config.is_file()
