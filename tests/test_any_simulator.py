"""Any simulator: a model behind an API or a served endpoint, and replies made elsewhere, evaluated like a
trained one. Real clients against real servers on 127.0.0.1: ``personadrop serve``'s app and the fake LLM
server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from personadrop.data.world import generate_world, world_config, write_world
from personadrop.evaluate import EvalTask, evaluate
from personadrop.evaluate.directory import EvaluationDir
from personadrop.judges import make_judge
from personadrop.serve import Served, create_app, running
from personadrop.serve.protocol import ChatMessage, ChatRequest, read_request
from personadrop.simulators import describe_simulator, load_simulator

from fake_llm_server import FakeLLMServer, simulated_reply

CONDITIONS = ["full", "none", "only:values", "only:communication", "items:0.5"]
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "call_timeout": 1.0, "deadline": 10.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=8, users=40, posts=120)), out)
    return out


@pytest.fixture(scope="module")
def task(world) -> EvalTask:
    from personadrop.dropout import parse_conditions

    return EvalTask.load(world, max_examples=10, seed=3, conditions=parse_conditions(CONDITIONS))


def grid_scores(results, name: str) -> dict[str, list[float]]:
    return {c: results.scores(name, c).tolist() for c in CONDITIONS}


# --------------------------------------------------------------------------- a served checkpoint
def test_a_served_checkpoint_scores_what_it_scores_in_process_under_every_condition(task, tmp_path):
    """The embedded base model (a real checkpoint) answers in process and behind `personadrop serve`'s app;
    prompted through the OpenAI protocol it sees the same prompts, and greedy decoding gives the same
    replies, so the same scores, under every condition."""
    judge = make_judge("exact")
    local = load_simulator("world-tiny", name="world-tiny")
    here = evaluate(task, {"world-tiny": local}, judge)
    app = create_app(Served({"world-tiny": load_simulator("world-tiny", name="world-tiny")}))
    with running(app) as url:
        spec = f"openai:world-tiny@{url}/v1"
        name, record = describe_simulator(spec)
        assert name == "openai:world-tiny" and record.external
        remote = load_simulator(spec, api={"cache_dir": tmp_path})
        served = evaluate(task, {name: remote}, judge, out=tmp_path / "eval", records={name: record})
        remote.close()
    assert served.replies(name, "none") == here.replies("world-tiny", "none")
    for condition in CONDITIONS:
        assert served.replies(name, condition) == here.replies("world-tiny", condition), condition
    assert grid_scores(served, name) == grid_scores(here, "world-tiny")
    meta = EvaluationDir.open(tmp_path / "eval").meta
    assert meta.variants[name].external and meta.variants[name].identity["endpoint"].startswith("http")


def test_the_server_reads_our_prompt_protocol_back_exactly(task):
    """What a prompted simulator sends (system message with the masked persona, `Name: text` turns) becomes
    the same item again on the server: the same persona text and the same thread."""
    from personadrop.dropout import Full
    from personadrop.evaluate.grid import grid_item
    from personadrop.prompts import simulator_messages

    for condition in task.conditions:
        for example in task.examples[:4]:
            item = grid_item(condition, example, task.seed)
            messages = simulator_messages(example, item.visible)
            request = ChatRequest(model="m", messages=[ChatMessage(**m) for m in messages])
            back = read_request(request, task="response", default_condition=Full()).item
            assert back.visible.render() == item.visible.render(), condition.name
            assert simulator_messages(back.example, back.visible) == messages


# --------------------------------------------------------------------------- an API model (fake server)
@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_faults_are_retried_a_rerun_makes_no_call_and_cost_is_counted(api, task, tmp_path):
    with FakeLLMServer() as server:
        server.script.extend(["429", "500", "not-json", "hang"])
        server.hang_seconds = 2.0
        url = server.url(api)
        options = {"cache_dir": tmp_path, "prices": {"fake": {"input": 1.0, "output": 2.0}}, **FAST}
        sim = load_simulator(f"{api}:fake@{url}", api=options)
        out = tmp_path / "eval"
        results = evaluate(task, {"ext": sim}, make_judge("exact"), out=out)
        assert results.missing_generations(["ext"]) == (0, len(CONDITIONS) * len(task.examples))
        assert sim.usage.calls == server.requests and sim.ledger.retries == 4
        assert 0 < sim.usage.input_tokens <= server.input_tokens and sim.usage.cost_usd > 0
        # every reply is the one the server wrote for the thread it was sent
        sent = {json.dumps(s.body["messages"][-1]) for s in server.seen}
        for e in task.examples:
            reply = results.store.generations[("ext", "full", e.id)].reply
            assert any(reply == simulated_reply(json.loads(m)["content"]) for m in sent)
        sim.close()
        before = server.requests
        again = load_simulator(f"{api}:fake@{url}", api=options)
        evaluate(task, {"ext": again}, make_judge("exact"), out=tmp_path / "eval-again")
        assert server.requests == before and again.usage.cache_hits == len(CONDITIONS) * len(task.examples)
        again.close()
    usage = json.loads((out / "judge_usage.json").read_text())["simulator ext"]
    assert usage["calls"] >= len(CONDITIONS) * len(task.examples) and usage["cost_usd"] > 0


def test_failed_generations_are_missing_not_zero_and_a_rerun_asks_again(task, tmp_path, cli, world):
    with FakeLLMServer() as server:
        server.default = "500"
        args = [
            "evaluate", "--model", f"openai:fake@{server.openai_url}", "--data", world, "--out",
            tmp_path / "eval", "--conditions", "full none", "--max-examples", "4", "--no-progress",
        ]  # fmt: skip
        code, _, err = cli(*args)
        assert code != 0 and "8 of 8 generations failed" in err and "Traceback" not in err
        assert not (tmp_path / "eval" / "scores.jsonl").exists() or all(
            json.loads(line)["variant"] != "openai:fake"
            for line in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()
        )
        server.default = "ok"
        code, _, err = cli(*args)
        assert code == 0, err
    scores = [json.loads(x) for x in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 8 and all(r["scores"]["response"] is not None for r in scores)


def test_a_missing_key_fails_before_any_work_and_the_dry_run_prices_it_without_one(
    tmp_path, cli, world, monkeypatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    base = ["--data", world, "--out", tmp_path / "eval", "--max-examples", "5", "--no-progress"]
    code, _, err = cli("evaluate", "--model", "anthropic:claude-haiku-4-5", *base)
    assert code != 0 and "ANTHROPIC_API_KEY is not set" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "eval" / "generations.jsonl").exists()
    code, out, err = cli("evaluate", "--model", "anthropic:claude-haiku-4-5", *base, "--dry-run")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("simulator anthropic:claude-haiku-4-5"))
    assert "40 replies to ask for" in line and "$" in line  # 8 conditions x 5 examples, priced


# --------------------------------------------------------------------------- replies made elsewhere
def test_exported_prompts_answered_elsewhere_score_what_the_model_scores_in_process(tmp_path, cli, world):
    """Export the prompts, answer them with a script that loads the model (reading each line's messages as
    a served model would), evaluate the file: the scores of the in-process evaluation; twice, the same."""
    from personadrop.dropout import Full

    prompts = tmp_path / "prompts.jsonl"
    common = ["--data", world, "--conditions", " ".join(CONDITIONS), "--max-examples", "6", "--no-progress"]
    assert cli("evaluate", "--export-prompts", prompts, *common)[0] == 0
    rows = [json.loads(x) for x in prompts.read_text().splitlines()]
    assert len(rows) == len(CONDITIONS) * 6 and rows[0]["messages"][0]["role"] == "system"

    model = load_simulator("world-tiny")  # the job elsewhere: read each prompt, answer it greedily
    items = [
        read_request(
            ChatRequest(model="m", messages=[ChatMessage(**m) for m in r["messages"]]),
            task="response",
            default_condition=Full(),
        ).item
        for r in rows
    ]
    answers = model.generate(items)
    replies = tmp_path / "replies.jsonl"
    replies.write_text(
        "".join(
            json.dumps({"id": r["id"], "condition": r["condition"], "reply": a}) + "\n"
            for r, a in zip(rows, answers, strict=True)
        )
    )
    for out, spec in (("a", f"replies:{replies}"), ("b", f"replies:{replies}"), ("here", "world-tiny")):
        code, _, err = cli("evaluate", "--model", spec, "--out", tmp_path / out, *common)
        assert code == 0, err

    def scores(out: str) -> dict:
        lines = (tmp_path / out / "scores.jsonl").read_text().splitlines()
        return {(r["condition"], r["example_id"]): r["scores"] for r in map(json.loads, lines)}

    assert scores("a") == scores("b") == scores("here")
    assert EvaluationDir.open(tmp_path / "a").meta.variants["replies:replies"].external


def test_a_replies_file_is_held_to_the_standard_of_data(tmp_path, cli, world):
    prompts = tmp_path / "prompts.jsonl"
    common = ["--data", world, "--conditions", "full none", "--max-examples", "3", "--no-progress"]
    cli("evaluate", "--export-prompts", prompts, *common)
    rows = [json.loads(x) for x in prompts.read_text().splitlines()]
    answered = [{"id": r["id"], "condition": r["condition"], "reply": "ok then"} for r in rows]

    def run(name: str, lines: list[dict | str]) -> tuple[int, str, str]:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
        return cli("evaluate", "--model", f"replies:{path}", "--out", tmp_path / f"out-{name}", *common)

    code, _, err = run("short", answered[:-2])
    assert code != 0 and "2 of 6 replies the evaluation needs are missing" in err
    assert rows[-1]["id"] in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out-short" / "generations.jsonl").exists()  # nothing was done
    clash = {**answered[0], "reply": "something else"}
    code, _, err = run("clash", [*answered, clash])
    assert code != 0 and "clash.jsonl:7" in err and "different reply on line 1" in err
    code, _, err = run("broken", [*answered[:2], "{not json", *answered[2:]])
    assert code != 0 and "broken.jsonl:3: not a JSON object" in err
    extra = {"id": "not-in-the-sample", "condition": "full", "reply": "hello"}
    code, out, err = run("extra", [*answered, answered[0], extra])  # a repeat with the same reply is fine
    assert code == 0, err
    assert "does not ask for, ignored: 1" in " ".join(out.split())
    ev = EvaluationDir.open(tmp_path / "out-extra")
    assert len(ev.store.generations) == 6


# --------------------------------------------------------------------------- in a study
def test_a_study_evaluates_external_simulators_beside_its_variants_and_labels_them(tmp_path):
    from personadrop.study import Study, load_study_config

    with FakeLLMServer() as server:
        cfg = load_study_config(
            None,
            "quick",
            variants=["bayes"],
            simulators=[
                {"spec": f"openai:fake@{server.openai_url}", "concurrency": 4},
                # A checkpoint prompted as it is, on a seeded sample of 3 of the 6 examples.
                {"spec": "world-tiny", "name": "prompted-tiny", "sample": 3, "max_new_tokens": 8},
            ],
            data={"world": {"users": 40, "posts": 120}, "max_eval_examples": 6},
            evaluation={"conditions": ["full", "none", "only:values"]},
        )
        study = Study(cfg, tmp_path / "study", progress=False)
        plan = "\n".join(study.plan().lines())
        assert "simulator openai:fake: 18 replies to ask for" in plan
        assert "prompted-tiny: a sample of 3 = 45 generations" in plan  # 18 + 18 + 3 x 3
        summary = study.run()
        asked = server.requests
        Study(cfg, tmp_path / "study", progress=False).run()  # done: no call made again
        assert server.requests == asked == 18
    info = summary.variants["openai:fake"]
    assert info.kind == "external" and info.label == "openai:fake (external)"
    assert set(summary.scores["openai:fake"]) >= {"full", "none", "only:values"}
    report = (tmp_path / "study" / "report" / "report.md").read_text()
    assert "openai:fake (external)" in report
    assert "External simulators (`openai:fake`, `prompted-tiny`)" in report
    # The sampled one answered its 3 examples under every condition, and nothing else; none is missing.
    ev = EvaluationDir.open(tmp_path / "study" / "eval")
    answered = {
        (g.condition, g.example_id) for g in ev.store.generations.values() if g.variant == "prompted-tiny"
    }
    examples = {e for _, e in answered}
    assert len(examples) == 3 and len(answered) == 9
    assert examples == {e.id for e in study.task().sample(3).examples}
    assert summary.variants["prompted-tiny"].sample == 3 and not summary.missing
    assert "prompted-tiny (external): 3 of 6" in report


def test_a_sampled_simulator_answers_its_sample_and_is_not_missing_the_rest(task):
    from personadrop.models.base import SimulatorRecord

    sims = {
        "all": load_simulator("bayes", data=task.source),
        "some": load_simulator("bayes", data=task.source),
    }
    results = evaluate(
        task, sims, make_judge("exact"), records={"some": SimulatorRecord(sample=2)}, progress=False
    )
    by_name = {}
    for g in results.store.generations.values():
        by_name.setdefault(g.variant, set()).add(g.example_id)
    assert by_name["all"] == {e.id for e in task.examples} and len(by_name["some"]) == 2
    assert results.missing_generations(["all", "some"]) == (0, len(task.cells()) + 2 * len(task.conditions))


def test_a_study_config_refuses_a_trained_variant_among_its_simulators():
    from personadrop.errors import ConfigError
    from personadrop.study import load_study_config

    with pytest.raises(ConfigError, match="'grpo' is not a simulator"):
        load_study_config(None, "quick", simulators=["grpo"])
    with pytest.raises(ConfigError, match="a variant of the study"):
        load_study_config(None, "quick", simulators=["bayes"])
    with pytest.raises(ConfigError, match="does not take top_q"):
        load_study_config(None, "quick", simulators=[{"spec": "world-tiny", "top_q": 0.5}])
    with pytest.raises(ConfigError, match="sample"):
        load_study_config(None, "quick", simulators=[{"spec": "world-tiny", "sample": 0}])


def test_a_prompted_api_model_plays_the_user_in_a_conversation(tmp_path, cli, task):
    """`simulate --user openai:...`: the API model answers as the user, asked with the persona under the
    condition (the system message shows `Interests: Missing` under only:values)."""
    example = task.examples[0]
    persona = tmp_path / "persona.json"
    persona.write_text(json.dumps(example.persona.to_dict()))
    out = tmp_path / "conversation.jsonl"
    with FakeLLMServer() as server:
        code, _, err = cli(
            "simulate", "--user", f"openai:fake@{server.openai_url}", "--agent",
            f"openai:agent@{server.openai_url}", "--persona", persona, "--opening", "Hello, what happened?",
            "--out", out, "--turns", "2", "--condition", "only:values",
        )  # fmt: skip
        asked = [s.body for s in server.seen if s.body["model"] == "fake"]
    assert code == 0, err
    turns = [json.loads(line) for line in out.read_text().splitlines()]
    assert [t["speaker"] for t in turns] == ["agent", "user", "agent", "user"]
    assert turns[1]["content"] == simulated_reply("Agent: Hello, what happened?")  # a named turn
    system = asked[0]["messages"][0]["content"]
    assert system.startswith("You are HUMAN") and "Interests: Missing" in system and "Values:" in system
    code, _, err = cli(
        "simulate", "--user", "replies:x.jsonl", "--agent", "openai:a@http://127.0.0.1:9/v1", "--persona",
        persona, "--opening", "Hi", "--out", tmp_path / "c2.jsonl",
    )  # fmt: skip
    assert code != 0 and "not a conversation" in err


def test_a_study_written_before_external_simulators_existed_resumes(tmp_path):
    import yaml

    from personadrop.errors import ConfigError
    from personadrop.study import Study, load_study_config

    cfg = load_study_config(
        None, "quick", variants=["bayes"], data={"world": {"users": 30, "posts": 80}, "max_eval_examples": 4}
    )
    Study(cfg, tmp_path / "s", progress=False).run()
    stored = yaml.safe_load((tmp_path / "s" / "study.yaml").read_text())
    assert stored.pop("simulators") == []
    (tmp_path / "s" / "study.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    Study(cfg, tmp_path / "s", progress=False).run()  # an empty new setting is no change
    other = load_study_config(
        None,
        "quick",
        variants=["bayes"],
        simulators=["replies:x.jsonl"],
        data={"world": {"users": 30, "posts": 80}, "max_eval_examples": 4},
    )
    with pytest.raises(ConfigError, match="different config"):
        Study(other, tmp_path / "s", progress=False).run()
    # A listed simulator is written as it was given: `name` and `sample` appear only when set, so a study
    # that listed simulators before they existed holds the same config.
    from personadrop.study.config import dump_config

    listed = yaml.safe_load(dump_config(other))["simulators"]
    assert listed == [{"spec": "replies:x.jsonl"}]
