"""The judging rubric on world states: key points, their match ratings, and penalties.

Along a state dimension the key points are that dimension's slots (1-3 of them); along ``response`` the
coverage is the mean of the six dimension coverages, so every state counts equally. A key point is
rated 1 (exact) ... 0 (missed or contradicted), with partial credit for near misses:

- stance: (1) who is sided with, about whom: 1; right side, target missing 0.5; right side, wrong person
  0.25; wrong side 0. (2) strength, credited only when the side is right: exact 1, one step off 0.5.
- emotion: (1) the emotion: exact 1, same family (hostile / caring / light) 0.5. (2) intensity and
  (3) toward whom, credited only when the emotion earned something: exact 1 (intensity one step 0.5).
- belief: the belief, exact or 0.  value: (1) what comes first, (2) what it comes before.
- goal: exact 1, same family (support~advise, correct~question) 0.5.
- communication: (1) tone, exact or 0; (2) structure: exact 1, one step off 0.5.

A slot the text states several ways is rated by its worst value. Penalties: 0.2 per contradicted slot of
the dimension(s) judged (at most 0.6), 0.1 per sentence with nothing of the world's language in it (at
most 0.3), and for length past twice the reference 0.5 per extra reference length (at most 0.5).
Score = clip(coverage - penalty, 0, 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from personadrop.data.world.parse import DIMENSION_SLOTS, SLOTS, Reading
from personadrop.data.world.vocab import (
    EMOTION_FAMILY,
    GOAL_FAMILY,
    INTENSITIES,
    STRENGTHS,
    STRUCTURES,
)

STATE_DIMS: tuple[str, ...] = tuple(DIMENSION_SLOTS)
Truth = Mapping[str, str]


def _worst(values: Iterable[str], rate: Callable[[str], float]) -> float:
    ratings = [rate(v) for v in values]
    return min(ratings) if ratings else 0.0


def _steps(order: tuple[str, ...], a: str, b: str) -> float:
    if a not in order or b not in order:
        return 0.0
    gap = abs(order.index(a) - order.index(b))
    return 1.0 if gap == 0 else 0.5 if gap == 1 else 0.0


def key_points(dim: str, reading: Reading, truth: Truth) -> list[float]:
    """The ratings of each key point of ``dim`` (see the module docstring)."""
    s = reading.slots
    if dim == "stance":
        side = _worst(s["direction"], lambda d: float(d == truth["direction"]))
        targets = s["target"]
        about = 1.0 if targets == {truth["target"]} else 0.5 if not targets else 0.25
        strength = _worst(s["strength"], lambda v: _steps(STRENGTHS, v, truth["strength"])) if side else 0.0
        return [side * about, strength]
    if dim == "emotion":
        kind = _worst(
            s["emotion"],
            lambda e: (
                1.0
                if e == truth["emotion"]
                else 0.5
                if EMOTION_FAMILY.get(e) == EMOTION_FAMILY[truth["emotion"]]
                else 0.0
            ),
        )
        if not kind:
            return [0.0, 0.0, 0.0]
        intensity = _worst(s["intensity"], lambda v: _steps(INTENSITIES, v, truth["intensity"]))
        toward = _worst(s["emotion_target"], lambda t: float(t == truth["emotion_target"]))
        return [kind, intensity, toward]
    if dim == "belief":
        return [_worst(s["belief"], lambda b: float(b == truth["belief"]))]
    if dim == "value":
        first = _worst(s["winner"], lambda v: float(v == truth["winner"]))
        before = _worst(s["loser"], lambda v: float(v == truth["loser"])) if first else 0.0
        return [first, before]
    if dim == "goal":
        return [
            _worst(
                s["goal"],
                lambda g: (
                    1.0
                    if g == truth["goal"]
                    else 0.5
                    if GOAL_FAMILY.get(g) == GOAL_FAMILY[truth["goal"]] != "mock"
                    else 0.0
                ),
            )
        ]
    if dim == "communication":
        tone = _worst(s["tone"], lambda t: float(t == truth["tone"]))
        structure = _worst(s["structure"], lambda v: _steps(STRUCTURES, v, truth["structure"]))
        return [tone, structure]
    raise ValueError(f"unknown dimension {dim!r}")


def coverage(dim: str, reading: Reading, truth: Truth) -> float:
    """C: the mean key-point rating along ``dim`` (``response``: the mean over the six dimensions)."""
    if dim == "response":
        return sum(coverage(d, reading, truth) for d in STATE_DIMS) / len(STATE_DIMS)
    points = key_points(dim, reading, truth)
    return sum(points) / len(points)


def penalty(dim: str, reading: Reading, reference_words: int) -> float:
    """P in [0, 1]: contradicted slots, unsupported sentences, and length past twice the reference."""
    slots = SLOTS if dim == "response" else DIMENSION_SLOTS[dim]
    contradicted = min(0.6, 0.2 * reading.contradictions(slots))
    unsupported = min(0.3, 0.1 * reading.unsupported)
    ratio = reading.words / max(reference_words, 1)
    too_long = min(0.5, max(0.0, ratio - 2.0) * 0.5)
    return min(1.0, contradicted + unsupported + too_long)


def score(dim: str, reading: Reading, truth: Truth, reference_words: int) -> float:
    """clip(C - P, 0, 1) for one generation along ``dim``."""
    return min(1.0, max(0.0, coverage(dim, reading, truth) - penalty(dim, reading, reference_words)))


def truth_of(states: object) -> dict[str, str]:
    """A States object as the slot mapping the rubric reads."""
    return {slot: getattr(states, slot) for slot in SLOTS}
