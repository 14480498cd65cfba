"""Helpers for the training tests: a small hand-made persona world and simple judges.

The world is tiny on purpose: each user's reply is fixed by three traits, each stated in one persona
field (Statistics: which side they take; Communication: their tone; Values: what they stress), so a
model that reads the persona can learn it in a few dozen steps, and hiding a field visibly costs score.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from pathlib import Path

from personadrop.data.example import Example, Turn
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.persona import Persona

_ACTS = [
    "skipping",
    "leaving",
    "missing",
    "cancelling",
    "refusing to pay for",
    "not inviting my cousin to",
    "forgetting",
    "laughing at",
    "selling",
    "keeping",
]
_THINGS = [
    "my sister's wedding",
    "the family dinner",
    "our trip",
    "my friend's party",
    "the group gift",
    "my brother's birthday",
    "the work lunch",
    "my neighbour's barbecue",
]
_VALUES = {
    "honesty": "being honest matters most",
    "family": "family should come first",
    "fairness": "everyone deserves a fair share",
}
_TONE = {"warm": "I get why you did it, but", "blunt": "Simple:"}
_LEAN = {
    "lenient": ("NTA", "agrees with the poster", "support the poster", "sympathy toward the poster"),
    "strict": ("YTA", "disagrees with the poster", "correct the poster", "annoyance at the poster"),
}


def _persona(lean: str, tone: str, value: str, rng: random.Random) -> Persona:
    return Persona.from_raw(
        {
            "demographics": {
                "age group": rng.choice(["18-24", "25-34", "35-44"]),
                "occupation": rng.choice(["nurse", "teacher", "driver"]),
            },
            "interests": rng.sample(["cooking", "hiking", "chess", "films", "music"], 2),
            "values": [f"{value} above all", "cares about " + _VALUES[value]],
            "communication": [f"{tone} tone", "short replies"],
            "statistics": [
                "usually sides with the poster" if lean == "lenient" else "usually blames the poster",
                "typical length: 12 words",
            ],
        }
    )


def make_examples(n_users: int = 12, n_posts: int = 16, seed: int = 0, per_user: int = 6) -> list[Example]:
    """Examples over ``n_users`` users and ``n_posts`` posts; each user answers ``per_user`` posts."""
    rng = random.Random(seed)
    posts = [
        f"AITA for {rng.choice(_ACTS)} {rng.choice(_THINGS)}? I had my reasons and now they are upset with "
        f"me."
        for _ in range(n_posts)
    ]
    out = []
    for u in range(n_users):
        lean, tone, value = (
            ("lenient", "strict")[u % 2],
            ("warm", "blunt")[(u // 2) % 2],
            list(_VALUES)[u % 3],
        )
        persona = _persona(lean, tone, value, rng)
        verdict, stance, goal, emotion = _LEAN[lean]
        for p in rng.sample(range(n_posts), per_user):
            reply = f"{verdict}. {_TONE[tone]} {_VALUES[value]}."
            states = {
                "stance": f"{stance} strongly",
                "emotion": emotion,
                "belief": "people should own their choices",
                "value": _VALUES[value],
                "goal": goal,
                "communication": f"{tone} and short",
            }
            out.append(
                Example(
                    id=f"u{u}-p{p}",
                    user_id=f"u{u}",
                    post_id=f"p{p}",
                    persona=persona,
                    context=(Turn(speaker="poster", content=posts[p]),),
                    response=reply,
                    states=states,
                )
            )
    return out


def split_examples(examples: Sequence[Example], test_every: int = 5) -> tuple[list[Example], list[Example]]:
    train = [e for i, e in enumerate(examples) if i % test_every]
    test = [e for i, e in enumerate(examples) if not i % test_every]
    return train, test


_WORD = re.compile(r"[a-z0-9']+")


def token_f1(a: str, b: str) -> float:
    x, y = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    if not x or not y:
        return 0.0
    common = sum(min(x.count(w), y.count(w)) for w in set(x))
    if common == 0:
        return 0.0
    p, r = common / len(x), common / len(y)
    return 2 * p * r / (p + r)


class OverlapJudge(Judge):
    """Token F1 against the real reply, or against the true state for a state dimension."""

    name = "overlap"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[JudgeRequest] = []

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        self.requests.extend(requests)
        self.usage.calls += len(requests)
        out = []
        for req in requests:
            ref = (
                req.reference if req.dimension == "response" else (req.reference_states or {})[req.dimension]
            )
            out.append([token_f1(g, ref) for g in req.generations])
        return out


class FlakyJudge(OverlapJudge):
    """Fails (NaN) on every ``every``-th generation it sees, like an API judge that gives up on some items."""

    name = "flaky"

    def __init__(self, every: int = 3) -> None:
        super().__init__()
        self.every = every
        self.seen = 0
        self.failed: list[tuple[str, str]] = []

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        scores = super().score(requests)
        for req, row in zip(requests, scores, strict=True):
            for j, generation in enumerate(req.generations):
                self.seen += 1
                if self.seen % self.every == 0:
                    row[j] = math.nan
                    self.failed.append((req.example_id, generation))
        return scores


# --------------------------------------------------------------------------- shared trained runs
# Training is the slow part of these tests; runs are built once per session and shared by the test files.
SFT_SETTINGS = {
    "sft": {"epochs": 10, "max_steps": 40, "lr": 3e-3, "batch_size": 16},
    "logging_steps": 2,
    "progress": False,
    "max_train_examples": None,
}
_RUNS: dict[str, object] = {}


def world() -> tuple[list[Example], list[Example]]:
    return split_examples(make_examples())


def sft_run(base: Path):
    """A quick SFT run on the hand-made world (trained once per session)."""
    from personadrop.train.variant import train_variant

    key = str(base / "sft")
    if key not in _RUNS:
        train, _ = world()
        _RUNS[key] = train_variant("sft", train, key, profile="quick", config=SFT_SETTINGS)
    return _RUNS[key]


def small_world_dir(base: Path) -> Path:
    """A small generated synthetic world (the real data path: HUMANUAL schema, true states, exact judge)."""
    from personadrop.data.world import generate_world, world_config, write_world

    path = base / "small-world"
    if not (path / "train.jsonl").exists():
        write_world(generate_world(world_config(seed=0, users=24, posts=60, responses_per_user=(3, 4))), path)
    return path
