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
from filelock import FileLock

from personadrop.cli import main
from personadrop.data.world import generate_world, world_config, write_world
from personadrop.files import LOCK_FILE

from conftest import humanual_row
from fake_llm_server import FakeLLMServer

pytest_plugins = ["llm_judge_fixtures"]


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


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
