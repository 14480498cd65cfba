"""Generation spread over worker processes writes exactly the rows of one process."""

from __future__ import annotations

import json

import pytest

from personadrop.data.world import generate_world, world_config, write_world
from personadrop.dropout import parse_conditions
from personadrop.evaluate import EvalTask, evaluate
from personadrop.judges.exact import ExactJudge
from personadrop.simulators import load_simulator
from personadrop.train.variant import train_variant
from personadrop.workers import worker_pool

pytestmark = pytest.mark.slow


def test_two_workers_write_the_rows_and_scores_of_one(tmp_path, capfd):
    data = tmp_path / "world"
    write_world(generate_world(world_config(seed=4, users=40, posts=120)), data)
    run = train_variant("sft", data, tmp_path / "run", profile="quick", progress=False)
    task = EvalTask.load(
        data, split="test", max_examples=40, conditions=parse_conditions("full none only:values items:0.5")
    )
    rows = {}
    for workers in (1, 2):
        sims = {
            "sft": load_simulator(run.path, name="sft", batch_size=16),
            "bayes": load_simulator("bayes", data=data),
        }
        out = tmp_path / f"eval{workers}"
        capfd.readouterr()
        results = evaluate(task, sims, ExactJudge(), out=out, batch_size=24, workers=workers)
        if workers > 1:  # workers draw no library bars of their own (the parent shows progress)
            assert "Loading weights" not in "".join(capfd.readouterr())
        assert results.work.generated == 2 * 4 * 40
        rows[workers] = {
            name: sorted(
                json.dumps(json.loads(line), sort_keys=True) for line in (out / name).read_text().splitlines()
            )
            for name in ("generations.jsonl", "scores.jsonl")
        }
    assert rows[1] == rows[2]

    # A pool that already served other work (a study trains in it first) serves two evaluations in a row
    # with the same processes, and writes the rows of one process.
    conditions = parse_conditions("full only:interests")
    other = EvalTask.load(data, split="test", max_examples=20, conditions=conditions)
    sims = {"sft": load_simulator(run.path, name="sft", batch_size=16)}
    with worker_pool(2) as pool:
        assert pool.submit(sum, [1, 2]).result() == 3
        evaluate(other, sims, ExactJudge(), out=tmp_path / "other", batch_size=24, workers=2, pool=pool)
        before = set(pool._processes)  # the pool's process ids
        assert len(before) == 2
        out = tmp_path / "shared"
        evaluate(
            task,
            {**sims, "bayes": load_simulator("bayes", data=data)},
            ExactJudge(),
            out=out,
            batch_size=24,
            workers=2,
            pool=pool,
        )
        assert set(pool._processes) == before
    shared = {
        name: sorted(
            json.dumps(json.loads(line), sort_keys=True) for line in (out / name).read_text().splitlines()
        )
        for name in ("generations.jsonl", "scores.jsonl")
    }
    assert shared == rows[1]
