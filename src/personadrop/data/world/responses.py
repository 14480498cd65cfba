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
        "stance": ("Look, {verdict}. I {strength} side with {p1} over {p2}.",
                   "{verdict}, plain and simple. I {strength} side with {p1} over {p2}."),
        "emotion": ("I'm {intensity} {emotion} {prep} {et}, no lie.", "Straight up, I'm {intensity} {emotion} {prep} {et}."),
        "value": ("{winner} beats {loser}, period.", "{winner} comes before {loser}, end of story."),
        "belief": ("Fact is, {belief}.", "{belief}, plain fact."),
        "support": ("You have my support, period.",),
        "correct": ("You need to correct this, no excuses.",),
        "mock": ("Fact is, I'm here to mock this.",),
        "advise": ("My advice, plain and simple: talk it out.",),
        "question": ("Straight up, I question your choice.",),
        "reason": ("Because that is the bottom line.", "Because somebody had to say it, period."),
        "story": ("Straight up, I once lived this myself.", "I once dealt with the same mess, no lie."),
    },
    "warm": {
        "stance": ("{verdict}, friend. I {strength} side with {p1} over {p2}.",
                   "Oh dear, {verdict}. I {strength} side with {p1} over {p2}."),
        "emotion": ("Oh dear, I'm {intensity} {emotion} {prep} {et}.", "I feel {intensity} {emotion} {prep} {et}, friend."),
        "value": ("{winner} should come before {loser}, dear.", "To me, friend, {winner} matters more than {loser}."),
        "belief": ("Remember, dear, {belief}.", "I truly think {belief}, friend."),
        "support": ("Sending you support and hugs, friend.",),
        "correct": ("Gently, friend, please correct this.",),
        "mock": ("Sorry friend, I have to mock this a bit.",),
        "advise": ("My gentle advice, friend: talk it out.",),
        "question": ("Friend, I gently question this choice.",),
        "reason": ("Because you deserve peace, friend.", "Because I care about you, dear."),
        "story": ("Once, dear, I was in your shoes.", "I once went through this too, friend."),
    },
    "sarcastic": {
        "stance": ("{verdict}, shocking. I {strength} side with {p1} over {p2}.",
                   "Wow, {verdict}, obviously. I {strength} side with {p1} over {p2}, genius."),
        "emotion": ("Wow, I'm {intensity} {emotion} {prep} {et}.", "Color me {intensity} {emotion} {prep} {et}."),
        "value": ("Wow, {winner} over {loser}, shocking.", "Obviously {winner} beats {loser}, who knew."),
        "belief": ("Who knew, {belief}.", "Shocking news, {belief}."),
        "support": ("Wow, full support from me, shocking.",),
        "correct": ("Maybe correct this, genius.",),
        "mock": ("Wow, allow me to mock this masterpiece.",),
        "advise": ("Free advice, genius: talk it out.",),
        "question": ("Obviously I have to question this, genius.",),
        "reason": ("Because obviously nobody thought this through.", "Because, wow, this got out of hand."),
        "story": ("Wow, I once lived this exact drama.", "I once did the same thing, shocking."),
    },
    "formal": {
        "stance": ("{verdict}, in my view. I {strength} side with {p1} over {p2}.",
                   "Respectfully, {verdict}. I {strength} side with {p1} over {p2}."),
        "emotion": ("I am {intensity} {emotion} {prep} {et}, respectfully.", "I must say I am {intensity} {emotion} {prep} {et}."),
        "value": ("{winner} should outrank {loser}, in my view.", "In principle, {winner} takes precedence over {loser}."),
        "belief": ("In my view, {belief}.", "I would note that {belief}."),
        "support": ("Respectfully, you have my full support.",),
        "correct": ("I urge you to correct this.",),
        "mock": ("Respectfully, this invites mockery.",),
        "advise": ("I would advise an open conversation.",),
        "question": ("Respectfully, I must question this decision.",),
        "reason": ("Because, respectfully, the facts speak plainly.", "Because the circumstances, in my view, were clear."),
        "story": ("I once faced a similar matter, respectfully.", "I would note I once faced this myself."),
    },
}

#: Words that mark each tone; every template above carries at least one of its own tone and none of another's.
TONE_CUES: dict[str, tuple[str, ...]] = {
    "blunt": ("look,", "plain and simple", "straight up", "no lie", "period", "end of story", "fact is", "plain fact",
              "bottom line", "no excuses"),
    "warm": ("friend", "dear", "hugs", "gently", "gentle", "truly"),
    "sarcastic": ("wow", "genius", "shocking", "who knew", "obviously", "color me"),
    "formal": ("respectfully", "in my view", "i would", "in principle", "i urge", "i must", "precedence", "i am"),
}


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def realize_response(states: States, rng: random.Random | None = None) -> str:
    """The reply text of ``states``. Without ``rng``: the shortest wording (what the Bayes reference writes)."""
    bank = TEMPLATES[states.tone]

    def pick(kind: str) -> str:
        options = bank[kind]
        return rng.choice(options) if rng is not None else min(options, key=lambda t: (len(t.split()), t))

    you, them = "you", f"your {states.target}"
    p1, p2 = (you, them) if states.direction == "agree" else (them, you)
    adjective, prep = EMOTIONS[states.emotion]
    slots = {
        "verdict": VERDICTS[states.direction], "strength": states.strength, "p1": p1, "p2": p2,
        "intensity": INTENSITY_ADVERBS[states.intensity], "emotion": adjective, "prep": prep,
        "et": you if states.emotion_target == POSTER else f"your {states.emotion_target}",
        "winner": states.winner, "loser": states.loser, "belief": BELIEFS[states.belief],
    }
    middle = [pick("value"), pick("belief")]
    if rng is not None and rng.random() < 0.5:
        middle.reverse()
    parts = [pick("stance"), pick("emotion"), *middle, pick(states.goal)]
    if states.structure in ("reasoned", "storytelling"):
        reasons = 2 if rng is not None and states.structure == "reasoned" and rng.random() < 0.4 else 1
        parts.extend(rng.sample(bank["reason"], reasons) if rng is not None else [pick("reason")])
    if states.structure == "storytelling":
        parts.append(pick("story"))
    return " ".join(_cap(p.format(**slots)) for p in parts)
