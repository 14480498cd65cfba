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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from personadrop.data.example import STATE_DIMENSIONS, Example
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
from personadrop.judges.base import Judge
from personadrop.models.base import SimulationItem, Simulator
from personadrop.persona import FIELD_NAMES
from personadrop.prompts import TASKS

#: The field-informativeness conditions ``personadrop world`` reports.
CEILING_CONDITIONS: tuple[str, ...] = ("full", "none", *(f"only:{f}" for f in FIELD_NAMES), "items:0.9")
_TARGET = "sister"  # any target noun: the reference copies the post's, so which one does not change a rating
_BASE = States("agree", "firmly", _TARGET, "anger", "moderate", POSTER, "trusting", "honesty", "loyalty",
               "support", "blunt", "brief")


def _match_matrix(dim: str, outcomes: Sequence[dict[str, str]]) -> np.ndarray:
    """coverage(dim) of writing outcome i when outcome j is true."""
    states = [_BASE.replace(**o) for o in outcomes]
    return np.array([[coverage(dim, Reading.of(c), truth_of(t)) for t in states] for c in states])


def _emotion_outcome(key: tuple[str, str, str]) -> dict[str, str]:
    emotion, intensity, role = key
    return {"emotion": emotion, "intensity": intensity, "emotion_target": POSTER if role == POSTER else _TARGET}


class BayesSimulator(Simulator):
    """Writes the expected-score-maximizing states and reply for what the persona lets it infer."""

    name = "bayes"

    def __init__(self, world: WorldModel | WorldConfig):
        self.world = world if isinstance(world, WorldModel) else WorldModel(world)
        self._stance = _match_matrix("stance", [{"direction": d, "strength": s} for d, s in STANCE_KEYS])
        self._emotion = _match_matrix("emotion", [_emotion_outcome(k) for k in EMOTION_KEYS])
        self._belief = _match_matrix("belief", [{"belief": w} for w in WORLDVIEWS])
        self._goal = _match_matrix("goal", [{"goal": g} for g in GOALS])
        self._communication = _match_matrix("communication", [{"tone": t, "structure": s} for t, s in COMMUNICATION_KEYS])
        self._cache: dict[str, dict[str, np.ndarray]] = {}

    @classmethod
    def from_data_dir(cls, data_dir: str | Path) -> BayesSimulator:
        """The reference for the world stored in ``data_dir`` (read from its world.json)."""
        return cls(load_world_model(data_dir))

    def _posterior(self, visible: VisiblePersona) -> dict[str, np.ndarray]:
        key = visible.render()
        post = self._cache.get(key)
        if post is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            post = self._cache[key] = self.world.posterior(visible.to_persona())
        return post

    def choose(self, visible: VisiblePersona, facts: PostFacts) -> tuple[States, dict[str, float]]:
        """The states to write, and the expected coverage of each dimension under the posterior."""
        return self.choose_from_law(self.world.law(self._posterior(visible), facts), facts)

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
        states = States(direction, strength, facts.target, emotion, intensity,
                        POSTER if role == POSTER else facts.target, belief, winner, loser, goal, tone, structure)
        return states, picks

    def generate(self, items: Sequence[SimulationItem]) -> list[str]:
        return [self._one(item) for item in items]

    def _one(self, item: SimulationItem) -> str:
        if item.task not in TASKS:
            raise ValueError(f"unknown task {item.task!r}; tasks are: {', '.join(TASKS)}")
        facts = read_post(item.example.context[0].content)
        if facts is None:
            raise DataError(f"the bayes reference needs synthetic-world posts; example {item.example.id} is not one")
        states, _ = self.choose(item.visible, facts)
        phrases = states.phrases()
        if item.task == "response":
            return realize_response(states)
        if item.task == "states+response":
            return "".join(f"<{d}>{phrases[d]}</{d}>" for d in STATE_DIMENSIONS) + f"<response>{realize_response(states)}</response>"
        return f"<{item.task}>{phrases[item.task]}</{item.task}>"


# --------------------------------------------------------------------------- the ceiling
@dataclass(frozen=True)
class CeilingRow:
    """The reference's mean exact-judge response score under one condition."""

    condition: str
    mean: float
    n: int
    unseen_mean: float  # over rows of users never seen in training (NaN if none)
    unseen_n: int
    scores: tuple[float, ...] = field(default=(), repr=False)  # per example, in order (NaN: not judged)

    @property
    def ci95(self) -> float:
        """Half-width of a normal-approximation 95% interval of the mean."""
        valid = [s for s in self.scores if not math.isnan(s)]
        return 1.96 * float(np.std(valid, ddof=1)) / math.sqrt(len(valid)) if len(valid) > 1 else math.nan


def ceiling_table(
    examples: Sequence[Example],
    simulator: BayesSimulator,
    conditions: Sequence[str] = CEILING_CONDITIONS,
    *,
    judge: Judge | None = None,
    seed: int = 0,
    on_condition: Callable[[str], None] | None = None,
) -> list[CeilingRow]:
    """Mean response score of ``simulator`` per condition, with masks keyed like an evaluation (seed, id, 0).

    ``judge`` defaults to the exact judge; ``on_condition`` is called after each condition (progress).
    """
    from personadrop.dropout import MaskKey, parse_condition
    from personadrop.judges.base import JudgeRequest
    from personadrop.prompts import parse_output

    if judge is None:
        from personadrop.judges.exact import ExactJudge

        judge = ExactJudge()
    rows = []
    for name in conditions:
        policy = parse_condition(name)
        items = [SimulationItem(e, policy(e.persona, MaskKey(seed, e.id, 0))) for e in examples]
        replies = [parse_output(o) or "" for o in simulator.generate(items)]
        requests = [JudgeRequest(e.id, e.context_text(), e.response, (r,), "response", e.states)
                    for e, r in zip(examples, replies, strict=True)]
        scores = [s[0] for s in judge.score(requests)]
        unseen = [s for s, e in zip(scores, examples, strict=True) if e.unseen_user and not math.isnan(s)]
        valid = [s for s in scores if not math.isnan(s)]
        rows.append(CeilingRow(policy.name, float(np.mean(valid)) if valid else math.nan, len(valid),
                               float(np.mean(unseen)) if unseen else math.nan, len(unseen), tuple(scores)))
        if on_condition is not None:
            on_condition(policy.name)
    return rows
