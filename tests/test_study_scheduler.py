"""The study's training scheduler: what a run in the study's own process prints."""

from __future__ import annotations

import io
import os

import datasets
from rich.console import Console
from transformers.utils import logging as hf_logging

from personadrop.cli import main
from personadrop.cli.console import quiet_libraries
from personadrop.study.scheduler import TrainJob, train_all
from personadrop.train.config import resolve_config
from personadrop.train.run import RunDir


def test_a_run_trained_in_process_draws_no_bars_when_progress_is_off(tmp_path, capfd):
    """Big models train in the study's own process (one at a time); with --no-progress (a log file, CI) the
    trainer's own progress bars must stay off too, as they do in worker processes."""
    world = tmp_path / "w"
    try:
        main(["world", "--out", str(world), "--users", "40", "--posts", "60", "--no-ceiling"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    job = TrainJob(
        variant="sft",
        seed=0,
        method="sft",
        data=str(world),
        out_dir=str(tmp_path / "run"),
        config=resolve_config("sft", profile="quick", progress=True),
        judge="exact",
    )
    capfd.readouterr()
    quiet_libraries(False)  # as `personadrop study --no-progress` does before training
    try:
        runs = train_all(
            [job], workers=1, console=Console(file=io.StringIO()), progress=False, record=lambda *_: None
        )
    finally:
        hf_logging.enable_progress_bar()
        datasets.enable_progress_bars()
    printed = "".join(capfd.readouterr())
    assert RunDir(runs["sft/seed-0"]).done
    assert "it/s" not in printed and "s/it" not in printed, printed[-500:]


def test_a_quiet_run_logs_to_its_run_and_gives_the_process_its_output_back(tmp_path, capfd):
    """In a worker the trainer writes to the run's train.log; the same worker evaluates afterwards, so its
    own stdout and stderr must come back when the run ends."""
    world = tmp_path / "w"
    try:
        main(["world", "--out", str(world), "--users", "40", "--posts", "60", "--no-ceiling"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    job = TrainJob(
        variant="sft",
        seed=0,
        method="sft",
        data=str(world),
        out_dir=str(tmp_path / "run"),
        config=resolve_config("sft", profile="quick", progress=False),
        judge="exact",
        quiet=True,
    )
    capfd.readouterr()
    assert RunDir(job()).done
    print("after the run")
    os.write(2, b"after the run, on the descriptor\n")
    printed = "".join(capfd.readouterr())
    log = (tmp_path / "run" / "train.log").read_text()
    assert "loss" in log and "loss" not in printed  # the trainer's logs went to the run
    assert "after the run" in printed and "after the run, on the descriptor" in printed
    assert "after the run" not in log
