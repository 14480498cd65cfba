"""The Bayes-optimal reference simulator of the synthetic world, and the ceiling it defines.

For each item it reads the post (which values were pitted, against whom) and the *visible* persona only
(``item.visible.to_persona()``), computes the exact posterior over the user's hidden traits under the
world's own generative model, turns it into the predictive law of each latent state, and writes, per
dimension, the state with the highest expected exact-judge coverage. Because the exact judge's response
coverage is the mean of the six dimension coverages, choosing each dimension separately maximizes the
expected response score too; its replies use the shortest wording and carry no contradiction or
unsupported sentence, so they earn no penalty (the clip at 0 never binds). Its mean score under a
condition is that condition's ceiling; for users seen in training a model can do better by memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from personadrop.data.example import STATE_DIMENSIONS
from personadrop.data.world.config import WorldConfig
from personadrop.data.world.io import load_world_model
from personadrop.data.world.model import COMMUNICATION_KEYS, EMOTION_KEYS, STANCE_KEYS, StateLaw, WorldModel
from personadrop.data.world.parse import Reading
from personadrop.data.world.posts import PostFacts, read_post
from personadrop.data.world.responses import realize_response
from personadrop.data.world.rubric import coverage, truth_of
from personadrop.data.world.states import States
from personadrop.data.world.vocab import GOALS, POSTER, WORLDVIEWS
from personadrop.dropout import VisiblePersona
from personadrop.errors import DataError
from personadrop.models.base import SimulationItem, Simulator
from personadrop.persona import Persona
from personadrop.prompts import TASKS

_TARGET = "sister"  # any target noun: the reference copies the post's, so which one does not change a rating
_BASE = States(
    "agree",
    "firmly",
    _TARGET,
    "anger",
    "moderate",
    POSTER,
    "trusting",
    "honesty",
    "loyalty",
    "support",
    "blunt",
    "brief",
)


def _match_matrix(dim: str, outcomes: Sequence[dict[str, str]]) -> np.ndarray:
    """coverage(dim) of writing outcome i when outcome j is true."""
    states = [_BASE.replace(**o) for o in outcomes]
    return np.array([[coverage(dim, Reading.of(c), truth_of(t)) for t in states] for c in states])


def _emotion_outcome(key: tuple[str, str, str]) -> dict[str, str]:
    emotion, intensity, role = key
    return {
        "emotion": emotion,
        "intensity": intensity,
        "emotion_target": POSTER if role == POSTER else _TARGET,
    }


class BayesSimulator(Simulator):
    """Writes the expected-score-maximizing states and reply for what the persona lets it infer."""

    name = "bayes"

    def __init__(self, world: WorldModel | WorldConfig):
        self.world = world if isinstance(world, WorldModel) else WorldModel(world)
        self._stance = _match_matrix("stance", [{"direction": d, "strength": s} for d, s in STANCE_KEYS])
        self._emotion = _match_matrix("emotion", [_emotion_outcome(k) for k in EMOTION_KEYS])
        self._belief = _match_matrix("belief", [{"belief": w} for w in WORLDVIEWS])
        self._goal = _match_matrix("goal", [{"goal": g} for g in GOALS])
        self._communication = _match_matrix(
            "communication", [{"tone": t, "structure": s} for t, s in COMMUNICATION_KEYS]
        )
        # Keyed by the visible persona: many examples (and conditions) show a user the same way.
        self._posterior = lru_cache(maxsize=50_000)(self._compute_posterior)

    @classmethod
    def from_data_dir(cls, data_dir: str | Path) -> BayesSimulator:
        """The reference for the world stored in ``data_dir`` (read from its world.json)."""
        return cls(load_world_model(data_dir))

    def _compute_posterior(self, shown: Persona) -> dict[str, np.ndarray]:
        return self.world.posterior(shown)

    def choose(self, visible: VisiblePersona, facts: PostFacts) -> tuple[States, dict[str, float]]:
        """The states to write, and the expected coverage of each dimension under the posterior."""
        return self.choose_from_law(self.world.law(self._posterior(visible.to_persona()), facts), facts)

    def choose_from_law(self, law: StateLaw, facts: PostFacts) -> tuple[States, dict[str, float]]:
        """The expected-coverage-maximizing states under a predictive ``law`` of a reply to ``facts``."""
        picks: dict[str, float] = {}

        def best(dim: str, matrix: np.ndarray, p: np.ndarray) -> int:
            expected = matrix @ p
            i = int(np.argmax(expected))  # ties: the first outcome, so the choice is deterministic
            picks[dim] = float(expected[i])
            return i

        direction, strength = STANCE_KEYS[best("stance", self._stance, law.stance)]
        emotion, intensity, role = EMOTION_KEYS[best("emotion", self._emotion, law.emotion)]
        belief = WORLDVIEWS[best("belief", self._belief, law.belief)]
        goal = GOALS[best("goal", self._goal, law.goal)]
        tone, structure = COMMUNICATION_KEYS[best("communication", self._communication, law.communication)]
        agree = law.agree >= 0.5
        picks["value"] = max(law.agree, 1.0 - law.agree)
        winner, loser = (facts.chosen, facts.sacrificed) if agree else (facts.sacrificed, facts.chosen)
        states = States(
            direction,
            strength,
            facts.target,
            emotion,
            intensity,
            POSTER if role == POSTER else facts.target,
            belief,
            winner,
            loser,
            goal,
            tone,
            structure,
        )
        return states, picks

    def generate(self, items: Sequence[SimulationItem]) -> list[str]:
        return [self._one(item) for item in items]

    def _one(self, item: SimulationItem) -> str:
        if item.task not in TASKS:
            raise ValueError(f"unknown task {item.task!r}; tasks are: {', '.join(TASKS)}")
        facts = read_post(item.example.context[0].content)
        if facts is None:
            raise DataError(
                f"the bayes reference needs synthetic-world posts; example {item.example.id} is not one"
            )
        states, _ = self.choose(item.visible, facts)
        phrases = states.phrases()
        if item.task == "response":
            return realize_response(states)
        if item.task == "states+response":
            return (
                "".join(f"<{d}>{phrases[d]}</{d}>" for d in STATE_DIMENSIONS)
                + f"<response>{realize_response(states)}</response>"
            )
        return f"<{item.task}>{phrases[item.task]}</{item.task}>"
