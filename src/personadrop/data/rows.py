"""One HUMANUAL row, validated at the edge: a pydantic model of the processed schema, and the example it
becomes.

A row holds ``prompt`` (the post and the chain of ancestor comments as ``{role, content, metadata}``
messages, possibly JSON-encoded), ``completion`` (the real response), ``user_id``, ``post_id``,
``timestamp``, ``metadata`` (JSON string), ``turn_id`` and ``persona``. Our synthetic worlds add
``states`` (true latent states) and ``unseen_user``. Unknown columns are ignored.

Who wrote a message: ``role`` is a chat role or, in some dumps, the author's name. A message is the
simulated user's own (speaker ``HUMAN``) when its role is ``assistant`` or its author is the row's user.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from personadrop.data.example import TARGET_SPEAKER, Example, Turn
from personadrop.errors import PersonaError
from personadrop.persona import Persona

_AUTHOR_KEYS = ("author", "username", "user_name", "name", "user_id")


class RowError(Exception):
    """A row that cannot become an example; ``reason`` is one line naming the column."""

    def __init__(self, reason: str, example_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.example_id = example_id


# --------------------------------------------------------------------------- column types
def _id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | None):
        raise ValueError(f"must be text or an integer, got {type(value).__name__}")
    text = "" if value is None else str(value).strip()
    if len(text) > 512:
        raise ValueError("must be at most 512 characters")
    return text or None


def _json(value: Any) -> Any:
    """Columns that some dumps store JSON-encoded: decode a string, pass anything else on."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"is a string but not JSON ({err.msg})") from None
    return value


def _object(value: Any) -> Any:
    value = _json(value)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object, got {type(value).__name__}")
    return value


