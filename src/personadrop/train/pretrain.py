"""Pretrain a base simulator on OTHER synthetic worlds, so fine-tuning on a target world starts from a model
that already reads the world's language (what each persona phrase says about a hidden trait).

A base must not know the target world: not its users, posts or replies, and not which of its fields is
reliable. So it is trained on worlds drawn at random (:func:`random_world_config`): seeds from a range no
study uses (``PRETRAIN_SEED_BASE`` and up; the world generator keys users and posts by seed alone, so a
target seed with another signal table would replay the target's users and posts), signal tables drawn
cell by cell from what the language can write, and moderately perturbed priors and state noise. Every
split of a pretraining world is used (they are not the target), with the whole persona shown.

The base ships with its own tokenizer (learned from the pretraining corpus: the world language is shared
by every world), is a plain Hugging Face checkpoint directory, and carries ``pretrain.json`` saying what it
saw.
``personadrop pretrain --config configs/pretrain-world.yaml`` rebuilds the shipped base from its config and
seed (bit for bit on the same machine and library versions).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from personadrop.data.example import STATE_DIMENSIONS, Example
from personadrop.data.world.config import ITEM_BOUNDS, WorldConfig, default_priors, world_config
from personadrop.data.world.lexicon import DEMOGRAPHIC_KEY, NOISE_PHRASES, PERSONA_FIELDS, supports
from personadrop.data.world.vocab import GROUP_VALUES, GROUPS, LENIENCIES, VALUES
from personadrop.errors import ConfigError
from personadrop.limits import MAX_EPOCHS, MAX_VOCAB_SIZE, MAX_WORLD_POSTS, MAX_WORLD_USERS, MAX_WORLDS, Seed

#: Pretraining worlds use seeds from here on; target worlds (studies, tests, configs) use small seeds.
PRETRAIN_SEED_BASE = 1_000_000
MANIFEST = "pretrain.json"


# --------------------------------------------------------------------------- random worlds
def _signal_cells(field: str, rng: random.Random) -> dict[str, dict[str, Any]]:
    """One field's signal cells: a random subset of the groups the language can write in ``field``."""
    cells: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        if not supports(field, group):
            continue
        if field == "demographics":
            items = 1 if rng.random() < 0.6 else 0
        elif group == "values":
            items = rng.choice((0, 0, 1, 2, 3, 4, 5, 6))
        else:
            items = rng.choice((0, 0, 1, 1, 2, 3))
        rel = round(rng.uniform(0.3, 0.95), 2)
        cells[group] = {"items": items, "reliability": rel if items else 0.0}
    return cells


def random_world_config(seed: int, rng: random.Random | None = None) -> WorldConfig:
    """A valid world config with a random signal table, priors, noise items and state noise, for ``seed``.

    Draws are made from ``rng`` (default: a stream keyed by ``seed``) and repeated until the config passes
    :class:`WorldConfig`'s checks (item bounds per field, one demographic key per group, the language's
    ``supports``). Every field gets at least one signal cell; groups draw their own priors.
    """
    rng = rng or random.Random(f"personadrop-pretrain-world:{seed}")
    signal: dict[str, dict[str, Any]] = {}
    noise_items: dict[str, tuple[int, int]] = {}
    for field in PERSONA_FIELDS:
        for _ in range(1000):
            cells = _signal_cells(field, rng)
            fixed = sum(c["items"] for c in cells.values())
            if fixed == 0:
                continue
            if field == "demographics":
                break
            lo_n, hi_n = ITEM_BOUNDS[field]
            cap = len(NOISE_PHRASES[field])
            lo_ok = max(0, lo_n - fixed)
            hi_ok = min(cap, hi_n - fixed)
            if lo_ok > hi_ok:
                continue
            lo = rng.randint(lo_ok, min(hi_ok, lo_ok + 2))
            hi = rng.randint(lo, min(hi_ok, lo + 3))
            noise_items[field] = (lo, hi)
            break
        else:  # pragma: no cover - the draw above always succeeds in a few tries
            raise RuntimeError(f"no valid signal cells for {field}")
        signal[field] = cells
    # Every default cell not drawn must be removed explicitly (overrides merge leaf by leaf).
    priors = {}
    for group, weights in default_priors().items():
        assert len(weights) == len(GROUP_VALUES[group])
        w = [max(0.05, x * math.exp(rng.gauss(0.0, 0.35))) for x in weights]
        priors[group] = tuple(round(x / sum(w), 3) for x in w)
    shift = rng.uniform(0.3, 0.9)
    noise = {
        "stance_sigma": round(rng.uniform(0.35, 0.8), 2),
        "leniency_shift": dict(zip(LENIENCIES, (-shift, 0.0, shift), strict=True)),
        "emotion": round(rng.uniform(0.05, 0.2), 2),
        "intensity": round(rng.uniform(0.1, 0.25), 2),
        "emotion_target": round(rng.uniform(0.05, 0.2), 2),
        "belief": round(rng.uniform(0.05, 0.2), 2),
        "goal": round(rng.uniform(0.05, 0.2), 2),
        "anxious_question": round(rng.uniform(0.25, 0.55), 2),
        "structure": round(rng.uniform(0.05, 0.2), 2),
    }
    overrides = {
        "priors": priors,
        "noise_items": noise_items,
        "noise": noise,
        "demographics_na": round(rng.uniform(0.05, 0.3), 2),
        "demographics_all_na": round(rng.uniform(0.05, 0.25), 2),
        "thread_share": round(rng.uniform(0.15, 0.45), 2),
    }
    # Replace the default table whole: start from the default config, then set every cell (0 items removes
    # it).
    base = WorldConfig().to_json_dict()
    base["signal"] = signal
    base.update(overrides)
    base["seed"] = seed
    cfg = WorldConfig.model_validate(base)
    assert all(len(VALUES) >= c.items for cells in cfg.signal.values() for c in cells.values())
    assert set(cfg.signal) == set(PERSONA_FIELDS)
    assert all(group in DEMOGRAPHIC_KEY for group in cfg.signal["demographics"])
    return cfg


