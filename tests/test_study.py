"""The main job end to end: `personadrop study --profile quick` on the embedded world, killed and resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from personadrop.cli import main
from personadrop.dropout import DEFAULT_CONDITIONS
from personadrop.study import Study, load_study_config

pytestmark = pytest.mark.slow
METRIC_BLOCKS = (
    "scores",
    "retention",
    "retention_ci",
    "dimensions",
    "gains",
    "single_field",
    "ceiling",
    "by_user",
)


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "quick"
    try:
        main(["study", "--profile", "quick", "--out", str(out), "--no-progress"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    return out


def test_quick_study_writes_a_complete_report(quick_study):
    report = quick_study / "report"
    summary = json.loads((report / "summary.json").read_text())
    variants = ["sft", "grpo", "grpo+fd", "humanlm", "humanlm+fd", "bayes"]
    assert sorted(summary["scores"]) == sorted(variants)
    for v in variants:
        assert {c.name for c in DEFAULT_CONDITIONS} <= set(summary["scores"][v])
        if summary["scores"][v]["full"]["mean"] > 0:
            assert summary["retention"][v]["full"] == pytest.approx(1.0)
        else:  # a quick run's models may score 0 everywhere: retention is undefined, not 0 or 1
            assert summary["retention"][v]["full"] is None
        for condition, est in summary["scores"][v].items():
            assert est["ci_low"] <= est["mean"] <= est["ci_high"], (v, condition)
            assert 0.0 <= est["mean"] <= 1.0
        assert set(summary["dimensions"][v]["full"]) == {
            "response",
            "stance",
            "emotion",
            "belief",
            "value",
            "goal",
            "communication",
        }
    assert summary["retention"]["bayes"]["full"] == pytest.approx(1.0)
    assert set(summary["judge"]) == {
        "name",
        "calls",
        "cache_hits",
        "failures",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert summary["judge"]["name"] == "exact" and summary["judge"]["failures"] == 0
    assert set(summary["ceiling"]) >= {c.name for c in DEFAULT_CONDITIONS}
    assert set(summary["by_user"]) == {"seen", "unseen"}
    # The ceiling is the ceiling: no trained variant beats it on unseen users beyond the CI.
    unseen = summary["by_user"]["unseen"]
    for v in variants[:-1]:
        assert unseen[v]["full"]["ci_low"] <= unseen["bayes"]["full"]["ci_high"]
    assert len(list((report / "figures").glob("fig*.png"))) == 7  # fig7: the dropout rate, p = 0 and 0.6
    assert summary["seeds"] == {v: [0, 1] for v in variants[:-1]}  # the quick profile's two seeds
    assert set(summary["per_seed"]["grpo"]) == {"0", "1"}
    assert {v["claim"] for v in summary["verdicts"]} and all(
        v["verdict"] in ("reproduced", "refuted", "inconclusive") for v in summary["verdicts"]
    )
    assert (report / "results.csv").stat().st_size > 0
    assert "## Headline" in (report / "report.md").read_text()
    timings = json.loads((quick_study / "timings.json").read_text())
    assert {"data", "evaluate", "report"} <= set(timings)


def test_rerunning_a_finished_study_redoes_nothing(quick_study):
    before = {p: p.stat().st_mtime_ns for p in (quick_study / "eval").glob("*.jsonl")}
    runs_before = {p: p.stat().st_mtime_ns for p in (quick_study / "runs").glob("*/*/run.json")}
    timings = json.loads((quick_study / "timings.json").read_text())
    cfg = load_study_config(None, "quick")
    Study(cfg, quick_study, progress=False).run()
    assert {p: p.stat().st_mtime_ns for p in (quick_study / "eval").glob("*.jsonl")} == before
    assert {p: p.stat().st_mtime_ns for p in (quick_study / "runs").glob("*/*/run.json")} == runs_before
    after = json.loads((quick_study / "timings.json").read_text())
    # Stages that found their work done keep the times of the run that did it.
    assert {k: v for k, v in after.items() if k != "report"} == {
        k: v for k, v in timings.items() if k != "report"
    }


def test_a_moved_study_resumes_without_redoing_anything(quick_study, tmp_path):
    moved = tmp_path / "elsewhere" / "study"
    shutil.copytree(quick_study, moved)
    before = {p.name: p.stat().st_size for p in (moved / "eval").glob("*.jsonl")}
    timings = json.loads((moved / "timings.json").read_text())
    Study(load_study_config(None, "quick"), moved, progress=False).run()
    assert {p.name: p.stat().st_size for p in (moved / "eval").glob("*.jsonl")} == before
    assert json.loads((moved / "timings.json").read_text())["train sft/seed-0"] == timings["train sft/seed-0"]


def test_study_killed_mid_evaluation_resumes_to_the_same_summary(quick_study, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(quick_study, resumed, ignore=shutil.ignore_patterns("eval", "report", "timings.json"))
    cmd = [
        sys.executable,
        "-m",
        "personadrop.cli",
        "study",
        "--profile",
        "quick",
        "--out",
        str(resumed),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generations = resumed / "eval" / "generations.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if generations.exists() and generations.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_rows = generations.read_text().count("\n")
    assert 0 < killed_rows < (quick_study / "eval" / "generations.jsonl").read_text().count("\n")

    Study(load_study_config(None, "quick"), resumed, progress=False).run()
    for name in ("generations.jsonl", "scores.jsonl"):
        keys = [
            tuple(json.loads(line)[k] for k in ("variant", "condition", "example_id"))
            for line in (resumed / "eval" / name).read_text().splitlines()
        ]
        reference = (quick_study / "eval" / name).read_text().count("\n")
        assert len(keys) == reference, name  # no row lost
        assert max(Counter(keys).values()) == 1, name  # none stored (or judged) twice
    a = json.loads((quick_study / "report" / "summary.json").read_text())
    b = json.loads((resumed / "report" / "summary.json").read_text())
    assert {k: a[k] for k in METRIC_BLOCKS} == {k: b[k] for k in METRIC_BLOCKS}


def test_ctrl_c_during_training_exits_130_with_one_line_and_stops_the_workers(tmp_path):
    out = tmp_path / "interrupted"
    cmd = [
        sys.executable,
        "-m",
        "personadrop",
        "study",
        "--profile",
        "quick",
        "--out",
        str(out),
        "--no-progress",
    ]
    # A shell without job control starts background jobs with SIGINT ignored, and Python keeps it so; the
    # child gets the default back, as in a terminal.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list(out.glob("runs/*/*/train.log")):
        time.sleep(0.1)
    assert proc.poll() is None, "the study ended before training started"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted; finished work is kept" in stderr
    assert "Traceback" not in stderr
    for _ in range(100):  # no worker outlives the study (helpers may take a moment to notice)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"processes of the interrupted study still run: {_group(proc.pid)}")


def _group(pgid: int) -> str:
    return subprocess.run(["ps", "-o", "pid,args", "-g", str(pgid)], capture_output=True, text=True).stdout


def test_the_built_in_default_study_is_configs_demo_yaml():
    """`personadrop study` with no --config (what `make demo` runs) and configs/demo.yaml resolve to the same
    study, including the training settings for the shipped base; a study's own settings still win."""
    shipped = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    built_in = load_study_config(None)
    assert built_in.model_dump() == load_study_config(shipped).model_dump()
    assert built_in.training["sft"]["lr"] == 1.0e-3
    own = load_study_config(None, training={"sft": {"lr": 2.0e-3, "epochs": 2.0}})
    assert own.training["sft"] == {"lr": 2.0e-3, "epochs": 2.0}
    assert load_study_config(None, model={"preset": "tiny"}).training == {}  # from scratch: its own defaults
