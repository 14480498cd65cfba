"""Hostile and careless input through the command line: one line on stderr and a non-zero exit, no traceback,
no runaway memory, no rows mixed or paid for twice."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Response
from filelock import FileLock

from personadrop.data.world import generate_world, world_config, write_world
from personadrop.files import LOCK_FILE

from conftest import humanual_row
from fake_llm_server import FakeLLMServer

pytest_plugins = ["llm_judge_fixtures"]


def one_line_error(code: int, err: str) -> str:
    """The error line, after checking that it is one line with a non-zero exit and no traceback."""
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def small_world_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=5, users=40, posts=120)), out)
    return out


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def spawn(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "personadrop", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


# --------------------------------------------------------------------------- 1. one very long reply
def test_one_million_word_reply_is_skipped_with_a_count_and_memory_stays_bounded(tmp_path, cli):
    rows = [humanual_row(i) for i in range(12)]
    rows[3]["completion"] = "word " * 1_000_000
    data = write_rows(tmp_path / "data" / "train.jsonl", rows)
    code, out, _ = cli("data", "inspect", data)
    assert code == 0 and "1 replies are longer than 512 words" in " ".join(out.split())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "personadrop",
            "train",
            "--method",
            "sft",
            "--profile",
            "quick",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb < 2 * 1024 * 1024, f"peak memory {peak_kb / 1024:.0f} MB"
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["skipped_overlong"] == 1
    assert meta["decoding"]["max_new_tokens"] <= 512
    assert "longer than" in proc.stderr


# --------------------------------------------------------------------------- 2, 5. failed judgements
def test_failed_judgements_are_retried_on_resume_and_too_many_fail_the_run(tmp_path, cli, small_world_dir):
    with FakeLLMServer() as server:
        server.default = "500"
        out = tmp_path / "eval"
        judge = f"openai:fake@{server.openai_url}"
        args = (
            "evaluate",
            "--model",
            "bayes",
            "--data",
            small_world_dir,
            "--out",
            out,
            "--judge",
            judge,
            "--conditions",
            "full",
            "--max-examples",
            "6",
            "--dimensions",
            "response",
            "--no-progress",
        )
        line = one_line_error(*cli(*args)[::2])
        assert "6 of 6 judgements failed" in line and "again" in line
        server.default = "not-json"  # a 200 with an HTML body is a fault worth retrying, not a crash
        line = one_line_error(*cli(*args)[::2])
        assert "6 of 6 judgements failed" in line
        before = server.requests
        server.default = "ok"
        code, _, err = cli(*args)
        assert code == 0, err
        assert server.requests > before  # the failed judgements were asked again
        rows = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
        final = {(r["variant"], r["condition"], r["example_id"]): r["scores"]["response"] for r in rows}
        assert len(final) == 6 and all(v is not None for v in final.values())
        code, _out_text, _ = cli("report", out, "--out", tmp_path / "report", "--resamples", "50")
        assert code == 0 and json.loads((tmp_path / "report" / "summary.json").read_text())["missing"] == {}


def test_the_report_counts_missing_judgements_per_cell(tmp_path, cli, small_world_dir):
    with FakeLLMServer() as server:
        server.default = "500"
        out = tmp_path / "eval"
        cli(
            "evaluate",
            "--model",
            "bayes",
            "--data",
            small_world_dir,
            "--out",
            out,
            "--judge",
            f"openai:fake@{server.openai_url}",
            "--conditions",
            "full none",
            "--max-examples",
            "4",
            "--dimensions",
            "response",
            "--no-progress",
            "--max-failure-share",
            "1",
        )
    _code, text, _ = cli("report", out, "--out", tmp_path / "report", "--resamples", "50")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["missing"] == {"bayes": {"full": 4, "none": 4}}
    assert "8 judgements failed" in " ".join(text.split())
    assert "## Missing judgements" in (tmp_path / "report" / "report.md").read_text()


# --------------------------------------------------------------------------- 3. one process per directory
def test_a_second_process_on_a_busy_evaluation_directory_is_refused(tmp_path, small_world_dir):
    out = tmp_path / "eval"
    with FakeLLMServer(latency=8.0) as server:  # long enough for a second process to start meanwhile
        args = (
            "evaluate",
            "--model",
            "bayes",
            "--data",
            small_world_dir,
            "--out",
            out,
            "--judge",
            f"openai:fake@{server.openai_url}",
            "--conditions",
            "full",
            "--max-examples",
            "8",
            "--dimensions",
            "response",
            "--no-progress",
        )
        first = spawn(*args)
        deadline = time.time() + 60
        while server.requests == 0 and time.time() < deadline:  # the first holds the directory now
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "personadrop", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "in use by another personadrop process" in one_line_error(second.returncode, second.stderr)
        first.communicate(timeout=120)
        assert first.returncode == 0
        calls = server.requests
    rows = (out / "scores.jsonl").read_text().splitlines()
    assert len(rows) == len({json.dumps(json.loads(r)["example_id"]) for r in rows}) == 8
    usage = json.loads((out / "judge_usage.json").read_text())
    assert usage["openai:fake"]["calls"] == calls  # counted once


def test_a_study_directory_held_by_another_process_is_refused(tmp_path, cli):
    out = tmp_path / "study"
    out.mkdir()
    with FileLock(out / LOCK_FILE, timeout=0):  # as another process would hold it (flock is per open file)
        proc = subprocess.run(
            [sys.executable, "-m", "personadrop", "study", "--profile", "quick", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "in use by another personadrop process" in one_line_error(proc.returncode, proc.stderr)
    assert not (out / "runs").exists()


# --------------------------------------------------------------------------- 4. one model per variant name
def test_an_evaluation_directory_refuses_another_model_under_the_same_name(tmp_path, cli, small_world_dir):
    runs = []
    for copy, seed in enumerate((0, 0)):  # two runs of the same variant and seed: the same stored name
        run = tmp_path / f"sft-{copy}"
        code, _, err = cli(
            "train",
            "--method",
            "sft",
            "--profile",
            "quick",
            "--data",
            small_world_dir,
            "--out",
            run,
            "--seed",
            seed,
            "--no-progress",
        )
        assert code == 0, err
        runs.append(run)
    args = (
        "--data",
        small_world_dir,
        "--out",
        tmp_path / "eval",
        "--conditions",
        "full",
        "--max-examples",
        "3",
        "--dimensions",
        "response",
        "--no-progress",
    )
    assert cli("evaluate", "--model", runs[0], *args)[0] == 0
    line = one_line_error(*cli("evaluate", "--model", runs[1], *args)[::2])
    assert "another model under the name 'sft/seed-0'" in line
    assert cli("evaluate", "--model", runs[0], *args)[0] == 0  # the same run resumes


# --------------------------------------------------------------------------- 6. text is never markup
@pytest.mark.parametrize(
    "args",
    [
        ("data", "render", "DATA", "--condition", "bogus:thing"),
        ("data", "render", "DATA", "--condition", ""),
        ("data", "render", "DATA", "--task", "[/x]"),
        ("data", "render", "DATA", "--split", "[/x]"),
        ("data", "inspect", "[/x]/data.jsonl"),
        ("evaluate", "--model", "bayes", "--data", "DATA", "--out", "OUT", "--judge", "[/x]"),
        (
            "train",
            "--method",
            "sft",
            "--data",
            "DATA",
            "--out",
            "OUT",
            "--judge",
            "[bold]x[/bold]",
            "--train-condition",
            "[/x]",
        ),
    ],
)
def test_bracketed_text_in_arguments_is_printed_not_interpreted(tmp_path, cli, args):
    data = write_rows(tmp_path / "test.jsonl", [humanual_row(0)])
    args = tuple(str(data) if a == "DATA" else str(tmp_path / "out") if a == "OUT" else a for a in args)
    line = one_line_error(*cli(*args)[::2])
    assert "error" in line


def test_bracketed_ids_field_names_and_markup_in_data_are_shown_literally(tmp_path, cli):
    row = humanual_row(0, id="[/x]", persona=json.dumps({"values": ["[bold]x[/bold] above all"]}))
    data = write_rows(tmp_path / "test.jsonl", [row])
    code, out, err = cli("data", "render", data, "--condition", "full")
    assert code == 0, err
    assert "[bold]x[/bold] above all" in out and "[/x]" in out
    bad = write_rows(tmp_path / "bad" / "test.jsonl", [humanual_row(0, persona=json.dumps({"[/y]": ["z"]}))])
    assert "field '[/y]'" in one_line_error(*cli("data", "inspect", bad)[::2])


def test_a_study_name_with_brackets_is_printed_literally(tmp_path, cli):
    config = tmp_path / "study.yaml"
    config.write_text("name: '[/x] [bold]demo[/bold]'\n")
    code, out, err = cli("study", "--config", config, "--dry-run")
    assert code == 0, err
    assert "[/x] [bold]demo[/bold]" in out


# --------------------------------------------------------------------------- 7, 9. cheap checks first
def test_a_reward_judge_without_its_key_fails_before_the_warm_start(
    tmp_path, cli, monkeypatch, small_world_dir
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    for judge, needle in (
        ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY is not set"),
        ("bogus", "unknown judge"),
    ):
        start = time.perf_counter()
        line = one_line_error(
            *cli(
                "train",
                "--method",
                "grpo",
                "--profile",
                "quick",
                "--data",
                small_world_dir,
                "--out",
                tmp_path / judge.replace(":", "-"),
                "--judge",
                judge,
            )[::2]
        )
        assert needle in line and time.perf_counter() - start < 10
        assert not (tmp_path / judge.replace(":", "-") / "sft").exists()


def test_a_study_fails_before_training_on_a_missing_split_and_keeps_no_config(tmp_path, cli, monkeypatch):
    data = write_rows(tmp_path / "data" / "train.jsonl", [humanual_row(i) for i in range(20)])
    config = tmp_path / "study.yaml"
    config.write_text(f"data: {{path: {data.parent}}}\nvariants: [sft]\n")
    line = one_line_error(
        *cli("study", "--config", config, "--profile", "quick", "--out", tmp_path / "s")[::2]
    )
    assert "no 'test' split" in line
    assert not (tmp_path / "s" / "runs").exists() and not (tmp_path / "s" / "study.yaml").exists()
    # A failed key check leaves nothing behind either: the fix the error suggests is then accepted.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    line = one_line_error(
        *cli("study", "--profile", "quick", "--out", tmp_path / "k", "--judge", "anthropic")[::2]
    )
    assert "ANTHROPIC_API_KEY" in line and not (tmp_path / "k" / "study.yaml").exists()


def test_invalid_decoding_fails_the_dry_run(tmp_path, cli):
    config = tmp_path / "study.yaml"
    config.write_text("evaluation: {decoding: {temprature: 0.3}}\n")
    assert "evaluation.decoding.temprature" in one_line_error(
        *cli("study", "--config", config, "--dry-run")[::2]
    )


# --------------------------------------------------------------------------- 8. skipping bad training rows
def test_bad_training_rows_are_skipped_when_asked_and_the_hint_fits_the_command(tmp_path, cli):
    rows = [humanual_row(i) for i in range(20)]
    rows[4]["persona"] = '{"values": 3}'
    data = write_rows(tmp_path / "train.jsonl", rows)
    line = one_line_error(
        *cli(
            "train",
            "--method",
            "sft",
            "--profile",
            "quick",
            "--data",
            data,
            "--out",
            tmp_path / "a",
            "--no-progress",
        )[::2]
    )
    assert "train.jsonl:5" in line and "--on-bad-row skip" in line
    code, _, err = cli(
        "train",
        "--method",
        "sft",
        "--profile",
        "quick",
        "--data",
        data,
        "--out",
        tmp_path / "b",
        "--on-bad-row",
        "skip",
        "--no-progress",
    )
    assert code == 0, err
    from personadrop.study import Study, load_study_config

    cfg = load_study_config(
        None, "quick", data={"path": str(data.parent), "on_bad_row": "skip"}, variants=["sft"]
    )
    assert all(job.on_bad_row == "skip" for job in Study(cfg, tmp_path / "s")._jobs())


# --------------------------------------------------------------------------- 11. no silent overwrite
def test_world_refuses_a_directory_holding_files_unless_forced(tmp_path, cli):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("mine")
    args = ("world", "--out", tmp_path / "w", "--users", "20", "--posts", "40", "--no-ceiling")
    assert "--force" in one_line_error(*cli(*args)[::2])
    assert cli(*args, "--force")[0] == 0 and (tmp_path / "w" / "world.json").exists()


# ---------------------------------------------------------------------- 12, 13. one line, never a traceback
def test_paths_and_values_a_user_gets_wrong_end_in_one_line(tmp_path, cli, small_world_dir):
    afile = tmp_path / "afile"
    afile.write_text("x")
    binary = tmp_path / "config.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "evaluation.json").write_text("{corrupt")
    (tmp_path / "eval" / "examples.json").write_text("{}")
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    (tmp_path / "runs").mkdir()
    cases = [
        (("study", "--profile", "quick", "--out", afile), "not a directory"),
        (("train", "--method", "sft", "--data", small_world_dir, "--out", afile), "not a directory"),
        (("evaluate", "--model", "bayes", "--data", small_world_dir, "--out", afile), "not a directory"),
        (("train", "--method", "sft", "--data", small_world_dir, "--out", afile / "sub"), "not a directory"),
        (("study", "--config", binary, "--dry-run"), "config"),
        (("report", small_world_dir, "--out", tmp_path / "r", "--resamples", "0"), "resamples"),
        (("report", tmp_path / "eval", "--out", tmp_path / "r"), "corrupt"),
        (
            (
                "evaluate",
                "--model",
                "bayes",
                "--data",
                small_world_dir,
                "--out",
                tmp_path / "e",
                "--max-examples",
                "-3",
            ),
            "max-examples",
        ),
        (
            ("judge-agreement", tmp_path / "eval", "--judges", "exact,exact", "--max-groups", "-1"),
            "max-groups",
        ),
        (("data", "inspect", fifo), "not a regular file"),
        (("data", "inspect", loop), "symbolic link"),
        (("data", "inspect", tmp_path / "runs" / "wrld"), "no such file or directory"),
    ]
    for args, needle in cases:
        line = one_line_error(*cli(*args)[::2])
        assert needle in line.lower(), (args, line)


def test_rows_that_are_hostile_json_are_bad_rows(tmp_path, cli):
    rows = [
        json.dumps(humanual_row(0)),
        "[" * 100_000 + "]" * 100_000,
        json.dumps(humanual_row(1, completion="a \ud800 b"), ensure_ascii=True),
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(rows) + "\n")
    line = one_line_error(*cli("data", "inspect", data)[::2])
    assert "train.jsonl:2" in line and "nested too deeply" in line
    code, out, _err = cli("data", "inspect", data, "--on-bad-row", "skip", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["rows"] == 1 and summary["bad_rows"] == 2
    assert "surrogate" in summary["bad_row_examples"][1] or "unicode" in summary["bad_row_examples"][1]


def test_control_characters_from_data_do_not_reach_the_terminal(tmp_path, cli):
    data = write_rows(tmp_path / "test.jsonl", [humanual_row(0, completion="x", post="clear \x1b[2J screen")])
    code, out, _ = cli("data", "render", data)
    assert code == 0 and "\x1b" not in out and "\\x1b[2J" in out


def test_credentials_in_a_judge_url_never_reach_the_study_directory(tmp_path):
    from personadrop.study import dump_config, load_study_config

    cfg = load_study_config(None, "quick", judge="openai:m@http://alice:s3cret@127.0.0.1:9/v1")
    assert "s3cret" not in dump_config(cfg) and "***@127.0.0.1" in dump_config(cfg)


def test_training_on_a_file_named_test_warns(tmp_path, cli):
    data = write_rows(tmp_path / "test.jsonl", [humanual_row(i) for i in range(12)])
    code, _, err = cli(
        "train",
        "--method",
        "sft",
        "--profile",
        "quick",
        "--data",
        data,
        "--out",
        tmp_path / "r",
        "--no-progress",
    )
    assert code == 0 and "test split" in err


def test_a_killed_study_takes_its_training_workers_with_it(tmp_path):
    import psutil

    proc = spawn("study", "--profile", "quick", "--out", tmp_path / "s", "--no-progress")
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120
    workers: list[psutil.Process] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [c for c in parent.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) >= 2, "the study did not start its training workers"
    proc.kill()
    proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, [p.pid for p in alive]


# ====================================================================== issue #29: hostile input, round two
def stub_app(answer) -> FastAPI:
    """An OpenAI-compatible chat endpoint whose answer body is ``answer(request body)``."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> Response:
        payload = answer(body)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(raw, media_type="application/json")

    return app


