"""The world's generative model as a calculator: exact posteriors over traits and predictive state laws.

Traits are independent a priori and every persona item speaks about one trait, so the posterior of a trait
is its prior times one likelihood per visible item about it (r if the item shows that value, plus (1-r)/K
for any value). State laws are the generator's own conditional distributions
(:mod:`personadrop.data.world.states`), tabulated once and summed against the posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personadrop.data.world.config import WorldConfig
from personadrop.data.world.lexicon import PERSONA_FIELDS, read_item
from personadrop.data.world.posts import PostFacts
from personadrop.data.world.states import (
    belief_dist,
    emotion_dist,
    goal_dist,
    stance_dist,
    structure_dist,
)
from personadrop.data.world.vocab import (
    DIRECTIONS,
    EMOTIONS,
    GOALS,
    GROUP_VALUES,
    INTENSITIES,
    LENIENCIES,
    LEVELS,
    POSTER,
    STRENGTHS,
    STRUCTURES,
    TEMPERAMENTS,
    TONES,
    TRAITS,
    VERBOSITIES,
    WORLDVIEWS,
    group_of,
    value_trait,
)
from personadrop.persona import Persona

#: Outcome spaces of each state dimension (the Bayes reference chooses one element of each).
STANCE_KEYS: tuple[tuple[str, str], ...] = tuple((d, s) for d in DIRECTIONS for s in STRENGTHS)
EMOTION_KEYS: tuple[tuple[str, str, str], ...] = tuple(
    (e, i, r) for e in EMOTIONS for i in INTENSITIES for r in (POSTER, "target")
)
COMMUNICATION_KEYS: tuple[tuple[str, str], ...] = tuple((t, s) for t in TONES for s in STRUCTURES)

Posterior = dict[str, np.ndarray]


@dataclass(frozen=True)
class StateLaw:
    """Predictive probabilities of each dimension's outcome for one (persona, post), in the key orders
    above."""

    stance: np.ndarray  # over STANCE_KEYS
    emotion: np.ndarray  # over EMOTION_KEYS
    belief: np.ndarray  # over WORLDVIEWS
    agree: float  # P(direction == agree): the value dimension follows from it
    goal: np.ndarray  # over GOALS
    communication: np.ndarray  # over COMMUNICATION_KEYS


def _vector(dist: dict[tuple[str, ...], float], keys: tuple[tuple[str, ...], ...]) -> np.ndarray:
    return np.array([dist.get(k, 0.0) for k in keys])


class WorldModel:
    """Posterior and predictive laws of one world config."""

    def __init__(self, config: WorldConfig):
        self.config = config
        noise = config.noise
        self.priors: Posterior = {t: np.array(config.prior(group_of(t))) for t in TRAITS}
        # A cell with no items never wrote an item; text that looks like one carries no information.
        self._reliability = {
            (f, g): config.cell(f, g).reliability if config.cell(f, g).items else 0.0
            for f in PERSONA_FIELDS
            for g in GROUP_VALUES
        }
        self._index = {g: {v: i for i, v in enumerate(vals)} for g, vals in GROUP_VALUES.items()}
        levels = range(len(LEVELS))
        self.stance_table = np.array(
            [
                [[_vector(stance_dist(a - b, le, noise), STANCE_KEYS) for le in LENIENCIES] for b in levels]
                for a in levels
            ]
        )  # [a, b, leniency, stance]
        self.emotion_table = np.array(
            [
                [_vector(emotion_dist(t, d, s, noise), EMOTION_KEYS) for d, s in STANCE_KEYS]
                for t in TEMPERAMENTS
            ]
        )  # [temperament, stance, emotion]
        self.belief_table = np.array(
            [_vector(belief_dist(w, noise), tuple((x,) for x in WORLDVIEWS)) for w in WORLDVIEWS]
        )
        self.goal_table = np.array(
            [
                [
                    [_vector(goal_dist(o, t, d, noise), tuple((g,) for g in GOALS)) for d in DIRECTIONS]
                    for t in TEMPERAMENTS
                ]
                for o in TONES
            ]
        )  # [tone, temperament, direction, goal]
        self.structure_table = np.array(
            [_vector(structure_dist(v, noise), tuple((s,) for s in STRUCTURES)) for v in VERBOSITIES]
        )
        self._agree_mask = np.array([d == "agree" for d, _ in STANCE_KEYS], dtype=float)

    # ------------------------------------------------------------------ posterior
    def posterior(self, persona: Persona) -> Posterior:
        """P(trait value | every item of ``persona``); only what the persona holds is read."""
        post = {t: p.copy() for t, p in self.priors.items()}
        if persona.is_text:
            return post
        for f in persona.fields:
            if f.name not in PERSONA_FIELDS:
                continue
            for item in f.items:
                meaning = read_item(f.name, item)
                if meaning is None:
                    continue
                trait, shown = meaning
                group = group_of(trait)
                r = self._reliability[(f.name, group)]
                if r <= 0.0:
                    continue
                like = np.full(len(GROUP_VALUES[group]), (1.0 - r) / len(GROUP_VALUES[group]))
                like[self._index[group][shown]] += r
                post[trait] *= like
        for t, p in post.items():
            post[t] = p / p.sum()
        return post

    # ------------------------------------------------------------------ predictive laws
    def law(self, posterior: Posterior, facts: PostFacts) -> StateLaw:
        """The predictive law of each state dimension for a reply to the post ``facts``."""
        pa, pb = posterior[value_trait(facts.chosen)], posterior[value_trait(facts.sacrificed)]
        stance = np.einsum("a,b,l,abls->s", pa, pb, posterior["leniency"], self.stance_table)
        temperament = posterior["temperament"]
        emotion = np.einsum("t,s,tse->e", temperament, stance, self.emotion_table)
        agree = float(stance @ self._agree_mask)
        goal = np.einsum(
            "o,t,d,otdg->g", posterior["tone"], temperament, np.array([agree, 1.0 - agree]), self.goal_table
        )
        structure = posterior["verbosity"] @ self.structure_table
        return StateLaw(
            stance=stance,
            emotion=emotion,
            belief=posterior["worldview"] @ self.belief_table,
            agree=agree,
            goal=goal,
            communication=np.outer(posterior["tone"], structure).ravel(),
        )
