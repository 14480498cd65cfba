"""Simulator prompts: what a model is asked, as chat messages, and how its tagged answers are read.

Every prompt is a system message (the task and the visible persona) followed by the context turns:
other people's turns as ``user`` messages prefixed with their name, the simulated user's own earlier
turns as ``assistant`` messages. The persona always arrives already masked (a
:class:`~personadrop.dropout.VisiblePersona`), so no code path here can re-render the full persona and
silently undo test-time dropout.

Tasks (HumanLM): ``response`` asks for the reply alone; ``states+response`` asks for the six latent
states in tags and then the reply in ``<response>``; each state dimension has its own task asking for
that one tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from personadrop.data.example import STATE_DIMENSIONS, TARGET_SPEAKER, Example
from personadrop.dropout import VisiblePersona
from personadrop.persona import MissingStyle

Message = dict[str, str]

_DEFINITIONS: dict[str, str] = {
    "stance": "whether HUMAN agrees or disagrees, how strongly, and with whom in the thread",
    "emotion": "the feeling HUMAN has, how intense it is, and toward whom or what",
    "belief": "a general assumption HUMAN holds about how people or the world work (not advice)",
    "value": "what HUMAN thinks should matter most or come first here",
    "goal": "what HUMAN wants to achieve with the reply (support, persuade, mock, ask, ...)",
    "communication": "HUMAN's tone and how the reply is structured",
}
_INTRO = f"You are {TARGET_SPEAKER}, a real person in an online discussion."


@dataclass(frozen=True)
class Task:
    """One thing a simulator can be asked to write."""

    name: str
    instruction: str
    tag: str | None  # the tag that holds the scored answer; None: the whole output is the answer

    @property
    def dimension(self) -> str:
        """The judge dimension this task is scored on."""
        return "response" if self.name in ("response", "states+response") else self.name


def _state_task(dim: str) -> Task:
    return Task(
        dim,
        f"Write only {TARGET_SPEAKER}'s {dim} toward the thread: {_DEFINITIONS[dim]}. "
        f"Use at most 15 words, inside <{dim}></{dim}>.",
        dim,
    )


TASKS: dict[str, Task] = {
    "response": Task("response", f"Write {TARGET_SPEAKER}'s reply to the thread, as {TARGET_SPEAKER} would write it.", None),
    "states+response": Task(
        "states+response",
        f"First write {TARGET_SPEAKER}'s state of mind, each in at most 15 words and in its tag: "
        + ", ".join(f"<{d}>" for d in STATE_DIMENSIONS)
        + f". Then write {TARGET_SPEAKER}'s reply inside <response></response>.",
        "response",
    ),
    **{d: _state_task(d) for d in STATE_DIMENSIONS},
}
#: The seven tasks HumanLM trains on: six latent states and the reply.
HUMANLM_TASKS: tuple[str, ...] = (*STATE_DIMENSIONS, "response")


def system_prompt(visible: VisiblePersona, task: str = "response", missing: MissingStyle = "marker") -> str:
    t = TASKS[task]
    return f"{_INTRO} {t.instruction}\n\n{TARGET_SPEAKER}'s persona:\n{visible.render(missing)}"


def simulator_messages(
    example: Example, visible: VisiblePersona, task: str = "response", missing: MissingStyle = "marker"
) -> list[Message]:
    """Chat messages asking a simulator for ``task`` on ``example``, showing only ``visible``."""
    messages = [{"role": "system", "content": system_prompt(visible, task, missing)}]
    for turn in example.context:
        if turn.is_target:
            messages.append({"role": "assistant", "content": turn.content})
        else:
            messages.append({"role": "user", "content": f"{turn.speaker}: {turn.content}"})
    return messages


def messages_to_text(messages: list[Message]) -> str:
    """A plain-text prompt for models without a chat template; ends where the reply begins."""
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"])
        elif m["role"] == "assistant":
            parts.append(f"{TARGET_SPEAKER}: {m['content']}")
        else:
            parts.append(m["content"])
    parts.append(f"{TARGET_SPEAKER}:")
    return "\n\n".join(parts)


def target_text(example: Example, task: str = "response") -> str:
    """The training target of ``task`` for ``example`` (state tasks need the example's true states)."""
    t = TASKS[task]
    if t.name == "response":
        return example.response
    if example.states is None:
        raise ValueError(f"task {task!r} needs true latent states; example {example.id} has none")
    if t.name == "states+response":
        return "".join(f"<{d}>{example.states[d]}</{d}>" for d in STATE_DIMENSIONS) + f"<response>{example.response}</response>"
    return f"<{t.tag}>{example.states[t.name]}</{t.tag}>"


_TAG_CACHE: dict[str, re.Pattern[str]] = {}


def parse_tag(text: str, tag: str) -> str | None:
    """Content of the last complete ``<tag>...</tag>`` in ``text``, stripped; None when absent or empty."""
    pattern = _TAG_CACHE.get(tag)
    if pattern is None:
        pattern = _TAG_CACHE[tag] = re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.S)
    found = pattern.findall(text)
    if not found:
        return None
    value = found[-1].strip()
    return value or None


def parse_output(text: str, task: str = "response") -> str | None:
    """The scored answer in a model's output for ``task``; None means it did not parse (reward 0).

    For the plain ``response`` task the whole output is the reply, minus any state tags a model wrote.
    """
    t = TASKS[task]
    if t.tag is not None:
        return parse_tag(text, t.tag)
    reply = parse_tag(text, "response")
    if reply is None:
        reply = re.sub(r"<(\w+)>.*?</\1>", " ", text, flags=re.S).strip()
    return reply or None
