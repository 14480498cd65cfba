"""Metrics: CIs contain their means, retention is paired and full is 1, gains, seen/unseen, NaN handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from personadrop.data.rows import example_from_row
from personadrop.dropout import parse_conditions
from personadrop.evaluate.metrics import SINGLE_FIELD_MEAN, Bootstrap, Member
from personadrop.evaluate.store import ScoreRow
from personadrop.evaluate.summary import summarize

from conftest import humanual_row


@pytest.fixture(scope="module")
def examples():
    return {
        e.id: e
        for e in (example_from_row(humanual_row(i, unseen_user=i >= 150), split="test") for i in range(200))
    }


def unseen(examples):
    return {eid: e.unseen_user for eid, e in examples.items()}


def rows_for(variant, condition, values, ids, judge="j"):
    return [
        ScoreRow(variant, condition, eid, judge, {"response": float(v), "stance": float(v) / 2})
        for eid, v in zip(ids, values, strict=True)
    ]


CONDITIONS = parse_conditions("full none only:values only:statistics")
GAINS = (("grpo+fd", "grpo"),)


def make_rows(examples, seed=0):
    rng = np.random.default_rng(seed)
    ids = sorted(examples)
    base = rng.uniform(0.3, 0.9, len(ids))
    rows = []
    for variant, scale in (("grpo", 1.0), ("grpo+fd", 1.2), ("bayes", 1.3)):
        full = np.clip(base * scale, 0, 1)
        rows += rows_for(variant, "full", full, ids)
        rows += rows_for(variant, "only:values", full * 0.8, ids)
        rows += rows_for(variant, "only:statistics", full * 0.5, ids)
        rows += rows_for(variant, "none", full * 0.25, ids)
    return rows


def test_summary_shape_retention_and_cis(examples):
    summary = summarize(
        make_rows(examples), unseen(examples), CONDITIONS, resamples=500, gains=GAINS, ceiling_variant="bayes"
    )
    for variant, by_condition in summary.scores.items():
        for condition, est in by_condition.items():
            assert est.ci_low <= est.mean <= est.ci_high, (variant, condition)
            assert est.n == 200
        assert summary.retention[variant]["full"] == pytest.approx(1.0)
        assert summary.retention[variant]["only:values"] == pytest.approx(0.8, abs=0.01)
        assert summary.retention[variant]["none"] == pytest.approx(0.25, abs=0.01)
        # retention of a paired constant ratio has a degenerate CI around it
        ci = summary.retention_ci[variant]["only:values"]
        assert ci.ci_high - ci.ci_low < 0.02
    assert summary.dimensions["grpo"]["full"]["stance"] == pytest.approx(
        summary.scores["grpo"]["full"].mean / 2
    )
    assert summary.ceiling["full"] == pytest.approx(summary.scores["bayes"]["full"].mean)
    sf = summary.single_field["grpo"]
    assert sf.best_field == "values"
    assert sf.retention_min == pytest.approx(0.5, abs=0.01) and sf.retention_max == pytest.approx(
        0.8, abs=0.01
    )
    assert summary.scores["grpo"][SINGLE_FIELD_MEAN].mean == pytest.approx(
        (summary.scores["grpo"]["only:values"].mean + summary.scores["grpo"]["only:statistics"].mean) / 2,
        abs=1e-5,
    )


def test_gains_are_paired_relative_differences(examples):
    summary = summarize(
        make_rows(examples), unseen(examples), CONDITIONS, resamples=500, gains=GAINS, ceiling_variant="bayes"
    )
    gain = summary.gains["grpo+fd vs grpo"]["full"]
    ids = sorted(examples)
    base = np.random.default_rng(0).uniform(0.3, 0.9, len(ids))
    expected = np.clip(base * 1.2, 0, 1).mean() / base.mean() - 1
    assert gain.mean == pytest.approx(expected, abs=1e-6)
    assert gain.ci_low <= gain.mean <= gain.ci_high and gain.ci_low > 0.1
    assert "humanlm+fd vs grpo" not in summary.gains  # only pairs that were evaluated


def test_seen_and_unseen_users_are_reported_apart(examples):
    ids = sorted(examples)
    values = [0.9 if examples[e].unseen_user else 0.3 for e in ids]
    summary = summarize(rows_for("sft", "full", values, ids), unseen(examples), CONDITIONS, resamples=200)
    assert summary.by_user["unseen"]["sft"]["full"].mean == pytest.approx(0.9)
    assert summary.by_user["seen"]["sft"]["full"].mean == pytest.approx(0.3)
    assert summary.by_user["unseen"]["sft"]["full"].n == 50
    assert summary.n_unseen_examples == 50


def test_missing_judgements_are_excluded_not_zero(examples):
    ids = sorted(examples)[:100]
    values = [math.nan if i % 4 == 0 else 0.8 for i in range(100)]
    summary = summarize(rows_for("sft", "full", values, ids), unseen(examples), CONDITIONS, resamples=200)
    assert summary.scores["sft"]["full"].mean == pytest.approx(0.8)
    assert summary.scores["sft"]["full"].n == 75


def test_bootstrap_is_seeded_and_covers_the_true_mean():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        sample = rng.normal(0.5, 0.2, 60)
        est = Bootstrap(seed=trial, resamples=400).mean(sample)
        covered += est.ci_low <= 0.5 <= est.ci_high
    assert 0.88 <= covered / 200 <= 0.99  # a 95% interval covers about 95% of the time
    x = rng.uniform(size=50)
    assert Bootstrap(seed=7).mean(x) == Bootstrap(seed=7).mean(x)


def test_one_seed_draws_exactly_the_plain_bootstrap_over_examples():
    x = np.random.default_rng(3).uniform(size=40)
    idx = np.random.default_rng([5, 40]).integers(0, 40, size=(300, 40))
    lo, hi = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    est = Bootstrap(seed=5, resamples=300).mean(x)
    assert (est.ci_low, est.ci_high) == (round(float(lo), 6), round(float(hi), 6))


def test_two_level_bootstrap_matches_the_exact_distribution_of_a_small_case():
    """Two seeds x three examples: every outcome of "resample the seeds, then the examples within each
    resampled seed" is enumerated (4 seed draws x 27 x 27 example draws), and the bootstrap's interval and
    centre must match the exact distribution's."""
    import itertools

    cells = np.array([[0.1, 0.5, 0.9], [0.4, 0.6, 0.65]])
    outcomes = []
    for seeds in itertools.product(range(2), repeat=2):
        per_position = [
            [np.mean([cells[s][i] for i in draw]) for draw in itertools.product(range(3), repeat=3)]
            for s in seeds
        ]
        outcomes += [(a + b) / 2 for a in per_position[0] for b in per_position[1]]
    exact = np.array(outcomes)
    est = Bootstrap(seed=0, resamples=100_000).mean(cells)
    assert est.mean == pytest.approx(cells.mean(axis=1).mean(), abs=1e-6)
    lo, hi = np.percentile(exact, [2.5, 97.5])
    assert est.ci_low == pytest.approx(lo, abs=0.01) and est.ci_high == pytest.approx(hi, abs=0.01)
    # Resampling seeds widens the interval beyond what the examples of either seed alone give.
    plain = [Bootstrap(seed=0, resamples=20_000).mean(row) for row in cells]
    assert est.ci_high - est.ci_low > min(p.ci_high - p.ci_low for p in plain)


