"""Dropout policies: which persona fields and items a simulator sees, for training and for testing.

One mechanism serves both: "field dropout 0.6 while training", "only the Values field" and
"each item hidden with p=0.9" are all policies. A policy maps a persona and a :class:`MaskKey`
``(seed, example id, epoch)`` to per-field bitmasks, as a pure function of the key: the same key gives
the same mask in any process (a GRPO group fetches one prompt several times), a new epoch a fresh one.

Random draws come from blake2b over the key, not from Python's ``random``: they are stable across
Python versions and cost about a microsecond per 16 draws. Draws are salted by policy type but not by
its probability, so ``items:0.5`` hides a superset of what ``items:0.3`` hides for the same key: an
item-dropout sweep is nested, which makes its curve smoother.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from personadrop.errors import ConditionError, ConfigError
from personadrop.persona import FIELD_NAME, FIELD_NAMES, MissingStyle, Persona

_RANGE = 2**32  # draws are uniform integers in [0, 2**32)


@dataclass(frozen=True, slots=True)
class MaskKey:
    """What a mask is a function of. Evaluation uses epoch 0, so all variants see the same masks."""

    seed: int
    example_id: str
    epoch: int = 0

    def draws(self, salt: str, n: int) -> list[int]:
        """``n`` uniform integers in [0, 2**32) for this key and salt; a longer request extends a shorter one.

        Integers rather than floats: comparing with ``threshold(p)`` is exact and cheaper.
        """
        base = f"{self.seed}\x1f{self.example_id}\x1f{self.epoch}\x1f{salt}\x1f".encode()
        out: list[int] = []
        block = 0
        while len(out) < n:
            out += (
                memoryview(hashlib.blake2b(base + block.to_bytes(4, "little"), digest_size=64).digest())
                .cast("I")
                .tolist()
            )
            block += 1
        del out[n:]
        return out


def threshold(p: float) -> int:
    """A draw below this integer happens with probability ``p``."""
    return round(p * _RANGE)


@dataclass(frozen=True, slots=True)
class VisiblePersona:
    """A persona seen through a mask: what a simulator is shown, and counts of what it shows."""

    persona: Persona
    masks: tuple[int, ...]

    def render(self, missing: MissingStyle = "marker") -> str:
        return self.persona.render(self.masks, missing)

    @property
    def visible_fields(self) -> tuple[str, ...]:
        if self.persona.is_text:
            return ("persona",) if self.masks[0] else ()
        return tuple(f.name for f, m in zip(self.persona.fields, self.masks, strict=True) if m)

    @property
    def items_visible(self) -> dict[str, int]:
        if self.persona.is_text:
            return {"persona": int(bool(self.masks[0]))}
        return {f.name: m.bit_count() for f, m in zip(self.persona.fields, self.masks, strict=True)}

    def visibility(self) -> dict[str, object]:
        """A JSON-ready record of what was visible, for run directories and reports."""
        return {"fields": list(self.visible_fields), "items": self.items_visible}

    def to_persona(self) -> Persona:
        return self.persona.masked(self.masks)


class Policy(ABC):
    """Maps (persona, key) to what is visible. Subclasses narrow the masks they are given."""

    #: Canonical condition name (``only:values``); parse_condition(policy.name) gives an equal policy.
    name: str

    def __call__(self, persona: Persona, key: MaskKey) -> VisiblePersona:
        if persona.is_text:
            # Opaque text cannot lose fields or items; only "no persona" hides it.
            return VisiblePersona(persona, (0,) if self.hides_text else (1,))
        return VisiblePersona(persona, self.apply(persona, key, persona.full_masks))

    @abstractmethod
    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        """Narrow ``masks`` (one bitmask per field of ``persona``); never sets a bit that was clear."""

    @property
    def hides_text(self) -> bool:
        return False

    # What a condition is, for tables and figures: ask the policy, never its name.
    @property
    def is_full(self) -> bool:
        """Shows everything (``full``)."""
        return False

    @property
    def single_field(self) -> str | None:
        """The one field this condition shows (``only:values`` -> ``values``); None for anything else."""
        return None

    @property
    def item_p(self) -> float | None:
        """The item-dropout probability of a pure item-dropout condition (``items:0.9`` -> 0.9); else None."""
        return None

    @property
    def named_fields(self) -> tuple[str, ...]:
        """The fields this condition names (``only:values+interests`` -> both); checked against the data's."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True, repr=False)
