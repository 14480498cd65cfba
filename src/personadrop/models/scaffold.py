"""The one rule for simulators that write latent states before their reply: they always end with a reply.

A model asked for states-then-reply (HumanLM) may loop in its state tags, or spend its tokens before it
writes ``<response>``; its output then holds no reply, and its scores measure the format rather than how
it reads a persona. :class:`StateScaffold` is a logits processor that keeps every such output readable,
in evaluation and in GRPO rollouts alike:

1. each state is written at most once: when the model opens a state tag it has opened before, or when its
   states reach ``state_budget`` tokens, ``<response>`` is written for it;
2. the reply is never cut off: ``</response>`` is written for it when the token budget is about to end;
3. it cannot stop before ``</response>`` (the end of text is masked until then, and written after it), the
   reply cannot be
   empty (no tag may open or close before the reply's first word), and the reply holds no tag: the only
   ``<`` it may write starts ``</response>``, which is then written out for it.

Between these points the model writes what it would have written. :data:`RULE` says it in one sentence
for reports.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from personadrop.data.example import STATE_DIMENSIONS
from personadrop.prompts import answer_prefix

RULE = (
    "every output that writes latent states ends with a reply: a state tag opened a second time, or states "
    "past their token budget, are followed by a written-in `<response>`; the reply holds no tag, and a "
    "`</` in it is completed to `</response>`, which is also written in before the token budget ends; the "
    "text ends there (the end of text is masked until then)"
)
_OPEN = "<response>"
_CLOSE = "</response>"
_STATE_TAGS = tuple(f"<{d}>" for d in STATE_DIMENSIONS)


def state_budget(total: int, reply: int) -> int:
    """Tokens the states may take within a ``total`` budget: what the reply's own budget leaves, and at least
    half of the total."""
    return max(total - reply, total // 2, 1)


def writes_states(prompt_tail: str) -> bool:
    """Whether a prompt (its last characters) asks for states-then-reply: it ends with that task's answer
    prefix, and not with a single state's (which ends the same way after a line break)."""
    return prompt_tail.endswith(answer_prefix("states+response")) and not prompt_tail.endswith(
        answer_prefix(STATE_DIMENSIONS[0])
    )


@dataclass
class _Row:
    text: str = ""  # generated so far (with the answer prefix of the prompt)
    state_tokens: int = 0
    reply_started: int = -1  # where the reply's text starts in ``text``; -1 before <response>
    closed: bool = False  # </response> is written
    ended: bool = False  # and the end of text after it
    forced: list[int] = field(default_factory=list)  # token ids still to write for the model


