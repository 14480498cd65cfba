"""Verdicts: each word of the rule, on made-up numbers and on a made-up evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from personadrop.claims import CLAIMS, BestField, Claim, Ratio
from personadrop.dropout import parse_conditions
from personadrop.evaluate.metrics import Estimate
from personadrop.evaluate.store import ScoreRow
from personadrop.evaluate.summary import summarize
from personadrop.evaluate.verdicts import verdict_of

GAIN = Claim("a over b", "+16%", (Ratio("a", "full", "b", "full", True),))
LEVEL = Claim("a keeps 86-90%", "86-90%", (Ratio("a", "only:values"),), expect=(0.86, 0.90))


def est(mean: float, low: float, high: float) -> Estimate:
    return Estimate(mean=mean, ci_low=low, ci_high=high, n=100)


@pytest.mark.parametrize(
    ("claim", "estimate", "word", "why"),
    [
        (GAIN, est(0.1, 0.02, 0.18), "reproduced", ""),
        (GAIN, est(-0.1, -0.18, -0.02), "refuted", "the other side of no effect"),
        (GAIN, est(0.01, -0.03, 0.05), "inconclusive", "the interval covers no effect"),
        (LEVEL, est(0.85, 0.80, 0.87), "reproduced", ""),  # overlaps the range
        (LEVEL, est(0.70, 0.65, 0.75), "refuted", "below the seed's figure"),
        (LEVEL, est(0.97, 0.95, 0.99), "refuted", "above the seed's figure"),
        (LEVEL, est(math.nan, math.nan, math.nan), "inconclusive", "no interval"),
    ],
)
def test_each_verdict_word_follows_the_rule(claim, estimate, word, why):
    assert verdict_of(claim, estimate) == (word, why)


def test_a_negative_side_claim_is_reproduced_below_zero():
    claim = Claim("a hurts", "-10%", GAIN.measures, side=-1)
    assert verdict_of(claim, est(-0.1, -0.2, -0.05))[0] == "reproduced"
    assert verdict_of(claim, est(0.1, 0.05, 0.2))[0] == "refuted"


def _rows(cells: dict[tuple[str, str], np.ndarray]) -> list[ScoreRow]:
    return [
        ScoreRow(v, c, f"e{i}", "j", {"response": float(x)})
        for (v, c), values in cells.items()
        for i, x in enumerate(values)
    ]


def test_a_made_up_evaluation_gets_one_verdict_per_measurable_claim():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.4, 0.6, 300)
    cells = {
        ("grpo", "full"): base,
        ("grpo+fd", "full"): base * 1.16,  # the seed's +16%: reproduced
        ("grpo", "items:0.9"): base * 0.5,  # retention 50% against 77%: refuted, below
        ("grpo", "only:values"): base * 0.9,
        ("grpo", "only:communication"): base * 0.9 + rng.normal(0, 0.2, 300),  # values vs comm: a coin toss
    }
    summary = summarize(
        _rows(cells),
        {f"e{i}": False for i in range(300)},
        parse_conditions("full only:values only:communication items:0.9"),
        claims=CLAIMS,
        resamples=1000,
    )
    verdicts = {v.claim: v for v in summary.verdicts}
    assert verdicts["GRPO + FD over GRPO (full persona)"].verdict == "reproduced"
    assert verdicts["GRPO + FD over GRPO (full persona)"].ours == pytest.approx(0.16, abs=1e-6)
    grpo_items = verdicts["GRPO retention at items:0.9"]
    assert (grpo_items.verdict, grpo_items.detail) == ("refuted", "below the seed's figure")
    best = verdicts["For the base model, Values is the most useful single field"]
    assert best.verdict == "inconclusive" and "grpo" in best.detail
    # Claims about variants that were not evaluated (HumanLM) get no verdict rather than a guess.
    assert not any("HumanLM" in v.claim for v in summary.verdicts)


def test_a_claim_about_several_variants_is_refuted_when_any_is():
    ids = 200
    base = np.random.default_rng(1).uniform(0.4, 0.6, ids)
    claim = Claim(
        "comm nearly matches for both",
        "95-105%",
        (Ratio("a", "only:communication"), Ratio("b", "only:communication")),
        expect=(0.95, 1.05),
    )
    cells = {
        ("a", "full"): base,
        ("a", "only:communication"): base * 0.99,
        ("b", "full"): base,
        ("b", "only:communication"): base * 0.6,
    }
    summary = summarize(
        _rows(cells),
        {f"e{i}": False for i in range(ids)},
        parse_conditions("full only:communication"),
        claims=(claim,),
        resamples=500,
    )
    (verdict,) = summary.verdicts
    assert verdict.verdict == "refuted" and verdict.ours == pytest.approx(0.6, abs=1e-6)


def test_best_field_uses_the_first_variant_that_was_evaluated():
    claim = Claim("values best", "Values best", (BestField(("prompted", "grpo"), "values"),))
    base = np.random.default_rng(2).uniform(0.4, 0.6, 200)
    cells = {("grpo", "only:values"): base * 1.2, ("grpo", "only:interests"): base, ("grpo", "full"): base}
    summary = summarize(
        _rows(cells),
        {f"e{i}": False for i in range(200)},
        parse_conditions("full only:values only:interests"),
        claims=(claim,),
        resamples=500,
    )
    (verdict,) = summary.verdicts
    assert verdict.verdict == "reproduced" and verdict.ours == pytest.approx(0.2, abs=1e-6)
    assert "only:interests" in verdict.detail
