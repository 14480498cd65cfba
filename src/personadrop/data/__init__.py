"""Examples and the files they come from: HUMANUAL rows, synthetic worlds, training exports."""

from personadrop.data.example import STATE_DIMENSIONS, TARGET_SPEAKER, Example, Turn
from personadrop.data.humanual import BadRow, LoadedExamples, load_examples, write_jsonl
from personadrop.data.rows import example_from_row, example_to_row

__all__ = [
    "STATE_DIMENSIONS",
    "TARGET_SPEAKER",
    "BadRow",
    "Example",
    "LoadedExamples",
    "Turn",
    "example_from_row",
    "example_to_row",
    "load_examples",
    "write_jsonl",
]
