"""Judge agreement: per-dimension correlation and mean absolute difference, failures dropped and counted."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest
from rich.console import Console

from personadrop.judges import JudgeRequest, judge_agreement
from personadrop.judges.agreement import compare_scores
from personadrop.judges.base import Judge

from llm_judge_support import judge_for, requests_with_markers

# The fake server and API-key fixtures (`llm_server`, `llm_keys`).
pytest_plugins = ["llm_judge_fixtures"]


class TableJudge(Judge):
    """A stand-in judge that scores by a function of the generation text."""

    def __init__(self, name: str, fn):
        super().__init__()
        self.name = name
        self.fn = fn

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        return [[self.fn(g) for g in r.generations] for r in requests]


def reqs_over(dimensions: Sequence[str], k: int = 5) -> list[JudgeRequest]:
    return [
        JudgeRequest(f"{d}{i}", "ctx", "ref", tuple(f"{d} {i} {j}" for j in range(k)), d)
        for d in dimensions
        for i in range(2)
    ]


def value(text: str) -> float:
    _, i, j = text.split()
    return (int(i) * 5 + int(j)) / 10


def test_a_monotone_transform_agrees_perfectly_by_rank_and_shows_its_mean_difference():
    reqs = reqs_over(["response", "stance"])
    report = judge_agreement(reqs, TableJudge("a", value), TableJudge("b", lambda t: value(t) ** 2))
    for dim in ("response", "stance", "all"):
        row = report.row(dim)
        assert row.spearman == pytest.approx(1.0) and 0.9 < row.pearson < 1.0
        assert row.mae == pytest.approx(
            sum(
                abs(value(t) - value(t) ** 2)
                for r in reqs
                if dim in ("all", r.dimension)
                for t in r.generations
            )
            / row.n
        )
    assert report.row("response").n == 10 and report.row("all").n == 20
    assert [r.dimension for r in report.rows] == ["response", "stance", "all"]


def test_failed_judgements_are_dropped_and_counted_not_scored_zero():
    reqs = reqs_over(["goal"])
    flaky = TableJudge("flaky", lambda t: math.nan if t.endswith(" 0") else value(t))
    report = judge_agreement(reqs, TableJudge("a", value), flaky)
    row = report.row("goal")
    assert (
        (row.n, row.dropped) == (8, 2) and row.mae == pytest.approx(0.0) and row.pearson == pytest.approx(1.0)
    )


def test_undefined_correlations_are_nan_and_json_has_null():
    reqs = reqs_over(["value"], k=1)
    report = compare_scores(reqs, [[0.5]] * 2, [[0.1], [0.9]], judge_a="const", judge_b="b")
    assert math.isnan(report.row("value").pearson)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["dimensions"]["value"]["pearson"] is None and data["dimensions"]["value"]["n"] == 2
    console = Console(record=True, width=140)
    console.print(report.table())
    text = console.export_text()
    assert "const" in text and "value" in text


def test_mismatched_score_lists_are_refused():
    reqs = reqs_over(["value"], k=2)
    with pytest.raises(ValueError):
        compare_scores(reqs, [[0.1, 0.2]], [[0.1, 0.2]])
    with pytest.raises(ValueError):
        compare_scores(reqs, [[0.1, 0.2], [0.1]], [[0.1, 0.2], [0.3, 0.4]])


def test_an_llm_judge_against_a_local_one(llm_server, llm_keys):
    from fake_llm_server import marker_score

    reqs = requests_with_markers(4, 3, dimension="emotion")
    llm = judge_for(llm_server, "anthropic", None)
    report = judge_agreement(reqs, llm, TableJudge("marker", lambda t: marker_score(t) / 2))
    row = report.row("emotion")
    assert row.n == 12 and row.pearson == pytest.approx(1.0) and row.spearman == pytest.approx(1.0)
    assert report.to_dict()["usage"]["judge_a"]["calls"] == 4
