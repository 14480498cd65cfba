"""The prompt protocol: what a simulator is asked, exactly as a model is fed it, and how its answers are read.

Every prompt is a system message (the task and the visible persona) followed by the context turns:
other people's turns as ``user`` messages prefixed with their name, the simulated user's own earlier
turns as ``assistant`` messages. The persona always arrives already masked (a
:class:`~personadrop.dropout.VisiblePersona`), so no code path here can re-render the full persona and
silently undo test-time dropout.

Tasks (HumanLM): ``response`` asks for the reply alone; ``states+response`` asks for the six latent
states in tags and then the reply in ``<response>``; each state dimension has its own task asking for
that one tag.

For a model, :class:`PromptBuilder` fits the messages into a token budget (the persona is always kept
whole; the thread is cut from its start) and renders them with the model's chat template followed by
the task's answer prefix. Training and inference build prompts through it, so a model is evaluated on
exactly the prompt shape it was trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from personadrop.data.example import STATE_DIMENSIONS, TARGET_SPEAKER, Example, Turn
from personadrop.dropout import Full, MaskKey, VisiblePersona
from personadrop.persona import MissingStyle, Persona

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
    "response": Task(
        "response", f"Write {TARGET_SPEAKER}'s reply to the thread, as {TARGET_SPEAKER} would write it.", None
    ),
    "states+response": Task(
        "states+response",
        f"First write {TARGET_SPEAKER}'s state of mind, each in at most 15 words and in its tag: "
        + ", ".join(f"<{d}>" for d in STATE_DIMENSIONS)
        + f". Then write {TARGET_SPEAKER}'s reply inside <response></response>.",
        "response",
    ),
    **{d: _state_task(d) for d in STATE_DIMENSIONS},
}


# --------------------------------------------------------------------------- messages
_PERSONA_HEADER = f"\n\n{TARGET_SPEAKER}'s persona:\n"


def system_prompt(visible: VisiblePersona, task: str = "response", missing: MissingStyle = "marker") -> str:
    t = TASKS[task]
    return f"{_INTRO} {t.instruction}{_PERSONA_HEADER}{visible.render(missing)}"


def read_system_prompt(text: str) -> str | None:
    """The rendered persona inside a system message :func:`system_prompt` wrote (what a prompted simulator
    sends a served one); None for any other text."""
    if not text.startswith(_INTRO) or _PERSONA_HEADER not in text:
        return None
    return text.split(_PERSONA_HEADER, 1)[1]


def read_turn(content: str) -> tuple[str | None, str]:
    """(speaker, text) of another person's turn as :func:`simulator_messages` writes it (``Name: text``);
    speaker None where the text has no such label."""
    speaker, sep, text = content.partition(": ")
    if not sep or not speaker.strip() or "\n" in speaker or len(speaker) > 80:
        return None, content
    return speaker, text


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


def answer_prefix(task: str) -> str:
    """What the prompt already writes of the answer to ``task`` (an assistant prefill).

    A two-layer model attends poorly to one changed word in a long system prompt, so "which task?" is
    also said right where the answer starts: ``<stance>`` (the first state) for states-then-reply, and a
    line break then the tag for a single state (``\\n<emotion>``). The line break keeps the stance task
    apart from states-then-reply, which would otherwise end in the same tokens and let the model stop
    after one state in the inference task. The plain reply task has none. Training and inference use the
    same prefix, and simulators return it with the generated text, so ``parse_output`` sees whole answers.
    """
    t = TASKS[task]
    if t.name == "response":
        return ""
    return f"<{STATE_DIMENSIONS[0]}>" if t.name == "states+response" else f"\n<{t.tag}>"


def prefix_in_target(task: str) -> str:
    """The part of ``answer_prefix`` that the training target itself starts with (the tag, no line break)."""
    return answer_prefix(task).lstrip("\n")


def target_text(example: Example, task: str = "response") -> str:
    """The training target of ``task`` for ``example`` (state tasks need the example's true states)."""
    t = TASKS[task]
    if t.name == "response":
        return example.response
    if example.states is None:
        raise ValueError(f"task {task!r} needs true latent states; example {example.id} has none")
    if t.name == "states+response":
        states = "".join(f"<{d}>{example.states[d]}</{d}>" for d in STATE_DIMENSIONS)
        return states + f"<response>{example.response}</response>"
    return f"<{t.tag}>{example.states[t.name]}</{t.tag}>"


# --------------------------------------------------------------------------- reading answers
@lru_cache(maxsize=64)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.S)


def parse_tag(text: str, tag: str) -> str | None:
    """Content of the last complete ``<tag>...</tag>`` in ``text``, stripped; None when absent or empty."""
    found = _tag_pattern(tag).findall(text)
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


