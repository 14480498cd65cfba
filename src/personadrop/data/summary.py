"""What a dataset holds: counts a researcher checks before training on it."""

from __future__ import annotations

from collections import Counter
from statistics import mean
from typing import Any

from personadrop.data.humanual import LoadedExamples
from personadrop.persona import FIELD_NAMES


def describe(data: LoadedExamples) -> dict[str, Any]:
    """Rows, users, posts, splits, persona fields present and items per field, and bad rows."""
    examples = data.examples
    structured = [e.persona for e in examples if not e.persona.is_text]
    field_names = list(FIELD_NAMES) + sorted(
        {f.name for p in structured for f in p.fields} - set(FIELD_NAMES)
    )
    fields: dict[str, dict[str, float]] = {}
    for name in field_names:
        counts = [len(f.items) for p in structured for f in p.fields if f.name == name]
        present = [c for c in counts if c]
        fields[name] = {
            "present_share": len(present) / len(structured) if structured else 0.0,
            "items_mean": mean(present) if present else 0.0,
            "items_min": min(present, default=0),
            "items_max": max(present, default=0),
        }
    splits = Counter(e.split or "-" for e in examples)
    return {
        "source": data.source,
        "rows": len(examples),
        "users": len({e.user_id for e in examples}),
        "posts": len({e.post_id for e in examples}),
        "splits": dict(splits),
        "unseen_user_rows": sum(e.unseen_user for e in examples),
        "with_true_states": sum(e.states is not None for e in examples),
        "text_personas": len(examples) - len(structured),
        "context_turns_mean": mean(len(e.context) for e in examples) if examples else 0.0,
        "response_words_mean": mean(len(e.response.split()) for e in examples) if examples else 0.0,
        "fields": fields,
        "bad_rows": len(data.bad_rows),
        "bad_row_examples": [str(b) for b in data.bad_rows[:10]],
    }
