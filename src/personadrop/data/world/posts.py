"""AITA-style posts: the poster chose one value over another, against a named person.

A post is written from a few interchangeable sentence banks, so surface text varies while what matters
(the chosen value, the sacrificed value, the target) is stated by phrases unique to each value. The same
banks read a post back (:func:`read_post`), which is how the Bayes reference learns what a thread is about.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from personadrop.data.world.vocab import TARGETS, VALUES

#: What the poster did, by the value it served (the title's "AITA for ...?").
ACTS: dict[str, tuple[str, ...]] = {
    "honesty": ("telling the truth", "refusing to lie", "coming clean"),
    "loyalty": ("standing by a friend", "keeping a promise", "covering for a friend"),
    "fairness": ("splitting things evenly", "refusing special treatment", "following the rules for everyone"),
    "compassion": ("helping someone in need", "taking in a stray dog", "forgiving a mistake"),
    "autonomy": ("making my own choice", "moving out on my own", "refusing to be told what to do"),
    "family duty": ("putting family first", "caring for my parents", "attending a family event"),
    "respect": ("demanding respect", "calling out rudeness", "refusing to be disrespected"),
    "generosity": ("giving away my savings", "paying for everyone", "lending money"),
}
#: The same value as an intention ("I chose to ...").
AIMS: dict[str, tuple[str, ...]] = {
    "honesty": ("be honest", "tell the whole truth"),
    "loyalty": ("stay loyal", "keep my word to a friend"),
    "fairness": ("be fair", "treat everyone the same"),
    "compassion": ("be compassionate", "help someone hurting"),
    "autonomy": ("decide for myself", "live my own life"),
    "family duty": ("do my duty to family", "show up for my family"),
    "respect": ("insist on respect", "stand up for myself"),
    "generosity": ("be generous", "give without counting"),
}
#: What giving up a value cost ("even though it meant ...").
COSTS: dict[str, tuple[str, ...]] = {
    "honesty": ("bending the truth", "keeping up a lie"),
    "loyalty": ("letting a friend down", "breaking a promise"),
    "fairness": ("playing favorites", "bending the rules"),
    "compassion": ("being cold to someone hurting", "ignoring someone in pain"),
    "autonomy": ("giving up my own plans", "doing what I was told"),
    "family duty": ("skipping a family obligation", "letting my family down"),
    "respect": ("swallowing an insult", "being rude"),
    "generosity": ("keeping money to myself", "refusing to share"),
}
_SETUPS = (
    "My {t} and I have always been close.",
    "I ({age}{sex}) have known my {t} for years.",
    "My {t} and I share a lot of history.",
    "I ({age}{sex}) usually get along with my {t}.",
)
_EVENTS = (
    "Last week my {t} asked me for a big favor.",
    "A few days ago something came up with my {t}.",
    "Recently my {t} put me in a tough spot.",
    "Over the holidays my {t} and I had a falling out.",
)
_CHOICES = (
    "I chose to {aim} even though it meant {cost}.",
    "I decided to {aim}, which meant {cost}.",
    "In the end I chose to {aim} instead of {cost}.",
)
_PLAIN = ("To me it was {a} against {b}.", "It came down to {a} versus {b}.")
_REACTIONS = (
    "Now my {t} is furious with me.",
    "Now my {t} won't speak to me.",
    "Now my {t} says I ruined everything.",
    "Now my {t} calls me selfish.",
)
_EXTRAS = (
    "For context, this has been building for a while.",
    "Some background: we live in the same town.",
    "Money has been tight for both of us.",
    "People around me are split on it.",
    "I have thought about it for days.",
)
_CLOSERS = ("So, AITA?", "Was I wrong here?", "Judgment please.", "Did I mess up?")
#: Parent comments of threads: someone else's quick verdict, which the simulated user does not depend on.
PARENT_COMMENTS = (
    "NTA, you did what you had to do.",
    "YTA, you should have talked to them first.",
    "ESH, both sides handled this badly.",
    "NAH, this is just a hard situation.",
    "Info: did you explain your reasons first?",
)
POSTER_NAME = "Poster"
COMMENTER_NAME = "Commenter"


@dataclass(frozen=True)
class PostFacts:
    """What a post is about: the value the poster put first, the one given up, and the other party."""

    chosen: str
    sacrificed: str
    target: str


def write_post(facts: PostFacts, rng: random.Random) -> str:
    """One post text for ``facts`` (40-90 words), with randomly chosen sentences."""
    t = facts.target
    fill = {"t": t, "age": rng.randint(19, 58), "sex": rng.choice("MF")}
    parts = [
        f"AITA for {rng.choice(ACTS[facts.chosen])}?",
        rng.choice(_SETUPS).format(**fill),
        rng.choice(_EVENTS).format(**fill),
    ]
    extras = rng.sample(_EXTRAS, rng.randint(0, 2))
    if extras:
        parts.append(extras[0])
    parts.append(
        rng.choice(_CHOICES).format(
            aim=rng.choice(AIMS[facts.chosen]), cost=rng.choice(COSTS[facts.sacrificed])
        )
    )
    if rng.random() < 0.5:
        parts.append(rng.choice(_PLAIN).format(a=facts.chosen, b=facts.sacrificed))
    parts.extend(extras[1:])
    parts.append(rng.choice(_REACTIONS).format(**fill))
    parts.append(rng.choice(_CLOSERS))
    return " ".join(parts)


def draw_facts(rng: random.Random) -> PostFacts:
    chosen, sacrificed = rng.sample(VALUES, 2)
    return PostFacts(chosen=chosen, sacrificed=sacrificed, target=rng.choice(TARGETS))


def _index(bank: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value, phrases in bank.items():
        for phrase in phrases:
            if phrase in out:
                raise AssertionError(f"post phrase {phrase!r} names two values")
            out[phrase.lower()] = value
    return out


def _alternation(phrases: dict[str, str]) -> re.Pattern[str]:
    # Longest first, so a phrase is never cut short by a shorter one it starts with.
    return re.compile("|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)))


_CHOSEN_BY = _index(ACTS) | _index(AIMS)
_SACRIFICED_BY = _index(COSTS)
_CHOSEN_RE = _alternation(_CHOSEN_BY)
_SACRIFICED_RE = _alternation(_SACRIFICED_BY)
_TARGET_RE = re.compile(r"\bmy ([a-z][a-z-]*)")
_TARGETS = frozenset(TARGETS)


def read_post(text: str) -> PostFacts | None:
    """The facts a world post states; None when the text is not a world post."""
    low = text.lower()
    chosen = _CHOSEN_RE.search(low)
    sacrificed = _SACRIFICED_RE.search(low)
    target = next((m.group(1) for m in _TARGET_RE.finditer(low) if m.group(1) in _TARGETS), None)
    if chosen is None or sacrificed is None or target is None:
        return None
    a, b = _CHOSEN_BY[chosen.group(0)], _SACRIFICED_BY[sacrificed.group(0)]
    return PostFacts(a, b, target) if a != b else None
