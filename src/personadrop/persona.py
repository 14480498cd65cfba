"""Personas: ordered named fields of short items, parsed from HUMANUAL data and rendered as prompt text.

A HUMANUAL persona is a dict (often stored as a JSON string) with five fields: ``demographics`` (a dict
whose "NA" or empty values mean unknown) and the lists ``interests``, ``values``, ``communication``,
``statistics``. Some datasets use a plain sentence instead; it is kept as opaque text.

The rendered layout is the one the HUMANUAL research code feeds its models::

    Demographics:
      age group: 25-34
    Interests:
      baking
    Values: Missing

Rendering takes per-field bitmasks (see :mod:`personadrop.dropout`) and never changes the persona.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Literal

from personadrop.errors import PersonaError

FIELD_NAMES: tuple[str, ...] = ("demographics", "interests", "values", "communication", "statistics")
DEMOGRAPHIC_KEYS: tuple[str, ...] = ("age group", "gender", "location", "occupation", "nationality", "other")
UNKNOWN_VALUES = frozenset({"", "na", "n/a"})

# Generous limits: real personas are a few hundred words; anything far beyond is corrupt input.
MAX_PERSONA_CHARS = 100_000
MAX_ITEM_CHARS = 2_000
MAX_ITEMS_PER_FIELD = 256

MissingStyle = Literal["marker", "omit"]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9 _-]{0,63}$")  # a well-formed field name, as personas hold it
_RENDERED_FIELD = re.compile(r"^([A-Z][A-Za-z0-9 _-]{0,63}):(.*)$")


@dataclass(frozen=True, slots=True)
class PersonaField:
    """One persona field: a lower-case name and its items (one rendered line each)."""

    name: str
    items: tuple[str, ...]
    keyed: bool = False  # items are "key: value" lines (demographics)

    @property
    def title(self) -> str:
        return title_of(self.name)


_BIT_BYTES = bytes.maketrans(b"01", b"\x00\x01")


def bit_flags(mask: int) -> bytes:
    """One byte per bit of ``mask``, lowest bit first (0 or 1): a fast selector for itertools.compress."""
    return bin(mask)[:1:-1].encode().translate(_BIT_BYTES)


def title_of(name: str) -> str:
    """The header a field is rendered under: ``communication`` -> ``Communication``."""
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


@dataclass(frozen=True, slots=True)
class Persona:
    """A parsed persona: structured fields, or opaque ``text`` (then ``fields`` is empty).

    Structured personas always hold the five HUMANUAL fields first (empty where the data had none),
    then any extra fields in their original order.
    """

    fields: tuple[PersonaField, ...] = ()
    text: str | None = None
    # Precomputed render pieces; derived from ``fields`` so excluded from equality.
    _headers: tuple[str, ...] = field(default=(), compare=False, repr=False)
    _lines: tuple[tuple[str, ...], ...] = field(default=(), compare=False, repr=False)
    _blocks: tuple[str, ...] = field(default=(), compare=False, repr=False)
    _missing: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        headers = tuple(f.title + ":" for f in self.fields)
        lines = tuple(tuple("  " + it for it in f.items) for f in self.fields)
        object.__setattr__(self, "_headers", headers)
        object.__setattr__(self, "_lines", lines)
        object.__setattr__(
            self, "_blocks", tuple("\n".join((h, *ls)) for h, ls in zip(headers, lines, strict=True))
        )
        object.__setattr__(self, "_missing", tuple(h + " Missing" for h in headers))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_raw(cls, raw: Any, *, example_id: str | None = None) -> Persona:
        """Parse a HUMANUAL persona (dict, JSON string of a dict, or plain text).

        Raises :class:`PersonaError` naming ``example_id`` and the offending field.
        """
        try:
            return _parse(raw)
        except PersonaError as err:
            if example_id is None:
                raise
            raise err.with_example(example_id) from None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Sequence[str]]) -> Persona:
        """Build a structured persona from ``{name: items}``; standard fields come first."""
        return _parse(dict(fields))

    @classmethod
    def from_rendered(cls, text: str) -> Persona:
        """Read back the text :meth:`render` writes (``Values:`` then indented items, ``Interests: Missing``).

        Text in any other layout is kept as an opaque text persona. Hidden (``Missing``) fields come back
        empty, so rendering the result gives the same text.
        """
        fields: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in text.strip().splitlines():
            if not line.strip():
                continue
            head = _RENDERED_FIELD.match(line)
            if head:
                current = fields.setdefault(head.group(1).lower().replace(" ", "_"), [])
                if head.group(2).strip() not in ("", "Missing"):
                    return cls.from_raw(text)
            elif line.startswith("  ") and current is not None:
                current.append(line.strip())
            else:
                return cls.from_raw(text)
        if not fields:
            return cls.from_raw(text)
        keyed = fields.pop("demographics", [])
        demographics = dict(item.split(": ", 1) if ": " in item else (item, "") for item in keyed)
        return _parse({"demographics": demographics, **fields})

    # ----------------------------------------------------------------- queries
    @property
    def is_text(self) -> bool:
        return self.text is not None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> PersonaField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def full_masks(self) -> tuple[int, ...]:
        """One bitmask per field with every item visible (opaque text: a single bit)."""
        if self.is_text:
            return (1,)
        return tuple((1 << len(f.items)) - 1 for f in self.fields)

    @property
    def item_count(self) -> int:
        return sum(len(f.items) for f in self.fields)

    # ----------------------------------------------------------------- output
    def render(self, masks: Sequence[int] | None = None, missing: MissingStyle = "marker") -> str:
        """Prompt text of the persona with only the items whose mask bit is set.

        A field with no visible item is written ``Field: Missing`` (or left out with ``missing="omit"``).
        """
        if self.is_text:
            if masks is None or masks[0]:
                return self.text or ""
            return "Persona: Missing" if missing == "marker" else ""
        if masks is None:
            masks = self.full_masks
        out: list[str] = []
        for i, m in enumerate(masks):
            lines = self._lines[i]
            if m == 0 or not lines:
                if missing == "marker":
                    out.append(self._missing[i])
            elif m == (1 << len(lines)) - 1:
                out.append(self._blocks[i])
            else:
                out.append(self._headers[i])
                out.extend(compress(lines, bit_flags(m)))
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any] | str:
        """The persona in HUMANUAL's shape (a dict; opaque personas give their text)."""
        if self.is_text:
            return self.text or ""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.keyed:
                pairs = dict(item.split(": ", 1) if ": " in item else (item, "") for item in f.items)
                if f.name == "demographics":
                    pairs = {k: pairs.get(k, "NA") for k in DEMOGRAPHIC_KEYS} | pairs
                out[f.name] = pairs
            else:
                out[f.name] = list(f.items)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def masked(self, masks: Sequence[int]) -> Persona:
        """A new persona holding only the visible items (hidden fields become empty)."""
        if self.is_text:
            return self if masks[0] else Persona(fields=tuple(PersonaField(n, ()) for n in FIELD_NAMES))
        return Persona(
            fields=tuple(
                PersonaField(f.name, tuple(it for j, it in enumerate(f.items) if m >> j & 1), f.keyed)
                for f, m in zip(self.fields, masks, strict=True)
            )
        )


