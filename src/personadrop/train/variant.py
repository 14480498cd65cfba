"""Train one simulator variant end to end: data -> tokenizer and model -> warm start / SFT -> GRPO -> run dir.

``sft``      one SFT stage on (prompt -> real reply).
``grpo``     SFT warm start (or a finished ``sft`` run given as ``warm_start``), then GRPO on the reply task.
``humanlm``  SFT warm start on "states, then reply" targets, then GRPO over the seven HumanLM tasks.
Every stage shows each training prompt through the config's ``train_condition`` (``fields:0.6`` for field
dropout), keyed by (seed, example id, epoch).
"""

from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from personadrop.data.example import Example
from personadrop.distributed import barrier, is_main, main_first, rank, world_size
from personadrop.errors import ConfigError, DataError
from personadrop.files import exclusive
from personadrop.judges.base import Judge
from personadrop.models.hf import Decoding
from personadrop.models.registry import check_model, resolve_model
from personadrop.models.vllm import use_vllm
from personadrop.prompts import PromptBuilder, encode, target_text
from personadrop.train.config import TrainConfig, resolve_config
from personadrop.train.datasets import (
    GRPO_EPOCH_OFFSET,
    build_rows,
    count_rows,
    epoch_blocks,
    grpo_tasks,
    has_states,
    sft_tasks,
)
from personadrop.train.run import RunDir, curves_callback, data_fingerprint
from personadrop.variants import run_name

log = logging.getLogger(__name__)


def inference_task(cfg: TrainConfig) -> str:
    """The task the evaluator asks a trained model for its reply."""
    return "states+response" if cfg.method == "humanlm" else "response"


def load_train_examples(
    data: str | Path | list[Example], cfg: TrainConfig, on_bad_row: str = "stop"
) -> tuple[list[Example], str, int]:
    """The training examples (a deterministic subset with ``max_train_examples``), their source, and how many
    were skipped for a reply longer than ``max_reply_tokens`` words (each word is at least one token)."""
    from personadrop.data.humanual import file_split, load_examples

    if isinstance(data, list):
        examples, source = data, "<in-memory>"
    else:
        examples, source = load_examples(data, split="train", on_bad_row=on_bad_row).examples, str(data)
        if file_split(data) in ("val", "test"):
            log.warning("training on %s: its name says it is the %s split", data, file_split(data))
    fitting = [e for e in examples if len(e.response.split()) <= cfg.max_reply_tokens]
    skipped = len(examples) - len(fitting)
    if not fitting:
        raise DataError(
            f"{source}: no training examples"
            + (
                f" with a reply of at most {cfg.max_reply_tokens} tokens (max_reply_tokens)"
                if skipped
                else ""
            )
        )
    if cfg.max_train_examples is not None and len(fitting) > cfg.max_train_examples:
        # A deterministic subset spread over the file (not its first rows, which may share a few users).
        step = len(fitting) / cfg.max_train_examples
        fitting = [fitting[int(i * step)] for i in range(cfg.max_train_examples)]
    return fitting, source, skipped


def resolve_judge(judge: Judge | str) -> Judge:
    """A judge instance, or one built from a registry spec (``exact``, ``anthropic:<model>``, ...)."""
    if isinstance(judge, Judge):
        return judge
    from personadrop.judges import make_judge

    return make_judge(judge)


