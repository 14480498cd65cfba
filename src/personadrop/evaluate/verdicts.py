"""A verdict for every claim of the seed: *reproduced*, *refuted* or *inconclusive*, from an interval.

The rule (also written in every report, :data:`RULE`):

- an effect the seed reports with a sign (a gain) is *reproduced* when the 95% interval lies wholly on the
  seed's side of no effect, *refuted* when it lies wholly on the other side, else *inconclusive*;
- a level or range the seed reports (a retention) is *reproduced* when the interval overlaps it,
  *refuted* when it lies wholly above or wholly below it (the verdict says which), else *inconclusive*
  (the interval could not be computed);
- a claim about several variants ("for both HumanLM variants") is *refuted* when any of them is,
  *reproduced* when all of them are, else *inconclusive*.

Intervals are those of the summary: two-level bootstraps over training seeds and test examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from personadrop.claims import BestField, Claim, Ratio
from personadrop.evaluate.metrics import Bootstrap, Estimate, Num, Record, ScoreTable, seed_mean

Word = Literal["reproduced", "refuted", "inconclusive"]

RULE = (
    "A gain is *reproduced* when its 95% interval lies wholly on the seed's side of no effect and *refuted* "
    "when it lies wholly on the other side; a level or range (a retention) is *reproduced* when the interval "
    "overlaps it and *refuted* when it lies wholly above or below it; anything else is *inconclusive*. A "
    "claim about several variants is refuted when any is, reproduced when all are."
)


class Verdict(Record):
    """One of the seed's claims, held against this study's numbers."""

    claim: str
    seed_reports: str
    ours: Num
    ci_low: Num
    ci_high: Num
    verdict: Word
    kind: Literal["gain", "level"] = "gain"  # how ``ours`` reads: a relative gain, or a ratio (retention)
    detail: str = ""  # where a refuted level lies, which variant a claim was measured on, ...


def verdict_of(claim: Claim, est: Estimate) -> tuple[Word, str]:
    """The rule above, for one estimate; the second value says why (empty when there is nothing to add)."""
    lo, hi = est.ci_low, est.ci_high
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive", "no interval"
    if claim.expect is None:
        if claim.side * lo > 0 and claim.side * hi > 0:
            return "reproduced", ""
        if claim.side * lo < 0 and claim.side * hi < 0:
            return "refuted", "the other side of no effect"
        return "inconclusive", "the interval covers no effect"
    low, high = claim.expect
    if hi < low:
        return "refuted", "below the seed's figure"
    if lo > high:
        return "refuted", "above the seed's figure"
    return "reproduced", ""


def judge_claims(claims: Sequence[Claim], table: ScoreTable, boot: Bootstrap) -> list[Verdict]:
    """A verdict for every claim the evaluated variants and conditions can measure (others are left out)."""
    out = []
    for claim in claims:
        measured = [m for m in (_measure(x, table, boot) for x in claim.measures) if m is not None]
        if len(measured) < len(claim.measures):
            continue
        judged = [(verdict_of(claim, est), est, note) for est, note in measured]
        words = [w for (w, _), _, _ in judged]
        word: Word = (
            "refuted"
            if "refuted" in words
            else "reproduced"
            if set(words) == {"reproduced"}
            else "inconclusive"
        )
        # The measure that decides: the refuted one, else an inconclusive one, else the lowest.
        (_, why), est, note = min(
            judged, key=lambda j: ({"refuted": 0, "inconclusive": 1, "reproduced": 2}[j[0][0]], j[1].mean)
        )
        out.append(
            Verdict(
                claim=claim.text,
                seed_reports=claim.seed_reports,
                ours=est.mean,
                ci_low=est.ci_low,
                ci_high=est.ci_high,
                verdict=word,
                kind="level" if claim.expect is not None else "gain",
                detail="; ".join(x for x in (note, why) if x),
            )
        )
    return out


def _measure(measure: Ratio | BestField, table: ScoreTable, boot: Bootstrap) -> tuple[Estimate, str] | None:
    """The estimate a measure names, and which cells it compared; None where they were not evaluated."""
    if isinstance(measure, BestField):
        variant = next((v for v in measure.variants if v in table.variants), None)
        field = f"only:{measure.field}"
        if variant is None or field not in table.conditions_of(variant):
            return None
        others = [c.name for c in table.single_fields if c.name != field]
        others = [c for c in others if c in table.conditions_of(variant)]
        if not others:
            return None
        best = max(others, key=lambda c: seed_mean(table.get(variant, c)))
        est = boot.ratio(table.get(variant, field), table.get(variant, best), minus_one=True)
        return est, f"{variant}: {field} over the best other field, {best}"
    baseline = measure.baseline or measure.variant
    if not {measure.variant, baseline} <= set(table.variants):
        return None
    if measure.condition not in table.conditions_of(measure.variant):
        return None
    if measure.baseline_condition not in table.conditions_of(baseline):
        return None
    ra, rb = table.paired(measure.variant, baseline)
    est = boot.ratio(
        table.get(measure.variant, measure.condition)[ra],
        table.get(baseline, measure.baseline_condition)[rb],
        minus_one=measure.gain,
    )
    return est, ""
