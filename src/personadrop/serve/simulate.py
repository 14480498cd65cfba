"""A multi-turn conversation between a simulated user and an assistant, both behind OpenAI-compatible APIs.

The agent opens (``opening``: a greeting, a question, a post); the simulated user answers as its persona;
then they take turns until the user has spoken ``turns`` times or ends the conversation itself (a reply
holding an end marker). Each side sees the conversation from its own seat: the agent's turns are ``user``
messages to the simulator and the simulator's turns are ``user`` messages to the agent. Every turn is
appended to a JSON-lines file as it happens, so an interrupted conversation resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personadrop.dropout import Full, Policy
from personadrop.errors import DataError

#: A simulated user ends the conversation by writing one of these.
END_MARKERS = ("###STOP###", "<end>")


@dataclass(frozen=True)
class Endpoint:
    """One side of the conversation: an OpenAI-compatible base URL, a model name and a key."""

    base_url: str
    model: str
    api_key: str = "no-key-needed"

    def client(self):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=2, timeout=120)


def read_turns(path: Path) -> list[dict[str, Any]]:
    """The turns already written to ``path`` (none when it does not exist); a torn last line is dropped."""
    if not path.exists():
        return []
    turns = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(path.read_text(encoding="utf-8").splitlines()):
                break  # a kill in mid-write: the turn is redone
            raise DataError(f"{path}:{lineno}: not a conversation turn (not JSON)") from None
        if not isinstance(record, dict) or record.get("speaker") not in ("agent", "user"):
            raise DataError(f"{path}:{lineno}: not a conversation turn written by personadrop simulate")
        turns.append(record)
    return turns


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
    if history and history[0].get("content") != opening:
        raise DataError(f"{out} holds a conversation with another opening; use another --out to start anew")
    out.parent.mkdir(parents=True, exist_ok=True)
    user_client, agent_client = user.client(), agent.client()
    key = f"simulate/{out.name}"

    def append(record: dict[str, Any]) -> None:
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
                    "content": t["content"],
                    **({"name": "Agent"} if t["speaker"] == "agent" else {}),
                }
                for t in history
            ]
            reply = user_client.chat.completions.create(
                model=user.model,
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
            reply = agent_client.chat.completions.create(model=agent.model, messages=messages)
            append(
                {
                    "turn": len(history),
                    "speaker": "agent",
                    "content": reply.choices[0].message.content or "",
                    "model": agent.model,
                }
            )
    return history