# --------------------------------------------------------------------------- prompts sized for a model
ELLIPSIS = "... "
MIN_TAIL_TOKENS = 16  # the last turn keeps at least this much, even when the persona fills the budget


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of ``texts`` (no special tokens added); each distinct text is tokenized once, in one batch.

    A fast tokenizer's Rust backend is called directly: transformers' per-call overhead dominates for
    short texts, and tokenizing row by row cost more than the training steps on two CPU cores.
    """
    unique = list(dict.fromkeys(texts))
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        ids = tokenizer(unique, add_special_tokens=False)["input_ids"]
    else:
        ids = [e.ids for e in backend.encode_batch(unique, add_special_tokens=False)]
    by_text = dict(zip(unique, ids, strict=True))
    return [by_text[t] for t in texts]


class PromptBuilder:
    """Builds (possibly truncated) chat messages and prompt text for one tokenizer.

    What a simulator most needs is the persona (that is the point of the study) and the latest turns it
    answers; when the budget runs out, the oldest text goes first, and a cut turn keeps its speaker label
    and starts with an ellipsis. ``max_prompt_tokens`` None means no truncation.
    """

    def __init__(self, tokenizer, max_prompt_tokens: int | None = None, missing: MissingStyle = "marker"):
        self.tokenizer = tokenizer
        self.max_prompt_tokens = max_prompt_tokens
        self.missing = missing
        # Template tokens around one message (role markers, separators), measured on this template.
        one = len(self._template_ids([{"role": "user", "content": "x"}], add_generation_prompt=False))
        two = len(self._template_ids([{"role": "user", "content": "x"}] * 2, add_generation_prompt=False))
        self._per_message = max(two - one, 1)
        self._fixed = max(one - self._per_message, 0) + 4  # template start + generation prompt, with slack
        # Keyed by persona and by thread, not by mask: masks change per row, personas and threads do not.
        self._system_tokens = lru_cache(maxsize=100_000)(self._measure_system)
        self._turn_lengths = lru_cache(maxsize=200_000)(self._measure_turns)

    # ------------------------------------------------------------------ public
    def messages(self, example: Example, visible: VisiblePersona, task: str = "response") -> list[Message]:
        """Messages for ``task`` on ``example`` showing ``visible``, within ``max_prompt_tokens``."""
        full = simulator_messages(example, visible, task, self.missing)
        if self.max_prompt_tokens is None or self._fits_whole(example, task):
            return full
        used = self._fixed + self._count(full[0]["content"]) + self._per_message + self._prefix_tokens(task)
        context = self._fit_context(example, self.max_prompt_tokens - used)
        if context is not example.context:
            example = example.model_copy(update={"context": context})
            return simulator_messages(example, visible, task, self.missing)
        return full

    def render(self, messages: list[Message], task: str = "response") -> str:
        """Prompt text ending where the reply begins: the template's generation prompt, then the task's
        prefix."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + answer_prefix(task)

    def prompt(self, example: Example, visible: VisiblePersona, task: str = "response") -> str:
        """The whole prompt text a model is fed for ``task`` on ``example`` showing ``visible``."""
        return self.render(self.messages(example, visible, task), task)

    def count(self, text: str) -> int:
        """Tokens of ``text`` with this tokenizer."""
        return self._count(text)

    # ------------------------------------------------------------------ internals
    def _template_ids(self, messages: list[Message], add_generation_prompt: bool) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _count(self, text: str) -> int:
        return len(encode(self.tokenizer, [text])[0])

    def _fits_whole(self, example: Example, task: str) -> bool:
        """Whether the prompt fits even with the full persona (a masked persona never renders longer)."""
        turns = sum(self._turn_lengths(example.context)) + self._prefix_tokens(task)
        total = self._fixed + self._system_tokens(example.persona, task) + self._per_message + turns
        return total <= (self.max_prompt_tokens or 0)

    def _prefix_tokens(self, task: str) -> int:
        return self._count(answer_prefix(task)) if answer_prefix(task) else 0

    def _measure_system(self, persona: Persona, task: str) -> int:
        return self._count(system_prompt(Full()(persona, MaskKey(0, "")), task, self.missing))

    def _measure_turns(self, context: tuple[Turn, ...]) -> tuple[int, ...]:
        ids = encode(self.tokenizer, [f"{t.speaker}: {t.content}" for t in context])
        return tuple(len(x) + self._per_message for x in ids)

    def _fit_context(self, example: Example, budget: int) -> tuple[Turn, ...]:
        lengths = self._turn_lengths(example.context)
        if sum(lengths) <= budget:
            return example.context
        kept: list[Turn] = []
        left = budget
        for turn, n in zip(reversed(example.context), reversed(lengths), strict=True):
            if n <= left:
                kept.append(turn)
                left -= n
                continue
            if not kept or left >= MIN_TAIL_TOKENS + self._per_message:
                label = self._count(turn.speaker + ": " + ELLIPSIS)
                keep_tokens = max(left - self._per_message - label, MIN_TAIL_TOKENS)
                kept.append(turn.model_copy(update={"content": self._tail(turn.content, keep_tokens)}))
            break
        return tuple(reversed(kept))

    def _tail(self, text: str, keep_tokens: int) -> str:
        """The end of ``text`` in about ``keep_tokens`` tokens, starting at a word boundary."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= keep_tokens:
            return text
        start = offsets[len(offsets) - keep_tokens][0]
        space = text.find(" ", start)
        if 0 <= space < len(text) - 1 and space - start < 40:
            start = space + 1
        return ELLIPSIS + text[start:].lstrip()
