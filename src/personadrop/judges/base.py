"""The judge seam: a judge scores generations against a real response and knows nothing of how they were made.

A :class:`JudgeRequest` is one (context, real response, dimension) with several generations, because the
rubric compares all rollouts of one prompt in a single judgement. Scores are in [0, 1]; a judgement that
finally failed is NaN, never 0, so callers can leave it out of means and out of the loss.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from personadrop.data.example import STATE_DIMENSIONS, Example

#: What a judge can score along: the reply as a whole, and each latent state dimension.
DIMENSIONS: tuple[str, ...] = ("response", *STATE_DIMENSIONS)


@dataclass(frozen=True)
class JudgeRequest:
    """Generations to score against one real response, along one dimension."""

    example_id: str
    context: str  # the thread as text; a judge never sees the persona
    reference: str  # the real user's response
    generations: tuple[str, ...]
    dimension: str = "response"
    reference_states: Mapping[str, str] | None = None  # true latent states, where the data knows them

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(
                f"unknown judge dimension {self.dimension!r}; use one of {', '.join(DIMENSIONS)}"
            )

    @classmethod
    def about(cls, example: Example, generations: Sequence[str], dimension: str = "response") -> JudgeRequest:
        """A request to score ``generations`` against ``example``'s real reply (and true states, if known)."""
        return cls(
            example.id,
            example.context_text(),
            example.response,
            tuple(generations),
            dimension,
            example.states,
        )


class JudgeUsage(BaseModel):
    """What judging cost. ``failures`` counts generations left unscored (NaN). Counted in place."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return self.model_dump()


class Judge(ABC):
    """Scores generations; subclasses implement :meth:`score`."""

    #: Registry name, e.g. ``exact``, ``embedding``, ``anthropic:claude-haiku-4-5``.
    name: str
    #: What it can score along (the survey judge: the answer alone, no latent state).
    dimensions: tuple[str, ...] = DIMENSIONS

    def __init__(self) -> None:
        self.usage = JudgeUsage()

    @abstractmethod
    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """One list per request, one score in [0, 1] per generation, in order; NaN where judging failed."""

    def check_ready(self) -> None:  # noqa: B027 - optional hook, most judges need nothing
        """Raise a :class:`~personadrop.errors.PersonadropError` if this judge cannot work (e.g. no API key).

        Called before any expensive work starts, so a study fails in seconds rather than after training.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files."""

    def summary(self) -> dict[str, object]:
        """The ``judge`` block of summary.json."""
        return {"name": self.name, **self.usage.as_dict()}
