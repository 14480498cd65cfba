"""Small real stand-ins for a simulator and a judge, shared by evaluation and report tests."""

from __future__ import annotations

import hashlib
import math

from personadrop.judges.base import Judge
from personadrop.models.base import Simulator


class PersonaEcho(Simulator):
    """Replies with the verdict its visible Values field implies; records what it was shown."""

    def __init__(self, name: str, broken_every: int = 0):
        self.name = name
        self.seen: list[tuple[str, str, str]] = []
        self.broken_every = broken_every
        self.calls = 0

    def generate(self, items):
        out = []
        for item in items:
            self.calls += 1
            self.seen.append((item.example.id, item.visible.render(), item.task))
            verdict = "NTA honesty" if "honesty" in item.visible.render() else "YTA"
            if self.broken_every and self.calls % self.broken_every == 0:
                out.append("<stance>no reply tag</stance>")
            elif item.task == "states+response":
                out.append(f"<stance>x</stance><response>{verdict} {self.name}</response>")
            else:
                out.append(f"{verdict} {self.name}")
        return out


class PartialCopy(Simulator):
    """Copies a share of the real reply's words that grows with the visible persona and a skill level.

    Deterministic per (name, example, visible items): gives graded, persona-dependent scores.
    """

    def __init__(self, name: str, skill: float, robustness: float):
        self.name, self.skill, self.robustness = name, skill, robustness

    def generate(self, items):
        out = []
        for item in items:
            shown = sum(item.visible.items_visible.values()) / max(1, item.example.persona.item_count)
            share = self.skill * (self.robustness + (1 - self.robustness) * shown)
            words = item.example.response.split()
            kept = [w for i, w in enumerate(words) if _u(self.name, item.example.id, i, shown) < share]
            out.append(" ".join(kept) or "no idea")
        return out


def _u(*parts: object) -> float:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=4).digest(), "little") / 2**32


class OverlapJudge(Judge):
    """Token-overlap F1 with the real response; can fail on chosen example ids (NaN)."""

    name = "overlap"

    def __init__(self, fail_ids=()):
        super().__init__()
        self.fail_ids = set(fail_ids)
        self.judged: list[tuple[str, str, str]] = []  # (example id, dimension, generation)

    def score(self, requests):
        out = []
        for r in requests:
            self.usage.calls += 1
            ref = set(r.reference.lower().split())
            scores = []
            for g in r.generations:
                self.judged.append((r.example_id, r.dimension, g))
                if r.example_id in self.fail_ids:
                    self.usage.failures += 1
                    scores.append(math.nan)
                    continue
                gen = set(g.lower().split())
                both = len(ref & gen)
                scores.append(0.0 if not both else 2 * both / (len(ref) + len(gen)))
            out.append(scores)
        return out
