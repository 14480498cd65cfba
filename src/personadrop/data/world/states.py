"""The six latent states: what they are, how traits and a post produce them, and their short phrases.

Each state follows from a few traits, the post and noise through a small conditional distribution. The
generator samples from these distributions and the Bayes reference sums over them, so both use exactly
the functions below and cannot drift apart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from personadrop.data.world.config import StateNoise
from personadrop.data.world.vocab import (
    BELIEFS,
    EMOTIONS,
    GOALS,
    INTENSITIES,
    POSTER,
    STRENGTHS,
    STRUCTURE_PHRASES,
    STRUCTURES,
    VERBOSITIES,
    WORLDVIEWS,
)

Dist = dict[tuple[str, ...], float]

#: (emotion, toward the poster or the post's target) by temperament and direction.
EMOTION_OF: dict[str, dict[str, tuple[str, str]]] = {
    "calm": {"agree": ("sympathy", POSTER), "disagree": ("disappointment", POSTER)},
    "fiery": {"agree": ("anger", "target"), "disagree": ("frustration", POSTER)},
    "anxious": {"agree": ("worry", POSTER), "disagree": ("sadness", "target")},
    "cheerful": {"agree": ("pride", POSTER), "disagree": ("amusement", POSTER)},
}
BASE_INTENSITY: dict[str, int] = {"calm": 0, "fiery": 2, "anxious": 1, "cheerful": 1}
GOAL_OF: dict[str, dict[str, str]] = {
    "blunt": {"agree": "support", "disagree": "correct"},
    "warm": {"agree": "support", "disagree": "advise"},
    "sarcastic": {"agree": "mock", "disagree": "mock"},
    "formal": {"agree": "advise", "disagree": "correct"},
}
STRUCTURE_OF: dict[str, str] = dict(zip(VERBOSITIES, STRUCTURES, strict=True))
GOAL_PHRASES: dict[str, str] = {
    "support": "wants to support the poster",
    "correct": "wants to correct the poster",
    "mock": "wants to mock the whole situation",
    "advise": "wants to advise the poster",
    "question": "wants to question the poster's choice",
}


@dataclass(frozen=True)
class States:
    """One reply's latent states. ``emotion_target`` is ``poster`` or the post's target noun."""

    direction: str
    strength: str
    target: str
    emotion: str
    intensity: str
    emotion_target: str
    belief: str  # a worldview key of BELIEFS
    winner: str  # the value that should come first
    loser: str
    goal: str
    tone: str
    structure: str

    def phrases(self) -> dict[str, str]:
        """The six states as short phrases (the ``states`` column and HumanLM's state targets)."""
        poster, other = "the poster", f"the {self.target}"
        first, second = (poster, other) if self.direction == "agree" else (other, poster)
        toward = poster if self.emotion_target == POSTER else f"the {self.emotion_target}"
        return {
            "stance": f"{self.strength} sides with {first} over {second}",
            "emotion": f"{self.intensity} {self.emotion} toward {toward}",
            "belief": BELIEFS[self.belief],
            "value": f"{self.winner} should come before {self.loser}",
            "goal": GOAL_PHRASES[self.goal],
            "communication": f"{self.tone} tone, {STRUCTURE_PHRASES[self.structure]}",
        }

    def replace(self, **changes: str) -> States:
        return States(**{**asdict(self), **changes})


# --------------------------------------------------------------------------- conditional distributions
def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def stance_dist(delta: int, leniency: str, noise: StateNoise) -> Dist:
    """P(direction, strength) given level(chosen value) - level(sacrificed value) and leniency.

    The user's score is delta + leniency shift + N(0, sigma): its sign is the verdict, its size the strength.
    """
    mu, sigma = delta + noise.leniency_shift[leniency], noise.stance_sigma
    c1, c2 = noise.strength_cuts
    cdf = [_phi((x - mu) / sigma) for x in (-c2, -c1, 0.0, c1, c2)]
    return {
        ("disagree", "totally"): cdf[0],
        ("disagree", "firmly"): cdf[1] - cdf[0],
        ("disagree", "slightly"): cdf[2] - cdf[1],
        ("agree", "slightly"): cdf[3] - cdf[2],
        ("agree", "firmly"): cdf[4] - cdf[3],
        ("agree", "totally"): 1.0 - cdf[4],
    }


def emotion_dist(temperament: str, direction: str, strength: str, noise: StateNoise) -> Dist:
    """P(emotion, intensity, target role) with target role ``poster`` or ``target``."""
    usual, role = EMOTION_OF[temperament][direction]
    kinds = {e: noise.emotion / len(EMOTIONS) for e in EMOTIONS}
    kinds[usual] += 1.0 - noise.emotion
    center = min(2, max(0, BASE_INTENSITY[temperament] + STRENGTHS.index(strength) - 1))
    levels = [0.0, 0.0, 0.0]
    levels[center] += 1.0 - noise.intensity
    levels[max(0, center - 1)] += noise.intensity / 2
    levels[min(2, center + 1)] += noise.intensity / 2
    other = "target" if role == POSTER else POSTER
    roles = {role: 1.0 - noise.emotion_target, other: noise.emotion_target}
    return {
        (k, INTENSITIES[i], r): pk * pi * pr
        for k, pk in kinds.items()
        for i, pi in enumerate(levels)
        for r, pr in roles.items()
        if pk * pi * pr > 0
    }


def belief_dist(worldview: str, noise: StateNoise) -> Dist:
    out = {(w,): noise.belief / len(WORLDVIEWS) for w in WORLDVIEWS}
    out[(worldview,)] += 1.0 - noise.belief
    return out


def goal_dist(tone: str, temperament: str, direction: str, noise: StateNoise) -> Dist:
    habit = {GOAL_OF[tone][direction]: 1.0}
    if temperament == "anxious":
        habit = {g: p * (1.0 - noise.anxious_question) for g, p in habit.items()}
        habit["question"] = habit.get("question", 0.0) + noise.anxious_question
    out = {(g,): noise.goal / len(GOALS) for g in GOALS}
    for g, p in habit.items():
        out[(g,)] += (1.0 - noise.goal) * p
    return out


def structure_dist(verbosity: str, noise: StateNoise) -> Dist:
    out = {(s,): noise.structure / len(STRUCTURES) for s in STRUCTURES}
    out[(STRUCTURE_OF[verbosity],)] += 1.0 - noise.structure
    return out


def _draw(dist: Mapping[tuple[str, ...], float], rng: random.Random) -> tuple[str, ...]:
    u = rng.random()
    acc = 0.0
    last = next(iter(dist))
    for key, p in dist.items():
        acc += p
        last = key
        if u < acc:
            return key
    return last  # rounding left a sliver at the top


def sample_states(
    traits: Mapping[str, str],
    chosen: str,
    sacrificed: str,
    target: str,
    noise: StateNoise,
    rng: random.Random,
) -> States:
    """The states of one user's reply to a post where the poster put ``chosen`` before ``sacrificed``."""
    delta = _level(traits[f"value:{chosen}"]) - _level(traits[f"value:{sacrificed}"])
    direction, strength = _draw(stance_dist(delta, traits["leniency"], noise), rng)
    emotion, intensity, role = _draw(emotion_dist(traits["temperament"], direction, strength, noise), rng)
    (belief,) = _draw(belief_dist(traits["worldview"], noise), rng)
    (goal,) = _draw(goal_dist(traits["tone"], traits["temperament"], direction, noise), rng)
    (structure,) = _draw(structure_dist(traits["verbosity"], noise), rng)
    winner, loser = (chosen, sacrificed) if direction == "agree" else (sacrificed, chosen)
    return States(
        direction=direction,
        strength=strength,
        target=target,
        emotion=emotion,
        intensity=intensity,
        emotion_target=POSTER if role == POSTER else target,
        belief=belief,
        winner=winner,
        loser=loser,
        goal=goal,
        tone=traits["tone"],
        structure=structure,
    )


def _level(level: str) -> int:
    return ("low", "mid", "high").index(level)
