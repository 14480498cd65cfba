"""Draw a whole world: users, posts, who answers what, the true states and replies, and the splits.

Pure: the same config (seed included) gives the same world, byte for byte once written. Independent
random streams (users, posts, assignment, each reply) keep a change in one part from reshuffling the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from personadrop.data.example import Example, Turn
from personadrop.data.world.config import WorldConfig
from personadrop.data.world.personas import Traits, sample_traits, write_persona
from personadrop.data.world.posts import (
    COMMENTER_NAME,
    PARENT_COMMENTS,
    POSTER_NAME,
    PostFacts,
    draw_facts,
    write_post,
)
from personadrop.data.world.responses import realize_response
from personadrop.data.world.states import States, sample_states
from personadrop.persona import Persona

SPLITS: tuple[str, ...] = ("train", "val", "test")
_EPOCH = 1_650_000_000  # first post's timestamp; posts are about three hours apart


@dataclass(frozen=True)
class WorldUser:
    user_id: str
    traits: Traits
    persona: dict
    unseen: bool  # never in the training split


@dataclass(frozen=True)
class WorldPost:
    post_id: str
    facts: PostFacts
    text: str
    timestamp: int
    split: str
    parent: str | None  # a parent comment the reply follows, in threads


@dataclass
class World:
    """A generated world: its config, users, posts and examples (with their true states)."""

    config: WorldConfig
    users: list[WorldUser]
    posts: list[WorldPost]
    examples: list[Example] = field(default_factory=list)
    true_states: dict[str, States] = field(default_factory=dict)

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]


def _rng(config: WorldConfig, *stream: object) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so streams are stable across runs and platforms.
    return random.Random(":".join(["personadrop-world", str(config.seed), *map(str, stream)]))


def _posts(config: WorldConfig) -> list[WorldPost]:
    rng = _rng(config, "posts")
    n = config.posts
    n_train = round(config.split[0] * n)
    n_val = round(config.split[1] * n)
    seen: set[str] = set()
    posts = []
    for j in range(n):
        for _ in range(1000):
            facts = draw_facts(rng)
            text = write_post(facts, rng)
            if text not in seen:
                break
        seen.add(text)
        split = "train" if j < n_train else "val" if j < n_train + n_val else "test"
        parent = rng.choice(PARENT_COMMENTS) if rng.random() < config.thread_share else None
        posts.append(
            WorldPost(f"p{j:05d}", facts, text, _EPOCH + 10_800 * j + rng.randrange(3_600), split, parent)
        )
    return posts


def _assign(config: WorldConfig, users: list[WorldUser], posts: list[WorldPost]) -> list[list[int]]:
    """Post indices each user answers: every post is used before any is used twice."""
    rng = _rng(config, "assign")
    wants = [rng.randint(*config.responses_per_user) for _ in users]
    order: list[int] = []
    while len(order) < sum(wants):
        block = list(range(len(posts)))
        rng.shuffle(block)
        order.extend(block)
    train = [j for j, p in enumerate(posts) if p.split == "train"]
    test = [j for j, p in enumerate(posts) if p.split == "test"]
    out, start = [], 0
    for user, k in zip(users, wants, strict=True):
        chosen: list[int] = []
        for j in order[start : start + k]:
            while j in chosen:  # a chunk that spans two shuffles may repeat a post
                j = rng.randrange(len(posts))
            chosen.append(j)
        start += k
        if not user.unseen and train and not any(posts[j].split == "train" for j in chosen):
            # A seen user must be seen: give them one training post.
            chosen[0] = rng.choice([j for j in train if j not in chosen])
        if user.unseen and not any(posts[j].split == "test" for j in chosen):
            # A held-out user exists to be tested: give them one test post.
            chosen[0] = rng.choice([j for j in test if j not in chosen])
        out.append(chosen)
    return out


def generate_world(config: WorldConfig) -> World:
    """Generate the world ``config`` describes (deterministic in ``config``, seed included)."""
    rng = _rng(config, "users")
    n_unseen = round(config.unseen_user_share * config.users)
    unseen = set(_rng(config, "unseen").sample(range(config.users), n_unseen))
    users = []
    for i in range(config.users):
        traits = sample_traits(config, rng)
        users.append(WorldUser(f"u{i:04d}", traits, write_persona(traits, config, rng), i in unseen))
    posts = _posts(config)
    world = World(config=config, users=users, posts=posts)
    for user, answered in zip(users, _assign(config, users, posts), strict=True):
        persona = Persona.from_raw(user.persona)
        for j in sorted(answered):
            post = posts[j]
            if user.unseen and post.split == "train":
                continue
            r = _rng(config, "reply", post.post_id, user.user_id)
            f = post.facts
            states = sample_states(user.traits, f.chosen, f.sacrificed, f.target, config.noise, r)
            context = [Turn(speaker=POSTER_NAME, content=post.text)]
            if post.parent is not None:
                context.append(Turn(speaker=COMMENTER_NAME, content=post.parent))
            example = Example(
                id=f"{post.post_id}/{user.user_id}",
                user_id=user.user_id,
                post_id=post.post_id,
                persona=persona,
                context=tuple(context),
                response=realize_response(states, r),
                timestamp=post.timestamp + 600 + r.randrange(86_400),
                metadata={"source": "personadrop-world"},
                states=states.phrases(),
                split=post.split,
                unseen_user=user.unseen,
            )
            world.examples.append(example)
            world.true_states[example.id] = states
    world.examples.sort(key=lambda e: (SPLITS.index(e.split or "train"), e.timestamp or 0, e.id))
    return world
