"""What a dataset holds: counts a researcher checks before training on it."""

from __future__ import annotations

from collections import Counter
from statistics import mean
from typing import Any

from personadrop.data.humanual import LoadedExamples
from personadrop.persona import FIELD_NAMES

#: Replies longer than this many words are longer than a default training run's reply budget
#: (``max_reply_tokens``, 512 tokens; every word is at least one token): training skips them.
LONG_REPLY_WORDS = 512


def describe(data: LoadedExamples) -> dict[str, Any]:
    """Rows, users, posts, splits, persona fields present and items per field, overlong replies, bad rows."""
    examples = data.examples
    words = [len(e.response.split()) for e in examples]
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
        "response_words_mean": mean(words) if words else 0.0,
        "response_words_max": max(words, default=0),
        "long_replies": sum(w > LONG_REPLY_WORDS for w in words),
        "fields": fields,
        "repeated_rows": data.repeated_rows,
        "renamed_ids": len(data.renamed_ids),
        "bad_rows": len(data.bad_rows),
        "bad_row_examples": [str(b) for b in data.bad_rows[:10]],
    }