def completion_of(text: str) -> dict:
    message = {"role": "assistant", "content": text}
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


@pytest.fixture(scope="module")
def conversation(small_world_dir) -> dict:
    """What `simulate` needs: a persona file and an opening post from the world."""
    from personadrop.data.humanual import load_examples

    example = load_examples(small_world_dir, split="test").examples[0]
    return {"persona": example.persona.to_dict(), "opening": example.context[0].content}


def simulate_args(tmp_path: Path, conversation: dict, user: str, agent: str, *extra: str) -> tuple:
    persona = tmp_path / "persona.json"
    if not persona.exists():
        tmp_path.mkdir(parents=True, exist_ok=True)
        persona.write_text(json.dumps(conversation["persona"]))
    return (
        "simulate",
        "--user",
        user,
        "--agent",
        f"openai:stub@{agent}",
        "--persona",
        persona,
        "--opening",
        conversation["opening"],
        "--out",
        tmp_path / "conversation.jsonl",
        *extra,
    )


# --------------------------------------------------------------------------- 4. simulate's remote failures
def test_simulate_answers_every_remote_failure_in_one_line(tmp_path, cli, conversation, small_world_dir):
    from personadrop.serve import Served, create_app, running
    from personadrop.serve.server import free_port
    from personadrop.simulators import load_simulator

    agent = stub_app(lambda body: completion_of("Tell me more."))
    no_choice = stub_app(lambda body: {**completion_of("x"), "choices": []})
    garbage = stub_app(lambda body: bytes(range(256)))
    bayes = create_app(Served({"bayes": load_simulator("bayes", data=small_world_dir)}))
    with (
        running(agent) as agent_url,
        running(no_choice) as no_choice_url,
        running(garbage) as garbage_url,
        running(bayes) as bayes_url,
        FakeLLMServer(hang_seconds=30) as fake,
    ):
        agent_v1 = agent_url + "/v1"
        cases = [
            (f"http://127.0.0.1:{free_port()}/v1#m", "cannot connect"),
            (f"{no_choice_url}/v1#m", "no choice"),
            (f"{garbage_url}/v1#m", "not a chat completion"),
            (f"{bayes_url}/v1#nope", "does not exist"),
        ]
        for user, needle in cases:
            line = one_line_error(
                *cli(*simulate_args(tmp_path / needle[:6], conversation, user, agent_v1))[::2]
            )
            assert needle in line and "simulated user" in line, line
        fake.default = "500"
        line = one_line_error(
            *cli(*simulate_args(tmp_path / "500", conversation, fake.openai_url + "#m", agent_v1))[::2]
        )
        assert "status 500" in line
        fake.default = "hang"
        start = time.perf_counter()
        args = simulate_args(
            tmp_path / "hang", conversation, fake.openai_url + "#m", agent_v1, "--timeout", "0.5"
        )
        line = one_line_error(*cli(*args)[::2])
        assert "no answer within 0.5 s" in line and time.perf_counter() - start < 20
        # The agent's side fails the same way.
        args = simulate_args(tmp_path / "agent", conversation, f"{bayes_url}/v1#bayes", no_choice_url + "/v1")
        assert "the agent" in one_line_error(*cli(*args)[::2])
    for content, needle in (("[1, 2]", "must be an object"), ("{not json", "does not parse")):
        (tmp_path / "bad").mkdir(exist_ok=True)
        (tmp_path / "bad" / "persona.json").write_text(content)
        args = simulate_args(
            tmp_path / "bad", conversation, "http://127.0.0.1:9/v1#m", "http://127.0.0.1:9/v1"
        )
        line = one_line_error(*cli(*args)[::2])
        assert "--persona" in line and needle in line, line