# --------------------------------------------------------------------------- parsing
def _parse(raw: Any) -> Persona:
    if isinstance(raw, Persona):
        return raw
    if raw is None:
        raise PersonaError("persona is missing (None)")
    if isinstance(raw, bytes):
        raise PersonaError("persona is bytes; expected a dict, a JSON string or plain text")
    if isinstance(raw, str):
        if len(raw) > MAX_PERSONA_CHARS:
            raise PersonaError(f"persona text is {len(raw):,} characters; the limit is {MAX_PERSONA_CHARS:,}")
        stripped = raw.strip()
        if stripped.startswith(("{", "[")):
            try:
                raw = json.loads(stripped)
            except json.JSONDecodeError as err:
                raise PersonaError(
                    f"persona looks like JSON but does not parse ({err.msg} at char {err.pos})"
                ) from None
            if not isinstance(raw, dict):
                raise PersonaError(f"JSON persona must be an object, got {type(raw).__name__}")
        else:
            if _CONTROL.search(stripped):
                raise PersonaError("persona text contains control characters")
            if not stripped:
                return _structured({})
            return Persona(text=stripped)
    if not isinstance(raw, Mapping):
        raise PersonaError(f"persona must be a dict, a JSON string or text, got {type(raw).__name__}")
    return _structured(raw)


