"""World configuration: sizes, trait priors, the field-by-trait signal table and the noise of every state.

The signal table is the knob that draws other worlds: ``signal[field][group] = {items, reliability}``
says how many items of ``field`` are written from traits of ``group`` and how often such an item shows
the trait's true value (otherwise it shows a uniformly random value of that trait). A value-group cell
writes ``items`` distinct moral values. Everything not in the table is noise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from personadrop.data.world.lexicon import DEMOGRAPHIC_KEY, NOISE_PHRASES, PERSONA_FIELDS, supports
from personadrop.data.world.vocab import GROUP_VALUES, LENIENCIES, VALUES
from personadrop.errors import ConfigError
from personadrop.limits import MAX_WORLD_POSTS, MAX_WORLD_USERS
from personadrop.settings import first_error, merge_settings, read_settings

#: Items per list field, as in HUMANUAL personas (demographics always has its six keys).
ITEM_BOUNDS: dict[str, tuple[int, int]] = {
    "interests": (5, 10),
    "values": (5, 10),
    "communication": (5, 10),
    "statistics": (4, 8),
}


class SignalCell(BaseModel):
    """How a field speaks about one trait group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: int = Field(ge=0, le=len(VALUES))
    reliability: float = Field(ge=0.0, le=1.0)


class StateNoise(BaseModel):
    """How the six latent states scatter around what the traits and the post imply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stance_sigma: float = Field(
        0.5, gt=0.0
    )  # Gaussian noise on (level of chosen - level of sacrificed value)
    leniency_shift: dict[str, float] = Field(
        default_factory=lambda: {"harsh": -0.6, "neutral": 0.0, "lenient": 0.6}
    )
    strength_cuts: tuple[float, float] = (
        0.8,
        1.7,
    )  # |score| below the first: slightly; below the second: firmly
    emotion: float = Field(0.1, ge=0.0, le=1.0)  # chance of a random emotion instead of the temperament's
    intensity: float = Field(0.15, ge=0.0, le=1.0)  # chance the intensity moves one step
    emotion_target: float = Field(0.1, ge=0.0, le=1.0)
    belief: float = Field(0.1, ge=0.0, le=1.0)
    goal: float = Field(0.1, ge=0.0, le=1.0)
    anxious_question: float = Field(0.4, ge=0.0, le=1.0)  # anxious users often just ask
    structure: float = Field(0.1, ge=0.0, le=1.0)

    @field_validator("leniency_shift")
    @classmethod
    def _all_leniencies(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != set(LENIENCIES):
            raise ValueError(f"leniency_shift needs exactly the keys {', '.join(LENIENCIES)}")
        return v


def default_signal() -> dict[str, dict[str, SignalCell]]:
    """The default table: Values strong on values, Communication on tone and temperament,
    Statistics on length and leniency, Demographics and Interests weak; several fields overlap."""
    c = SignalCell
    return {
        "demographics": {
            "leniency": c(items=1, reliability=0.5),
            "tone": c(items=1, reliability=0.45),
            "worldview": c(items=1, reliability=0.45),
            "temperament": c(items=1, reliability=0.5),
        },
        "interests": {
            "values": c(items=3, reliability=0.5),
            "worldview": c(items=1, reliability=0.45),
            "temperament": c(items=1, reliability=0.45),
        },
        "values": {
            "values": c(items=5, reliability=0.85),
            "worldview": c(items=1, reliability=0.8),
            "leniency": c(items=1, reliability=0.6),
        },
        "communication": {
            "tone": c(items=2, reliability=0.85),
            "temperament": c(items=2, reliability=0.8),
            "verbosity": c(items=1, reliability=0.6),
        },
        "statistics": {"verbosity": c(items=2, reliability=0.85), "leniency": c(items=2, reliability=0.75)},
    }


def default_priors() -> dict[str, tuple[float, ...]]:
    """Prior of each trait group (the values group's prior is shared by every moral value)."""
    return {
        "values": (0.3, 0.4, 0.3),
        "temperament": (0.3, 0.25, 0.2, 0.25),
        "tone": (0.3, 0.3, 0.2, 0.2),
        "verbosity": (0.35, 0.4, 0.25),
        "leniency": (0.25, 0.35, 0.4),
        "worldview": (0.25, 0.2, 0.2, 0.2, 0.15),
    }


class WorldConfig(BaseModel):
    """Everything that defines a world; with its seed it determines every generated file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    users: int = Field(320, ge=4, le=MAX_WORLD_USERS)
    posts: int = Field(1200, ge=10, le=MAX_WORLD_POSTS)
    responses_per_user: tuple[int, int] = (8, 12)
    split: tuple[float, float, float] = (0.82, 0.06, 0.12)  # train/val/test share of posts, in time order
    unseen_user_share: float = Field(0.2, ge=0.0, lt=1.0)  # users with no training row
    thread_share: float = Field(0.3, ge=0.0, le=1.0)  # threads where a parent comment precedes the reply
    priors: dict[str, tuple[float, ...]] = Field(default_factory=default_priors)
    signal: dict[str, dict[str, SignalCell]] = Field(default_factory=default_signal)
    noise_items: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {
            "interests": (1, 3),
            "values": (0, 2),
            "communication": (0, 2),
            "statistics": (0, 2),
        }
    )
    demographics_na: float = Field(0.15, ge=0.0, le=1.0)  # each key unknown with this chance
    demographics_all_na: float = Field(
        0.15, ge=0.0, le=1.0
    )  # the whole dict unknown (as in about 1 in 6 real personas)
    noise: StateNoise = Field(default_factory=StateNoise)

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        lo, hi = self.responses_per_user
        if not 1 <= lo <= hi:
            raise ValueError("responses_per_user must be (min, max) with 1 <= min <= max")
        if hi > self.posts:
            raise ValueError("responses_per_user max exceeds the number of posts")
        if abs(sum(self.split) - 1.0) > 1e-6 or min(self.split) < 0 or self.split[2] <= 0:
            raise ValueError("split must be three non-negative shares summing to 1, with a test share > 0")
        for group, values in GROUP_VALUES.items():
            prior = self.priors.get(group)
            if prior is None or len(prior) != len(values) or min(prior) <= 0:
                raise ValueError(f"priors.{group} needs {len(values)} positive weights ({', '.join(values)})")
        for field, cells in self.signal.items():
            if field not in PERSONA_FIELDS:
                raise ValueError(f"signal: unknown field {field!r}; fields are {', '.join(PERSONA_FIELDS)}")
            for group, cell in cells.items():
                if group not in GROUP_VALUES:
                    raise ValueError(
                        f"signal.{field}: unknown trait group {group!r}; groups are {', '.join(GROUP_VALUES)}"
                    )
                if cell.items and not supports(field, group):
                    keys = (
                        f" (demographics can carry: {', '.join(DEMOGRAPHIC_KEY)})"
                        if field == "demographics"
                        else ""
                    )
                    raise ValueError(f"signal.{field}.{group}: the world language has no such items{keys}")
                if field == "demographics" and cell.items > 1:
                    raise ValueError(
                        f"signal.demographics.{group}: one key per group, so items must be 0 or 1"
                    )
                if group != "values" and cell.items > 3:
                    raise ValueError(f"signal.{field}.{group}: at most 3 items per single trait")
        for field, (lo_n, hi_n) in ITEM_BOUNDS.items():
            fixed = sum(c.items for c in self.signal.get(field, {}).values())
            noise_lo, noise_hi = self.noise_items.get(field, (0, 0))
            if not 0 <= noise_lo <= noise_hi <= len(NOISE_PHRASES[field]):
                raise ValueError(
                    f"noise_items.{field} must be (min, max) with 0 <= min <= max <= "
                    f"{len(NOISE_PHRASES[field])}"
                )
            if fixed + noise_lo < lo_n or fixed + noise_hi > hi_n:
                raise ValueError(
                    f"{field} would hold {fixed + noise_lo}-{fixed + noise_hi} items; HUMANUAL-like personas "
                    f"hold {lo_n}-{hi_n}"
                )
        return self

    def cell(self, field: str, group: str) -> SignalCell:
        return self.signal.get(field, {}).get(group) or SignalCell(items=0, reliability=0.0)

    def prior(self, group: str) -> tuple[float, ...]:
        weights = self.priors[group]
        total = sum(weights)
        return tuple(w / total for w in weights)

    def to_json_dict(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


def world_config(overrides: Mapping[str, Any] | None = None, **fields: Any) -> WorldConfig:
    """The default config with ``overrides`` merged in leaf by leaf (a signal cell set to 0 items removes it).

    Raises :class:`ConfigError` with the first invalid setting.
    """
    data = merge_settings(WorldConfig().to_json_dict(), overrides or {})
    data = merge_settings(data, {k: v for k, v in fields.items() if v is not None})
    try:
        return WorldConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"world config: {first_error(err)}") from None


def load_world_config(path: str | Path, **fields: Any) -> WorldConfig:
    """Read a world config from YAML or JSON (keys as in :class:`WorldConfig`); ``fields`` override it."""
    raw = read_settings(path, "world config")
    if isinstance(raw.get("world"), Mapping):  # a study config may nest the world under `world:`
        raw = raw["world"]
    return world_config(raw, **fields)
