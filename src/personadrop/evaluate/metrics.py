"""From scored rows to the numbers a paper reports: means with bootstrap CIs, retention, gains, persona use.

A *variant* may have been trained with several seeds; each seed's simulator is stored under its own name
(``grpo/seed-1``) and :class:`Member` says which variant and seed it is. A cell (variant, condition) is then
a matrix of scores, one row per seed, one column per test example (all seeds answer the same examples
under the same masks).

Intervals are 95% percentile bootstraps at two levels: resample the seeds, then the examples within each
resampled seed (with one seed this is the plain bootstrap over examples). Everything comparative is paired:
retention compares a variant's scores with and without the persona on the same examples and seed, a gain
compares two variants on the same examples and seed index. Draws come from generators seeded by the
bootstrap seed and the sample size, so equal inputs give equal numbers. Judge failures (NaN) are left out
before any mean; a pair is used only where both sides were judged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict

from personadrop.dropout import Policy
from personadrop.evaluate.store import ScoreRow
from personadrop.judges.base import DIMENSIONS

FULL = "full"
NONE = "none"
#: Not a condition but an aggregate row: per example, the mean over the single-field conditions present.
SINGLE_FIELD_MEAN = "only:*"
#: Persona use is left undefined where the visible fields raise the ceiling by less than this.
MIN_CEILING_LIFT = 0.02


def _nan_for_none(value: Any) -> Any:
    return math.nan if value is None else value


#: A float that may be missing: NaN in memory, null in JSON.
Num = Annotated[float, BeforeValidator(_nan_for_none)]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null", extra="forbid")


class Estimate(Record):
    """A mean (or ratio) with its 95% bootstrap interval and the number of examples behind it."""

    mean: Num
    ci_low: Num
    ci_high: Num
    n: int

    @property
    def known(self) -> bool:
        return not math.isnan(self.mean)


NAN_ESTIMATE = Estimate(mean=math.nan, ci_low=math.nan, ci_high=math.nan, n=0)


@dataclass(frozen=True)
class Member:
    """Which variant a stored simulator is, and its training seed (None: untrained, or not known)."""

    variant: str
    seed: int | None = None


def estimate(mean: float, low: float, high: float, n: int) -> Estimate:
    return Estimate(mean=round(mean, 6), ci_low=round(low, 6), ci_high=round(high, 6), n=n)


class Bootstrap:
    """Seeded two-level percentile bootstrap: seeds (rows), then examples (columns) within each seed.

    Every statistic is a function of means: ``arrays`` are cells of equal width (one row per seed, or one
    row shared by every seed, as for an untrained reference), paired column by column.
    """

    def __init__(self, seed: int = 0, resamples: int = 2000):
        self.seed = seed
        self.resamples = resamples
        self._draws: dict[tuple[int, int], np.ndarray] = {}

    def _examples(self, n: int, position: int) -> np.ndarray:
        # One generator per sample size and seed position: a statistic's CI does not depend on which were
        # computed before it, and a one-seed bootstrap draws exactly the plain bootstrap's indices.
        key = (n, position)
        if key not in self._draws:
            rng = np.random.default_rng([self.seed, n] if position == 0 else [self.seed, n, position])
            self._draws[key] = rng.integers(0, n, size=(self.resamples, n))
        return self._draws[key]

    def _seeds(self, k: int) -> np.ndarray:
        if k == 1:
            return np.zeros((self.resamples, 1), dtype=int)
        return np.random.default_rng([self.seed, 7919, k]).integers(0, k, size=(self.resamples, k))

    def _means(self, arrays: Sequence[np.ndarray]) -> tuple[list[float], list[np.ndarray], int] | None:
        """Per array: the point mean (over seeds of each seed's mean) and its resampled means; the mean
        number of examples per seed. None when no seed has an example judged on every array."""
        k = max(a.shape[0] for a in arrays)
        seeds = []
        for s in range(k):
            rows = [a[s if a.shape[0] > 1 else 0] for a in arrays]
            valid = np.logical_and.reduce([~np.isnan(r) for r in rows])
            if valid.any():
                seeds.append([r[valid] for r in rows])
        if not seeds:
            return None
        width = len(seeds)
        # resampled[a][s, b, j]: mean of array a over the j-th example resample of seed s, draw b
        resampled = [
            np.stack(
                [
                    np.stack([rows[a][self._examples(rows[a].size, j)].mean(axis=1) for j in range(width)], 1)
                    for rows in seeds
                ]
            )
            for a in range(len(arrays))
        ]
        pick = self._seeds(width)
        b = np.arange(self.resamples)[:, None]
        j = np.arange(width)[None, :]
        boot = [r[pick, b, j].mean(axis=1) for r in resampled]
        points = [float(np.mean([rows[a].mean() for rows in seeds])) for a in range(len(arrays))]
        n = round(float(np.mean([rows[0].size for rows in seeds])))
        return points, boot, n

    def statistic(
        self, arrays: Sequence[np.ndarray], fn: Callable[..., np.ndarray | float], shift: float = 0.0
    ) -> Estimate:
        """``fn`` of the arrays' means, with its interval (non-finite resampled values are left out)."""
        found = self._means([np.atleast_2d(a) for a in arrays])
        if found is None:
            return NAN_ESTIMATE
        points, boot, n = found
        with np.errstate(divide="ignore", invalid="ignore"):
            point = float(fn(*points))
            values = np.asarray(fn(*boot), dtype=float)
        values = values[np.isfinite(values)]
        if not np.isfinite(point):
            return NAN_ESTIMATE
        lo, hi = np.percentile(values, [2.5, 97.5]) if values.size else (np.nan, np.nan)
        return estimate(point - shift, float(lo) - shift, float(hi) - shift, n)

    def mean(self, values: np.ndarray) -> Estimate:
        return self.statistic([values], lambda m: m)

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray, minus_one: bool = False) -> Estimate:
        """mean(numerator) / mean(denominator), paired by example (and seed)."""
        found = self._means([np.atleast_2d(numerator), np.atleast_2d(denominator)])
        if found is None or found[0][1] <= 0:
            return NAN_ESTIMATE
        return self.statistic([numerator, denominator], lambda a, b: a / b, 1.0 if minus_one else 0.0)

    def persona_use(self, values: np.ndarray, ceiling: np.ndarray, blind: np.ndarray) -> Estimate:
        """(score - blind) / (ceiling - blind): the share of what the visible fields make achievable that is
        realized, on the examples all three were judged on (a simulator that answered a sample: that sample);
        NaN where the visible fields lift the ceiling there by less than :data:`MIN_CEILING_LIFT`."""
        found = self._means([np.atleast_2d(values), np.atleast_2d(ceiling), np.atleast_2d(blind)])
        if found is None or found[0][1] - found[0][2] < MIN_CEILING_LIFT:
            return NAN_ESTIMATE
        return self.statistic([values, ceiling, blind], lambda v, c, n: (v - n) / (c - n))


