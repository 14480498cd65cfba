"""From scored rows to the numbers a paper reports: means with bootstrap CIs, retention, gains, ceiling.

Everything is paired by example: a variant's retention under a condition compares its scores on the same
examples with and without the persona, and a gain compares two variants on the same examples. CIs are
95% percentile bootstraps over examples, from one seeded generator, so equal inputs give equal numbers.
Judge failures (NaN) are dropped before any mean; a pair is used only where both sides were judged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from personadrop.dropout import parse_condition
from personadrop.errors import ConditionError
from personadrop.evaluate.store import ScoreRow
from personadrop.judges.base import DIMENSIONS
from personadrop.variants import CEILING, GAINS

FULL = "full"
#: Not a condition but an aggregate row: per example, the mean over the single-field conditions present.
SINGLE_FIELD_MEAN = "only:*"


def single_field_of(condition: str) -> str | None:
    """The one field a condition (by name) shows, or None (also for the aggregate and unknown names)."""
    try:
        return parse_condition(condition).single_field
    except ConditionError:
        return None


def item_p_of(condition: str) -> float | None:
    """The item-dropout probability of a pure item-dropout condition (by name), else None."""
    try:
        return parse_condition(condition).item_p
    except ConditionError:
        return None


@dataclass(frozen=True)
class Estimate:
    """A mean (or ratio) with its 95% bootstrap interval and the number of examples behind it."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


NAN_ESTIMATE = Estimate(float("nan"), float("nan"), float("nan"), 0)


class Bootstrap:
    """Seeded percentile bootstrap over examples."""

    def __init__(self, seed: int = 0, resamples: int = 2000):
        self.seed = seed
        self.resamples = resamples

    def _indices(self, n: int) -> np.ndarray:
        # A fresh generator per call: a statistic's CI does not depend on which were computed before it.
        return np.random.default_rng([self.seed, n]).integers(0, n, size=(self.resamples, n))

    def mean(self, values: np.ndarray) -> Estimate:
        v = values[~np.isnan(values)]
        if v.size == 0:
            return NAN_ESTIMATE
        means = v[self._indices(v.size)].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return Estimate(float(v.mean()), float(lo), float(hi), int(v.size))

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray, minus_one: bool = False) -> Estimate:
        """mean(numerator) / mean(denominator) over examples where both are known, resampled in pairs."""
        both = ~np.isnan(numerator) & ~np.isnan(denominator)
        a, b = numerator[both], denominator[both]
        if a.size == 0 or b.mean() <= 0:
            return NAN_ESTIMATE
        idx = self._indices(a.size)
        den = b[idx].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = a[idx].mean(axis=1) / den
        ratios = ratios[np.isfinite(ratios)]
        shift = 1.0 if minus_one else 0.0
        lo, hi = np.percentile(ratios, [2.5, 97.5]) if ratios.size else (np.nan, np.nan)
        return Estimate(float(a.mean() / b.mean()) - shift, float(lo) - shift, float(hi) - shift, int(a.size))


class ScoreTable:
    """Scores of one judge as arrays: ``values[dimension][variant][condition]`` aligned with
    ``example_ids``."""

    def __init__(self, rows: Iterable[ScoreRow], unseen_users: Mapping[str, bool]):
        rows = list(rows)
        self.example_ids = sorted({r.example_id for r in rows if r.example_id in unseen_users})
        index = {eid: i for i, eid in enumerate(self.example_ids)}
        self.unseen = np.array([unseen_users[e] for e in self.example_ids], dtype=bool)
        self.variants = list(dict.fromkeys(r.variant for r in rows))
        self.conditions = list(dict.fromkeys(r.condition for r in rows))
        self.dimensions = [d for d in DIMENSIONS if any(d in r.scores for r in rows)]
        n = len(self.example_ids)
        self.values: dict[str, dict[str, dict[str, np.ndarray]]] = {
            d: {v: {} for v in self.variants} for d in self.dimensions
        }
        for r in rows:
            if r.example_id not in index:
                continue
            for d in self.dimensions:
                per_condition = self.values[d][r.variant]
                if r.condition not in per_condition:
                    per_condition[r.condition] = np.full(n, np.nan)
                per_condition[r.condition][index[r.example_id]] = r.scores.get(d, np.nan)
        self.single_fields = [c for c in self.conditions if single_field_of(c) is not None]
        if self.single_fields:
            for d in self.dimensions:
                for v in self.variants:
                    stacked = [self.values[d][v][c] for c in self.single_fields if c in self.values[d][v]]
                    if stacked:
                        with warnings.catch_warnings():  # all-NaN columns stay NaN, silently
                            warnings.simplefilter("ignore", RuntimeWarning)
                            self.values[d][v][SINGLE_FIELD_MEAN] = np.nanmean(np.vstack(stacked), axis=0)

    def get(
        self, variant: str, condition: str, dimension: str = "response", subset: np.ndarray | None = None
    ) -> np.ndarray:
        values = self.values.get(dimension, {}).get(variant, {}).get(condition)
        if values is None:
            values = np.full(len(self.example_ids), np.nan)
        return values if subset is None else values[subset]

    def conditions_of(self, variant: str) -> list[str]:
        return list(self.values["response"].get(variant, {})) if "response" in self.values else []


