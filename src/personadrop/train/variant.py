"""Train one simulator end to end: data -> tokenizer and model -> the method's stages -> run directory.

What a method trains, and in which stages, is the method's (:mod:`personadrop.train.methods`); this module
checks everything a run needs before any training, holds the run directory, and runs the stages in order.
A ``grpo`` run may start from a finished ``sft`` run (``warm_start``) instead of its own SFT stage.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from personadrop.data.example import Example
from personadrop.distributed import is_main, main_first, rank, world_size
from personadrop.dropout import check_fields, fields_of
from personadrop.errors import ConfigError, DataError
from personadrop.files import exclusive
from personadrop.judges.base import Judge
from personadrop.models.hf import Decoding
from personadrop.models.registry import check_model, resolve_model
from personadrop.models.vllm import use_vllm
from personadrop.prompts import PromptBuilder
from personadrop.train.config import TrainConfig, resolve_config
from personadrop.train.methods import get_method
from personadrop.train.run import RunDir, data_fingerprint
from personadrop.train.stages import RunContext
from personadrop.variants import variant_name

log = logging.getLogger(__name__)

# TRL 1.16 reads `is_gradient_checkpointing`, which transformers 5.24 deprecates: a warning in the middle of
# every training log that no user can act on.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


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
    check_fields([cfg.train_condition], fields_of(e.persona for e in examples), source)
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
    spec = get_method(method)
    cfg = resolve_config(method, profile=profile, config=config, field_dropout=field_dropout, **overrides)
    name = name or variant_name(method, cfg.train_condition)
    _check_reporting(cfg)
    if cfg.model.path is not None:
        check_model(cfg.model.path)  # a local checkpoint, or a named model that can be prepared
    use_vllm(cfg.model.vllm)  # asked for on a machine without a GPU or vllm: fails now
    reward = None
    if spec.uses_reward:  # a missing API key or an unknown judge fails now, not after the warm start
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
            ctx = RunContext(cfg, spec, run, examples, reward, warm_run, model_path, skipped=skipped)
            return _train(ctx, name)
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
    source = get_method(cfg.method).warm_start_from
    if source is None:
        raise ConfigError(f"warm_start: a {cfg.method} run cannot start from another run's model")
    warm = warm_start if isinstance(warm_start, RunDir) else RunDir(warm_start)
    if not warm.done:
        raise ConfigError(f"warm-start run {warm.path} is not a finished training run")
    wc = warm.config
    mismatches = [
        key
        for key, a, b in (
            ("method", wc.method, source),
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


def _train(ctx: RunContext, name: str) -> RunDir:
    """The method's stages in order, then the trained simulator and its record in the run directory."""
    import torch

    cfg = ctx.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    if world_size() > 1:
        log.info("training %s on %d processes (this is rank %d)", name, world_size(), rank())
    with main_first():  # the main process builds and saves the tokenizer; the others then read it
        ctx.tokenizer = _tokenizer(ctx)
    ctx.drop_overlong()
    ctx.builder = PromptBuilder(ctx.tokenizer, cfg.max_prompt_tokens)
    model = None
    for stage in ctx.method.stages:
        model = stage.run(ctx, model)
    # Evaluation writes at most as much as the longest training target (plus a margin), unless told otherwise.
    lengths = {
        "max_new_tokens": ctx.budget("response"),
        "max_new_tokens_states": ctx.budget("states+response"),
    }
    decoding = Decoding(
        **{
            **cfg.decoding.model_dump(),
            **{k: v for k, v in lengths.items() if k not in cfg.decoding.model_fields_set},
        }
    )
    ctx.run.finish(
        model,
        ctx.tokenizer,
        name=name,
        inference_task=ctx.method.inference_task,
        max_prompt_tokens=cfg.max_prompt_tokens,
        decoding=decoding.model_dump(),
        train_condition=cfg.train_condition.name,
        skipped_overlong=ctx.skipped,
        world_size=world_size(),
        base=_base(ctx),
        train_seconds=round(time.perf_counter() - started, 2),
        warm_start=str(ctx.warm_run.path) if ctx.warm_run else None,
    )
    return ctx.run


def _base(ctx: RunContext) -> dict[str, Any] | None:
    """Which pretrained model the run started from, and (for a personadrop base) what it saw."""
    if ctx.model_path is None:
        return None
    from personadrop.train.pretrain import describe_base, read_manifest

    manifest = read_manifest(ctx.model_path)
    return {
        "model": str(ctx.cfg.model.path),
        "pretrained": describe_base(manifest) if manifest else None,
        "world_seeds": manifest.get("world_seeds") if manifest else None,
    }


def _tokenizer(ctx: RunContext):
    """The pretrained checkpoint's or the warm start's tokenizer; for a preset, one learned from the data."""
    from personadrop.models.tiny import PRESETS
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts, load_tokenizer, save_tokenizer

    if ctx.model_path is not None:
        return load_tokenizer(ctx.model_path)
    if ctx.warm_run is not None:
        return load_tokenizer(ctx.warm_run.model_dir)
    tok_dir = ctx.run.path / "tokenizer"
    if (tok_dir / "tokenizer.json").exists():
        return load_tokenizer(tok_dir)
    vocab = ctx.cfg.model.vocab_size or PRESETS[ctx.cfg.model.preset].vocab_size
    tokenizer = build_tokenizer(corpus_texts(ctx.examples), vocab_size=vocab)
    save_tokenizer(tokenizer, tok_dir)
    return tokenizer
