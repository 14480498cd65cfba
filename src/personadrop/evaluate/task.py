"""What an evaluation asks: test examples, the conditions they are seen under, the mask seed, the dimensions.

Like an inspect-ai ``Task``: data on one side, simulators and a judge on the other, and
:func:`personadrop.evaluate.evaluate` runs one against the other.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from personadrop.data.example import Example
from personadrop.dropout import DEFAULT_CONDITIONS, Policy, check_fields, fields_of
from personadrop.errors import ConfigError, DataError
from personadrop.judges.base import DIMENSIONS


def check_dimensions(dimensions: Iterable[str]) -> tuple[str, ...]:
    """Judge dimensions as a tuple; they must include ``response`` and be known (ConfigError otherwise)."""
    dims = tuple(dict.fromkeys(d.strip() for d in dimensions if d.strip()))
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or "response" not in dims:
        raise ConfigError(
            f"dimensions must include response and come from {', '.join(DIMENSIONS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return dims


def sample_examples(examples: Sequence[Example], n: int | None, seed: int) -> list[Example]:
    """A seeded sample of ``n`` examples (all of them when ``n`` is None or larger), kept in their order.

    Sampling by position keeps seen and unseen users in their share; file order keeps reports readable.
    """
    if n is None or len(examples) <= n:
        return list(examples)
    keep = set(random.Random(seed).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in keep]


@dataclass(frozen=True)
class EvalTask:
    """Examples x conditions, masked with ``seed``, judged along ``dimensions``.

    ``source`` and ``split`` say where the examples came from (recorded with the results).
    """

    examples: tuple[Example, ...]
    conditions: tuple[Policy, ...]
    seed: int = 0
    dimensions: tuple[str, ...] = DIMENSIONS
    source: str | None = None
    split: str | None = None
    by_id: dict[str, Example] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.examples:
            raise DataError(
                f"{self.source or 'the evaluation'}: no examples to evaluate"
                + (f" in split {self.split!r}" if self.split else "")
            )
        if not self.conditions:
            raise ConfigError("an evaluation needs at least one condition")
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "conditions", tuple(self.conditions))
        object.__setattr__(self, "dimensions", check_dimensions(self.dimensions))
        object.__setattr__(self, "by_id", {e.id: e for e in self.examples})
        check_fields(self.conditions, self.fields, self.source or "the evaluation data")

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The persona fields of the examples (the standard five and any of the data's own)."""
        return fields_of(e.persona for e in self.examples)

    @classmethod
    def load(
        cls,
        data: str | Path,
        *,
        split: str | None = "test",
        max_examples: int | None = None,
        seed: int = 0,
        conditions: Sequence[Policy] = DEFAULT_CONDITIONS,
        dimensions: Iterable[str] = DIMENSIONS,
        on_bad_row: str = "stop",
    ) -> EvalTask:
        """A task over (a seeded sample of) one split of a dataset."""
        from personadrop.data.humanual import load_examples

        if max_examples is not None and max_examples < 1:
            raise ConfigError(f"max_examples must be at least 1, got {max_examples}")
        policies = list(conditions)
        examples = load_examples(data, split=split, on_bad_row=on_bad_row).examples  # type: ignore[arg-type]
        return cls(
            tuple(sample_examples(examples, max_examples, seed)),
            tuple(policies),
            seed,
            tuple(dimensions),
            str(data),
            split,
        )

    def sample(self, n: int | None) -> EvalTask:
        """The same task on a seeded sample of ``n`` of its examples (itself when ``n`` is None or not
        smaller): what a slow simulator answers in a study that gives it ``sample: n``."""
        if n is None or n >= len(self.examples):
            return self
        return EvalTask(
            tuple(sample_examples(self.examples, n, self.seed)),
            self.conditions,
            self.seed,
            self.dimensions,
            self.source,
            self.split,
        )

    def cells(self) -> list[tuple[str, str]]:
        """Every (condition name, example id) of the grid."""
        return [(c.name, e.id) for c in self.conditions for e in self.examples]

    @property
    def condition_names(self) -> list[str]:
        return [c.name for c in self.conditions]

    @cached_property
    def data_sha256(self) -> str:
        """A content hash of the examples: the same data from any path (a moved directory), the same hash."""
        from personadrop.data.rows import examples_sha256

        return examples_sha256(self.examples)

    def unseen_users(self) -> dict[str, bool]:
        return {e.id: e.unseen_user for e in self.examples}