class Full(Policy):
    name = "full"

    @property
    def is_full(self) -> bool:
        return True

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        return masks


@dataclass(frozen=True, repr=False)
class NoPersona(Policy):
    name = "none"

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        return (0,) * len(masks)

    @property
    def hides_text(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class KeepOnly(Policy):
    """Show only the named fields."""

    fields: tuple[str, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return "only:" + "+".join(self.fields)

    @property
    def single_field(self) -> str | None:
        return self.fields[0] if len(self.fields) == 1 else None

    @property
    def named_fields(self) -> tuple[str, ...]:
        return self.fields

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        keep = set(self.fields)
        return tuple(m if f.name in keep else 0 for f, m in zip(persona.fields, masks, strict=True))


@dataclass(frozen=True, repr=False)
class Drop(Policy):
    """Hide the named fields."""

    fields: tuple[str, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return "drop:" + "+".join(self.fields)

    @property
    def named_fields(self) -> tuple[str, ...]:
        return self.fields

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        gone = set(self.fields)
        return tuple(0 if f.name in gone else m for f, m in zip(persona.fields, masks, strict=True))


@dataclass(frozen=True, repr=False)
class FieldDropout(Policy):
    """Hide each visible, non-empty field with probability ``p`` (``per_field`` overrides it by name).

    ``min_keep`` fields always stay visible: when the draw hides too many, the hidden fields whose draws
    came closest to surviving are shown again. This lowers the hide rate a little; with five fields,
    p=0.6 and min_keep=1 each field is hidden with probability 0.6 - 0.6**5/5 = 0.584
    (:meth:`expected_hide_rate`). ``mode="fixed_count"`` instead hides exactly round(p*n) of the n
    visible fields, as the HumanLM research code did.
    """

    p: float = 0.6
    min_keep: int = 1
    per_field: Mapping[str, float] = field(default_factory=dict)
    mode: Literal["independent", "fixed_count"] = "independent"

    def __post_init__(self) -> None:
        for name, prob in {"p": self.p, **self.per_field}.items():
            if not 0.0 <= prob <= 1.0:
                raise ConditionError(f"field dropout probability {name}={prob} is outside [0, 1]")
        if self.min_keep < 0:
            raise ConditionError(f"min_keep must be >= 0, got {self.min_keep}")
        if self.mode not in ("independent", "fixed_count"):
            raise ConditionError(
                f"field dropout mode must be 'independent' or 'fixed_count', got {self.mode!r}"
            )
        if self.mode == "fixed_count" and self.per_field:
            raise ConditionError("per_field probabilities need mode='independent'")

    @property
    def name(self) -> str:  # type: ignore[override]
        suffix = "" if self.mode == "independent" else "/fixed"
        return f"fields:{_fmt(self.p)}{suffix}"

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        u = key.draws("fields", len(masks))
        visible = [i for i, m in enumerate(masks) if m]
        n = len(visible)
        keep_at_least = min(self.min_keep, n)
        if self.mode == "fixed_count":
            k = min(math.floor(self.p * n + 0.5), n - keep_at_least)
            hidden = sorted(visible, key=lambda i: u[i])[:k]
        else:
            limits = [threshold(self.per_field.get(f.name, self.p)) for f in persona.fields]
            hidden = [i for i in visible if u[i] < limits[i]]
            excess = keep_at_least - (n - len(hidden))
            if excess > 0:
                # Given it was hidden, u/limit is uniform: restoring the largest is a fair choice.
                hidden.sort(key=lambda i: u[i] / limits[i])
                del hidden[len(hidden) - excess :]
        out = list(masks)
        for i in hidden:
            out[i] = 0
        return tuple(out)

    def expected_hide_rate(self, n_fields: int = len(FIELD_NAMES)) -> float:
        """Probability that a given non-empty field is hidden, with ``n_fields`` non-empty fields."""
        n, m = n_fields, min(self.min_keep, n_fields)
        if n == 0:
            return 0.0
        if self.mode == "fixed_count":
            return min(math.floor(self.p * n + 0.5), n - m) / n
        if self.per_field:
            raise ValueError("expected_hide_rate is defined for a single p")
        hidden = sum(
            min(k, n - m) * math.comb(n, k) * self.p**k * (1 - self.p) ** (n - k) for k in range(n + 1)
        )
        return hidden / n


@dataclass(frozen=True, repr=False)
class ItemDropout(Policy):
    """Hide each item (line) of each visible field with probability ``p``.

    A field left with no item renders as Missing; ``min_keep_items`` keeps at least that many items of
    every field that was visible (the ones whose draws came closest to surviving).
    """

    p: float
    min_keep_items: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ConditionError(f"item dropout probability {self.p} is outside [0, 1]")
        if self.min_keep_items < 0:
            raise ConditionError(f"min_keep_items must be >= 0, got {self.min_keep_items}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"items:{_fmt(self.p)}"

    @property
    def item_p(self) -> float | None:
        return self.p

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        # Draws cover every item of the persona in order, whatever is visible, so that masks for
        # different p are nested and independent of earlier policies.
        draws = key.draws("items", persona.item_count)
        limit = threshold(self.p)
        survivors = 0  # bit g set: item g (numbered across all fields) survives the draw
        for g, d in enumerate(draws):
            if d >= limit:
                survivors |= 1 << g
        out = []
        offset = 0
        for f, m in zip(persona.fields, masks, strict=True):
            k = len(f.items)
            new = m & (survivors >> offset)
            need = min(self.min_keep_items, m.bit_count()) - new.bit_count()
            if need > 0:
                lost = [j for j in range(k) if m >> j & 1 and not new >> j & 1]
                for j in sorted(lost, key=lambda j: -draws[offset + j])[:need]:
                    new |= 1 << j
            out.append(new)
            offset += k
        return tuple(out)


class Compose(Policy):
    """Apply policies in order, each narrowing what the previous one left visible."""

    def __init__(self, *policies: Policy):
        if not policies:
            raise ConditionError("Compose needs at least one policy")
        self.policies = policies

    @property
    def name(self) -> str:  # type: ignore[override]
        return ",".join(p.name for p in self.policies)

    def apply(self, persona: Persona, key: MaskKey, masks: tuple[int, ...]) -> tuple[int, ...]:
        for policy in self.policies:
            masks = policy.apply(persona, key, masks)
        return masks

    @property
    def hides_text(self) -> bool:
        return any(p.hides_text for p in self.policies)

    @property
    def named_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for p in self.policies for f in p.named_fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compose) and self.policies == other.policies

    def __hash__(self) -> int:
        return hash(self.policies)


# --------------------------------------------------------------------------- condition names
CONDITION_FORMS = (
    "full",
    "none",
    "only:<field>[+<field>...]",
    "drop:<field>[+<field>...]",
    "items:<p>",
    "fields:<p>[/fixed]",
    "<condition>,<condition> (applied in order)",
)
_PROB = re.compile(r"^(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+)$")


def parse_condition(name: str, known_fields: Iterable[str] | None = None) -> Policy:
    """Turn a condition name (``only:values``, ``items:0.9``, ...) into its policy.

    ``known_fields`` lists the field names ``only:``/``drop:`` accept (unknown ones raise
    :class:`ConditionError` naming the known ones); None accepts any well-formed field name, to be checked
    with :func:`check_fields` where the data is known (a survey's personas have fields of their own).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConditionError(f"empty condition name; valid forms: {', '.join(CONDITION_FORMS)}")
    return _parse(name, None if known_fields is None else tuple(known_fields))


def check_fields(policies: Iterable[Policy], known: Iterable[str], where: str) -> None:
    """Fail in one line when a condition names a field that ``where`` (the data) does not have."""
    known = tuple(dict.fromkeys(known))
    for policy in policies:
        unknown = [f for f in policy.named_fields if f not in known]
        if unknown:
            raise ConditionError(
                f"condition {_shown(policy.name)} names field {_shown(unknown[0])}, which {where} does not "
                f"have; its fields are: {', '.join(known)}"
            )


def fields_of(personas: Iterable[Persona]) -> tuple[str, ...]:
    """Every field name the personas hold: the standard five, then any of their own, in order of first
    appearance."""
    return tuple(dict.fromkeys([*FIELD_NAMES, *(f for p in personas for f in p.field_names)]))


@lru_cache(maxsize=1024)
def _parse(name: str, known: tuple[str, ...] | None) -> Policy:
    # Policies are immutable, so one parsed object can serve every caller of the same name.
    parts = [part.strip().lower() for part in name.split(",")]
    policies = [_parse_one(part, name, known) for part in parts]
    return policies[0] if len(policies) == 1 else Compose(*policies)


def parse_conditions(spec: str | Sequence[str], known_fields: Iterable[str] | None = None) -> list[Policy]:
    """Parse a list of names, or a whitespace/semicolon separated string of them; keeps order, drops
    repeats."""
    names = spec.replace(";", " ").split() if isinstance(spec, str) else list(spec)
    out: dict[str, Policy] = {}
    for n in names:
        policy = parse_condition(n, known_fields)
        out.setdefault(policy.name, policy)
    if not out:
        raise ConditionError("no condition given")
    return list(out.values())


def _parse_one(part: str, whole: str, known: tuple[str, ...] | None) -> Policy:
    if part == "full":
        return Full()
    if part == "none":
        return NoPersona()
    kind, sep, arg = part.partition(":")
    if sep and kind in ("only", "drop"):
        fields = tuple(f.strip() for f in arg.split("+"))
        unknown = [f for f in fields if not FIELD_NAME.match(f) or (known is not None and f not in known)]
        if not arg or unknown:
            named = ", ".join(_shown(f) for f in unknown[:3]) or repr("")
            listed = ", ".join(known if known is not None else FIELD_NAMES)
            raise ConditionError(
                f"unknown field {named} in condition {_shown(whole)}; fields are: {listed}"
                + ("" if known is not None else " (or the data's own)")
            )
        if len(set(fields)) != len(fields):
            raise ConditionError(f"a field is named twice in condition {_shown(whole)}")
        return KeepOnly(fields) if kind == "only" else Drop(fields)
    if sep and kind in ("items", "fields"):
        value, slash, mode = arg.partition("/")
        if not _PROB.match(value) or (slash and (kind != "fields" or mode != "fixed")):
            form = "fields:0.6 or fields:0.6/fixed" if kind == "fields" else "items:0.6"
            raise ConditionError(f"condition {_shown(whole)} needs a probability in [0, 1], like {form}")
        if kind == "items":
            return ItemDropout(float(value))
        return FieldDropout(float(value), mode="fixed_count" if mode else "independent")
    raise ConditionError(f"unknown condition {_shown(whole)}; valid forms: {', '.join(CONDITION_FORMS)}")


def _shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error message, cut short: a condition can be as long as a request allows."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def _fmt(p: float) -> str:
    """A probability as a condition name writes it, which the parser reads back to the same number: in
    decimals always (``1e-05`` would not parse) and with every digit ``repr`` keeps."""
    text = format(Decimal(repr(float(p))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def field_dropout_shorthand(settings: Mapping[str, object]) -> dict[str, object]:
    """``settings`` with ``field_dropout: p`` (a probability; 0 or None: the full persona) written as
    ``train_condition: fields:p``: the one reading of the shorthand, for training and study configs."""
    out = dict(settings)
    if "field_dropout" not in out:
        return out
    p = out.pop("field_dropout")
    if p is None:
        return out
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ConfigError(f"field_dropout must be a probability in [0, 1], got {p!r}")
    if "train_condition" in out and out["train_condition"] is not None:
        raise ConfigError("give either field_dropout or train_condition, not both")
    out["train_condition"] = FieldDropout(p) if p else Full()
    return out


def _as_policy(value: object) -> Policy:
    if isinstance(value, Policy):
        return value
    if isinstance(value, str):
        return parse_condition(value)
    raise ConditionError(f"a condition is a name such as only:values, not {value!r}")


#: A condition as configs, run records, evaluation records and summaries carry it: validated from its name
#: once, where it enters (a config file, a record on disk), and written back as its name.
Condition = Annotated[
    Policy,
    PlainValidator(_as_policy),
    PlainSerializer(lambda policy: policy.name, return_type=str),
    WithJsonSchema({"type": "string", "description": "a condition name: " + ", ".join(CONDITION_FORMS)}),
]


#: The evaluation grid: the full persona, none, each field alone (the seed's Figures 1, 3 and 4), and items
#: dropped with p = 0.9 (where the seed's item-dropout claims are). Every cell is evaluated for every
#: training seed, so its size is what a study pays per seed; an item-dropout curve (``items:0.1`` ...
#: ``items:0.9``) is one config line away, at a cost in time.
def default_conditions(fields: Sequence[str] = FIELD_NAMES) -> tuple[Policy, ...]:
    """The evaluation grid over personas with ``fields``: full, none, each field alone, items:0.9."""
    return (Full(), NoPersona(), *(KeepOnly((f,)) for f in fields), ItemDropout(0.9))


DEFAULT_CONDITIONS: tuple[Policy, ...] = default_conditions()
