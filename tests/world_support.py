"""Worlds shared by the synthetic-world tests: the default one and one with another seed and signal table.

Generated once per test session (a default-size world takes well under a second).
"""

from __future__ import annotations

from functools import cache

from personadrop.data.world import World, WorldConfig, generate_world, world_config

#: A second world: another seed, and a signal table that moves the signals to other fields on purpose:
#: Communication is the strong field (tone, length, worldview, temperament), Interests and Statistics now
#: speak about values, the Values field is mediocre and Demographics is weak (no tone, no worldview).
ALT_SIGNAL = {
    "demographics": {"leniency": {"items": 1, "reliability": 0.4}, "temperament": {"items": 1, "reliability": 0.4}},
    "interests": {"values": {"items": 4, "reliability": 0.7}, "tone": {"items": 1, "reliability": 0.5}},
    "values": {"values": {"items": 3, "reliability": 0.5}, "temperament": {"items": 1, "reliability": 0.5},
               "leniency": {"items": 1, "reliability": 0.5}},
    "communication": {"tone": {"items": 2, "reliability": 0.85}, "verbosity": {"items": 2, "reliability": 0.8},
                      "worldview": {"items": 1, "reliability": 0.8}, "temperament": {"items": 1, "reliability": 0.7}},
    "statistics": {"values": {"items": 2, "reliability": 0.8}, "leniency": {"items": 1, "reliability": 0.6}},
}


def alt_config(**fields: object) -> WorldConfig:
    return WorldConfig.model_validate({
        "seed": 7,
        "signal": ALT_SIGNAL,
        "noise_items": {"interests": (1, 3), "values": (0, 2), "communication": (0, 2), "statistics": (1, 3)},
        "noise": {"stance_sigma": 0.6, "emotion": 0.15},
        **fields,
    })


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
