"""Replies: six latent states written as text in the user's tone, longer for wordier users.

Every reply realizes every state (stance, emotion, value, belief, goal; communication is the tone and the
structure themselves), so each dimension always has key points. Tone changes the carrier words around
the slot words; the slot words themselves (NTA, "firmly", "angry", "honesty", ...) are shared by all tones,
which is what keeps the reply readable back by :mod:`personadrop.data.world.parse`.
"""

from __future__ import annotations

import random

from personadrop.data.world.states import States
from personadrop.data.world.vocab import BELIEFS, EMOTIONS, INTENSITY_ADVERBS, POSTER, VERDICTS

# Slots: {verdict} {strength} {p1} {p2} | {intensity} {emotion} {prep} {et} | {winner} {loser} | {belief}.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "blunt": {
        "stance": (
            "Look, {verdict}. I {strength} side with {p1} over {p2}.",
            "{verdict}, period. I {strength} side with {p1} over {p2}.",
        ),
        "emotion": (
            "I'm {intensity} {emotion} {prep} {et}, no lie.",
            "Straight up, {intensity} {emotion} {prep} {et}.",
        ),
        "value": ("{winner} beats {loser}, period.", "{winner} first, {loser} second, period."),
        "belief": ("Fact is, {belief}.", "{belief}, plain fact."),
        "support": ("My support, period.",),
        "correct": ("Correct this, no excuses.",),
        "mock": ("Fact is, I mock this.",),
        "advise": ("My advice, period: talk it out.",),
        "question": ("Straight up, I question this.",),
        "reason": ("Because that is the bottom line.", "Because it is plain and simple."),
        "story": ("I once lived this, no lie.", "Straight up, I once did this."),
    },
    "warm": {
        "stance": (
            "{verdict}, friend. I {strength} side with {p1} over {p2}.",
            "Oh dear, {verdict}. I {strength} side with {p1} over {p2}.",
        ),
        "emotion": (
            "Oh dear, I'm {intensity} {emotion} {prep} {et}.",
            "I feel {intensity} {emotion} {prep} {et}, friend.",
        ),
        "value": (
            "{winner} should come before {loser}, dear.",
            "{winner} matters more than {loser}, friend.",
        ),
        "belief": ("Remember, dear, {belief}.", "I truly think {belief}."),
        "support": ("Sending you support, friend.",),
        "correct": ("Gently, please correct this.",),
        "mock": ("Sorry, friend, but I mock this.",),
        "advise": ("My gentle advice: talk it out.",),
        "question": ("Friend, I gently question this.",),
        "reason": ("Because you deserve peace, friend.", "Because I care, dear."),
        "story": ("Once, dear, I was you.", "I once felt this too, friend."),
    },
    "sarcastic": {
        "stance": (
            "{verdict}, shocking. I {strength} side with {p1} over {p2}.",
            "Wow, {verdict}, obviously. I {strength} side with {p1} over {p2}.",
        ),
        "emotion": (
            "Wow, I'm {intensity} {emotion} {prep} {et}.",
            "Color me {intensity} {emotion} {prep} {et}.",
        ),
        "value": ("Obviously {winner} beats {loser}.", "Wow, {winner} over {loser}, shocking."),
        "belief": ("Who knew, {belief}.", "Shocking news: {belief}."),
        "support": ("Wow, full support, shocking.",),
        "correct": ("Maybe correct this, genius.",),
        "mock": ("Wow, allow me to mock this.",),
        "advise": ("Free advice, genius: talk it out.",),
        "question": ("Obviously I question this, genius.",),
        "reason": ("Because nobody thought, obviously.", "Because, wow, what a mess."),
        "story": ("Wow, I once lived this.", "I once did this, shocking."),
    },
    "formal": {
        "stance": (
            "Respectfully, {verdict}. I {strength} side with {p1} over {p2}.",
            "{verdict}, respectfully. I {strength} side with {p1} over {p2}.",
        ),
        "emotion": (
            "I am {intensity} {emotion} {prep} {et}.",
            "Respectfully, I am {intensity} {emotion} {prep} {et}.",
        ),
        "value": (
            "{winner} should outrank {loser}, in my view.",
            "In principle, {winner} takes precedence over {loser}.",
        ),
        "belief": ("In my view, {belief}.", "I would note that {belief}."),
        "support": ("Respectfully, full support.",),
        "correct": ("I urge you to correct this.",),
        "mock": ("Respectfully, this invites mockery.",),
        "advise": ("I would advise a conversation.",),
        "question": ("Respectfully, I must question this.",),
        "reason": ("Because, respectfully, the facts are clear.", "Because, in principle, it is clear."),
        "story": ("I once faced this, respectfully.", "I would note I once faced this."),
    },
}

#: Words that mark each tone; every template above carries at least one of its own tone and none of another's.
TONE_CUES: dict[str, tuple[str, ...]] = {
    "blunt": (
        "look,",
        "plain and simple",
        "straight up",
        "no lie",
        "period",
        "end of story",
        "fact is",
        "plain fact",
        "bottom line",
        "no excuses",
    ),
    "warm": ("friend", "dear", "hugs", "gently", "gentle", "truly"),
    "sarcastic": ("wow", "genius", "shocking", "who knew", "obviously", "color me"),
    "formal": (
        "respectfully",
        "in my view",
        "i would",
        "in principle",
        "i urge",
        "i must",
        "precedence",
        "i am",
    ),
}


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def realize_response(states: States, rng: random.Random | None = None) -> str:
    """The reply text of ``states``. Without ``rng``: the shortest wording (what the Bayes reference
    writes)."""
    bank = TEMPLATES[states.tone]

    def pick(kind: str) -> str:
        options = bank[kind]
        return rng.choice(options) if rng is not None else min(options, key=lambda t: (len(t.split()), t))

    you, them = "you", f"your {states.target}"
    p1, p2 = (you, them) if states.direction == "agree" else (them, you)
    adjective, prep = EMOTIONS[states.emotion]
    slots = {
        "verdict": VERDICTS[states.direction],
        "strength": states.strength,
        "p1": p1,
        "p2": p2,
        "intensity": INTENSITY_ADVERBS[states.intensity],
        "emotion": adjective,
        "prep": prep,
        "et": you if states.emotion_target == POSTER else f"your {states.emotion_target}",
        "winner": states.winner,
        "loser": states.loser,
        "belief": BELIEFS[states.belief],
    }
    middle = [pick("value"), pick("belief")]
    if rng is not None and rng.random() < 0.5:
        middle.reverse()
    parts = [pick("stance"), pick("emotion"), *middle, pick(states.goal)]
    if states.structure in ("reasoned", "storytelling"):
        parts.append(pick("reason"))
    if states.structure == "storytelling":
        parts.append(pick("story"))
    return " ".join(_cap(p.format(**slots)) for p in parts)
