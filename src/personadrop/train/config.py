"""Training configuration: plain values, one seed, and two profiles (``quick`` for tests, ``default`` for the
study).

A run's config is resolved in layers: defaults <- profile <- config file <- command-line options, and the
result is written to the run directory, so a run can be re-created from that file alone.
The ``default`` profile is sized so that each method trains in about a minute on two CPU cores
(the whole study, five variants and their evaluation, must fit in ten minutes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from personadrop.dropout import Condition, Full, field_dropout_shorthand
from personadrop.errors import ConfigError
from personadrop.limits import MAX_EPOCHS, MAX_NEW_TOKENS, MAX_VOCAB_SIZE, Seed
from personadrop.models.hf import Decoding
from personadrop.settings import first_error, merge_settings, read_settings

Profile = Literal["quick", "default"]


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSpec(_Plain):
    """Low-rank adapters (peft) for a real checkpoint; merged into the weights after each stage."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class ModelSpec(_Plain):
    """Which model to train: an embedded preset built from scratch, or a local HF checkpoint (``path``)."""

    preset: Literal["tiny", "small"] = "tiny"
    path: str | None = None  # a local checkpoint directory; overrides ``preset``
    lora: LoraSpec | None = None
    # Generation through vLLM (GRPO rollouts, evaluation): auto = where a CUDA GPU and vllm are present.
    vllm: Literal["auto"] | bool = "auto"
    vocab_size: int | None = Field(
        None, ge=300, le=MAX_VOCAB_SIZE
    )  # tokenizer size for presets; None: the preset's


class SFTStage(_Plain):
    """Supervised imitation (the ``sft`` method, and the warm start of ``grpo`` and ``humanlm``)."""

    # Measured on the default world (2 CPU cores): for a fixed time, more small steps learn more than fewer
    # large ones (batch 8 at 5e-3 reached 0.20-0.30 exact-judge score in one epoch, batch 16 at 3e-3 scored
    # 0.0); 1e-2 diverges. One epoch (~35 s for sft, ~55 s for humanlm) is what a ten-minute study allows;
    # it is not enough to learn the world well: four epochs reached 0.42 (sft) and 0.35 (humanlm) under
    # the full persona, against a Bayes-optimal 0.73 and a persona-blind optimum of 0.41.
    epochs: float = Field(1.0, gt=0, le=MAX_EPOCHS)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-3, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_steps: int | None = Field(None, ge=1)  # a cap on top of ``epochs``
    # HumanLM warm start: every example teaches "states then reply"; this share of examples also gets a
    # row for one single-state task, so the GRPO stage's state prompts are not new to the model.
    state_task_share: float = Field(0.15, ge=0, le=1)


class GRPOStage(_Plain):
    """Reinforcement from the judge (``grpo``; ``humanlm`` with its seven tasks)."""

    epochs: float = Field(1.0, gt=0, le=MAX_EPOCHS)
    # 4 prompts x 8 completions: the same 32 rollouts per step as 8 x 4, with better group baselines.
    prompts_per_step: int = Field(4, ge=1)
    num_generations: int = Field(8, ge=2)  # a group: completions of one prompt, compared with each other
    lr: float = Field(1e-4, gt=0)
    beta: float = Field(0.0, ge=0)  # KL to the warm start; 0 skips the reference model (cheaper)
    temperature: float = Field(1.0, gt=0)
    # Rollout length caps; None: the longest training target of the task, plus a margin.
    max_completion_tokens: int | None = Field(None, ge=8, le=MAX_NEW_TOKENS)  # the reply task
    # HumanLM batches, which include states+reply
    max_completion_tokens_states: int | None = Field(None, ge=8, le=MAX_NEW_TOKENS)
    loss_type: Literal["dapo", "bnpo", "grpo", "dr_grpo"] = "dapo"
    max_steps: int | None = Field(None, ge=1)  # a cap on top of ``epochs`` (the default profile sets one)
    # HumanLM's reply task is asked in the inference format (states, then the reply), so the policy that
    # GRPO improves is the one the evaluator queries.
    humanlm_response_task: Literal["states+response", "response"] = "states+response"


