"""Judge agreement: score the same generations with two judges and compare, per dimension.

For each dimension (and for all dimensions pooled, as ``all``): Pearson and Spearman correlation and
the mean absolute difference over the generations both judges scored. A pair where either judge failed
(NaN) is dropped and counted, never treated as 0. Correlations are NaN where they are undefined
(fewer than two pairs, or one judge gave every generation the same score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from personadrop.judges.base import DIMENSIONS, Judge, JudgeRequest

if TYPE_CHECKING:
    from rich.table import Table

POOLED = "all"


@dataclass(frozen=True)
class DimensionAgreement:
    """How two judges agree along one dimension. ``dropped``: pairs left out because one side was NaN."""

    dimension: str
    n: int
    dropped: int
    pearson: float
    spearman: float
    mae: float
    mean_a: float
    mean_b: float


@dataclass(frozen=True)
class AgreementReport:
    """Agreement between ``judge_a`` and ``judge_b``, one row per dimension present, then ``all``."""

    judge_a: str
    judge_b: str
    rows: tuple[DimensionAgreement, ...]
    usage: dict[str, dict[str, object]] = field(
        default_factory=dict
    )  # {"judge_a": summary(), "judge_b": ...}

    def row(self, dimension: str) -> DimensionAgreement:
        for r in self.rows:
            if r.dimension == dimension:
                return r
        raise KeyError(dimension)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: NaN becomes None, since JSON has no NaN."""

        def clean(v: object) -> object:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "judge_a": self.judge_a,
            "judge_b": self.judge_b,
            "dimensions": {
                r.dimension: {k: clean(v) for k, v in asdict(r).items() if k != "dimension"}
                for r in self.rows
            },
            "usage": self.usage,
        }

    def table(self) -> Table:
        """A :class:`rich.table.Table` of the report, for the console."""
        from rich.table import Table

        def fmt(v: float) -> str:
            return "-" if math.isnan(v) else f"{v:.3f}"

        t = Table(title=f"judge agreement: {self.judge_a} vs {self.judge_b}", title_justify="left")
        for col in (
            "dimension",
            "n",
            "dropped",
            "pearson",
            "spearman",
            "MAE",
            f"mean {self.judge_a}",
            f"mean {self.judge_b}",
        ):
            t.add_column(col, justify="left" if col == "dimension" else "right")
        for r in self.rows:
            t.add_row(
                r.dimension,
                str(r.n),
                str(r.dropped),
                fmt(r.pearson),
                fmt(r.spearman),
                fmt(r.mae),
                fmt(r.mean_a),
                fmt(r.mean_b),
                style="bold" if r.dimension == POOLED else None,
            )
        return t


def _correlations(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan, math.nan
    from scipy import stats

    return float(stats.pearsonr(a, b).statistic), float(stats.spearmanr(a, b).statistic)


def _row(dimension: str, pairs: list[tuple[float, float]]) -> DimensionAgreement:
    kept = [(x, y) for x, y in pairs if not (math.isnan(x) or math.isnan(y))]
    a = [x for x, _ in kept]
    b = [y for _, y in kept]
    pearson, spearman = _correlations(a, b)
    n = len(kept)
    mae = sum(abs(x - y) for x, y in kept) / n if n else math.nan
    return DimensionAgreement(
        dimension,
        n,
        len(pairs) - n,
        pearson,
        spearman,
        mae,
        sum(a) / n if n else math.nan,
        sum(b) / n if n else math.nan,
    )


def compare_scores(
    requests: Sequence[JudgeRequest],
    scores_a: Sequence[Sequence[float]],
    scores_b: Sequence[Sequence[float]],
    *,
    judge_a: str = "a",
    judge_b: str = "b",
) -> AgreementReport:
    """Agreement from scores already computed (one list per request, one score per generation)."""
    if not len(requests) == len(scores_a) == len(scores_b):
        raise ValueError("need one score list per request from each judge")
    by_dim: dict[str, list[tuple[float, float]]] = {}
    for req, sa, sb in zip(requests, scores_a, scores_b, strict=True):
        if not len(sa) == len(sb) == len(req.generations):
            raise ValueError(f"request {req.example_id}: need one score per generation from each judge")
        by_dim.setdefault(req.dimension, []).extend(zip(map(float, sa), map(float, sb), strict=True))
    rows = [_row(d, by_dim[d]) for d in DIMENSIONS if d in by_dim]
    rows.append(_row(POOLED, [p for d in DIMENSIONS for p in by_dim.get(d, [])]))
    return AgreementReport(judge_a, judge_b, tuple(rows))


def judge_agreement(requests: Sequence[JudgeRequest], judge_a: Judge, judge_b: Judge) -> AgreementReport:
    """Score ``requests`` with both judges and report how far they agree, per dimension."""
    report = compare_scores(
        requests, judge_a.score(requests), judge_b.score(requests), judge_a=judge_a.name, judge_b=judge_b.name
    )
    return AgreementReport(
        report.judge_a,
        report.judge_b,
        report.rows,
        {"judge_a": judge_a.summary(), "judge_b": judge_b.summary()},
    )
