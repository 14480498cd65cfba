"""Chat prompts sized for a model: the persona is always kept whole, the thread is cut from its start.

Training and inference build prompts through the same :class:`PromptBuilder`, so a model is evaluated on
exactly the prompt shape it was trained on. What a simulator most needs is the persona (that is the point
of the study) and the latest turns it answers; when the budget runs out, the oldest text goes first, and
a cut turn keeps its speaker label and starts with an ellipsis.
"""

from __future__ import annotations

from personadrop.data.example import STATE_DIMENSIONS, Example, Turn
from personadrop.dropout import Full, MaskKey, VisiblePersona
from personadrop.persona import MissingStyle
from personadrop.prompts import TASKS, Message, simulator_messages

ELLIPSIS = "... "


def answer_prefix(task: str) -> str:
    """What the prompt already writes of the answer to ``task`` (an assistant prefill).

    A two-layer model attends poorly to one changed word in a long system prompt, so "which task?" is
    also said right where the answer starts: ``<stance>`` (the first state) for states-then-reply, and a
    line break then the tag for a single state (``\n<emotion>``). The line break keeps the stance task
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


MIN_TAIL_TOKENS = 16  # the last turn keeps at least this much, even when the persona fills the budget


class PromptBuilder:
    """Builds (possibly truncated) chat messages and token ids for one tokenizer.

    ``max_prompt_tokens`` None means no truncation.
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
        # Keyed by example id and thread (not the persona): masks change per row, threads do not.
        self._turn_cache: dict[tuple[str, int], tuple[int, ...]] = {}
        self._fits_cache: dict[tuple[str, int, str], bool] = {}

    # ------------------------------------------------------------------ public
    def messages(self, example: Example, visible: VisiblePersona, task: str = "response") -> list[Message]:
        """Messages for ``task`` on ``example`` showing ``visible``, within ``max_prompt_tokens``."""
        if self.max_prompt_tokens is None:
            return simulator_messages(example, visible, task, self.missing)
        full = simulator_messages(example, visible, task, self.missing)
        if self._fits_whole(example, task):
            return full
        used = self._fixed + self._count(full[0]["content"]) + self._per_message
        budget = self.max_prompt_tokens - used
        context = self._fit_context(example, budget)
        if context is not example.context:
            example = example.model_copy(update={"context": context})
            return simulator_messages(example, visible, task, self.missing)
        return full

    def render(self, messages: list[Message], task: str = "response") -> str:
        """Prompt text ending where the reply begins: the chat template's generation prompt, then the task's prefix."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + answer_prefix(task)

    # ------------------------------------------------------------------ internals
    def _template_ids(self, messages: list[Message], add_generation_prompt: bool) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _count(self, text: str) -> int:
        return len(encode(self.tokenizer, [text])[0])

    def _fits_whole(self, example: Example, task: str) -> bool:
        """Whether the prompt fits even with the full persona (a masked persona never renders longer)."""
        key = (example.id, hash(example.context), task)
        fits = self._fits_cache.get(key)
        if fits is None:
            system = simulator_messages(example, Full()(example.persona, MaskKey(0, example.id)), task, self.missing)[0]
            total = self._fixed + self._count(system["content"]) + self._per_message + sum(self._turn_lengths(example))
            fits = total <= (self.max_prompt_tokens or 0)
            if len(self._fits_cache) > 500_000:
                self._fits_cache.clear()
            self._fits_cache[key] = fits
        return fits

    def _turn_lengths(self, example: Example) -> tuple[int, ...]:
        key = (example.id, hash(example.context))
        lengths = self._turn_cache.get(key)
        if lengths is None:
            ids = encode(self.tokenizer, [f"{t.speaker}: {t.content}" for t in example.context])
            lengths = tuple(len(x) + self._per_message for x in ids)
            if len(self._turn_cache) > 200_000:  # bounded: evaluation may stream many examples
                self._turn_cache.clear()
            self._turn_cache[key] = lengths
        return lengths

    def _fit_context(self, example: Example, budget: int) -> tuple[Turn, ...]:
        lengths = self._turn_lengths(example)
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
                keep_tokens = max(left - self._per_message - self._count(turn.speaker + ": " + ELLIPSIS), MIN_TAIL_TOKENS)
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