class ScoreTable:
    """Scores of one judge as ``values[dimension][variant][condition]``: a matrix, one row per training
    seed (``seeds[variant]``, in order) and one column per example of ``example_ids``."""

    def __init__(
        self,
        rows: Iterable[ScoreRow],
        unseen_users: Mapping[str, bool],
        conditions: Sequence[Policy],
        members: Mapping[str, Member] | None = None,
    ):
        rows = list(rows)
        members = members or {}

        def member(name: str) -> Member:
            return members.get(name) or Member(name)

        self.example_ids = sorted({r.example_id for r in rows if r.example_id in unseen_users})
        index = {eid: i for i, eid in enumerate(self.example_ids)}
        self.unseen = np.array([unseen_users[e] for e in self.example_ids], dtype=bool)
        names = list(dict.fromkeys(r.variant for r in rows))
        self.variants = list(dict.fromkeys(member(n).variant for n in names))
        self.seeds: dict[str, list[int | None]] = {v: [] for v in self.variants}
        for n in names:
            self.seeds[member(n).variant].append(member(n).seed)
        for v, seeds in self.seeds.items():
            self.seeds[v] = sorted(seeds, key=lambda s: -1 if s is None else s)
        wanted = {c.name: c for c in conditions}
        self.conditions = [c for c in conditions if any(r.condition == c.name for r in rows)]
        self.dimensions = [d for d in DIMENSIONS if any(d in r.scores for r in rows)]
        n = len(self.example_ids)
        self.values: dict[str, dict[str, dict[str, np.ndarray]]] = {
            d: {v: {} for v in self.variants} for d in self.dimensions
        }
        for r in rows:
            if r.example_id not in index or r.condition not in wanted:
                continue
            m = member(r.variant)
            row = self.seeds[m.variant].index(m.seed)
            for d in self.dimensions:
                cells = self.values[d][m.variant]
                if r.condition not in cells:
                    cells[r.condition] = np.full((len(self.seeds[m.variant]), n), np.nan)
                cells[r.condition][row, index[r.example_id]] = r.scores.get(d, np.nan)
        self.single_fields = [c for c in self.conditions if c.single_field is not None]
        for d in self.dimensions:
            for v in self.variants:
                stacked = [
                    self.values[d][v][c.name] for c in self.single_fields if c.name in self.values[d][v]
                ]
                if stacked:
                    with warnings.catch_warnings():  # all-NaN columns stay NaN, silently
                        warnings.simplefilter("ignore", RuntimeWarning)
                        self.values[d][v][SINGLE_FIELD_MEAN] = np.nanmean(np.stack(stacked), axis=0)

    def get(
        self, variant: str, condition: str, dimension: str = "response", subset: np.ndarray | None = None
    ) -> np.ndarray:
        values = self.values.get(dimension, {}).get(variant, {}).get(condition)
        if values is None:
            values = np.full((1, len(self.example_ids)), np.nan)
        return values if subset is None else values[:, subset]

    def conditions_of(self, variant: str) -> list[str]:
        return list(self.values["response"].get(variant, {})) if "response" in self.values else []

    @cached_property
    def by_name(self) -> dict[str, Policy]:
        return {c.name: c for c in self.conditions}

    def paired(self, a: str, b: str) -> tuple[list[int], list[int]]:
        """Rows of ``a`` and ``b`` to compare seed by seed: the same seeds, or one side shared by all."""
        sa, sb = self.seeds.get(a, [None]), self.seeds.get(b, [None])
        if len(sa) == 1 or len(sb) == 1 or sa == sb:
            return list(range(len(sa))), list(range(len(sb)))
        common = [s for s in sa if s in sb]
        return [sa.index(s) for s in common], [sb.index(s) for s in common]


def seed_mean(values: np.ndarray) -> float:
    """The mean over seeds of each seed's mean (judge failures left out)."""
    per_seed = [row[~np.isnan(row)].mean() for row in np.atleast_2d(values) if (~np.isnan(row)).any()]
    return round(float(np.mean(per_seed)), 6) if per_seed else float("nan")
