"""The exact judge of the synthetic world: the rubric applied to states read from world text.

Key points come from the true states (``JudgeRequest.reference_states`` where given, else the real reply
read back by the parser); each generation is read back by the same parser, whether it is a whole reply
or a single state phrase; coverage, penalties and the score are those of
:mod:`personadrop.data.world.rubric` (see its docstring for every key point and penalty).

Along ``response`` the coverage is the mean over the six state dimensions; along a state dimension only
that dimension's key points count. A request whose reference cannot be read as world states (not world
data) gets NaN scores and counts as a failure, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

from personadrop.data.world.parse import DIMENSION_SLOTS, Reading, parse_text
from personadrop.data.world.rubric import score
from personadrop.judges.base import Judge, JudgeRequest


@lru_cache(maxsize=1 << 16)
def _read(text: str) -> Reading:
    """``parse_text``, remembered: a study judges each reference along every dimension under every
    condition, and a reply often comes back unchanged under several conditions (a Reading is only read)."""
    return parse_text(text)


def reference_truth(
    reference: str, states: Mapping[str, str] | None, dimension: str
) -> dict[str, str] | None:
    """The true slot values along ``dimension`` (all six for ``response``), or None if they cannot be read."""
    dims = tuple(DIMENSION_SLOTS) if dimension == "response" else (dimension,)
    truth: dict[str, str] = {}
    whole: Reading | None = None
    for dim in dims:
        phrase = states.get(dim) if states else None
        if phrase:
            reading = _read(phrase)
        else:
            whole = whole or _read(reference)
            reading = whole
        for slot in DIMENSION_SLOTS[dim]:
            value = reading.single(slot)
            if value is None:
                return None
            truth[slot] = value
    return truth


class ExactJudge(Judge):
    """Scores generations on world text exactly; deterministic, free, and needs no arguments."""

    name = "exact"

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        out: list[list[float]] = []
        for request in requests:
            self.usage.calls += 1
            truth = reference_truth(request.reference, request.reference_states, request.dimension)
            if truth is None:
                self.usage.failures += len(request.generations)
                out.append([math.nan] * len(request.generations))
                continue
            ref_words = len(request.reference.split())
            texts = [g or "" for g in request.generations]
            out.append([score(request.dimension, _read(t), truth, ref_words) for t in texts])
        return out
