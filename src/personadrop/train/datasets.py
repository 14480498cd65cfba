"""Training rows, epoch by epoch: each example seen through its own dropout mask, as TRL datasets.

The mask of an example is a pure function of (seed, example id, epoch)
(:class:`~personadrop.dropout.MaskKey`),
and every epoch is materialized as rows before training starts. Two things follow without any trainer
hook: all completions of one GRPO group come from one row, so they were conditioned on the same rendered
persona; and each epoch block draws fresh masks. Blocks are shuffled inside and concatenated in order,
so a trainer reading them sequentially walks epoch 0, then epoch 1, and so on.

The HumanLM task expansion is data as well: one row per (example, task), all tasks of an example sharing
that epoch's mask, each with its own prompt wording and tag, and the dimension its reward is judged on.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from personadrop.data.example import STATE_DIMENSIONS, Example
from personadrop.dropout import MaskKey, Policy, VisiblePersona
from personadrop.prompts import TASKS, PromptBuilder, target_text

#: GRPO epochs are keyed from here, so reinforcement never replays a warm-start epoch's masks.
GRPO_EPOCH_OFFSET = 1000

TaskChooser = Callable[[Example, int], Sequence[str]]


@dataclass
class Rows:
    """Materialized training rows and, per (example, epoch), what of the persona they showed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    visibility: list[dict[str, Any]] = field(default_factory=list)

    def dataset(self):
        from datasets import Dataset

        return Dataset.from_list(self.rows)


def epoch_blocks(epochs: float) -> int:
    """How many epoch blocks to materialize for a (possibly fractional) number of epochs."""
    return max(1, math.ceil(epochs - 1e-9))


def count_rows(examples: Sequence[Example], tasks: TaskChooser, *, epochs: int, epoch_offset: int = 0) -> int:
    """How many rows :func:`build_rows` plans for ``epochs`` blocks, rendering none (before the top-up
    that fills a length-grouped block's last batch)."""
    return sum(len(tasks(ex, epoch_offset + e)) for e in range(epochs) for ex in examples)


def build_rows(
    examples: Sequence[Example],
    policy: Policy,
    builder: PromptBuilder,
    *,
    seed: int,
    epochs: int,
    tasks: TaskChooser,
    with_targets: bool,
    stage: str,
    epoch_offset: int = 0,
    batch_size: int | None = None,
    limit: int | None = None,
) -> Rows:
    """Rows for ``epochs`` epoch blocks; ``tasks(example, epoch)`` says which tasks each example trains on.

    ``prompt`` is the rendered prompt text. ``with_targets`` adds ``messages`` (the prompt as chat messages)
    and ``completion`` (the SFT target text). Every row carries what a reward needs:
    example id, task, judged dimension, the real reply, the true states, and the thread as text.
    ``batch_size``: arrange each epoch block in batches of similar length (for SFT; GRPO leaves it None).
    ``limit``: render only the first ``limit`` rows (a stage capped at a few steps reads no more); they are
    the first rows of the whole build, and ``visibility`` then records only the examples they show.
    """
    if limit is not None and batch_size is not None:
        raise ValueError("build_rows: limit and batch_size exclude each other (grouping needs every row)")
    out = Rows()
    for e in range(epochs):
        if limit is not None and len(out.rows) >= limit:
            break
        epoch = epoch_offset + e
        shown = {ex.id: policy(ex.persona, MaskKey(seed, ex.id, epoch)) for ex in examples}
        seen = {i: v.visibility() for i, v in shown.items()}
        block = [(ex, task) for ex in examples for task in tasks(ex, epoch)]
        rng = random.Random(f"{seed}/{stage}/{epoch}")
        rng.shuffle(block)
        if limit is not None:
            block = block[: limit - len(out.rows)]
        kept = {ex.id for ex, _ in block}
        for ex in examples:
            if ex.id in kept:
                out.visibility.append({"stage": stage, "epoch": epoch, "example_id": ex.id, **seen[ex.id]})
        rows = [_row(ex, shown[ex.id], seen[ex.id], task, epoch, builder, with_targets) for ex, task in block]
        out.rows.extend(_length_grouped(rows, batch_size, rng) if batch_size else rows)
    return out


def _row(
    ex: Example,
    visible: VisiblePersona,
    seen: dict[str, Any],
    task: str,
    epoch: int,
    builder: PromptBuilder,
    with_targets: bool,
) -> dict[str, Any]:
    messages = builder.messages(ex, visible, task)
    row: dict[str, Any] = {
        # Text, not messages: it ends with the task's answer prefix (see prompts).
        "prompt": builder.render(messages, task),
        "example_id": ex.id,
        "task": task,
        "dimension": TASKS[task].dimension,
        "epoch": epoch,
        "reference": ex.response,
        "reference_states": json.dumps(ex.states or {}, sort_keys=True),
        "context": ex.context_text(),
        "fields": ",".join(seen["fields"]),
    }
    if with_targets:
        row["messages"] = messages
        row["completion"] = target_text(ex, task)
    return row


def _row_chars(row: dict[str, Any]) -> int:
    return len(row["prompt"]) + len(row.get("completion", ""))


def _length_grouped(block: list[dict[str, Any]], batch_size: int, rng: random.Random) -> list[dict[str, Any]]:
    """The shuffled block re-ordered so each batch holds rows of similar length (less padding), batches
    shuffled.

    Rows are sorted within windows of a few batches only, so which rows meet in a batch stays random. The
    last batch is topped up with rows drawn from the block, so every block is a whole number of batches and
    the batches of the next block stay aligned for a sequential reader.
    """
    if block and len(block) % batch_size:
        block = block + rng.choices(block, k=batch_size - len(block) % batch_size)
    window = batch_size * 8
    batches = []
    for start in range(0, len(block), window):
        chunk = sorted(block[start : start + window], key=_row_chars)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [row for batch in batches for row in batch]


# --------------------------------------------------------------------------- which tasks an example trains on
# Task choosers: (example, epoch) -> the tasks it trains on then. Methods (train/methods.py) pick theirs.
def reply_only(ex: Example, epoch: int) -> Sequence[str]:
    """The reply alone."""
    return ("response",)


def states_then_reply(seed: int, state_task_share: float = 0.0) -> TaskChooser:
    """States then the reply; for a ``state_task_share`` of examples (drawn per epoch) also one single state.

    An example without true states (HUMANUAL has none) trains on its reply alone; a model then learns its
    states from a judge that reads them against the real reply.
    """

    def choose(ex: Example, epoch: int) -> Sequence[str]:
        if not has_states(ex):
            return ("response",)
        draw = MaskKey(seed, ex.id, epoch).draws("warmup-task", 2)
        if draw[0] < state_task_share * 2**32:
            return ("states+response", STATE_DIMENSIONS[draw[1] % len(STATE_DIMENSIONS)])
        return ("states+response",)

    return choose


def each_state_and(reply_task: str = "states+response") -> TaskChooser:
    """The six single-state tasks and ``reply_task``: one row each (each rewarded on its own dimension)."""
    tasks = (*STATE_DIMENSIONS, reply_task)
    return lambda ex, epoch: tasks


def has_states(example: Example) -> bool:
    """Whether the example knows all six true latent states (synthetic worlds do; HUMANUAL does not)."""
    return bool(example.states) and all(example.states.get(d) for d in STATE_DIMENSIONS)  # type: ignore[union-attr]
