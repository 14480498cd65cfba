"""Real-sized HUMANUAL rows (long personas, threads up to ~37,000 characters, replies up to ~800 words) on
every model path: a checkpoint cuts the thread to its context and keeps the persona whole; an API model is
sent it whole; `data render --model` shows the cut."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from long_rows import long_rows
from personadrop.cli import main
from personadrop.data.humanual import load_examples
from personadrop.dropout import parse_conditions
from personadrop.evaluate import EvalTask, evaluate
from personadrop.evaluate.grid import grid_item
from personadrop.judges import make_judge
from personadrop.simulators import load_simulator

from fake_llm_server import FakeLLMServer

CONDITIONS = "full none only:values items:0.5"


@pytest.fixture
def rows_file(tmp_path, aita_posts) -> Path:
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in long_rows(aita_posts, n=4)))
    return path


def test_the_fixture_is_real_sized(rows_file):
    rows = [json.loads(x) for x in rows_file.read_text().splitlines()]
    personas = [len(r["persona"]) for r in rows]
    threads = [len(r["prompt"]) for r in rows]
    assert min(personas) >= 3_000 and max(personas) <= 4_500
    assert min(threads) >= 20_000 and max(threads) <= 40_000
    assert max(len(r["completion"].split()) for r in rows) >= 300
    examples = load_examples(rows_file).examples
    persona = examples[0].persona
    assert len(persona.field("interests").items) == 10
    assert all("NA" not in item for item in persona.field("demographics").items)  # unknowns dropped


def test_a_checkpoint_cuts_the_thread_to_its_context_and_keeps_the_persona_whole(rows_file):
    task = EvalTask.load(
        rows_file, split=None, conditions=parse_conditions(CONDITIONS), dimensions=["response"]
    )
    model = load_simulator("world-tiny")  # a context of 1,024 positions
    budget = model.prompts.max_prompt_tokens
    assert budget is not None and budget <= 1024
    for condition in task.conditions:
        for example in task.examples:
            item = grid_item(condition, example, task.seed)
            messages = model.prompts.messages(example, item.visible)
            assert item.visible.render() in messages[0]["content"]  # the persona, whole
            last = example.context[-1]
            assert messages[-1]["content"].endswith(last.content[-20:])  # the latest turn's end
            if model.prompts.count(messages[0]["content"]) + 100 < budget:
                assert model.prompts.count(model.prompts.render(messages)) <= budget + 8
            else:  # a persona longer than the context (a 1,024-position toy): only the last turn's end
                assert len(messages) == 2 and messages[1]["content"].startswith(f"{last.speaker}: ... ")
    results = evaluate(task, {"tiny": model}, make_judge("embedding"))
    for condition in task.condition_names:
        scores = results.scores("tiny", condition)
        assert len(scores) == 4 and all(math.isfinite(s) for s in scores)


def test_data_render_shows_the_cut(rows_file, capsys):
    main(["data", "render", str(rows_file), "--model", "world-tiny", "--condition", "only:values"])
    text = capsys.readouterr().out
    assert "the thread is cut to the budget" in " ".join(text.split())
    assert "Values:" in text and "Interests: Missing" in text


def test_an_api_model_is_sent_the_whole_thread(rows_file, tmp_path):
    task = EvalTask.load(rows_file, split=None, conditions=parse_conditions("full"), dimensions=["response"])
    with FakeLLMServer() as server:
        sim = load_simulator(f"openai:fake@{server.openai_url}", api={"cache_dir": tmp_path})
        results = evaluate(task, {"api": sim}, make_judge("embedding"))
        sim.close()
        sent = [s.body["messages"] for s in server.seen]
    assert len(sent) == len(task.examples)
    for example in task.examples:
        thread = sum(len(t.speaker) + 2 + len(t.content) for t in example.context)
        assert any(sum(len(m["content"]) for m in messages[1:]) == thread for messages in sent)
    assert all(math.isfinite(s) for s in results.scores("api", "full"))
