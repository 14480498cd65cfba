"""Run directories: everything a training run needs to describe itself, resume, and be skipped when done.

Layout::

    RUN_DIR/
      config.json        the resolved TrainConfig
      data.json          fingerprint of the training examples (hash, count, source)
      versions.json      python and library versions
      run.json           status (running/done), name, timings, final metrics, what evaluation needs
      curves.csv         stage,step,epoch,name,value  (loss, reward, reward/<dimension>, ...)
      progress.json      the running stage's step and step count (refreshed about once a second)
      shown-<stage>.jsonl  per (example, epoch): which persona fields the training prompt showed
      tokenizer/         the embedded model's tokenizer (presets only)
      sft/ grpo/         trainer output: checkpoint-N (while running), final/ (when the stage is done)
      model/             the trained simulator (weights + tokenizer)

A killed run resumes from the newest ``checkpoint-N`` of the unfinished stage; a finished stage is
loaded from its ``final/``; a finished run is not trained again.
"""

from __future__ import annotations

import csv
import json
import platform
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from personadrop.data.example import Example
from personadrop.data.rows import examples_sha256
from personadrop.dropout import Condition, Full
from personadrop.errors import ConfigError
from personadrop.files import read_json, write_json
from personadrop.train.config import TrainConfig

RUN_META = "run.json"  # status, name, timings, and what evaluation needs to load the model
MODEL_SUBDIR = "model"

# Settings that change how a run is watched, not what it learns: ignored when comparing configs.
_COSMETIC = {"progress", "report_to", "threads", "logging_steps", "save_steps"}
_LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "personadrop")
CURVE_COLUMNS = ("stage", "step", "epoch", "name", "value")
PROGRESS = "progress.json"


class StageRecord(BaseModel):
    """One finished stage of a run: its size, its time and its last logged loss and rewards."""

    model_config = ConfigDict(extra="allow")  # stage-specific counts (judge, unscored rollouts, ...)

    steps: int
    rows: int
    seconds: float
    step_seconds: float = 0.0
    final: dict[str, float] = Field(default_factory=dict)


class RunRecord(BaseModel):
    """``run.json``: what a run is, whether it finished, and what evaluating it needs."""

    model_config = ConfigDict(extra="allow")

    status: Literal["running", "done"] = "running"
    # The one name of the trained simulator: the study's variant name (``grpo+fd``), in the report too.
    variant: str = Field(validation_alias=AliasChoices("variant", "name"))
    method: str
    seed: int | None = None
    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex)  # names this run in evaluations of it
    started: float = Field(default_factory=time.time)
    finished: float | None = None
    inference_task: str = "response"
    max_prompt_tokens: int | None = None
    decoding: dict[str, Any] = Field(default_factory=dict)
    train_condition: Condition = Full()
    skipped_overlong: int = 0
    world_size: int = 1
    base: dict[str, Any] | None = None  # the pretrained model it started from, and what that saw
    train_seconds: float | None = None
    warm_start: str | None = None
    stages: dict[str, StageRecord] = Field(default_factory=dict)


def data_fingerprint(examples: Sequence[Example], source: str) -> dict[str, Any]:
    """A content hash of the training examples (format-independent: equal data, equal hash)."""
    return {
        "sha256": examples_sha256(examples),
        "examples": len(examples),
        "users": len({ex.user_id for ex in examples}),
        "with_states": sum(ex.states is not None for ex in examples),
        "source": source,
    }


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _semantic(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _COSMETIC}


