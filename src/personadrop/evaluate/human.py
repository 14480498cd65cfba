"""A judge checked against people: how its scores agree with human ratings of the same replies.

Per dimension, over the sample's items that the judge scored and at least one person rated, each with a
95% percentile-bootstrap interval over items:

- Krippendorff's alpha, interval and ordinal (the ``krippendorff`` package), with the judge as one more
  rater beside the people;
- Spearman's and Kendall's correlation between the judge and the mean human rating;
- the people's agreement with each other (interval alpha), where there are several raters;
- whether the judge is as good as one more person: the mean of its pairwise alphas with each person minus
  the mean pairwise alpha between people. An interval that reaches 0 or above says it is (not measurably
  worse); one wholly below 0 says the judge agrees with people less than they agree with each other.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
from pydantic import BaseModel

from personadrop.evaluate.directory import EvaluationDir
from personadrop.evaluate.metrics import Estimate
from personadrop.evaluate.ratings import Rating, Sample

#: Where `judge-agreement --human` writes its result, in the evaluation directory (the report reads it).
HUMAN_AGREEMENT = "human_agreement.json"


class DimensionAgreement(BaseModel):
    dimension: str
    items: int
    raters: list[str]
    alpha_interval: Estimate
    alpha_ordinal: Estimate
    spearman: Estimate
    kendall: Estimate
    alpha_people: Estimate | None = None  # several raters only
    judge_minus_person: Estimate | None = None  # several raters only

    @property
    def verdict(self) -> str:
        """Is the judge as good as one more person? (Needs several raters.)"""
        d = self.judge_minus_person
        if d is None or math.isnan(d.ci_low):
            return "one rater: no comparison with a person"
        if d.ci_low > 0:
            return "better than one more person"
        return "as good as one more person" if d.ci_high >= 0 else "worse than one more person"


class HumanAgreement(BaseModel):
    judge: str
    ratings: int
    raters: list[str]
    dimensions: list[DimensionAgreement]


def human_agreement(
    ev: EvaluationDir, sample: Sample, ratings: Sequence[Rating], *, resamples: int = 500, seed: int = 0
) -> HumanAgreement:
    """The agreement of ``ev``'s judge with ``ratings`` of ``sample``, per dimension."""
    raters = sorted({r.rater for r in ratings})
    by_item = {i.id: i for i in sample.items}
    rows = []
    for dim in sample.dimensions:
        given: dict[str, dict[str, float]] = defaultdict(dict)  # item -> rater -> value
        for r in ratings:
            if r.dimension == dim:
                given[r.item][r.rater] = r.value
        items, judge = [], []
        for item_id in sorted(given):
            item = by_item[item_id]
            row = ev.store.scores.get((item.variant, item.condition, item.example_id, ev.meta.judge))
            value = row.scores.get(dim, math.nan) if row is not None else math.nan
            if not math.isnan(value):
                items.append(item_id)
                judge.append(value)
        if not items:
            continue
        people = sorted({rater for i in items for rater in given[i]})
        table = np.array([[given[i].get(p, np.nan) for i in items] for p in people], dtype=float)
        rows.append(_dimension(dim, np.array(judge), table, people, resamples, seed))
    return HumanAgreement(judge=ev.meta.judge, ratings=len(ratings), raters=raters, dimensions=rows)


def _dimension(
    dim: str, judge: np.ndarray, people: np.ndarray, names: list[str], resamples: int, seed: int
) -> DimensionAgreement:
    """Statistics of one dimension: ``judge`` (items) and ``people`` (raters x items, NaN = not rated)."""
    several = len(names) >= 2

    def stats(idx: np.ndarray) -> dict[str, float]:
        j, p = judge[idx], people[:, idx]
        mean = np.nanmean(p, axis=0)
        both = np.vstack([j[None, :], p])
        out = {
            "alpha_interval": _alpha(both, "interval"),
            "alpha_ordinal": _alpha(both, "ordinal"),
            "spearman": _corr(j, mean, "spearman"),
            "kendall": _corr(j, mean, "kendall"),
        }
        if several:
            pairs_people = [_alpha(p[[a, b]], "interval") for a, b in combinations(range(len(p)), 2)]
            pairs_judge = [_alpha(np.vstack([j, p[a]]), "interval") for a in range(len(p))]
            out["alpha_people"] = _alpha(p, "interval")
            out["judge_minus_person"] = float(np.nanmean(pairs_judge) - np.nanmean(pairs_people))
        return out

    n = len(judge)
    point = stats(np.arange(n))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = defaultdict(list)
    for _ in range(resamples):
        for key, value in stats(rng.integers(0, n, n)).items():
            if not math.isnan(value):
                draws[key].append(value)

    def estimate(key: str) -> Estimate:
        values = draws.get(key, [])
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) >= 10 else (math.nan, math.nan)
        return Estimate(mean=point[key], ci_low=float(low), ci_high=float(high), n=n)

    return DimensionAgreement(
        dimension=dim,
        items=n,
        raters=names,
        alpha_interval=estimate("alpha_interval"),
        alpha_ordinal=estimate("alpha_ordinal"),
        spearman=estimate("spearman"),
        kendall=estimate("kendall"),
        alpha_people=estimate("alpha_people") if several else None,
        judge_minus_person=estimate("judge_minus_person") if several else None,
    )


def _alpha(table: np.ndarray, level: str) -> float:
    """Krippendorff's alpha of a raters x items table (NaN = not rated); NaN where undefined (fewer than two
    pairable values, or no variation at all)."""
    import krippendorff

    pairable = np.sum(~np.isnan(table), axis=0) >= 2
    if pairable.sum() < 2:
        return math.nan
    data = table[:, pairable]
    values = data[~np.isnan(data)]
    if np.all(values == values[0]):
        return math.nan  # every rating the same: agreement is undefined (alpha divides by zero)
    try:
        return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except (ValueError, ZeroDivisionError):
        return math.nan


def _corr(a: np.ndarray, b: np.ndarray, kind: str) -> float:
    from scipy import stats

    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.all(a[ok] == a[ok][0]) or np.all(b[ok] == b[ok][0]):
        return math.nan
    test: Callable = stats.spearmanr if kind == "spearman" else stats.kendalltau
    return float(test(a[ok], b[ok])[0])
