"""Export examples, seen through a dropout policy, as training rows for TRL and for verl."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from personadrop.data.example import Example
from personadrop.dropout import MaskKey, Policy
from personadrop.prompts import TASKS, messages_to_text, simulator_messages, target_text


def trl_rows(
    examples: Iterable[Example],
    policy: Policy,
    *,
    seed: int,
    epoch: int = 0,
    task: str = "response",
    conversational: bool = True,
) -> list[dict[str, Any]]:
    """Prompt/completion rows in TRL's format (conversational messages, or plain text).

    Each row also carries ``example_id`` and ``visible`` (which fields and how many items it showed).
    """
    rows = []
    for ex in examples:
        visible = policy(ex.persona, MaskKey(seed, ex.id, epoch))
        messages = simulator_messages(ex, visible, task)
        completion = target_text(ex, task)
        if conversational:
            prompt: Any = messages
            completion_out: Any = [{"role": "assistant", "content": completion}]
        else:
            prompt, completion_out = messages_to_text(messages), " " + completion
        rows.append(
            {
                "prompt": prompt,
                "completion": completion_out,
                "example_id": ex.id,
                "task": task,
                "visible": json.dumps(visible.visibility(), sort_keys=True),
            }
        )
    return rows


def verl_rows(
    examples: Iterable[Example],
    policy: Policy,
    *,
    seed: int,
    epochs: int = 1,
    tasks: Sequence[str] = ("response",),
    data_source: str = "personadrop",
    epoch_offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows for verl's RL trainer: ``{data_source, prompt, ability, reward_model, extra_info}``.

    One row per (example, task, epoch): each epoch block shows every example through its own mask (keyed by
    seed, example id and epoch), so one verl epoch over the file is ``epochs`` epochs of fresh masks.
    ``reward_model.ground_truth`` is the real response; ``extra_info`` holds what the reward hook
    (:mod:`personadrop.integrations.verl`) needs: example id, task, dimension, epoch, the thread, true states.
    """
    examples = list(examples)
    rows = []
    for e in range(epochs):
        epoch = epoch_offset + e
        for ex in examples:
            visible = policy(ex.persona, MaskKey(seed, ex.id, epoch))
            for task in tasks:
                rows.append(
                    {
                        "data_source": data_source,
                        "prompt": simulator_messages(ex, visible, task),
                        "ability": "user_simulation",
                        "reward_model": {"style": "rule", "ground_truth": ex.response},
                        "extra_info": {
                            "example_id": ex.id,
                            "user_id": ex.user_id,
                            "task": task,
                            "dimension": TASKS[task].dimension,
                            "epoch": epoch,
                            "condition": policy.name,
                            "context": ex.context_text(),
                            "states": json.dumps(ex.states or {}, sort_keys=True),
                            "visible": json.dumps(visible.visibility(), sort_keys=True),
                        },
                    }
                )
    return rows


def write_parquet(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows)), path)
    return path