class RunDir:
    """One training run's directory. ``writes``: False in the other processes of a launched (multi-process)
    run, which read it but leave every file to the main process."""

    def __init__(self, path: str | Path, *, writes: bool = True):
        self.path = Path(path)
        self.writes = writes

    # ------------------------------------------------------------------ state
    @property
    def record(self) -> RunRecord | None:
        """``run.json`` read and checked; None where there is none yet."""
        p = self.path / RUN_META
        if not p.exists():
            return None
        try:
            return RunRecord.model_validate(read_json(p, "run record"))
        except ValidationError as err:
            from personadrop.settings import first_error

            raise ConfigError(
                f"{p}: not a run record ({first_error(err)}); delete the run to redo it"
            ) from None

    @property
    def is_run(self) -> bool:
        """Whether the directory holds a training run (finished or not)."""
        return (self.path / RUN_META).is_file()

    @property
    def done(self) -> bool:
        record = self.record
        return record is not None and record.status == "done" and (self.model_dir / "config.json").exists()

    @property
    def progress(self) -> dict[str, Any] | None:
        """The running stage's ``{"stage", "step", "max_steps"}``, or None before its first step."""
        try:
            return json.loads((self.path / PROGRESS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def config(self) -> TrainConfig:
        path = self.path / "config.json"
        raw = read_json(path, "training config")
        try:
            return TrainConfig.model_validate(raw)
        except ValidationError as err:
            from personadrop.settings import first_error

            raise ConfigError(
                f"{path}: not a training config ({first_error(err)}); delete the run to redo it"
            ) from None

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_SUBDIR

    @property
    def fingerprint(self) -> dict[str, Any]:
        return read_json(self.path / "data.json", "data fingerprint")

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def stage_final(self, stage: str) -> Path:
        return self.path / stage / "final"

    def stage_done(self, stage: str) -> bool:
        return (self.stage_final(stage) / "config.json").exists()

    def last_checkpoint(self, stage: str) -> str | None:
        """The stage's newest complete ``checkpoint-N``, or None.

        The trainer writes ``trainer_state.json`` last, so a checkpoint whose state file is missing or
        unreadable was cut off while being saved (a kill mid-save): it is passed over and, by the writing
        process, removed; the trainer writes that step's checkpoint again when it gets there.
        """
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        d = self.stage_dir(stage)
        steps: dict[Path, int] = {}
        for ckpt in d.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if d.is_dir() else ():
            tail = ckpt.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
            if tail.isdecimal() and ckpt.is_dir():
                steps[ckpt] = int(tail)
        for ckpt in sorted(steps, key=steps.__getitem__, reverse=True):
            try:
                json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                if self.writes:  # else the trainer's rotation, which goes by step number, could keep it
                    shutil.rmtree(ckpt, ignore_errors=True)
                continue
            return str(ckpt)
        return None

    # ------------------------------------------------------------------ writing
    def check_matches(self, config: TrainConfig, fingerprint: dict[str, Any]) -> None:
        """Raise ConfigError if this directory holds a run with another config or other data."""
        cfg_path = self.path / "config.json"
        if not cfg_path.exists():
            return
        had = read_json(cfg_path, "training config")
        wanted = config.model_dump(mode="json")
        if _semantic(had) != _semantic(wanted):
            changed = sorted(
                k for k in set(had) | set(wanted) if k not in _COSMETIC and had.get(k) != wanted.get(k)
            )
            raise ConfigError(
                f"{self.path} holds a run with a different config (differs in: {', '.join(changed)}); "
                "use another --out directory or delete this one"
            )
        old = self.fingerprint
        if old.get("sha256") != fingerprint["sha256"]:
            raise ConfigError(
                f"{self.path} was trained on different data ({old.get('source')}); use another --out"
            )

    def begin(self, config: TrainConfig, fingerprint: dict[str, Any], name: str) -> None:
        """Create or re-open the directory; refuse one that holds a different run."""
        self.check_matches(config, fingerprint)
        if not self.writes:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / "config.json", config.model_dump(mode="json"))
        write_json(self.path / "data.json", fingerprint)
        write_json(self.path / "versions.json", library_versions())
        old = self.record
        record = RunRecord(variant=name, method=config.method, seed=config.seed)
        if old is not None:  # a resumed run keeps its id and start
            record = record.model_copy(update={"run_id": old.run_id, "started": old.started})
        self._write(record)

    def update_record(self, **values: Any) -> None:
        if not self.writes:
            return
        record = self.record
        assert record is not None, "begin() writes the record first"
        self._write(RunRecord.model_validate({**record.model_dump(), **values}))

    def _write(self, record: RunRecord) -> None:
        write_json(self.path / RUN_META, record.model_dump(mode="json"))

    def write_shown(self, stage: str, visibility: Iterable[dict[str, Any]], rank: int = 0) -> Path:
        """Which persona fields each training prompt showed; the other processes of a launched run write
        theirs beside it (``shown-<stage>.rank-<r>.jsonl``), to check that every rank saw the same masks."""
        path = self.path / (f"shown-{stage}.jsonl" if rank == 0 else f"shown-{stage}.rank-{rank}.jsonl")
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for rec in visibility:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    def trim_curves(self, stage: str, after_step: int) -> None:
        """Drop a stage's curve rows past ``after_step`` (a resumed stage logs those steps again)."""
        path = self.path / "curves.csv"
        if not path.exists():
            return
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [
                r for r in csv.DictReader(fh) if not (r["stage"] == stage and int(r["step"]) > after_step)
            ]
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CURVE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def read_curves(self) -> list[dict[str, Any]]:
        path = self.path / "curves.csv"
        if not path.exists():
            return []
        with path.open(encoding="utf-8", newline="") as fh:
            return [
                {**r, "step": int(r["step"]), "epoch": float(r["epoch"] or 0), "value": float(r["value"])}
                for r in csv.DictReader(fh)
            ]

    def finish_stage(self, stage: str, model, tokenizer) -> None:
        """Save the stage's model as ``final/`` and drop its resume checkpoints (optimizer state included)."""
        if not self.writes:
            return
        final = self.stage_final(stage)
        model.save_pretrained(final)
        tokenizer.save_pretrained(final)
        for ckpt in self.stage_dir(stage).glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)

    def finish(self, model, tokenizer, **record: Any) -> None:
        if not self.writes:
            return
        model.save_pretrained(self.model_dir)
        tokenizer.save_pretrained(self.model_dir)
        self.update_record(status="done", finished=time.time(), **record)

    # ------------------------------------------------------------------ using the trained model
    def simulator(
        self,
        *,
        name: str | None = None,
        device: str | None = None,
        max_prompt_tokens: int | None = None,
        **decoding: Any,
    ):
        """The trained simulator, with the run's own prompt budget, decoding and inference task.

        ``decoding`` overrides fields of :class:`~personadrop.models.hf.Decoding` (temperature,
        batch_size, ...).
        """
        from personadrop.models.hf import Decoding, HFSimulator, load_model

        record = self.record
        if record is None:
            raise ConfigError(f"{self.path} is not a training run directory (no {RUN_META})")
        if not self.done:
            raise ConfigError(
                f"training run {self.path} has not finished (status {record.status!r}); "
                "re-run train to resume"
            )
        from personadrop.models.vllm import VLLMSimulator, use_vllm

        base = Decoding(**record.decoding)
        settings = {
            "name": name or record.variant,
            "decoding": Decoding(**{**base.model_dump(), **decoding}),
            "max_prompt_tokens": max_prompt_tokens or record.max_prompt_tokens,
            "inference_task": record.inference_task,
        }
        simulator: HFSimulator | VLLMSimulator
        if use_vllm(self.config.model.vllm):
            simulator = VLLMSimulator(self.model_dir, **settings)
        else:
            simulator = HFSimulator(*load_model(self.model_dir, device=device), **settings)
        simulator.identity = {"run_id": record.run_id}
        return simulator


