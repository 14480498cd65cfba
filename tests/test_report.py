"""The report a researcher reads: summary.json schema, CSV, markdown and the five figures."""

from __future__ import annotations

import csv
import json

import pytest

from personadrop.data.rows import example_from_row
from personadrop.dropout import DEFAULT_CONDITIONS
from personadrop.errors import DataError
from personadrop.evaluate.directory import EvaluationDir, EvaluationMeta
from personadrop.evaluate.runner import run_grid
from personadrop.evaluate.summary import Summary
from personadrop.evaluate.task import EvalTask
from personadrop.models.base import SimulatorRecord
from personadrop.report.writer import write_report

from conftest import humanual_row
from grid_support import OverlapJudge, PartialCopy

VARIANTS = {
    "sft": (0.5, 0.2),
    "grpo": (0.6, 0.2),
    "grpo+fd": (0.65, 0.5),
    "humanlm": (0.7, 0.3),
    "humanlm+fd": (0.75, 0.6),
    "bayes": (0.9, 0.5),
}


def evaluate(path, examples, variants=VARIANTS, judge=None):
    conditions = list(DEFAULT_CONDITIONS)
    meta = EvaluationMeta(
        data="handmade",
        split="test",
        seed=0,
        judge="overlap",
        dimensions=["response", "stance"],
        conditions=conditions,
        variants={v: SimulatorRecord(task="response") for v in variants},
    )
    ev = EvaluationDir.create(path, meta, examples)
    judge = judge or OverlapJudge()
    task = EvalTask(tuple(examples), tuple(conditions), 0, ("response", "stance"))
    run_grid(ev.store, {v: PartialCopy(v, *p) for v, p in variants.items()}, task, judge, progress=False)
    ev.add_usage(judge.name, judge.usage)
    return ev


@pytest.fixture(scope="module")
def examples():
    rows = [
        humanual_row(i, completion=" ".join(f"w{i}_{j}" for j in range(20)), unseen_user=i % 5 == 0)
        for i in range(60)
    ]
    return [example_from_row(r, split="test") for r in rows]


def test_report_files_schema_and_invariants(tmp_path, examples):
    evaluate(tmp_path / "eval", examples)
    summary = write_report([tmp_path / "eval"], tmp_path / "report", resamples=300)
    out = tmp_path / "report"
    on_disk = json.loads((out / "summary.json").read_text())
    assert set(on_disk) >= {"scores", "retention", "dimensions", "judge", "ceiling", "by_user"}
    assert set(on_disk["judge"]) == {
        "name",
        "calls",
        "cache_hits",
        "failures",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert on_disk["judge"]["calls"] == len(DEFAULT_CONDITIONS) * 60 * 2
    for variant, by_condition in on_disk["scores"].items():
        assert on_disk["retention"][variant]["full"] == pytest.approx(1.0)
        for condition, est in by_condition.items():
            assert set(est) == {"mean", "ci_low", "ci_high", "n"}
            assert est["ci_low"] <= est["mean"] <= est["ci_high"], (variant, condition)
    assert set(on_disk["by_user"]) == {"seen", "unseen"}
    assert on_disk["by_user"]["unseen"]["sft"]["full"]["n"] == 12
    assert on_disk["ceiling"]["full"] == pytest.approx(on_disk["scores"]["bayes"]["full"]["mean"], abs=1e-6)
    assert on_disk == json.loads(summary.to_json())
    assert Summary.model_validate(on_disk) == summary  # read back, the same object

    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * len(DEFAULT_CONDITIONS) * 60
    assert {"variant", "condition", "example_id", "score_response", "score_stance", "reply"} <= set(rows[0])

    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [
        "fig1_single_field_vs_full.png",
        "fig2_field_dropout_effect.png",
        "fig3_single_field_all_variants.png",
        "fig4_retention_by_field.png",
        "fig5_item_dropout.png",
        "fig6_persona_use.png",
    ]
    report = (out / "report.md").read_text()
    for needle in (
        "## Headline",
        "### Verdicts on the seed's claims",
        "| GRPO + FD over GRPO (full persona) | +16% |",
        "Persona use",
        "HumanLM + FD",
        "figures/fig5_item_dropout.png",
    ):
        assert needle in report

    # Same results, same bytes.
    write_report([tmp_path / "eval"], tmp_path / "again", resamples=300)
    assert (tmp_path / "again" / "summary.json").read_bytes() == (out / "summary.json").read_bytes()


def test_report_refuses_mixed_judges_and_duplicate_variants(tmp_path, examples):
    evaluate(tmp_path / "a", examples[:10], {"sft": (0.5, 0.2)})
    evaluate(tmp_path / "b", examples[:10], {"sft": (0.5, 0.2)})
    with pytest.raises(DataError, match="appears in both"):
        write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "r")
    with pytest.raises(DataError, match="not an evaluation directory"):
        write_report([tmp_path / "nothing"], tmp_path / "r")