# --------------------------------------------------------------------------- 5, 6. simulate's stored turns
def test_simulate_repairs_a_torn_last_turn_and_caps_an_oversized_one(
    tmp_path, cli, conversation, small_world_dir
):
    from personadrop.limits import MAX_TURN_CHARS

    agent = stub_app(lambda body: completion_of("word " * 300_000))  # 1.5 MB: past every limit
    with running_app(agent) as agent_url:
        args = simulate_args(
            tmp_path, conversation, "bayes", agent_url + "/v1", "--data", str(small_world_dir)
        )
        code, _, err = cli(*args, "--turns", "1")
        assert code == 0, err
        out = tmp_path / "conversation.jsonl"
        with out.open("a") as fh:
            fh.write('{"turn": 2, "speaker": "age')  # a kill in mid-write
        code, _, err = cli(*args, "--turns", "3")
        assert code == 0, err
        code, _, err = cli(*args, "--turns", "4")  # and it goes on from there
        assert code == 0, err
    turns = [json.loads(line) for line in out.read_text().splitlines()]
    assert [t["speaker"] for t in turns] == ["agent", "user"] * 4
    agent_turns = turns[2::2]
    assert all(len(t["content"]) == MAX_TURN_CHARS and t["truncated_from"] == 1_500_000 for t in agent_turns)


