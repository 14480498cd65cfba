"""What a method is (:class:`Method`: tasks and stages), and the stages methods are made of, as functions of
one run: ``sft_stage`` and ``grpo_stage``.

A stage takes the :class:`RunContext` (the config, the run directory, the training examples, the
tokenizer and prompt builder, the reward judge) and the model so far, and returns the trained model. Each
is skipped when its ``final/`` exists and resumes from its last checkpoint. Which tasks a stage trains on
comes from the run's method (:mod:`personadrop.train.methods`), so no stage knows a method by name.
Every stage shows each training prompt through the config's ``train_condition``, keyed by
(seed, example id, epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personadrop.data.example import Example
from personadrop.distributed import barrier, rank, world_size
from personadrop.errors import ConfigError, DataError
from personadrop.judges.base import Judge
from personadrop.prompts import TASKS, PromptBuilder, encode, target_text
from personadrop.train.config import TrainConfig
from personadrop.train.datasets import (
    GRPO_EPOCH_OFFSET,
    Rows,
    TaskChooser,
    build_rows,
    count_rows,
    epoch_blocks,
    has_states,
    reply_only,
)
from personadrop.train.run import RunDir, curves_callback

#: A stage: takes the run and the model so far (None before the first stage) and returns the trained model.
StageFunction = Callable[["RunContext", Any], Any]


@dataclass(frozen=True)
class Stage:
    """One stage of a method: its name (its directory in the run, its rows in curves.csv) and function."""

    name: str
    run: StageFunction


@dataclass(frozen=True)
class Method:
    """One training method.

    ``inference_task``: what the evaluator asks a trained model for (``response``, or ``states+response``
    for a model that writes its latent states before the reply). ``sft_tasks`` and ``grpo_tasks`` say which
    tasks each example trains on in those stages (given the run's config); ``grpo_tasks`` None means the
    method has no reward stage and needs no judge. ``warm_start_from``: a method whose finished run (same
    data, seed, model and train condition) can stand in for this one's SFT stage.
    """

    name: str
    help: str
    inference_task: str
    stages: tuple[Stage, ...]
    sft_tasks: Callable[[TrainConfig], TaskChooser] = lambda cfg: reply_only
    grpo_tasks: Callable[[TrainConfig], TaskChooser] | None = None
    warm_start_from: str | None = None

    def __post_init__(self) -> None:
        if self.inference_task not in TASKS:
            raise ValueError(f"method {self.name}: unknown inference task {self.inference_task!r}")

    @property
    def uses_reward(self) -> bool:
        return self.grpo_tasks is not None

    @property
    def writes_states(self) -> bool:
        """Whether the model writes latent states before its reply at inference."""
        return self.inference_task != "response"


@dataclass
class RunContext:
    """One run being trained: what every stage reads, and the helpers they share."""

    cfg: TrainConfig
    method: Method
    run: RunDir
    examples: list[Example]
    reward: Judge | None = None  # the GRPO reward (methods with a reward stage)
    warm_run: RunDir | None = None  # a finished sft run that replaces this run's SFT stage
    model_path: Path | None = None  # the pretrained checkpoint (``model.path`` resolved); None: a preset
    tokenizer: Any = None
    builder: PromptBuilder | None = None
    skipped: int = 0  # examples left out for an overlong target
    _budgets: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ what an example trains toward
    def main_task(self, ex: Example) -> str:
        """The task whose target is the example's whole answer: the method's inference task where the example
        supports it (states need true states), else the reply."""
        task = self.method.inference_task
        return task if task == "response" or has_states(ex) else "response"

    def drop_overlong(self) -> None:
        """Leave out examples whose target does not fit the reply cap (a count in run.json, a warning)."""
        import logging

        cap = self.reply_cap()
        lengths = encode(self.tokenizer, [target_text(ex, self.main_task(ex)) for ex in self.examples])
        fitting = [ex for ex, ids in zip(self.examples, lengths, strict=True) if len(ids) <= cap]
        self.skipped += len(self.examples) - len(fitting)
        if not fitting:
            raise DataError(f"no training example has a target of at most {cap} tokens (max_reply_tokens)")
        if self.skipped:
            logging.getLogger(__name__).warning(
                "%d training examples skipped: their reply is longer than %d tokens (max_reply_tokens)",
                self.skipped,
                cap,
            )
        self.examples = fitting

    # ------------------------------------------------------------------ lengths
    def reply_cap(self) -> int:
        """The most tokens a target may take: ``max_reply_tokens``, and what the model's context leaves."""
        cfg = self.cfg
        if self.model_path is not None:
            from personadrop.files import read_json

            model_config = read_json(self.model_path / "config.json", "model config")
            context = int(
                model_config.get("max_position_embeddings") or model_config.get("n_positions") or 1 << 20
            )
        else:
            from personadrop.models.tiny import PRESETS

            context = PRESETS[cfg.model.preset].max_positions
        room = context - cfg.max_prompt_tokens - 16
        if room < 8:
            raise ConfigError(
                f"max_prompt_tokens {cfg.max_prompt_tokens} leaves no room for a reply in the "
                f"model's context of {context} tokens"
            )
        return min(cfg.max_reply_tokens, room)

    def budget(self, task: str) -> int:
        """Tokens an answer to ``task`` may need: the longest training target, plus 10% and the end token,
        within the reply cap."""
        if task not in self._budgets:
            known = self.examples if task == "response" else [ex for ex in self.examples if has_states(ex)]
            if not known:
                budget = 2 * self.budget("response") + 64  # no states to measure
            else:
                texts = [target_text(ex, task) for ex in known]
                budget = math.ceil(max(len(ids) for ids in encode(self.tokenizer, texts)) * 1.1) + 2
            self._budgets[task] = min(budget, self.reply_cap())
        return self._budgets[task]

    def rollout_budget(self) -> int:
        """The GRPO rollout length: the config's cap for the method's inference task, else its budget."""
        g, task = self.cfg.grpo, self.method.inference_task
        cap = g.max_completion_tokens if task == "response" else g.max_completion_tokens_states
        return cap or self.budget(task)

    # ------------------------------------------------------------------ models and rows
    def fresh_model(self):
        from personadrop.models.hf import load_model
        from personadrop.models.tiny import PRESETS, build_model

        if self.model_path is not None:
            model, _ = load_model(self.model_path)
            return model.train()
        return build_model(PRESETS[self.cfg.model.preset], self.tokenizer, seed=self.cfg.seed)

    @staticmethod
    def load(path: Path):
        from personadrop.models.hf import load_model

        model, _ = load_model(path)
        return model.train()

    def rows(self, stage: str, tasks: Any, blocks: int, **options: Any) -> Rows:
        """A stage's training rows (every epoch block, each with its own masks); records what each showed."""
        assert self.builder is not None
        rows = build_rows(
            self.examples,
            self.cfg.train_condition,
            self.builder,
            seed=self.cfg.seed,
            epochs=blocks,
            tasks=tasks,
            stage=stage,
            **options,
        )
        self.run.write_shown(stage, rows.visibility, rank())
        return rows

    def record(self, stage: str, steps: int, rows: int, seconds: float, callback: Any, **extra: Any) -> None:
        """The stage's line in run.json: steps, rows, time and its last logged loss and rewards."""
        last: dict[str, float] = {}
        for r in self.run.read_curves():
            if r["stage"] == stage:
                last[r["name"]] = r["value"]
        record = self.run.record
        stages = {k: v.model_dump() for k, v in record.stages.items()} if record else {}
        stages[stage] = {
            "steps": steps,
            "rows": rows,
            "seconds": round(seconds, 2),
            "step_seconds": round(callback.mean_step_seconds or 0.0, 4),
            "final": {k: v for k, v in last.items() if k == "loss" or k.startswith("reward")},
            **extra,
        }
        self.run.update_record(stages=stages)


def sft_stage(ctx: RunContext, model: Any) -> Any:
    """Supervised training on the method's SFT tasks; a finished ``warm_run`` stands in for it."""
    from personadrop.train.sft import sft_steps, train_sft

    cfg, run, stage = ctx.cfg, ctx.run, "sft"
    if ctx.warm_run is not None:
        return ctx.load(ctx.warm_run.model_dir)
    if run.stage_done(stage):
        return ctx.load(run.stage_final(stage))
    blocks = epoch_blocks(cfg.sft.epochs)
    tasks = ctx.method.sft_tasks(cfg)
    rows = ctx.rows(stage, tasks, blocks, with_targets=True, batch_size=cfg.sft.batch_size)
    steps = sft_steps(len(rows.rows) // blocks, cfg, world_size())
    callback = curves_callback(run, stage)
    t0 = time.perf_counter()
    model = train_sft(
        model if model is not None else ctx.fresh_model(),
        ctx.tokenizer,
        rows.rows,
        cfg,
        run.stage_dir(stage),
        steps=steps,
        # SFT sees whole targets; the rollout caps of the GRPO stage do not apply here.
        max_completion_tokens=ctx.budget(ctx.method.inference_task),
        callbacks=[callback],
        resume=run.last_checkpoint(stage),
    )
    ctx.record(stage, steps, len(rows.rows), time.perf_counter() - t0, callback)
    run.finish_stage(stage, model, ctx.tokenizer)
    barrier()
    return model


def grpo_stage(ctx: RunContext, model: Any) -> Any:
    """GRPO from the reward judge on the method's GRPO tasks, starting from ``model``."""
    from personadrop.models.scaffold import state_budget
    from personadrop.train.grpo import grpo_steps, make_grpo_trainer, train_grpo
    from personadrop.train.rewards import reward_function

    cfg, run, stage = ctx.cfg, ctx.run, "grpo"
    if run.stage_done(stage):
        return ctx.load(run.stage_final(stage))
    judge, choose = ctx.reward, ctx.method.grpo_tasks
    if judge is None or choose is None:
        raise ConfigError(f"method {ctx.method.name} has a GRPO stage but no reward judge or GRPO tasks")
    tasks = choose(cfg)
    blocks = epoch_blocks(cfg.grpo.epochs)
    planned = count_rows(ctx.examples, tasks, epochs=blocks, epoch_offset=GRPO_EPOCH_OFFSET)
    steps = grpo_steps(planned // blocks, cfg, world_size())
    # Steps capped well inside an epoch read only their prompts: render no more rows than that.
    rows = ctx.rows(
        stage,
        tasks,
        blocks,
        with_targets=False,
        epoch_offset=GRPO_EPOCH_OFFSET,
        limit=steps * cfg.grpo.prompts_per_step * world_size(),
    )
    reward = reward_function(judge)
    callback = curves_callback(run, stage)
    trainer = make_grpo_trainer(
        model,
        ctx.tokenizer,
        rows.dataset(),
        reward,
        cfg,
        run.stage_dir(stage),
        steps=steps,
        max_completion_tokens=ctx.rollout_budget(),
        callbacks=[callback],
        state_budget=state_budget(ctx.rollout_budget(), ctx.budget("response"))
        if ctx.method.writes_states
        else None,
    )
    t0 = time.perf_counter()
    model = train_grpo(trainer, resume=run.last_checkpoint(stage))
    ctx.record(
        stage,
        steps,
        planned,
        time.perf_counter() - t0,
        callback,
        judge=getattr(judge, "name", type(judge).__name__),
        unscored_rollouts=reward.failures,
        unparsable_rollouts=reward.unparsable,
    )
    run.finish_stage(stage, model, ctx.tokenizer)
    barrier()
    return model