def pretraining_worlds(
    n: int, *, seed: int = 0, users: int | None = None, posts: int | None = None
) -> list[WorldConfig]:
    """``n`` random world configs with seeds ``PRETRAIN_SEED_BASE + seed * 10_000 + k``."""
    out = []
    for k in range(n):
        cfg = random_world_config(PRETRAIN_SEED_BASE + seed * 10_000 + k)
        if users or posts:
            cfg = world_config(cfg.to_json_dict(), users=users, posts=posts)
        out.append(cfg)
    return out


def pretraining_examples(configs: Sequence[WorldConfig]) -> list[Example]:
    """Every example (all splits) of every world, with world-unique ids."""
    from personadrop.data.world import generate_world

    out: list[Example] = []
    for cfg in configs:
        if cfg.seed < PRETRAIN_SEED_BASE:
            raise ValueError(
                f"pretraining world seed {cfg.seed} is below {PRETRAIN_SEED_BASE}: it may be a target world"
            )
        for ex in generate_world(cfg).examples:
            out.append(
                ex.model_copy(
                    update={
                        "id": f"w{cfg.seed}/{ex.id}",
                        "user_id": f"w{cfg.seed}/{ex.user_id}",
                        "split": "train",
                    }
                )
            )
    return out


# --------------------------------------------------------------------------- the mixture
def mixture_tasks(mixture: str, *, seed: int, state_share: float = 0.15):
    """Which tasks each example trains on.

    ``response``: the reply only. ``humanlm``: the reply, plus for a ``state_share`` of examples
    states-then-reply, plus (for another share) one single-state task: so HumanLM's inference format and
    its GRPO state prompts are not new to the base. ``states``: states-then-reply instead of the reply for
    half the examples, one single-state row for ``state_share``.
    """
    from personadrop.dropout import MaskKey

    def choose(ex: Example, epoch: int) -> Sequence[str]:
        if mixture == "response" or not ex.states:
            return ("response",)
        d = MaskKey(seed, ex.id, epoch).draws("pretrain-task", 3)
        share = 0.5 if mixture == "states" else state_share
        tasks = ["states+response" if d[0] < share * 2**32 else "response"]
        if mixture == "humanlm" and tasks[0] == "response" and d[2] < share * 2**32:
            tasks = ["response", "states+response"]
        if d[1] < state_share * 2**32:
            tasks.append(STATE_DIMENSIONS[d[2] % len(STATE_DIMENSIONS)])
        return tuple(tasks)

    return choose


def _reply_only(ex: Example, epoch: int) -> Sequence[str]:
    return ("response",)


def one_state_task(seed: int, replies):
    """The state stage's task chooser: what ``replies`` asks of an example (the whole-persona mixture's reply
    formats, without its single states), then one of the six states, drawn per example and epoch.

    Replies stay in the stage: a base trained last on single states alone wrote one state and stopped when
    later asked for states-then-reply with part of the persona missing.
    """
    from personadrop.dropout import MaskKey

    def choose(ex: Example, epoch: int) -> Sequence[str]:
        kept = tuple(t for t in replies(ex, epoch) if t in ("response", "states+response"))
        if not ex.states:
            return kept
        draw = MaskKey(seed, ex.id, epoch).draws("pretrain-state", 1)[0]
        return (*kept, STATE_DIMENSIONS[draw % len(STATE_DIMENSIONS)])

    return choose