class TrainConfig(_Plain):
    """Everything a training run depends on, besides its data."""

    method: str = "sft"  # a registered method (personadrop.train.methods)
    profile: Profile = "default"
    seed: Seed = 0
    # What of each training persona is shown, in the grammar of test conditions: `full`, `fields:0.6`
    # (field dropout; at least one field kept), `items:0.3`, `only:values`, `fields:0.6,items:0.2`, ...
    # Masks are keyed by (seed, example id, epoch), so each epoch draws fresh ones.
    train_condition: Condition = Full()
    judge: str = "exact"  # the reward's judge (registry spec); ignored by ``sft``
    model: ModelSpec = Field(default_factory=ModelSpec)
    max_prompt_tokens: int = Field(352, ge=32)  # the thread is cut from its start beyond this
    # The longest target (a reply, or states and reply) a run trains on and may write; training rows with a
    # longer one are skipped (counted in run.json). Also capped by the model's context.
    max_reply_tokens: int = Field(512, ge=8, le=MAX_NEW_TOKENS)
    max_train_examples: int | None = Field(None, ge=1)  # a deterministic subset (quick runs)
    sft: SFTStage = Field(default_factory=SFTStage)
    grpo: GRPOStage = Field(default_factory=GRPOStage)
    decoding: Decoding = Field(default_factory=Decoding)  # how the trained simulator generates at evaluation
    logging_steps: int = Field(5, ge=1)
    save_steps: int = Field(100, ge=1)  # checkpoints for resuming a killed run
    report_to: list[str] = Field(default_factory=list)  # "tensorboard", "wandb"
    threads: int | None = Field(None, ge=1)  # torch CPU threads; None: torch's default
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.model.lora is not None and self.model.path is None:
            raise ValueError(
                "model.lora needs model.path (a pretrained checkpoint); presets train every weight"
            )
        return self


#: Profile overrides, applied on top of the defaults above.
PROFILES: dict[str, dict[str, Any]] = {
    # A smoke run: seconds per method, no claim to quality.
    "quick": {
        "max_train_examples": 48,
        "logging_steps": 2,
        "save_steps": 1000,
        "sft": {"epochs": 2.0, "batch_size": 8, "max_steps": 8},
        "grpo": {
            "prompts_per_step": 2,
            "num_generations": 2,
            "max_steps": 2,
            "max_completion_tokens": 24,
            "max_completion_tokens_states": 48,
        },
        "decoding": {"max_new_tokens": 32, "max_new_tokens_states": 64},
    },
    # The embedded study on two CPU cores. GRPO stops well inside one epoch: at ~1.2-1.6 s per step, 20 steps
    # (80 prompts, 640 rollouts) is what the ten-minute study allows; at lr 2e-4 those 20 steps already cost
    # the tiny model's greedy replies 0.13 of exact-judge score, at 1e-4 with groups of 8 they did not.
    # A config that sets a stage's ``epochs`` (and no ``max_steps``) lifts the cap.
    "default": {"grpo": {"max_steps": 20}},
}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A training config (YAML or JSON; or its ``train:`` section), or a study config: its ``training:``
    section and its ``model``."""
    data = read_settings(path, "training config")
    if isinstance(data.get("train"), dict):  # a file that keeps its training settings under `train:`
        return data["train"]
    if isinstance(data.get("training"), dict) or "variants" in data or "evaluation" in data:
        section = dict(data.get("training") or {})
        if isinstance(data.get("model"), dict) and data["model"]:
            section.setdefault("model", data["model"])
        return section
    return data


def resolve_config(
    method: str,
    *,
    profile: str = "default",
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    **overrides: Any,
) -> TrainConfig:
    """The run's configuration: defaults <- ``profile`` <- ``config`` (a file, dict or TrainConfig) <-
    ``overrides``.

    ``overrides`` with value None are ignored (unset command-line options). ``field_dropout=p`` is
    shorthand for ``train_condition="fields:p"``.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    layers: dict[str, Any] = merge_settings({}, PROFILES[profile])
    user: dict[str, Any] = {}
    if isinstance(config, TrainConfig):
        user = config.model_dump(exclude_unset=True)
    elif isinstance(config, dict):
        user = dict(config)
    elif config is not None:
        user = read_config_file(config)
    user = merge_settings(user, {k: v for k, v in overrides.items() if v is not None})
    user = field_dropout_shorthand(user)
    for stage in ("sft", "grpo"):
        # "epochs: 1" in a config means one epoch, not one epoch cut short by the profile's step cap.
        asked = user.get(stage) if isinstance(user.get(stage), dict) else {}
        if "epochs" in asked and "max_steps" not in asked:
            layers.setdefault(stage, {})["max_steps"] = None
    layers = merge_settings(layers, user)
    layers.update(method=method, profile=profile)
    try:
        return TrainConfig(**layers)
    except ValidationError as err:
        raise ConfigError(f"invalid training config at {first_error(err)}") from None
