"""The evaluation grid: same masks for every variant, resumable after a kill, nothing judged twice."""

from __future__ import annotations

import json
import math

import pytest

from personadrop.data.rows import example_from_row
from personadrop.dropout import parse_conditions
from personadrop.evaluate.runner import plan_grid, run_grid
from personadrop.evaluate.store import ResultsStore
from personadrop.evaluate.summary import summarize
from personadrop.evaluate.task import EvalTask
from personadrop.judges.base import JudgeRequest
from personadrop.models.base import SimulationItem, Simulator

from conftest import humanual_row
from grid_support import OverlapJudge, PersonaEcho


@pytest.fixture
def examples():
    rows = []
    for i in range(24):
        row = humanual_row(i, completion=f"NTA honesty matters here {i}", unseen_user=i % 4 == 0)
        rows.append(example_from_row(row, split="test"))
    return rows


CONDITIONS = parse_conditions(["full", "none", "only:values", "items:0.5"])


def task_of(
    examples,
    conditions=CONDITIONS,
    seed=0,
    dimensions=("response", "stance", "emotion", "belief", "value", "goal", "communication"),
):
    return EvalTask(tuple(examples), tuple(conditions), seed, dimensions)


class StatesEcho(PersonaEcho):
    """PersonaEcho answering in HumanLM's inference task (states, then the reply)."""

    inference_task = "states+response"


class KilledAfter(OverlapJudge):
    """A judge whose process is killed (Ctrl-C) at its ``n``-th batch."""

    def __init__(self, n):
        super().__init__()
        self.n, self.batches = n, 0

    def score(self, requests):
        self.batches += 1
        if self.batches == self.n:
            raise KeyboardInterrupt
        return super().score(requests)


def test_every_variant_sees_the_same_masks_and_everything_is_scored(tmp_path, examples):
    a, b = PersonaEcho("a"), StatesEcho("b")
    store = ResultsStore(tmp_path)
    judge = OverlapJudge()
    run_grid(
        store,
        {"a": a, "b": b},
        task_of(examples, seed=3, dimensions=("response", "stance")),
        judge,
        batch_size=10,
        progress=False,
    )
    assert len(store.generations) == 2 * 4 * 24 and len(store.score_rows()) == 2 * 4 * 24
    assert [(e, t) for e, t, _ in a.seen] == [(e, t) for e, t, _ in b.seen]  # same prompts, same order
    assert {task for *_, task in b.seen} == {"states+response"}
    # One request per (condition, example, dimension), holding both variants' replies.
    assert judge.usage.calls == 4 * 24 * 2
    assert len(judge.judged) == 2 * 4 * 24 * 2
    none_rows = [s for s in store.score_rows() if s.condition == "none"]
    assert all(s.scores["response"] < 0.2 for s in none_rows)  # "YTA" shares nothing with the reference
    full_rows = [s for s in store.score_rows() if s.condition == "full"]
    assert all(s.scores["response"] > 0.4 for s in full_rows)


def test_killed_run_resumes_without_losing_or_rejudging_rows(tmp_path, examples):
    variants = {"a": PersonaEcho("a"), "b": PersonaEcho("b")}
    task = task_of(examples, seed=1)
    reference_dir = tmp_path / "whole"
    run_grid(
        ResultsStore(reference_dir),
        variants,
        task,
        OverlapJudge(),
        batch_size=7,
        judge_batch_size=5,
        progress=False,
    )

    killed_dir = tmp_path / "killed"
    judge = KilledAfter(8)  # 7 of 20 judging batches are stored, then the process dies
    with pytest.raises(KeyboardInterrupt):
        run_grid(
            ResultsStore(killed_dir), variants, task, judge, batch_size=7, judge_batch_size=5, progress=False
        )
    partial = ResultsStore(killed_dir)
    assert 0 < len(partial.score_rows()) < len(partial.generations) == 2 * 4 * 24
    # A kill in mid-write leaves a torn last line; reopening cuts it and redoes that row.
    with (killed_dir / "scores.jsonl").open("a") as fh:
        fh.write('{"variant": "a", "cond')
    plan = plan_grid(ResultsStore(killed_dir), ["a", "b"], task, judge.name)
    assert plan.generations_todo == 0 and plan.judge_groups_todo > 0

    fresh_sim = PersonaEcho("a")
    judge.n = 0  # healthy again
    run_grid(
        ResultsStore(killed_dir),
        {"a": fresh_sim, "b": variants["b"]},
        task,
        judge,
        batch_size=7,
        judge_batch_size=5,
        progress=False,
    )
    assert fresh_sim.calls == 0  # no generation redone
    # Across both runs, every (variant, condition, example) was judged once per dimension, and no more.
    assert len(judge.judged) == 2 * 4 * 24 * 7

    whole = {(s.key, json.dumps(s.scores, sort_keys=True)) for s in ResultsStore(reference_dir).score_rows()}
    resumed = {(s.key, json.dumps(s.scores, sort_keys=True)) for s in ResultsStore(killed_dir).score_rows()}
    assert whole == resumed
    by_id = {e.id: e.unseen_user for e in examples}
    assert (
        summarize(ResultsStore(killed_dir).score_rows(), by_id, CONDITIONS).to_json()
        == summarize(ResultsStore(reference_dir).score_rows(), by_id, CONDITIONS).to_json()
    )


def test_unparsable_replies_score_zero_and_judge_failures_stay_missing(tmp_path, examples):
    store = ResultsStore(tmp_path)
    judge = OverlapJudge(fail_ids={examples[0].id, examples[1].id})
    sim = StatesEcho("h", broken_every=5)
    run_grid(
        store, {"h": sim}, task_of(examples, CONDITIONS[:1], dimensions=("response",)), judge, progress=False
    )
    rows = {s.example_id: s.scores["response"] for s in store.score_rows()}
    broken = [g.example_id for g in store.generations.values() if g.reply is None]
    assert len(broken) == 24 // 5
    assert all(rows[e] == 0.0 for e in broken)
    assert all(e not in {g for _, _, g in judge.judged} for e in broken)
    failed = [e for e in (examples[0].id, examples[1].id) if e not in broken]
    assert all(math.isnan(rows[e]) for e in failed)
    summary = summarize(store.score_rows(), {e.id: e.unseen_user for e in examples}, CONDITIONS)
    assert summary.scores["h"]["full"].n == 24 - len(failed)
    # NaN is persisted as null and read back as NaN
    reread = ResultsStore(tmp_path)
    assert all(math.isnan(reread.scores[("h", "full", e, "overlap")].scores["response"]) for e in failed)
    # The report counts the unreadable outputs per variant and condition (its caution reads this).
    from types import SimpleNamespace

    from personadrop.report.writer import _unreadable

    assert _unreadable([SimpleNamespace(store=reread)], {}) == {"h": {"full": round(len(broken) / 24, 4)}}


def test_simulator_returning_wrong_count_is_an_error(tmp_path, examples):
    class Short(Simulator):
        name = "short"

        def generate(self, items: list[SimulationItem]):
            return ["x"]

    with pytest.raises(RuntimeError, match="returned 1 outputs"):
        run_grid(ResultsStore(tmp_path), {"s": Short()}, task_of(examples), OverlapJudge(), progress=False)


def test_judge_request_rejects_unknown_dimension():
    with pytest.raises(ValueError, match="unknown judge dimension"):
        JudgeRequest("e", "ctx", "ref", ("g",), dimension="humor")