class StateScaffold:
    """The rule above as a transformers ``LogitsProcessor`` over one ``generate`` call.

    ``rows``: which rows of the batch the rule applies to (the others are left alone). ``prompt_width``:
    the (padded) prompt length, where generation starts. ``max_new_tokens``: the call's budget;
    ``state_budget``: tokens the states may take before the reply is written in.
    """

    def __init__(
        self,
        tokenizer: Any,
        rows: Sequence[bool],
        *,
        prompt_width: int,
        max_new_tokens: int,
        state_budget: int,
    ):
        self.tokenizer = tokenizer
        self.applies = list(rows)
        self.prompt_width = prompt_width
        self.max_new_tokens = max_new_tokens
        self.state_budget = max(1, state_budget)
        self.rows = [_Row(text=answer_prefix("states+response")) for _ in rows]
        self.open_ids = self._ids(_OPEN)
        self.close_ids = self._ids(_CLOSE)
        eos = tokenizer.eos_token_id
        self.eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.vocab = _Vocab.of(tokenizer)
        self.interventions = 0  # tokens written for the model, over the call

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _piece(self, token: int) -> str:
        return self.vocab.piece(token)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = input_ids.shape[1] - self.prompt_width  # tokens generated so far
        for b, row in enumerate(self.rows):
            if not self.applies[b] or row.ended:
                continue
            if step > 0:
                self._read(row, int(input_ids[b, -1]))
            if row.closed:  # the answer is whole: the text ends here
                if self.eos:
                    scores[b, :] = -torch.inf
                    scores[b, self.eos[0]] = 0.0
                row.ended = True
                continue
            if not row.forced:
                self._decide(row, step)
            if row.forced:
                token = row.forced.pop(0)
                scores[b, :] = -torch.inf
                scores[b, token] = 0.0
                self.interventions += 1
                continue
            scores[b, self.eos] = -torch.inf  # no end of text before </response>
            if row.reply_started >= 0:
                if not row.text[row.reply_started :].strip():
                    scores[b, self.vocab.tags()] = -torch.inf  # the reply's first word before any tag
                else:
                    scores[b, self.vocab.tags_but_close()] = -torch.inf  # no tag inside the reply
        return scores

    def _read(self, row: _Row, token: int) -> None:
        row.text += self._piece(token)
        if row.reply_started < 0:
            row.state_tokens += 1
            at = row.text.find(_OPEN)
            if at >= 0:
                row.reply_started = at + len(_OPEN)
        elif _CLOSE in row.text[row.reply_started :]:
            row.closed = True
        else:
            # A "<" in the reply can only be the start of </response> (see __call__): write the rest.
            tail = (
                row.text[row.text.rfind("<", row.reply_started) :]
                if "<" in row.text[row.reply_started :]
                else ""
            )
            if tail and _CLOSE.startswith(tail):
                row.forced = self._ids(_CLOSE[len(tail) :])

    def _decide(self, row: _Row, step: int) -> None:
        """What, if anything, to write for the model next."""
        left = self.max_new_tokens - step
        if row.reply_started < 0:
            repeated = any(row.text.count(tag) > 1 for tag in _STATE_TAGS)
            if (
                repeated
                or row.state_tokens >= self.state_budget
                or left <= len(self.open_ids) + 1 + len(self.close_ids)
            ):
                row.forced = list(self.open_ids)
        elif left <= len(self.close_ids):
            row.forced = list(self.close_ids)


def _may_close(piece: str) -> bool:
    """Whether ``piece`` is reply text (no ``<``) followed by the start of ``</response>``."""
    at = piece.find("<")
    return at >= 0 and _CLOSE.startswith(piece[at:])


class _Vocab:
    """Each token's text, read once per tokenizer (a generate call reads every generated token's)."""

    _known: ClassVar[weakref.WeakKeyDictionary[Any, _Vocab]] = weakref.WeakKeyDictionary()

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.pieces: dict[int, str] = {}
        self._tags: list[int] | None = None
        self._tags_but_close: list[int] | None = None

    @classmethod
    def of(cls, tokenizer: Any) -> _Vocab:
        if tokenizer not in cls._known:
            cls._known[tokenizer] = cls(tokenizer)
        return cls._known[tokenizer]

    def piece(self, token: int) -> str:
        if token not in self.pieces:
            self.pieces[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return self.pieces[token]

    def tags(self) -> list[int]:
        """Tokens that start a tag (a ``<``): kept out of an empty reply."""
        if self._tags is None:
            self._tags = [i for i in range(len(self.tokenizer)) if "<" in self.piece(i)]
        return self._tags

    def tags_but_close(self) -> list[int]:
        """Tokens with a ``<`` that cannot begin ``</response>`` (kept out of a reply). A token that ends the
        reply's text and begins the closing tag (``.</``) stays allowed."""
        if self._tags_but_close is None:
            self._tags_but_close = [i for i in self.tags() if not _may_close(self.piece(i))]
        return self._tags_but_close


def scaffold_for(tokenizer: Any, input_ids: Any, *, max_new_tokens: int, state_budget: int) -> StateScaffold:
    """A scaffold for one ``generate`` call over ``input_ids`` (left-padded prompts), applied to the rows
    whose prompt asks for states-then-reply."""
    tails = tokenizer.batch_decode(input_ids[:, -8:], skip_special_tokens=False)
    return StateScaffold(
        tokenizer,
        [writes_states(t) for t in tails],
        prompt_width=input_ids.shape[1],
        max_new_tokens=max_new_tokens,
        state_budget=state_budget,
    )