def test_cautions_flag_variants_that_ignore_the_persona_or_stay_below_a_persona_blind_ceiling():
    from personadrop.report.markdown import cautions

    def est(mean, half=0.02):
        return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": 300}

    raw = {
        "scores": {
            "sft": {"full": est(0.20)},
            "grpo": {"full": est(0.39)},
            "humanlm": {"full": est(0.55)},
            "bayes": {"full": est(0.74), "none": est(0.41)},
        },
        "retention_ci": {
            "sft": {"none": est(0.90, 0.05)},
            "grpo": {"none": est(0.97, 0.05)},
            "humanlm": {"none": est(0.50)},
            "bayes": {"none": est(0.55)},
        },
    }
    ignores, weak = cautions(Summary.model_validate(raw))
    # GRPO's none-retention interval reaches 100%
    assert ignores.startswith("GRPO score as well with no persona")
    assert weak.startswith("SFT score below 0.410")  # grpo's interval reaches 0.41: not flagged
    raw["scores"]["sft"]["full"] = est(0.45)
    raw["retention_ci"]["grpo"]["none"] = est(0.80)
    assert cautions(Summary.model_validate(raw)) == []
    # Outputs with no readable reply (scored 0) are flagged from 5% of a condition's outputs on.
    raw["unreadable"] = {"humanlm": {"none": 0.62, "items:0.5": 0.2}, "sft": {"full": 0.04}}
    (unreadable,) = cautions(Summary.model_validate(raw))
    assert unreadable.startswith("HumanLM wrote no readable reply in 62% of its outputs under `none`")
    del raw["unreadable"]
    del raw["scores"]["bayes"]  # real data: no ceiling to compare with
    raw["scores"]["sft"]["full"] = est(0.01)
    assert cautions(Summary.model_validate(raw)) == []


def test_score_figures_draw_the_persona_blind_level(tmp_path, examples):
    """Every figure on the score axis shows the ceiling's `none` score, so a bar below it reads at a glance
    as no better than a perfect simulator that never saw a persona; without a ceiling nothing is drawn."""
    import matplotlib.pyplot as plt

    from personadrop.report import figures

    evaluate(tmp_path / "eval", examples)
    summary = write_report([tmp_path / "eval"], tmp_path / "report", resamples=100)
    blind = summary.scores["bayes"]["none"].mean

    def levels(fig):
        return [
            line.get_ydata()[0]
            for ax in fig.axes
            for line in ax.get_lines()
            if line.get_label().startswith("Bayes-optimal with no persona")
        ]

    for draw in (
        figures.fig_single_field_vs_full,
        figures.fig_dropout_effect,
        figures.fig_single_field_all,
        figures.fig_item_dropout,
    ):
        fig = draw(summary)
        found = levels(fig)
        plt.close(fig)
        assert found and all(y == pytest.approx(blind) for y in found), draw.__name__

    scores = {k: v for k, v in summary.scores.items() if k != "bayes"}
    no_ceiling = summary.model_copy(update={"scores": scores})
    fig = figures.fig_single_field_all(no_ceiling)
    assert levels(fig) == []
    plt.close(fig)
