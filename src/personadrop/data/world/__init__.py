"""The embedded synthetic persona world: users with known hidden traits, their personas, AITA-style posts,
true latent states and replies, written in HUMANUAL's processed schema.

Public API::

    config = world_config(seed=1, users=200)          # or load_world_config(path)
    world = generate_world(config)                     # pure, deterministic in the config
    write_world(world, "data/world")                   # train/val/test.jsonl, traits.jsonl, world.json
    model = load_world_model("data/world")             # posteriors and state laws (for the Bayes reference)
    reading = parse_text(reply)                        # the world's language read back into states
"""

from personadrop.data.world.config import SignalCell, StateNoise, WorldConfig, load_world_config, world_config
from personadrop.data.world.generate import World, WorldPost, WorldUser, generate_world
from personadrop.data.world.io import (
    generate_world_dir,
    is_world_dir,
    load_world_config_from_dir,
    load_world_model,
    world_counts,
    write_world,
)
from personadrop.data.world.model import StateLaw, WorldModel
from personadrop.data.world.parse import DIMENSION_SLOTS, Reading, parse_states, parse_text
from personadrop.data.world.posts import PostFacts, read_post
from personadrop.data.world.responses import realize_response
from personadrop.data.world.states import States

__all__ = [
    "DIMENSION_SLOTS",
    "PostFacts",
    "Reading",
    "SignalCell",
    "StateLaw",
    "StateNoise",
    "States",
    "World",
    "WorldConfig",
    "WorldModel",
    "WorldPost",
    "WorldUser",
    "generate_world",
    "generate_world_dir",
    "is_world_dir",
    "load_world_config",
    "load_world_config_from_dir",
    "load_world_model",
    "parse_states",
    "parse_text",
    "read_post",
    "realize_response",
    "world_config",
    "world_counts",
    "write_world",
]