def field_key(name: str) -> str:
    """A field's name as personas hold it (case-insensitive: lower-case, runs of spaces made one); a
    PersonaError for one that cannot be a field name (it must start with a letter; letters, digits, spaces,
    ``_`` and ``-`` after it; at most 64 characters)."""
    key = _WHITESPACE.sub(" ", name.strip().lower())
    if not FIELD_NAME.match(key):
        raise PersonaError(f"invalid field name {name!r:.60}", field=name[:60])
    return key


def _structured(raw: Mapping[Any, Any]) -> Persona:
    by_name: dict[str, PersonaField] = {}
    total = 0
    for key, value in raw.items():
        if not isinstance(key, str):
            raise PersonaError(f"field names must be strings, got {type(key).__name__} {key!r:.40}")
        name = field_key(key)
        if name in by_name:
            raise PersonaError("field appears twice (names are case-insensitive)", field=name)
        parsed = _parse_field(name, value)
        total += sum(len(it) for it in parsed.items)
        if total > MAX_PERSONA_CHARS:
            raise PersonaError(f"persona is longer than {MAX_PERSONA_CHARS:,} characters", field=name)
        by_name[name] = parsed
    standard = [by_name.pop(n, None) or PersonaField(n, (), keyed=n == "demographics") for n in FIELD_NAMES]
    return Persona(fields=(*standard, *by_name.values()))


def _parse_field(name: str, value: Any) -> PersonaField:
    if name == "demographics":
        if value is None:
            return PersonaField(name, (), keyed=True)
        if not isinstance(value, Mapping):
            raise PersonaError(f"expected a dict of key: value, got {type(value).__name__}", field=name)
        return PersonaField(name, _keyed_items(name, value), keyed=True)
    if value is None:
        return PersonaField(name, ())
    if name in FIELD_NAMES:
        if not isinstance(value, list | tuple):
            raise PersonaError(f"expected a list of strings, got {type(value).__name__}", field=name)
        return PersonaField(name, _list_items(name, value))
    # Extra fields are kept in whatever simple shape they come.
    if isinstance(value, Mapping):
        return PersonaField(name, _keyed_items(name, value), keyed=True)
    if isinstance(value, list | tuple):
        return PersonaField(name, _list_items(name, value))
    if isinstance(value, str):
        return PersonaField(name, _list_items(name, [value]))
    raise PersonaError(f"expected a list, a dict or a string, got {type(value).__name__}", field=name)


def _list_items(name: str, values: Sequence[Any]) -> tuple[str, ...]:
    if len(values) > MAX_ITEMS_PER_FIELD:
        raise PersonaError(f"{len(values)} items; the limit is {MAX_ITEMS_PER_FIELD}", field=name)
    items = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise PersonaError(f"item {i} is a {type(v).__name__}, expected a string", field=name)
        text = _clean_item(name, v)
        if text:
            items.append(text)
    return tuple(items)


def _keyed_items(name: str, values: Mapping[Any, Any]) -> tuple[str, ...]:
    if len(values) > MAX_ITEMS_PER_FIELD:
        raise PersonaError(f"{len(values)} keys; the limit is {MAX_ITEMS_PER_FIELD}", field=name)
    items = []
    for k, v in values.items():
        if not isinstance(k, str):
            raise PersonaError(f"keys must be strings, got {type(k).__name__}", field=name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise PersonaError(f"value of {k!r:.40} is a {type(v).__name__}, expected text", field=name)
        text = _clean_item(name, str(v))
        if text.lower() in UNKNOWN_VALUES:
            continue
        items.append(f"{_clean_item(name, k)}: {text}")
    return tuple(items)


def _clean_item(name: str, text: str) -> str:
    if len(text) > MAX_ITEM_CHARS:
        raise PersonaError(
            f"an item is {len(text):,} characters; the limit is {MAX_ITEM_CHARS:,}", field=name
        )
    if _CONTROL.search(text):
        raise PersonaError("an item contains control characters", field=name)
    # One item per rendered line: inner newlines and tabs become spaces.
    return _WHITESPACE.sub(" ", text).strip()