def _completion(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        value = value[0].get("content")  # TRL-style [{"role": "assistant", "content": ...}]
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be non-empty text (the real response)")
    return value.strip()


def _timestamp(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {value!r:.40}")
    return value


Id = Annotated[str | None, BeforeValidator(_id)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_object)]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: StrictStr = "user"
    content: StrictStr
    metadata: JsonObject = Field(default_factory=dict)


class Row(BaseModel):
    """HUMANUAL's processed schema (plus ``states`` and ``unseen_user`` for synthetic worlds)."""

    model_config = ConfigDict(extra="ignore")

    user_id: Annotated[str, BeforeValidator(_id)]
    post_id: Id = None
    id: Id = None
    prompt: Annotated[list[Message], BeforeValidator(_json)]
    completion: Annotated[str, BeforeValidator(_completion)]
    persona: Any = None
    timestamp: Annotated[int | None, BeforeValidator(_timestamp)] = None
    metadata: JsonObject = Field(default_factory=dict)
    turn_id: StrictInt | None = None
    states: Annotated[dict[StrictStr, StrictStr] | None, BeforeValidator(_json)] = None
    unseen_user: StrictBool | None = False


def _reason(err: ValidationError) -> str:
    """The first problem as one line: the column (and message index) and what is wrong."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if not str(p).startswith("function-")]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing" and len(loc) == 1:
        return f"missing column {loc[0]!r}"
    if loc and loc[0] == "prompt" and len(loc) > 1 and loc[1].isdigit():
        where = f"'prompt' message {loc[1]}" + "".join(f" {p!r}" for p in loc[2:])
    else:
        where = " ".join(repr(p) for p in loc) or "row"
    return f"{where}: {msg}"


# --------------------------------------------------------------------------- row -> example
def example_from_row(row: Mapping[str, Any], *, split: str | None = None) -> Example:
    """Validate one HUMANUAL-shaped row and build its :class:`Example` (raises :class:`RowError`)."""
    if not isinstance(row, Mapping):
        raise RowError(f"a row must be an object, got {type(row).__name__}")
    for column in ("user_id", "prompt"):
        if row.get(column) in (None, ""):
            raise RowError(f"missing column {column!r}", _id_hint(row))
    try:
        r = Row.model_validate(row)
    except ValidationError as err:
        raise RowError(_reason(err), _id_hint(row)) from None
    messages = [m for m in r.prompt if m.role != "system"]
    if not any(m.content.strip() for m in messages):
        raise RowError("'prompt' has no non-empty message")
    post_id = r.post_id or _content_id(messages[0].content)
    example_id = r.id or f"{post_id}/{r.user_id}/{r.turn_id if r.turn_id is not None else len(messages)}"
    try:
        persona = Persona.from_raw(r.persona)
    except PersonaError as err:
        raise RowError(str(err.with_example(example_id)), example_id) from None
    except RecursionError:
        raise RowError("'persona': JSON nested too deeply", example_id) from None
    try:
        example = _example(r, messages, example_id, post_id, persona, split)
    except ValidationError as err:
        raise RowError(_reason(err), example_id) from None
    _check_text(example)
    return example


def _example(
    r: Row, messages: list[Message], example_id: str, post_id: str, persona: Persona, split: str | None
) -> Example:
    return Example(
        id=example_id,
        user_id=r.user_id,
        post_id=post_id,
        persona=persona,
        context=tuple(_turn(i, m, r.user_id) for i, m in enumerate(messages)),
        response=r.completion,
        timestamp=r.timestamp,
        metadata=r.metadata,
        states=r.states or None,
        split=split,
        unseen_user=bool(r.unseen_user),
    )


def _check_text(example: Example) -> None:
    """Every text of the example must be valid Unicode (JSON can smuggle in a lone surrogate, which no file
    or terminal can take later), and metadata must be plain JSON of sane depth."""
    p = example.persona
    texts = [example.id, example.user_id, example.post_id, example.response, p.text or ""]
    texts += [s for t in example.context for s in (t.speaker, t.content)]
    texts += [s for f in p.fields for s in (f.name, *f.items)]
    texts += [s for kv in (example.states or {}).items() for s in kv]
    try:
        texts.append(json.dumps(example.metadata, ensure_ascii=False))
        "\\x1f".join(texts).encode("utf-8")
    except RecursionError:
        raise RowError("'metadata': nested too deeply", example.id) from None
    except UnicodeEncodeError:
        raise RowError(
            "contains invalid Unicode (a lone surrogate, such as the JSON escape \\ud800)", example.id
        ) from None


def _id_hint(row: Mapping[str, Any]) -> str | None:
    """The row's own id, where it has a usable one (to name it in an error)."""
    value = row.get("id")
    return str(value)[:512] if isinstance(value, str | int) and not isinstance(value, bool) else None


def _content_id(text: str) -> str:
    return "post-" + hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _turn(i: int, message: Message, user_id: str) -> Turn:
    meta = message.metadata
    author = next((str(meta[k]) for k in _AUTHOR_KEYS if meta.get(k) not in (None, "")), None)
    role = message.role
    is_target = role in ("assistant", user_id) or author in (user_id, TARGET_SPEAKER)
    if is_target:
        speaker = TARGET_SPEAKER
    else:
        speaker = (
            author
            or (role if role not in ("user", "assistant") else None)
            or ("Poster" if i == 0 else "Commenter")
        )
    return Turn(speaker=speaker, content=message.content.strip(), is_target=is_target)


def examples_sha256(examples: Iterable[Example]) -> str:
    """A content hash of examples (format-independent: the same data read from any file, the same hash)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(example_to_row(ex), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def example_to_row(example: Example) -> dict[str, Any]:
    """The example as a HUMANUAL processed row (plus ``states`` and ``unseen_user`` where known)."""
    prompt = [
        {
            "role": "assistant" if t.is_target else "user",
            "content": t.content,
            "metadata": {"author": t.speaker},
        }
        for t in example.context
    ]
    row: dict[str, Any] = {
        "id": example.id,
        "prompt": prompt,
        "completion": example.response,
        "user_id": example.user_id,
        "post_id": example.post_id,
        "timestamp": example.timestamp,
        "metadata": json.dumps(example.metadata, ensure_ascii=False, sort_keys=True),
        "turn_id": len(prompt),
        "persona": example.persona.to_json() if not example.persona.is_text else example.persona.text,
    }
    if example.states is not None:
        row["states"] = example.states
    row["unseen_user"] = example.unseen_user
    return row