# --------------------------------------------------------------------------- training
class PretrainConfig(BaseModel):
    """Everything a base depends on; with its seed it determines the base."""

    model_config = ConfigDict(extra="forbid")

    seed: Seed = 0
    worlds: int = Field(
        16, ge=1, le=MAX_WORLDS
    )  # random worlds drawn (seeds PRETRAIN_SEED_BASE + seed * 10_000 + k)
    users: int | None = Field(None, ge=10, le=MAX_WORLD_USERS)  # per world; None: the world default
    posts: int | None = Field(None, ge=10, le=MAX_WORLD_POSTS)
    # A first stage of this many steps on the post alone (every persona field hidden, the reply task), before
    # the whole-persona stage: a tiny model shown whole personas from the start never learns to read the post.
    post_first_steps: int = Field(0, ge=0)
    # A last stage of this many steps that adds a single-state task (one of the six, drawn per example) to
    # each example's replies (whole personas): in a reply a state is a few tokens among many, and the base
    # learns to read it from the persona slowly.
    state_last_steps: int = Field(0, ge=0)
    mixture: Literal["response", "humanlm", "states"] = "humanlm"
    state_share: float = Field(0.15, ge=0.0, le=1.0)
    epochs: float = Field(1.0, gt=0, le=MAX_EPOCHS)
    max_steps: int | None = Field(None, ge=1)
    lr: float = Field(5e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    vocab_size: int = Field(2048, ge=300, le=MAX_VOCAB_SIZE)
    max_prompt_tokens: int = Field(352, ge=32)
    shape: dict[str, int] = Field(default_factory=dict)  # fields of the tiny preset to replace
    threads: int | None = Field(
        1, ge=1
    )  # one thread: the same numbers on any machine with the same libraries


def load_pretrain_config(path: str | Path | None = None, **overrides: Any) -> PretrainConfig:
    from personadrop.settings import first_error, merge_settings, read_settings

    raw = read_settings(path, "pretraining config") if path is not None else {}
    if path is not None and not raw:  # most likely the wrong file: the defaults are hours of training
        raise ConfigError(
            f"{path}: the pretraining config holds no settings; leave out --config for the defaults"
        )
    merged = merge_settings(raw, {k: v for k, v in overrides.items() if v is not None})
    try:
        return PretrainConfig(**merged)
    except ValidationError as err:
        raise ConfigError(f"{path or 'pretraining config'}: {first_error(err)}") from None


def pretrain_base(cfg: PretrainConfig, out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train a base on ``cfg.worlds`` random worlds; save checkpoint, tokenizer and manifest into ``out_dir``.

    Writes into a temporary directory beside ``out_dir`` and renames it into place when done, so a killed
    run never leaves a half-written base. Returns the manifest.
    """
    import shutil

    import torch

    from personadrop.dropout import Full, NoPersona
    from personadrop.models.tiny import PRESETS, TinyPreset, build_model
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts, save_tokenizer
    from personadrop.prompts import PromptBuilder, encode, target_text
    from personadrop.train.config import TrainConfig
    from personadrop.train.datasets import build_rows, epoch_blocks
    from personadrop.train.sft import sft_steps, train_sft

    out = Path(out_dir)
    check_output(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    work = out.parent / f".{out.name}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    configs = pretraining_worlds(cfg.worlds, seed=cfg.seed, users=cfg.users, posts=cfg.posts)
    examples = pretraining_examples(configs)
    tokenizer = build_tokenizer(corpus_texts(examples), vocab_size=cfg.vocab_size)
    preset = TinyPreset(**{**PRESETS["tiny"].as_dict(), **cfg.shape, "vocab_size": cfg.vocab_size})
    model = build_model(preset, tokenizer, seed=cfg.seed)
    train_cfg = TrainConfig(
        method="sft",
        seed=cfg.seed,
        max_prompt_tokens=cfg.max_prompt_tokens,
        threads=cfg.threads,
        progress=progress,
        logging_steps=50,
        save_steps=10**9,
        sft={"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "max_steps": cfg.max_steps},
    )
    builder = PromptBuilder(tokenizer, cfg.max_prompt_tokens)
    blocks = epoch_blocks(cfg.epochs)
    rows = build_rows(
        examples,
        Full(),
        builder,
        seed=cfg.seed,
        epochs=blocks,
        with_targets=True,
        stage="pretrain",
        tasks=mixture_tasks(cfg.mixture, seed=cfg.seed, state_share=cfg.state_share),
        batch_size=cfg.batch_size,
    )
    steps = sft_steps(len(rows.rows) // blocks, train_cfg)
    longest_task = "states+response" if cfg.mixture != "response" else "response"
    longest = max(len(x) for x in encode(tokenizer, [target_text(ex, longest_task) for ex in examples]))

    def stage_rows(policy, n_steps: int, stage: str, tasks) -> list[dict[str, Any]]:
        epochs = math.ceil(n_steps * cfg.batch_size / len(examples))
        return build_rows(
            examples,
            policy,
            builder,
            seed=cfg.seed,
            epochs=epochs,
            with_targets=True,
            stage=stage,
            tasks=tasks,
            batch_size=cfg.batch_size,
        ).rows

    # (rows, steps) in training order: the posts alone, whole personas, then the single states.
    stages: list[tuple[list[dict[str, Any]], int]] = []
    if cfg.post_first_steps:
        post = stage_rows(NoPersona(), cfg.post_first_steps, "pretrain-post", _reply_only)
        stages.append((post, cfg.post_first_steps))
    stages.append((rows.rows, steps))
    if cfg.state_last_steps:
        tasks = one_state_task(
            cfg.seed, mixture_tasks(cfg.mixture, seed=cfg.seed, state_share=cfg.state_share)
        )
        states = stage_rows(Full(), cfg.state_last_steps, "pretrain-states", tasks)
        stages.append((states, cfg.state_last_steps))
    data_seconds = time.perf_counter() - started
    for stage, n_steps in stages:
        model = train_sft(
            model,
            tokenizer,
            stage,
            train_cfg,
            work / "trainer",
            steps=n_steps,
            max_completion_tokens=math.ceil(longest * 1.1) + 2,
        )
        shutil.rmtree(work / "trainer", ignore_errors=True)
    model.save_pretrained(work, safe_serialization=True)
    save_tokenizer(tokenizer, work)
    shutil.rmtree(work / "trainer", ignore_errors=True)
    manifest = {
        "format": "personadrop-base",
        "config": cfg.model_dump(),
        "world_seeds": [c.seed for c in configs],
        "worlds": [c.to_json_dict() for c in configs],
        "examples": len(examples),
        "rows": len(rows.rows),
        "post_first_steps": cfg.post_first_steps,
        "steps": steps,
        "state_last_steps": cfg.state_last_steps,
        "task_counts": dict(Counter(r["task"] for r in rows.rows)),
        "persona": (
            f"the post alone for {cfg.post_first_steps} steps, then whole personas (no dropout)"
            if cfg.post_first_steps
            else "whole (no dropout)"
        ),
        "shape": preset.as_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": {"data": round(data_seconds, 1), "total": round(time.perf_counter() - started, 1)},
        "versions": {"torch": torch.__version__},
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    try:
        work.rename(out)
    except OSError as err:  # something took the place since the check: the base is not thrown away
        raise ConfigError(
            f"cannot move the trained base to {out} ({err.strerror or err}); it is kept in {work}: move it "
            "there yourself"
        ) from None
    return manifest


def check_output(out: Path) -> None:
    """Refuse an output the finished base could not be moved into, before any training: the base is
    written beside it and renamed into place, which needs a new or empty directory on the same disk."""
    from personadrop.files import output_dir

    if out.is_symlink() or out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        if os.path.ismount(out):
            raise ConfigError(f"--out {out} is a mount point; give a new directory inside it")
        if (out / MANIFEST).exists():
            raise ConfigError(f"--out {out} already holds a base; choose another --out")
        if any(out.iterdir()):
            raise ConfigError(f"--out {out} already holds files; choose a new or empty directory")
    output_dir(out.parent, "output")


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """What a base saw (its ``pretrain.json``), or None for a checkpoint that is not a personadrop base."""
    manifest = Path(path) / MANIFEST
    return json.loads(manifest.read_text()) if manifest.is_file() else None


def describe_base(manifest: dict[str, Any]) -> str:
    """One line for a report: what the base was pretrained on."""
    seeds = manifest.get("world_seeds") or []
    span = f"seeds {min(seeds)}-{max(seeds)}" if seeds else "no seeds recorded"
    post = manifest.get("post_first_steps") or 0
    first = f"{post:,} steps on the posts alone, then " if post else ""
    steps = manifest.get("steps", 0)
    last = manifest.get("state_last_steps") or 0
    states = f", then {last:,} steps writing single states" if last else ""
    return (
        f"pretrained on {len(seeds)} other synthetic worlds ({span}, random signal tables), "
        f"{manifest.get('examples', 0):,} examples: {first}{steps:,} steps with whole personas{states}"
    )