def running_app(app):
    from personadrop.serve import running

    return running(app)


# --------------------------------------------------------------------------- 7. corrupt files on disk
def test_corrupt_weights_and_results_rows_name_the_file(tmp_path, cli, small_world_dir):
    import shutil

    from personadrop.models.registry import resolve_model

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(resolve_model("world-tiny"), checkpoint)
    weights = checkpoint / "model.safetensors"
    with weights.open("r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    eval_args = ("--data", small_world_dir, "--conditions", "full", "--max-examples", "3", "--no-progress")
    for args in (
        ("serve", checkpoint, "--port", "9"),
        ("evaluate", "--model", checkpoint, *eval_args, "--out", tmp_path / "e0"),
    ):
        line = one_line_error(*cli(*args)[::2])
        assert "ckpt" in line and "corrupt or incomplete" in line, line
    out = tmp_path / "eval"
    assert cli("evaluate", "--model", "bayes", *eval_args, "--dimensions", "response", "--out", out)[0] == 0
    scores = out / "scores.jsonl"
    good = scores.read_bytes()
    for tail, needle in (
        (os.urandom(4096).replace(b"\n", b"") + b"\n", "corrupt results row"),
        (json.dumps({"variant": "bayes", "scores": 3}).encode() + b"\n", "not a results row"),
    ):
        scores.write_bytes(good + tail)
        for args in (
            ("report", out, "--out", tmp_path / "report"),
            ("evaluate", "--model", "bayes", *eval_args, "--dimensions", "response", "--out", out),
        ):
            line = one_line_error(*cli(*args)[::2])
            assert "scores.jsonl:4" in line and needle in line and "remove the line" in line, line


# --------------------------------------------------------------------------- 8. seeds, at the edge
def test_seeds_outside_32_bits_are_refused_before_any_work(tmp_path, cli, small_world_dir):
    config = tmp_path / "train.yaml"
    config.write_text(f"seed: {2**32}\n")
    cases = [
        (
            "train",
            "--method",
            "sft",
            "--profile",
            "quick",
            "--data",
            small_world_dir,
            "--out",
            tmp_path / "r",
            "--seed",
            2**32,
        ),
        (
            "train",
            "--method",
            "sft",
            "--profile",
            "quick",
            "--data",
            small_world_dir,
            "--out",
            tmp_path / "r",
            "--config",
            config,
        ),
        ("evaluate", "--model", "bayes", "--data", small_world_dir, "--out", tmp_path / "e", "--seed", 2**40),
        ("study", "--profile", "quick", "--out", tmp_path / "s", "--seed", -1),
    ]
    for args in cases:
        start = time.perf_counter()
        line = one_line_error(*cli(*args)[::2])
        assert "seed" in line and time.perf_counter() - start < 10, line
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


# --------------------------------------------------------------------------- 9. a full cache disk
def test_a_full_disk_while_preparing_a_model_is_one_line_and_leaves_nothing(tmp_path, cli, monkeypatch):
    import errno
    from dataclasses import dataclass

    from personadrop.models import registry

    @dataclass(frozen=True)
    class FillsTheDisk:
        filename: str = "fake.gguf"
        license: str = "none"

        def convert(self, target: Path, step) -> None:
            (target / "model.safetensors").write_bytes(b"\0" * 1024)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setenv("PERSONADROP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(registry.MODELS, "fake", FillsTheDisk())
    line = one_line_error(*cli("models", "prepare", "fake")[::2])
    assert "No space left on device" in line and "PERSONADROP_CACHE_DIR" in line
    assert list((tmp_path / "cache" / "models").iterdir()) == [tmp_path / "cache" / "models" / ".fake.lock"]


# --------------------------------------------------------------------------- 10. sizes without bounds
def test_sizes_without_bounds_are_refused_before_work(tmp_path, cli, small_world_dir, monkeypatch):
    big_worlds = tmp_path / "worlds.yaml"
    big_worlds.write_text("worlds: 100000000\n")
    big_vocab = tmp_path / "vocab.yaml"
    big_vocab.write_text("vocab_size: 1000000000000\n")
    cases = [
        (
            ("export", "verl", "--data", small_world_dir, "--out", tmp_path / "x", "--epochs", 10**20),
            "--epochs",
        ),
        (("pretrain", "--config", big_worlds, "--out", tmp_path / "b"), "worlds"),
        (("pretrain", "--config", big_vocab, "--out", tmp_path / "b"), "vocab_size"),
        (("serve", "bayes", "--data", small_world_dir, "--batch-window-ms", "1e308"), "--batch-window-ms"),
    ]
    for args, needle in cases:
        line = one_line_error(*cli(*args)[::2])
        assert needle in line, line
    # A line longer than the bound is a bad row, never held whole (the bound lowered here to keep it small).
    import personadrop.data.humanual as humanual

    monkeypatch.setattr(humanual, "MAX_LINE_BYTES", 1 << 20)
    data = tmp_path / "long" / "train.jsonl"
    data.parent.mkdir()
    data.write_bytes(json.dumps(humanual_row(0)).encode() + b"\n" + b"x" * (5 << 20))
    code, out, _ = cli("data", "inspect", data, "--on-bad-row", "skip", "--json")
    summary = json.loads(out)
    assert (
        code == 0 and summary["rows"] == 1 and "longer than 1,048,576 bytes" in summary["bad_row_examples"][0]
    )


# --------------------------------------------------------------------- 11. pretrain checks its output first
def test_pretrain_checks_its_output_and_config_before_training(tmp_path, cli):
    config = tmp_path / "pretrain.yaml"
    config.write_text("worlds: 1\nusers: 10\nposts: 10\nmax_steps: 1\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    empty_config = tmp_path / "empty.yaml"
    empty_config.write_text("")
    for args, needle in (
        (("--config", config, "--out", afile), "not a directory"),
        (("--config", config, "--out", full), "already holds files"),
        (("--config", empty_config, "--out", tmp_path / "new"), "holds no settings"),
    ):
        start = time.perf_counter()
        line = one_line_error(*cli("pretrain", *args)[::2])
        assert needle in line and time.perf_counter() - start < 10, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "empty.yaml", "full", "pretrain.yaml"]


# --------------------------------------------------------------------------- 12. judge-agreement's failures
def test_judge_agreement_fails_when_one_judge_failed_too_often(tmp_path, cli, small_world_dir):
    out = tmp_path / "eval"
    args = (
        "--data",
        small_world_dir,
        "--conditions",
        "full",
        "--max-examples",
        "4",
        "--dimensions",
        "response",
    )
    assert cli("evaluate", "--model", "bayes", *args, "--out", out, "--no-progress")[0] == 0
    with FakeLLMServer() as server:
        server.default = "500"
        line = one_line_error(
            *cli("judge-agreement", out, "--judges", f"exact,openai:fake@{server.openai_url}")[::2]
        )
    assert "4 of 4 judgements failed" in line
    assert list(out.glob("agreement_*.json"))  # what it has is written first


# --------------------------------------------------------------------------- 13. smaller points
def test_repeated_rows_conditions_and_their_errors(tmp_path, cli):
    rows = [humanual_row(i) for i in range(4)] + [humanual_row(1), humanual_row(2, completion="another")]
    data = write_rows(tmp_path / "train.jsonl", rows)
    code, out, _ = cli("data", "inspect", data)
    assert code == 0 and "1 rows repeat an earlier row" in " ".join(out.split())
    summary = json.loads(cli("data", "inspect", data, "--json")[1])
    assert summary["rows"] == 5 and summary["repeated_rows"] == 1 and summary["renamed_ids"] == 1
    assert "fields:0.6/" in one_line_error(*cli("data", "render", data, "-c", "fields:0.6/")[::2])
    line = one_line_error(*cli("data", "render", data, "-c", "only:" + "x" * 10_000)[::2])
    assert len(line) < 400 and "10,005 characters" in line