def test_gains_pair_seeds_and_examples_and_keep_per_seed_values(examples):
    ids = sorted(examples)
    base = np.random.default_rng(0).uniform(0.3, 0.6, len(ids))
    rows = []
    members = {}
    for seed, lift in ((0, 1.1), (1, 1.3), (2, 1.2)):
        for variant, scale in (("grpo", 1.0), ("grpo+fd", lift)):
            name = f"{variant}/seed-{seed}"
            members[name] = Member(variant, seed)
            rows += rows_for(name, "full", np.clip(base * scale * (1 + 0.05 * seed), 0, 1), ids)
    summary = summarize(rows, unseen(examples), CONDITIONS, members=members, gains=GAINS, resamples=1000)
    assert summary.seeds == {"grpo": [0, 1, 2], "grpo+fd": [0, 1, 2]}
    per_seed = {
        s: summary.per_seed["grpo+fd"][s]["full"] / summary.per_seed["grpo"][s]["full"] for s in "012"
    }
    assert per_seed == pytest.approx({"0": 1.1, "1": 1.3, "2": 1.2}, abs=1e-4)
    gain = summary.gains["grpo+fd vs grpo"]["full"]
    # Within a seed the gain is constant across examples: the interval is the spread of the three seeds.
    assert 0.1 <= gain.ci_low < 0.2 < gain.ci_high <= 0.3


def test_persona_use_is_measured_on_the_examples_the_simulator_answered():
    """A simulator that answered a sample is compared with the reference on that sample: where the visible
    fields lift the reference there by less than the minimum, persona use is undefined (NaN), whatever they
    do on the other examples."""
    boot = Bootstrap(0, 200)
    ceiling = np.array([1.0] * 10 + [0.51] * 10)
    blind = np.array(
        [0.0] * 10 + [0.5] * 10
    )  # the persona lifts the reference on the first ten (almost) alone
    everywhere = np.full(20, 0.5)
    sampled = np.array([np.nan] * 10 + [0.6] * 10)  # answered the last ten, where the lift is 0.01
    # Over all twenty: (0.5 - 0.25) / (0.755 - 0.25).
    assert boot.persona_use(everywhere, ceiling, blind).mean == pytest.approx(0.25 / 0.505)
    assert math.isnan(boot.persona_use(sampled, ceiling, blind).mean)
