"""`personadrop data ...` as a user meets it: summaries, one rendered prompt, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from personadrop.cli import main

from conftest import humanual_row


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "personadrop.cli", *args], capture_output=True, text=True, timeout=120
    )


def run_main(*args: str) -> None:
    """Run the CLI in-process; standalone typer exits with SystemExit(0) on success."""
    try:
        main(list(args))
    except SystemExit as exit_:
        assert exit_.code in (0, None)


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_inspect_summarizes_fields_and_counts_skipped_rows(tmp_path, capsys):
    rows = [humanual_row(i) for i in range(5)] + [humanual_row(9, completion="")]
    path = write(tmp_path / "train.jsonl", rows)
    run_main("data", "inspect", str(path), "--on-bad-row", "skip", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 5 and summary["users"] == 3 and summary["bad_rows"] == 1
    assert summary["fields"]["values"]["items_mean"] == 3
    assert summary["fields"]["demographics"]["items_mean"] == 3  # NA and "" are not items
    assert "train.jsonl:6" in summary["bad_row_examples"][0]


def test_render_shows_the_prompt_under_a_condition(tmp_path, capsys):
    path = write(tmp_path / "test.jsonl", [humanual_row(i) for i in range(3)])
    run_main("data", "render", str(path), "--condition", "only:values", "--index", "2")
    text = capsys.readouterr().out
    assert "honesty above all" in text and "Interests: Missing" in text and "gardening" not in text
    assert "condition only:values" in text and '"fields": ["values"]' in text


def test_user_errors_are_one_line_without_traceback(tmp_path):
    path = write(tmp_path / "train.jsonl", [humanual_row(0), humanual_row(1, persona='{"values": 3}')])
    for args, needle in [
        (
            ["data", "inspect", str(path)],
            "train.jsonl:2 (example p1/user1/2): persona of example p1/user1/2, field 'values'",
        ),
        (["data", "render", str(path), "-c", "only:hobbies"], "names field 'hobbies', which example"),
        (["data", "render", str(path), "-i", "7", "--bogus"], None),
        (["data", "render", str(path), "-i", "0", "--task", "poem"], "unknown task"),
        (["data", "inspect", str(tmp_path / "nope.jsonl")], "no such file"),
    ]:
        result = run_cli(*args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        if needle:
            assert needle in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_help_teaches():
    result = run_cli("data", "render", "--help")
    assert result.returncode == 0
    assert "only:values" in result.stdout and "--condition" in result.stdout


def test_render_with_a_model_shows_its_template_budget_and_answer_prefix(tmp_path, capsys):
    from personadrop.data.rows import example_from_row
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts

    long_post = "AITA for " + " ".join(f"{j * 7919 % 1000}x" for j in range(300))
    rows = [humanual_row(i, post=f"{long_post} ({i})") for i in range(3)]
    path = write(tmp_path / "test.jsonl", rows)
    tokenizer = build_tokenizer(corpus_texts([example_from_row(r) for r in rows]), vocab_size=400)
    run = tmp_path / "run"
    tokenizer.save_pretrained(run / "model")
    (run / "run.json").write_text(
        json.dumps({"status": "done", "variant": "sft", "method": "sft", "max_prompt_tokens": 320})
    )
    run_main("data", "render", str(path), "--model", str(run), "--task", "stance", "-c", "only:values")
    text = capsys.readouterr().out
    assert "<|system|>" in text and "<|assistant|>\n<stance>" in text  # the template, then the answer prefix
    assert "... " in text and "honesty above all" in text  # the thread was cut, the persona kept
    tokens = int(next(line for line in text.splitlines() if "tokens (budget 320)" in line).split()[1])
    assert tokens <= 320
