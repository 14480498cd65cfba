"""The study's configuration: one YAML file, plain values, validated once; profiles override parts of it.

Resolution order: the built-in defaults (the embedded synthetic world, the tiny model, the exact judge)
<- the config file <- the chosen profile's overrides (``quick`` or ``default``) <- command-line options.
The resolved config is written into the study directory, so a study can be re-run from that file alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from personadrop.data.survey import SURVEY_FILE, evaluation_defaults, survey_fields
from personadrop.dropout import (
    DEFAULT_CONDITIONS,
    Condition,
    FieldDropout,
    Policy,
    check_fields,
    default_conditions,
    field_dropout_shorthand,
)
from personadrop.errors import ConditionError, ConfigError
from personadrop.judges.base import DIMENSIONS
from personadrop.limits import Seed
from personadrop.persona import FIELD_NAMES
from personadrop.settings import first_error, merge_settings, read_settings
from personadrop.variants import VARIANTS

PROFILES = ("quick", "default")
EMBEDDED_BASE = "world-tiny"  # the shipped base (personadrop.models.registry.BASES)
# Fine-tuning the shipped base: SFT at lr 1e-3 (the from-scratch 5e-3 undoes its reading of the post's
# pair of values; configs/pretrain-world.yaml). A study's own `training:` settings win.
EMBEDDED_BASE_TRAINING: dict[str, Any] = {"sft": {"lr": 1.0e-3}}


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldSpec(_Plain):
    """The embedded default: a synthetic world generated into the study directory."""

    users: int | None = Field(None, ge=10)
    posts: int | None = Field(None, ge=10)
    seed: Seed | None = None  # default: the study's seed
    config: str | None = None  # a world config file (signal table, sizes, ...)
    options: dict[str, Any] = Field(default_factory=dict)  # WorldConfig fields


class DataSpec(_Plain):
    """Where examples come from: a synthetic ``world``, or HUMANUAL-style ``path`` (files, dir or hub id)."""

    world: WorldSpec | None = None
    path: str | None = None
    eval_split: str = "test"
    max_eval_examples: int | None = Field(300, ge=1)  # a seeded sample of the split; None: all of it
    on_bad_row: Literal["stop", "skip"] = "stop"

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.world is not None and self.path is not None:
            raise ValueError(
                "data needs one of `world` (synthetic) or `path` (files, directory or hub id), not both"
            )
        if self.world is None and self.path is None:
            self.world = WorldSpec()  # the embedded default
        return self


class EvaluationSpec(_Plain):
    conditions: list[Condition] = Field(
        default_factory=lambda: list(DEFAULT_CONDITIONS), validate_default=True
    )
    dimensions: list[str] = Field(default_factory=lambda: list(DIMENSIONS))
    judge_batch_size: int = Field(64, ge=1)  # (condition, example) groups per judge.score call
    # Simulator decoding (temperature, batch_size, ...): fields of personadrop.models.hf.Decoding.
    decoding: dict[str, Any] = Field(default_factory=dict)
    # A study whose share of failed judgements passes this exits non-zero (after writing its report).
    max_failure_share: float = Field(0.05, ge=0.0, le=1.0)
    # Processes generation is spread over; None: one per CPU core (at most 2) without a GPU, else 1.
    workers: int | None = Field(None, ge=1)

    @field_validator("decoding")
    @classmethod
    def _decoding(cls, values: dict[str, Any]) -> dict[str, Any]:
        from personadrop.models.hf import Decoding

        Decoding(**values)  # an invalid setting fails now, not after training
        return values

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, policies: list[Policy]) -> list[Policy]:
        if not any(p.is_full for p in policies):
            raise ValueError("conditions must include `full`: retention is measured against it")
        return list({p.name: p for p in policies}.values())  # each name once, in order

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, dims: list[str]) -> list[str]:
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown or "response" not in dims:
            raise ValueError(f"dimensions must include `response` and come from {', '.join(DIMENSIONS)}")
        return dims


class ListedSimulator(_Plain):
    """A simulator the study evaluates but does not train, listed under ``simulators``: an API model
    (``openai:<model>[@base_url]``, ``anthropic:<model>``), ``replies:<file>``, a model by name
    (``smollm2-135m``, prompted with the persona as it is) or a checkpoint or training run directory.
    A bare string is the spec alone. ``name``: what the report calls it (default: from the spec).
    ``sample``: answer a seeded sample of this many of the evaluation's examples (a slow simulator), the
    same sample under every condition. Other keys are its options: for an API model those of
    :class:`~personadrop.models.api.APISimulator` (``temperature``, ``max_tokens``, ``concurrency``,
    ``requests_per_minute``, ``prices``, ...), for a checkpoint decoding settings (``temperature``,
    ``max_new_tokens``, ``batch_size``, ...) and ``max_prompt_tokens``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    spec: str
    name: str | None = None
    sample: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        return {"spec": data} if isinstance(data, str) else data

    @field_validator("spec")
    @classmethod
    def _known(cls, spec: str) -> str:
        from personadrop.models.registry import BASES, MODELS
        from personadrop.simulators import API_PREFIXES, BAYES, TABULAR, is_external

        if spec in (BAYES, TABULAR):
            raise ValueError(f"{spec!r} is a variant of the study: list it in `variants`")
        if spec.startswith(API_PREFIXES):
            from personadrop.judges import parse_llm_spec

            parse_llm_spec(spec, "simulator")
        elif not is_external(spec) and spec not in BASES and spec not in MODELS and not Path(spec).is_dir():
            raise ValueError(
                f"{spec!r} is not a simulator: give openai:<model>[@base_url], anthropic:<model>, "
                f"replies:<file>, a model name ({', '.join([*MODELS, *BASES])}) or a checkpoint directory"
            )
        return spec

    @model_validator(mode="after")
    def _checkpoint_options(self) -> ListedSimulator:
        if self.external:
            return self  # an API model's options are checked where it is built, against its own list
        from personadrop.models.hf import Decoding

        unknown = sorted(set(self.options) - set(Decoding.model_fields) - {"max_prompt_tokens"})
        if unknown:
            raise ValueError(
                f"simulator {self.spec!r} does not take {', '.join(unknown)} (a checkpoint takes "
                f"max_prompt_tokens and {', '.join(Decoding.model_fields)})"
            )
        return self

    @model_serializer(mode="wrap")
    def _unset_left_out(self, handler: Any) -> Any:
        # `name` and `sample` are written only when given: a study directory written before they existed
        # holds the same config, and resumes.
        data = handler(self)
        return {k: v for k, v in data.items() if not (k in ("name", "sample") and v is None)}

    @property
    def external(self) -> bool:
        """Behind an API or in a file (else a checkpoint loaded here)."""
        from personadrop.simulators import is_external

        return is_external(self.spec)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StudyConfig(_Plain):
    name: str = "demo"
    seed: Seed = 0  # the world, the evaluation sample and its masks
    # Training seeds: every trained variant trains once per seed (data order, sampling, new weights); all
    # are evaluated on the same examples and masks, and every interval covers both. Empty: the study's seed.
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2])
    data: DataSpec = Field(default_factory=DataSpec)
    model: dict[str, Any] = Field(default_factory=dict)  # TrainConfig.model: preset, or path (+ lora)
    # What the "+fd" variants see of each training persona: a condition name, or a list of them (one +fd
    # variant of each method per condition: a dropout sweep). `field_dropout: p` (or a list of rates) is short
    # for `train_condition: fields:p`.
    train_condition: list[Condition] = Field(default_factory=lambda: [FieldDropout(0.6)])
    training: dict[str, Any] = Field(default_factory=dict)  # further TrainConfig fields for every variant
    training_profile: Literal["quick", "default"] = "default"
    # Runs trained side by side; None: 2 on a CPU, 1 for a checkpoint.
    training_workers: int | None = Field(None, ge=1)
    # None: every variant the data and model allow (`bayes` for a world, `prompted` for a checkpoint); with
    # `simulators` listed, only the variants named here (none: the listed simulators alone).
    variants: list[str] = Field(default_factory=list)
    # Simulators the study does not train (API models, served checkpoints, replies files, a model prompted
    # as it is), evaluated beside the variants; see ListedSimulator.
    simulators: list[ListedSimulator] = Field(default_factory=list)
    judge: str = ""  # scores the evaluation; empty: `survey` for survey data, else `exact`
    judge_options: dict[str, Any] = Field(default_factory=dict)
    reward_judge: str | None = None  # GRPO rewards; default: the evaluation judge (with its options)
    reward_judge_options: dict[str, Any] = Field(default_factory=dict)  # for a reward judge of its own
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    bootstrap_resamples: int = Field(2000, ge=100)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _field_dropout(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        rates = data.get("field_dropout")
        if isinstance(rates, list):  # a sweep: one condition per rate
            data.pop("field_dropout")
            if data.get("train_condition") is not None:
                raise ConfigError("give either field_dropout or train_condition, not both")
            data["train_condition"] = [
                field_dropout_shorthand({"field_dropout": p})["train_condition"] for p in rates
            ]
            return data
        data = field_dropout_shorthand(data)
        if "train_condition" in data and not isinstance(data["train_condition"], list):
            data["train_condition"] = [data["train_condition"]]
        return data

    @field_validator("train_condition")
    @classmethod
    def _dropout_hides_something(cls, policies: list[Policy]) -> list[Policy]:
        if not policies:
            raise ValueError("give at least one train condition for the +fd variants")
        if any(p.is_full for p in policies):
            raise ValueError("the +fd variants need a train condition that hides something (not `full`)")
        names = [p.name for p in policies]
        if len(set(names)) != len(names):
            raise ValueError(f"a train condition is given twice: {', '.join(names)}")
        return policies

    @field_validator("variants")
    @classmethod
    def _variants(cls, names: list[str]) -> list[str]:
        unknown = [v for v in names if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant {', '.join(unknown)}; variants are {', '.join(VARIANTS)}")
        return [v for v in VARIANTS if v in names]

    @model_validator(mode="after")
    def _judge_for_the_data(self) -> StudyConfig:
        if not self.judge:
            self.judge = evaluation_defaults(self.data.path)[0]
        return self

    @property
    def _has_survey(self) -> bool:
        return self.data.path is not None and (Path(self.data.path) / SURVEY_FILE).is_file()

    @model_validator(mode="after")
    def _embedded_base_for_worlds(self) -> StudyConfig:
        # A synthetic world starts from the shipped base, pretrained on other worlds; `model: {preset: tiny}`
        # trains the tiny model from scratch instead.
        if not self.model and self.data.world is not None:
            self.model = {"path": EMBEDDED_BASE}
        if self.model.get("path") == EMBEDDED_BASE:
            self.training = merge_settings(EMBEDDED_BASE_TRAINING, self.training)
        return self

    @model_validator(mode="after")
    def _variants_fit_the_data_and_model(self) -> StudyConfig:
        has_world, has_checkpoint = self.data.world is not None, bool(self.model.get("path"))
        has_survey = self._has_survey
        # None given: every variant the data and model allow (the embedded base's untrained row is left out
        # unless asked for), except in a study of listed simulators alone. HumanLM needs a reward judge
        # that reads latent states: the survey judge reads only the answer, so with it HumanLM is left out.
        from personadrop.judges import judge_dimensions

        states_unrewarded = judge_dimensions(self.reward_judge_spec()[0]) == ("response",)
        if not self.variants and not self.simulators:
            real_checkpoint = has_checkpoint and self.model.get("path") != EMBEDDED_BASE
            self.variants = [
                v.name
                for v in VARIANTS.values()
                if (has_world or not v.needs_world)
                and (has_survey or not v.needs_survey)
                and (real_checkpoint or not v.needs_checkpoint)
                and not (states_unrewarded and v.method == "humanlm")
            ]
        for v in self.variants:
            if VARIANTS[v].needs_world and not has_world:
                raise ValueError(
                    f"the `{v}` variant exists only for a synthetic world; remove it for real data"
                )
            if VARIANTS[v].needs_survey and not has_survey:
                raise ValueError(f"the `{v}` variant exists only for survey data (`personadrop survey`)")
            if states_unrewarded and VARIANTS[v].method == "humanlm":
                raise ValueError(
                    f"`{v}` is rewarded on latent states, which the survey judge does not read (it reads the "
                    "answer); remove it, or give an LLM reward_judge (anthropic:<model>, openai:<model>)"
                )
            if VARIANTS[v].needs_checkpoint and not has_checkpoint:
                raise ValueError(f"the `{v}` variant needs a pretrained checkpoint as the study's model.path")
        return self

    @model_validator(mode="after")
    def _conditions_fit_the_fields(self) -> StudyConfig:
        # Survey personas have fields of their own: left unset, the grid shows each of them alone; set, a
        # condition naming a field the data lacks fails now (other data is checked once it is loaded).
        own = survey_fields(self.data.path) if self._has_survey else None
        ev = self.evaluation
        if own is not None and "conditions" not in ev.model_fields_set:
            ev.conditions = list(default_conditions(own))
        if own is not None or self.data.world is not None:
            known = [*FIELD_NAMES, *(own or [])]
            try:
                check_fields([*ev.conditions, *self.train_condition], known, "the study's data")
            except ConditionError as err:
                raise ValueError(str(err)) from None
        return self

    @model_validator(mode="after")
    def _dimensions_the_judge_scores(self) -> StudyConfig:
        # Left unset: every dimension the judge scores (the survey judge: the answer alone).
        from personadrop.judges import check_judge_dimensions, judge_dimensions

        ev = self.evaluation
        if "dimensions" not in ev.model_fields_set:
            ev.dimensions = [d for d in ev.dimensions if d in judge_dimensions(self.judge)]
        try:
            check_judge_dimensions(self.judge, ev.dimensions)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return self

    @property
    def trained_variants(self) -> list[str]:
        return [v for v in self.variants if VARIANTS[v].trained]

    @property
    def train_conditions(self) -> list[Policy]:
        """What the +fd variants are trained under (one +fd variant of each method per condition)."""
        return self.train_condition

    @model_validator(mode="after")
    def _seeds(self) -> StudyConfig:
        if not self.seeds:
            self.seeds = [self.seed]
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        return self

    def reward_judge_spec(self) -> tuple[str, dict[str, Any]]:
        """The GRPO reward judge and its options (the evaluation judge's, when it is the same judge)."""
        if self.reward_judge in (None, self.judge):
            return self.judge, dict(self.judge_options)
        return self.reward_judge, dict(self.reward_judge_options)


def load_study_config(
    path: str | Path | None = None, profile: str = "default", **overrides: Any
) -> StudyConfig:
    """Read a study config (None: the built-in demo), apply a profile and top-level overrides."""
    raw = read_settings(path, "study config") if path is not None else {}
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; profiles are {', '.join(PROFILES)}")
    builtin = {"quick": QUICK_PROFILE}.get(profile, {})
    merged = merge_settings(merge_settings(raw, builtin), (raw.get("profiles") or {}).get(profile, {}))
    if profile == "quick" and isinstance(merged.get("seeds", []), list):
        # A smoke run of the seed machinery: the config's first two training seeds.
        merged["seeds"] = (merged.get("seeds") or [0, 1, 2])[:2]
    merged = merge_settings(merged, {k: v for k, v in overrides.items() if v is not None})
    try:
        return StudyConfig(**merged)
    except ValidationError as err:
        raise ConfigError(f"{path}: {first_error(err)}" if path else first_error(err)) from None
    except (ConditionError, ConfigError) as err:  # from a shorthand read before the fields
        raise type(err)(f"{path}: {err}" if path else str(err)) from None


def dump_config(cfg: StudyConfig) -> str:
    """The resolved config as YAML, with any credentials inside URLs (``http://user:pw@host``) masked."""
    text = yaml.safe_dump(cfg.model_dump(mode="json", exclude={"profiles"}), sort_keys=False)
    return re.sub(r"(://)[^/@\s'\"]+@", r"\1***@", text)


# Built in so that `--profile quick` is quick for any config: smaller data and a few training steps.
QUICK_PROFILE: dict[str, Any] = {
    "training_profile": "quick",
    "data": {"max_eval_examples": 40},
    "bootstrap_resamples": 500,
}