def curves_callback(run: RunDir, stage: str):
    """A TrainerCallback that appends every numeric log value to ``curves.csv`` and times optimizer steps."""
    from transformers import TrainerCallback

    class CurvesCallback(TrainerCallback):
        def __init__(self) -> None:
            self.step_seconds: list[float] = []
            self._t0: float | None = None
            self._shown = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                run.trim_curves(stage, state.global_step)

        def on_step_begin(self, args, state, control, **kwargs):
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self._t0 is not None:
                self.step_seconds.append(time.perf_counter() - self._t0)
            if (
                state.is_world_process_zero and time.monotonic() - self._shown >= 1.0
            ):  # for a watcher in another process (the study's bars)
                self._shown = time.monotonic()
                write_json(
                    run.path / PROGRESS,
                    {"stage": stage, "step": state.global_step, "max_steps": state.max_steps},
                )

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            path = run.path / "curves.csv"
            new = not path.exists()
            with path.open("a", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                if new:
                    writer.writerow(CURVE_COLUMNS)
                for name, value in logs.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        writer.writerow((stage, state.global_step, round(state.epoch or 0.0, 4), name, value))

        @property
        def mean_step_seconds(self) -> float | None:
            # The first steps include one-off costs (dataset preparation, caches): report the rest.
            times = self.step_seconds[2:] or self.step_seconds
            return sum(times) / len(times) if times else None

    return CurvesCallback()
