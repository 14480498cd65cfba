"""The OpenAI chat-completions protocol as a simulator reads it: a request becomes one item to simulate.

The conversation's messages are the thread the simulated user answers: ``user`` messages are other
people's turns (named by ``name`` where given), ``assistant`` messages are the simulated user's own
earlier turns. The persona comes as the ``persona`` body field (a HUMANUAL dict, its JSON, or rendered
text) or in the system message (JSON, or text in the rendered layout). A system message personadrop's
own prompt protocol wrote (what ``--model openai:<name>@<this server>`` sends) is read as such: the persona
after its header, exactly as shown (hidden fields stay hidden), and each turn's ``Name: `` label as its
speaker, so a served simulator sees the prompt it would see in process. ``condition`` (e.g. ``only:values``)
hides parts of it with the same mechanism as a study, keyed by the request's ``seed`` and ``user``, so the
same request always shows the same persona.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from personadrop.data.example import Example, Turn
from personadrop.dropout import MaskKey, Policy, parse_condition
from personadrop.errors import ConditionError, PersonaError
from personadrop.limits import MAX_NEW_TOKENS, MIN_TEMPERATURE, Seed
from personadrop.models.base import SimulationItem
from personadrop.persona import Persona
from personadrop.prompts import read_system_prompt, read_turn

MAX_REQUEST_CHARS = 200_000  # the whole conversation; a simulator's prompt budget cuts the thread further


class ProtocolError(Exception):
    """A request the server refuses, as an OpenAI-style error (``status``, ``type``, ``param``, ``code``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.message, self.status, self.param, self.code, self.kind = message, status, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """A chat-completions request; ``persona`` and ``condition`` are personadrop's extra body fields."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    seed: Seed | None = None
    user: str | None = Field(None, max_length=512)
    n: int = Field(1, ge=1, le=1)  # one reply per request: a simulated user answers once
    persona: dict[str, Any] | str | None = None
    condition: str | None = None

    def decoding(self) -> tuple[tuple[str, Any], ...]:
        """Decoding settings the request overrides, as a hashable key (requests batch by it). The seed is
        not one: each row of a batch samples from its own seed (``SimulationItem.seed``)."""
        out: dict[str, Any] = {}
        if self.temperature is not None:
            # Logits divided by a tiny temperature overflow to NaN probabilities; below the bound a sample
            # is the greedy token anyway.
            out["temperature"] = self.temperature if self.temperature >= MIN_TEMPERATURE else 0.0
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.max_completion_tokens or self.max_tokens:
            limit = self.max_completion_tokens or self.max_tokens
            out["max_new_tokens"] = out["max_new_tokens_states"] = limit
        return tuple(sorted(out.items()))


@dataclass(frozen=True)
class Simulation:
    """What a request asks: the item to simulate, under which condition, and the example it came from."""

    item: SimulationItem
    condition: Policy


def read_request(
    request: ChatRequest, *, task: str, default_condition: Policy, needs_persona: bool = True
) -> Simulation:
    """The item a request asks to simulate; :class:`ProtocolError` (400) for anything it cannot be."""
    chars = sum(len(m.text) for m in request.messages) + len(json.dumps(request.persona or ""))
    if chars > MAX_REQUEST_CHARS:
        raise ProtocolError(
            f"the conversation is {chars:,} characters; the limit is {MAX_REQUEST_CHARS:,}",
            param="messages",
            code="context_length_exceeded",
        )
    _check_text(request)
    try:
        policy = parse_condition(request.condition) if request.condition else default_condition
    except ConditionError as err:
        raise ProtocolError(str(err), param="condition", code="invalid_condition") from None
    system = "\n".join(m.text for m in request.messages if m.role in ("system", "developer")).strip()
    own = read_system_prompt(system) if request.persona is None else None
    persona = _persona(request) if own is None else _rendered(own)
    if (
        needs_persona
        and own is None
        and not persona.is_text
        and persona.item_count == 0
        and not policy.hides_text
    ):
        raise ProtocolError(
            "this simulator answers as a persona: send one in the system message or the `persona` "
            "field (or ask for condition `none`)",
            param="persona",
            code="persona_required",
        )
    turns = [m for m in request.messages if m.role in ("user", "assistant")]
    if not turns or not any(m.text.strip() for m in turns):
        raise ProtocolError("the messages hold no turn for the simulated user to answer", param="messages")
    context = tuple(
        Turn(speaker="HUMAN", content=m.text.strip(), is_target=True)
        if m.role == "assistant"
        else _turn(m, i, labelled=own is not None)
        for i, m in enumerate(turns)
    )
    key = request.user or _digest(persona.render(), *(t.content for t in context))
    example = Example(
        id=f"chat/{key}",
        user_id=request.user or "chat-user",
        post_id=_digest(context[0].content),
        persona=persona,
        context=context,
        response="(unknown)",
    )
    visible = policy(persona, MaskKey(request.seed or 0, example.id))
    return Simulation(SimulationItem(example, visible, task, seed=request.seed), policy)


def _check_text(request: ChatRequest) -> None:
    """Refuse strings that are not text: JSON can carry a lone UTF-16 surrogate (``\\ud800``), which no
    tokenizer reads and no response can be encoded with."""
    texts: list[tuple[str, str | None]] = [
        (f"messages[{i}]", part) for i, m in enumerate(request.messages) for part in (m.text, m.name)
    ]
    texts += [("user", request.user), ("condition", request.condition), ("model", request.model)]
    texts.append(("persona", json.dumps(request.persona, ensure_ascii=False)))
    for where, text in texts:
        try:
            (text or "").encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(
                f"{where} holds a lone UTF-16 surrogate, which is not text", param=where.split("[")[0]
            ) from None


def _turn(message: ChatMessage, index: int, *, labelled: bool) -> Turn:
    """Another person's turn: named by ``name``, else (in personadrop's own prompts, ``labelled``) by its
    ``Name: `` label, else Poster (the first turn) or Commenter."""
    speaker, text = read_turn(message.text.strip()) if labelled else (None, message.text.strip())
    return Turn(
        speaker=message.name or speaker or ("Poster" if index == 0 else "Commenter"), content=text.strip()
    )


def _rendered(text: str) -> Persona:
    try:
        return Persona.from_rendered(text)
    except PersonaError as err:
        raise ProtocolError(f"the system message's persona: {err}", param="messages") from None


def _persona(request: ChatRequest) -> Persona:
    raw: Any = request.persona
    if raw is None:
        system = "\n".join(m.text for m in request.messages if m.role in ("system", "developer")).strip()
        if system.startswith("{"):
            raw = system
        elif system:
            try:
                return Persona.from_rendered(system)
            except PersonaError as err:
                raise ProtocolError(f"the system message is not a persona: {err}", param="messages") from None
        else:
            raw = {}
    try:
        return Persona.from_raw(raw)
    except PersonaError as err:
        raise ProtocolError(str(err), param="persona", code="invalid_persona") from None


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def completion(
    model: str, reply: str, states: dict[str, str] | None, usage: dict[str, int], condition: str
) -> dict[str, Any]:
    """A chat.completion object; ``states`` (HumanLM) and the ``condition`` applied ride along as extra
    fields."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": reply},
        "finish_reason": "stop",
        "logprobs": None,
    }
    if states is not None:
        choice["states"] = states
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage,
        "condition": condition,
    }


def chunks(model: str, reply: str, states: dict[str, str] | None, condition: str) -> list[dict[str, Any]]:
    """The same completion as ``chat.completion.chunk`` objects: the role, the reply word by word, the
    stop."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None, **extra}
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            "condition": condition,
        }

    words = reply.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)] if reply else []
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in pieces]
    out.append(chunk({}, "stop", **({"states": states} if states is not None else {})))
    return out