def train_variant(
    method: str,
    data: str | Path | list[Example],
    out_dir: str | Path,
    *,
    field_dropout: float | None = None,
    profile: str = "default",
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    judge: Judge | str | None = None,
    warm_start: str | Path | RunDir | None = None,
    name: str | None = None,
    on_bad_row: str = "stop",
    **overrides: Any,
) -> RunDir:
    """Train (or resume, or skip when finished) one variant; returns its run directory.

    Everything the run needs (the reward judge and its API key, the model, loggers) is checked before any
    training, and the run directory is held by this process while it trains.

    ``data``: a dataset directory/file (its ``train`` split is used) or a list of examples.
    ``field_dropout``: shorthand for ``train_condition="fields:<p>"`` (a TrainConfig field).
    ``judge``: a Judge or registry spec for the GRPO reward (default: the config's, ``exact``).
    ``warm_start``: for ``grpo``, a finished ``sft`` run with the same data, seed, model and field dropout
    whose model replaces the warm-start stage (its SFT settings are recorded as this run's).
    ``on_bad_row``: ``stop`` at an invalid training row, or ``skip`` (and count) such rows.
    ``overrides``: TrainConfig fields (e.g. ``seed=1``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never fetch weights or tokenizers at run time
    if judge is not None:
        # The run directory records which judge rewarded it.
        overrides["judge"] = judge if isinstance(judge, str) else getattr(judge, "name", type(judge).__name__)
    cfg = resolve_config(method, profile=profile, config=config, field_dropout=field_dropout, **overrides)
    name = name or run_name(method, cfg.train_condition)
    _check_reporting(cfg)
    if cfg.model.path is not None:
        check_model(cfg.model.path)  # a local checkpoint, or a named model that can be prepared
    use_vllm(cfg.model.vllm)  # asked for on a machine without a GPU or vllm: fails now
    reward = None
    if cfg.uses_grpo:  # a missing API key or an unknown judge fails now, not after the warm start
        reward = resolve_judge(judge if judge is not None else cfg.judge)
        reward.check_ready()
    try:
        # In a launched run (torchrun, accelerate launch) the main process holds the directory and writes it.
        with exclusive(out_dir, "training run") if is_main() else nullcontext():
            run = RunDir(out_dir, writes=is_main())
            examples, source, skipped = load_train_examples(data, cfg, on_bad_row)
            fingerprint = data_fingerprint(examples, source)
            warm_run = _check_warm_start(warm_start, cfg, fingerprint)
            if warm_run is not None:  # the record names the warm start it used
                cfg = cfg.model_copy(update={"sft": warm_run.config.sft})
            if run.done:
                run.check_matches(cfg, fingerprint)
                log.info("run %s is finished; skipping", run.path)
                return run
            run.begin(cfg, fingerprint, name)
            model_path = resolve_model(cfg.model.path) if cfg.model.path is not None else None
            return _Trainer(cfg, run, examples, reward, warm_run, name, skipped, model_path).run()
    finally:
        if reward is not None and not isinstance(judge, Judge):
            reward.close()  # built here, so closed here


def _check_reporting(cfg: TrainConfig) -> None:
    """Fail before training when a requested logger (tensorboard, wandb) is unknown or not installed."""
    import importlib.util

    for target in cfg.report_to:
        if target not in ("tensorboard", "wandb"):
            raise ConfigError(f"--report-to {target!r}: use tensorboard or wandb")
        if importlib.util.find_spec(target) is None:
            raise ConfigError(f"--report-to {target} needs the {target} package, which is not installed")


def _check_warm_start(
    warm_start: str | Path | RunDir | None, cfg: TrainConfig, fingerprint: dict[str, Any]
) -> RunDir | None:
    if warm_start is None:
        return None
    if cfg.method != "grpo":
        raise ConfigError(
            f"warm_start reuses an sft run, which only grpo can start from (method is {cfg.method})"
        )
    warm = warm_start if isinstance(warm_start, RunDir) else RunDir(warm_start)
    if not warm.done:
        raise ConfigError(f"warm-start run {warm.path} is not a finished training run")
    wc = warm.config
    mismatches = [
        key
        for key, a, b in (
            ("method", wc.method, "sft"),
            ("train_condition", wc.train_condition, cfg.train_condition),
            ("seed", wc.seed, cfg.seed),
            ("model", wc.model, cfg.model),
            ("max_prompt_tokens", wc.max_prompt_tokens, cfg.max_prompt_tokens),
            ("data", warm.fingerprint.get("sha256"), fingerprint["sha256"]),
        )
        if a != b
    ]
    if mismatches:
        raise ConfigError(f"warm-start run {warm.path} does not match this run in: {', '.join(mismatches)}")
    return warm


class _Trainer:
    """The stages of one run, each skipped when its ``final/`` exists and resumed from its last checkpoint."""

    def __init__(
        self,
        cfg: TrainConfig,
        run: RunDir,
        examples: list[Example],
        reward: Judge | None,
        warm_run: RunDir | None,
        name: str,
        skipped: int = 0,
        model_path: Path | None = None,
    ):
        self.cfg, self.run_dir, self.examples, self.warm_run, self.name = cfg, run, examples, warm_run, name
        self.model_path = model_path  # the pretrained checkpoint (``model.path`` resolved), None for a preset
        self.reward = reward
        self.policy = cfg.policy
        self.skipped = skipped  # examples left out for an overlong reply
        self._budgets: dict[str, int] = {}

    def run(self) -> RunDir:
        import torch

        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        started = time.perf_counter()
        if world_size() > 1:
            log.info("training %s on %d processes (this is rank %d)", self.name, world_size(), rank())
        with main_first():  # the main process builds and saves the tokenizer; the others then read it
            tokenizer = self._tokenizer()
        self._drop_overlong(tokenizer)
        builder = PromptBuilder(tokenizer, cfg.max_prompt_tokens)
        model = self._warm_start(tokenizer, builder)
        if cfg.uses_grpo:
            model = self._grpo(model, tokenizer, builder)
        # Evaluation writes at most as much as the longest training target (plus a margin), unless told
        # otherwise.
        lengths = {
            "max_new_tokens": self._budget(tokenizer, "response"),
            "max_new_tokens_states": self._budget(tokenizer, "states+response"),
        }
        decoding = Decoding(
            **{
                **cfg.decoding.model_dump(),
                **{k: v for k, v in lengths.items() if k not in cfg.decoding.model_fields_set},
            }
        )
        self.run_dir.finish(
            model,
            tokenizer,
            name=self.name,
            inference_task=inference_task(cfg),
            max_prompt_tokens=cfg.max_prompt_tokens,
            decoding=decoding.model_dump(),
            train_condition=cfg.train_condition,
            skipped_overlong=self.skipped,
            world_size=world_size(),
            base=self._base(),
            train_seconds=round(time.perf_counter() - started, 2),
            warm_start=str(self.warm_run.path) if self.warm_run else None,
        )
        return self.run_dir

    # ------------------------------------------------------------------ pieces
    def _base(self) -> dict[str, Any] | None:
        """Which pretrained model the run started from, and (for a personadrop base) what it saw."""
        if self.model_path is None:
            return None
        from personadrop.train.pretrain import describe_base, read_manifest

        manifest = read_manifest(self.model_path)
        return {
            "model": str(self.cfg.model.path),
            "pretrained": describe_base(manifest) if manifest else None,
            "world_seeds": manifest.get("world_seeds") if manifest else None,
        }

    def _reply_cap(self) -> int:
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

    def _main_task(self, ex: Example) -> str:
        return "states+response" if self.cfg.method == "humanlm" and has_states(ex) else "response"

    def _drop_overlong(self, tokenizer) -> None:
        """Leave out examples whose target does not fit the reply cap (a count in run.json, a warning)."""
        cap = self._reply_cap()
        lengths = encode(tokenizer, [target_text(ex, self._main_task(ex)) for ex in self.examples])
        fitting = [ex for ex, ids in zip(self.examples, lengths, strict=True) if len(ids) <= cap]
        self.skipped += len(self.examples) - len(fitting)
        if not fitting:
            raise DataError(f"no training example has a target of at most {cap} tokens (max_reply_tokens)")
        if self.skipped:
            log.warning(
                "%d training examples skipped: their reply is longer than %d tokens (max_reply_tokens)",
                self.skipped,
                cap,
            )
        self.examples = fitting

    def _budget(self, tokenizer, task: str) -> int:
        """Tokens a reply for ``task`` may need: the longest training target, plus 10% and the end token,
        within the reply cap."""
        if task not in self._budgets:
            known = self.examples if task == "response" else [ex for ex in self.examples if has_states(ex)]
            if not known:
                budget = 2 * self._budget(tokenizer, "response") + 64  # no states to measure
            else:
                texts = [target_text(ex, task) for ex in known]
                budget = math.ceil(max(len(ids) for ids in encode(tokenizer, texts)) * 1.1) + 2
            self._budgets[task] = min(budget, self._reply_cap())
        return self._budgets[task]

    def _completion_budget(self, tokenizer) -> int:
        g = self.cfg.grpo
        if self.cfg.method == "humanlm":
            return g.max_completion_tokens_states or self._budget(tokenizer, "states+response")
        return g.max_completion_tokens or self._budget(tokenizer, "response")

    def _tokenizer(self):
        from personadrop.models.tiny import PRESETS
        from personadrop.models.tokenizer import build_tokenizer, corpus_texts, load_tokenizer, save_tokenizer

        cfg = self.cfg
        if self.model_path is not None:
            return load_tokenizer(self.model_path)
        if self.warm_run is not None:
            return load_tokenizer(self.warm_run.model_dir)
        tok_dir = self.run_dir.path / "tokenizer"
        if (tok_dir / "tokenizer.json").exists():
            return load_tokenizer(tok_dir)
        vocab = cfg.model.vocab_size or PRESETS[cfg.model.preset].vocab_size
        tokenizer = build_tokenizer(corpus_texts(self.examples), vocab_size=vocab)
        save_tokenizer(tokenizer, tok_dir)
        return tokenizer

    def _fresh_model(self, tokenizer):
        from personadrop.models.hf import load_model
        from personadrop.models.tiny import PRESETS, build_model

        if self.model_path is not None:
            model, _ = load_model(self.model_path)
            return model.train()
        return build_model(PRESETS[self.cfg.model.preset], tokenizer, seed=self.cfg.seed)

    def _load(self, path: Path):
        from personadrop.models.hf import load_model

        model, _ = load_model(path)
        return model.train()

    def _warm_start(self, tokenizer, builder: PromptBuilder):
        from personadrop.train.sft import sft_steps, train_sft

        cfg, run = self.cfg, self.run_dir
        if self.warm_run is not None:
            return self._load(self.warm_run.model_dir)
        stage = "sft"
        if run.stage_done(stage):
            return self._load(run.stage_final(stage))
        tasks = sft_tasks(cfg.method, seed=cfg.seed, state_task_share=cfg.sft.state_task_share)
        blocks = epoch_blocks(cfg.sft.epochs)
        rows = self._rows(builder, stage, tasks, blocks, with_targets=True, batch_size=cfg.sft.batch_size)
        steps = sft_steps(len(rows.rows) // blocks, cfg, world_size())
        # SFT sees whole targets; the rollout caps of the GRPO stage do not apply here.
        max_completion = self._budget(tokenizer, "states+response" if cfg.method == "humanlm" else "response")
        callback = curves_callback(run, stage)
        t0 = time.perf_counter()
        model = train_sft(
            self._fresh_model(tokenizer),
            tokenizer,
            rows.rows,
            cfg,
            run.stage_dir(stage),
            steps=steps,
            max_completion_tokens=max_completion,
            callbacks=[callback],
            resume=run.last_checkpoint(stage),
        )
        self._record(stage, steps, len(rows.rows), time.perf_counter() - t0, callback)
        run.finish_stage(stage, model, tokenizer)
        barrier()
        return model

    def _rows(self, builder: PromptBuilder, stage: str, tasks: Any, blocks: int, **options: Any) -> Any:
        """A stage's training rows (every epoch block, each with its own masks), and the record of what
        each showed."""
        rows = build_rows(
            self.examples,
            self.policy,
            builder,
            seed=self.cfg.seed,
            epochs=blocks,
            tasks=tasks,
            stage=stage,
            **options,
        )
        self.run_dir.write_shown(stage, rows.visibility, rank())
        return rows

    def _grpo(self, model, tokenizer, builder: PromptBuilder):
        from personadrop.train.grpo import grpo_steps, make_grpo_trainer, train_grpo
        from personadrop.train.rewards import reward_function

        cfg, run = self.cfg, self.run_dir
        stage = "grpo"
        if run.stage_done(stage):
            return self._load(run.stage_final(stage))
        judge = self.reward
        assert judge is not None  # built and checked by train_variant for every method that uses GRPO
        tasks = grpo_tasks(cfg.method, humanlm_response_task=cfg.grpo.humanlm_response_task)
        blocks = epoch_blocks(cfg.grpo.epochs)
        planned = count_rows(self.examples, tasks, epochs=blocks, epoch_offset=GRPO_EPOCH_OFFSET)
        steps = grpo_steps(planned // blocks, cfg, world_size())
        # Steps capped well inside an epoch read only their prompts: render no more rows than that.
        rows = self._rows(
            builder,
            stage,
            tasks,
            blocks,
            with_targets=False,
            epoch_offset=GRPO_EPOCH_OFFSET,
            limit=steps * cfg.grpo.prompts_per_step * world_size(),
        )
        max_completion = self._completion_budget(tokenizer)
        reward = reward_function(judge)
        callback = curves_callback(run, stage)
        trainer = make_grpo_trainer(
            model,
            tokenizer,
            rows.dataset(),
            reward,
            cfg,
            run.stage_dir(stage),
            steps=steps,
            max_completion_tokens=max_completion,
            callbacks=[callback],
        )
        t0 = time.perf_counter()
        model = train_grpo(trainer, resume=run.last_checkpoint(stage))
        self._record(
            stage,
            steps,
            planned,
            time.perf_counter() - t0,
            callback,
            judge=getattr(judge, "name", type(judge).__name__),
            unscored_rollouts=reward.failures,
            unparsable_rollouts=reward.unparsable,
        )
        run.finish_stage(stage, model, tokenizer)
        barrier()
        return model

    def _record(self, stage: str, steps: int, rows: int, seconds: float, callback: Any, **extra: Any) -> None:
        curves = [r for r in self.run_dir.read_curves() if r["stage"] == stage]
        last: dict[str, float] = {}
        for r in curves:
            last[r["name"]] = r["value"]
        stages = self.run_dir.meta.get("stages", {})
        stages[stage] = {
            "steps": steps,
            "rows": rows,
            "seconds": round(seconds, 2),
            "step_seconds": round(callback.mean_step_seconds or 0.0, 4),
            "final": {k: v for k, v in last.items() if k == "loss" or k.startswith("reward")},
            **extra,
        }
        self.run_dir.update_meta(stages=stages)
