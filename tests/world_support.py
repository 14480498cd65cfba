"""Worlds shared by the synthetic-world tests: the default one and one with another seed and signal table.

Generated once per test session (a default-size world takes well under a second).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import strategies as st

from personadrop.data.world import States, World, WorldConfig, generate_world, load_world_config, world_config
from personadrop.data.world.vocab import (
    BELIEFS,
    DIRECTIONS,
    EMOTIONS,
    GOALS,
    INTENSITIES,
    POSTER,
    STRENGTHS,
    STRUCTURES,
    TARGETS,
    TONES,
    VALUES,
)

#: A second world: another seed and a signal table that moves the persona signals to other fields on purpose
#: (Communication strong, Interests and Statistics about values, Values mediocre, Demographics weak).
ALT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "world-alt.yaml"


def alt_config(**fields: object) -> WorldConfig:
    return load_world_config(ALT_CONFIG, **fields)


@cache
def default_world() -> World:
    return generate_world(world_config())


@cache
def alt_world() -> World:
    return generate_world(alt_config())


@cache
def small_world(seed: int = 3) -> World:
    return generate_world(world_config(seed=seed, users=40, posts=120))


WORLDS = {"default": default_world, "alt": alt_world}


@st.composite
def any_states(draw: st.DrawFn) -> States:
    target = draw(st.sampled_from(TARGETS))
    winner, loser = draw(st.permutations(VALUES))[:2]
    return States(
        direction=draw(st.sampled_from(DIRECTIONS)),
        strength=draw(st.sampled_from(STRENGTHS)),
        target=target,
        emotion=draw(st.sampled_from(list(EMOTIONS))),
        intensity=draw(st.sampled_from(INTENSITIES)),
        emotion_target=draw(st.sampled_from([POSTER, target])),
        belief=draw(st.sampled_from(list(BELIEFS))),
        winner=winner,
        loser=loser,
        goal=draw(st.sampled_from(GOALS)),
        tone=draw(st.sampled_from(TONES)),
        structure=draw(st.sampled_from(STRUCTURES)),
    )