def summarize(
    rows: Iterable[ScoreRow],
    unseen_users: Mapping[str, bool],
    *,
    seed: int = 0,
    resamples: int = 2000,
    gains: Sequence[tuple[str, str]] = GAINS,
    ceiling_variant: str = CEILING,
) -> dict[str, Any]:
    """The metric blocks of summary.json: scores, retention, dimensions, gains, ceiling, by_user (README,
    "Reading
    the numbers").

    ``unseen_users`` maps each evaluated example id to whether its user is absent from training; rows of
    other examples are ignored.
    """
    rows = list(rows)
    table = ScoreTable(rows, unseen_users)
    boot = Bootstrap(seed, resamples)
    has_unseen = bool(table.unseen.any())
    subsets = {"seen": ~table.unseen, "unseen": table.unseen} if has_unseen else {}

    def score_block(subset: np.ndarray | None) -> dict[str, dict[str, dict[str, float | int]]]:
        return {
            v: {c: boot.mean(table.get(v, c, subset=subset)).to_dict() for c in table.conditions_of(v)}
            for v in table.variants
        }

    retention: dict[str, dict[str, float]] = {}
    retention_ci: dict[str, dict[str, dict[str, float | int]]] = {}
    for v in table.variants:
        full = table.get(v, FULL)
        retention[v], retention_ci[v] = {}, {}
        for c in table.conditions_of(v):
            est = boot.ratio(table.get(v, c), full)
            retention[v][c] = round(est.mean, 6)
            retention_ci[v][c] = est.to_dict()

    gain_block: dict[str, dict[str, dict[str, float | int]]] = {}
    for a, b in gains:
        if a in table.variants and b in table.variants:
            shared = [c for c in table.conditions_of(a) if c in table.conditions_of(b)]
            gain_block[f"{a} vs {b}"] = {
                c: boot.ratio(table.get(a, c), table.get(b, c), minus_one=True).to_dict() for c in shared
            }

    dimensions = {
        v: {c: {d: _nanmean(table.get(v, c, d)) for d in table.dimensions} for c in table.conditions_of(v)}
        for v in table.variants
    }
    ceiling: dict[str, float] = {}
    if ceiling_variant in table.variants:
        ceiling = {c: _nanmean(table.get(ceiling_variant, c)) for c in table.conditions_of(ceiling_variant)}

    return {
        "scores": score_block(None),
        "retention": retention,
        "retention_ci": retention_ci,
        "dimensions": dimensions,
        "gains": gain_block,
        "single_field": _single_field_block(table, retention),
        "ceiling": ceiling,
        "by_user": {name: score_block(mask) for name, mask in subsets.items()},
        "n_examples": len(table.example_ids),
        "n_unseen_examples": int(table.unseen.sum()),
        "missing": _missing(rows, unseen_users),
    }


def _missing(rows: Iterable[ScoreRow], unseen_users: Mapping[str, bool]) -> dict[str, dict[str, int]]:
    """Failed judgements (the response score is NaN) per variant and condition; cells without any left out."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.example_id in unseen_users and np.isnan(r.scores.get("response", np.nan)):
            cell = out.setdefault(r.variant, {})
            cell[r.condition] = cell.get(r.condition, 0) + 1
    return out


def _single_field_block(
    table: ScoreTable, retention: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, Any]]:
    out = {}
    for v in table.variants:
        fields = [c for c in table.single_fields if c in retention[v]]
        if not fields:
            continue
        values = [retention[v][c] for c in fields]
        out[v] = {
            "retention_min": round(min(values), 6),
            "retention_max": round(max(values), 6),
            "retention_of_mean": retention[v].get(SINGLE_FIELD_MEAN),
            "best_field": single_field_of(max(fields, key=lambda c: _nanmean(table.get(v, c)))),
        }
    return out


def _nanmean(values: np.ndarray) -> float:
    v = values[~np.isnan(values)]
    return round(float(v.mean()), 6) if v.size else float("nan")
