"""A multi-turn conversation between a simulated user and an assistant, both behind OpenAI-compatible APIs.

The agent opens (``opening``: a greeting, a question, a post); the simulated user answers as its persona;
then they take turns until the user has spoken ``turns`` times or ends the conversation itself (a reply
holding an end marker). Each side sees the conversation from its own seat: the agent's turns are ``user``
messages to the simulator and the simulator's turns are ``user`` messages to the agent. Every turn is
appended to a JSON-lines file as it happens, so an interrupted conversation resumes where it stopped (a
turn torn by a kill in mid-write is cut off and asked again). A turn is stored cut to ``MAX_TURN_CHARS``
characters, and the simulated user is sent the opening and the latest turns that fit its server's request
limit, so one overlong reply cannot end the conversation for good. A side that fails, times out or answers
nonsense ends the run with one :class:`RemoteError` line; what was stored stays.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personadrop.dropout import Full, Policy
from personadrop.errors import DataError, RemoteError
from personadrop.files import drop_torn_tail
from personadrop.limits import MAX_TURN_CHARS
from personadrop.serve.protocol import MAX_REQUEST_CHARS

#: A simulated user ends the conversation by writing one of these.
END_MARKERS = ("###STOP###", "<end>")


@dataclass(frozen=True)
class Endpoint:
    """One side of the conversation: an OpenAI-compatible base URL, a model name and a key; ``timeout``:
    seconds one answer may take (each request is tried up to three times)."""

    base_url: str
    model: str
    api_key: str = "no-key-needed"
    timeout: float = 120.0

    def client(self):
        import openai

        return openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=2, timeout=self.timeout
        )

    def chat(self, who: str, **request: Any) -> Any:
        """The first choice of a chat completion; a :class:`RemoteError` naming ``who`` for any failure."""
        import openai

        try:
            reply = self.client().chat.completions.create(model=self.model, **request)
        except openai.APITimeoutError:
            raise self._error(who, f"no answer within {self.timeout:g} s (--timeout)") from None
        except openai.APIConnectionError as err:
            raise self._error(who, f"cannot connect ({_reason(err)})") from None
        except openai.APIStatusError as err:
            raise self._error(who, f"refused with status {err.status_code} ({_reason(err)})") from None
        except (openai.OpenAIError, ValueError) as err:  # a body that is not a chat completion
            raise self._error(
                who, f"answered something that is not a chat completion ({_reason(err)})"
            ) from None
        choices = getattr(reply, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
            raise self._error(who, "answered with no choice to read")
        return reply

    def _error(self, who: str, what: str) -> RemoteError:
        from personadrop.judges.backends import scrub

        # A careless server may echo the key it was sent; a URL may hold credentials.
        return RemoteError(scrub(f"the {who} ({self.base_url}, model {self.model}): {what}", self.api_key))


def _reason(err: BaseException) -> str:
    """An error's message as one short line (a server may send pages of it)."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message.strip():
            return " ".join(message.split())[:300]
    cause = err.__cause__ or err.__context__
    text = " ".join(str(err).split()) or type(err).__name__
    if cause is not None and text in ("Connection error.", "Request timed out."):
        text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:300]


def read_turns(path: Path) -> list[dict[str, Any]]:
    """The turns already written to ``path`` (none when it does not exist); a torn last line is cut off."""
    if not path.exists():
        return []
    drop_torn_tail(path)  # a kill in mid-write: that turn is asked again, and the next starts a fresh line
    turns = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, or not UTF-8
                raise DataError(
                    f"{path}:{lineno}: not a conversation turn (not JSON); remove it and the lines after it "
                    "to ask those turns again"
                ) from None
            if not isinstance(record, dict) or record.get("speaker") not in ("agent", "user"):
                raise DataError(f"{path}:{lineno}: not a conversation turn written by personadrop simulate")
            if not isinstance(record.get("content"), str):
                raise DataError(f"{path}:{lineno}: a conversation turn without its text")
            turns.append(record)
    return turns


def _capped(text: str) -> str:
    return text if len(text) <= MAX_TURN_CHARS else text[:MAX_TURN_CHARS]


def _thread(history: list[dict[str, Any]], room: int) -> list[dict[str, Any]]:
    """The opening and the latest turns whose text fits in ``room`` characters (a simulator reads the end
    of a long thread anyway: its prompt budget cuts the thread from its start)."""
    first, *rest = history
    kept: list[dict[str, Any]] = []
    room -= len(_capped(first["content"]))
    for turn in reversed(rest):
        room -= len(_capped(turn["content"]))
        if room < 0:
            break
        kept.append(turn)
    return [first, *reversed(kept)]


def simulate(
    user: Endpoint,
    agent: Endpoint,
    *,
    persona: dict[str, Any] | str,
    opening: str,
    turns: int,
    out: Path,
    condition: Policy = Full(),  # noqa: B008 - policies are immutable
    seed: int = 0,
    agent_system: str | None = None,
    on_turn: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) the conversation into ``out``; returns every turn, the earlier ones included."""
    history = read_turns(out)
    if history and history[0].get("content") != _capped(opening):
        raise DataError(f"{out} holds a conversation with another opening; use another --out to start anew")
    out.parent.mkdir(parents=True, exist_ok=True)
    key = f"simulate/{out.name}"
    # What the user's server counts against its limit besides the turns: the persona it is sent.
    room = MAX_REQUEST_CHARS - len(json.dumps(persona)) - 2

    def append(record: dict[str, Any]) -> None:
        text = record["content"]
        if len(text) > MAX_TURN_CHARS:  # kept, cut: an overlong turn would be re-sent on every resume
            record = {**record, "content": _capped(text), "truncated_from": len(text)}
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        history.append(record)
        if on_turn is not None:
            on_turn(record)

    if not history:
        append({"turn": 0, "speaker": "agent", "content": opening, "model": agent.model})
    while sum(t["speaker"] == "user" for t in history) < turns and not history[-1].get("ended"):
        if history[-1]["speaker"] == "agent":
            messages = [
                {
                    "role": "user" if t["speaker"] == "agent" else "assistant",
                    "content": _capped(t["content"]),
                    **({"name": "Agent"} if t["speaker"] == "agent" else {}),
                }
                for t in _thread(history, room)
            ]
            reply = user.chat(
                "simulated user",
                messages=messages,
                seed=seed,
                user=key,
                extra_body={"persona": persona, "condition": condition.name},
            )
            choice = reply.choices[0]
            text = choice.message.content or ""
            extra = choice.model_extra or {}
            ended = any(marker in text for marker in END_MARKERS) or not text.strip()
            append(
                {
                    "turn": len(history),
                    "speaker": "user",
                    "content": text,
                    "model": user.model,
                    "condition": (reply.model_extra or {}).get("condition", condition.name),
                    "states": extra.get("states"),
                    **({"ended": True} if ended else {}),
                }
            )
        else:
            messages = ([{"role": "system", "content": agent_system}] if agent_system else []) + [
                {"role": "assistant" if t["speaker"] == "agent" else "user", "content": t["content"]}
                for t in history
            ]
            reply = agent.chat("agent", messages=messages)
            append(
                {
                    "turn": len(history),
                    "speaker": "agent",
                    "content": reply.choices[0].message.content or "",
                    "model": agent.model,
                }
            )
    return history
