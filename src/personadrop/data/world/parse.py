"""Read text of the world's language back into latent states: a whole reply, or one state phrase.

The parser spots slot words sentence by sentence, whatever the tone: a verdict or "side(s) with X over Y"
gives the stance, an emotion word with its intensity and the person after it gives the emotion, the first
and second value words give what comes first, and so on. It keeps every value it finds for a slot, so a
text that says two things at once (NTA and YTA) shows up as a contradiction rather than a silent choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from personadrop.data.world.responses import TONE_CUES
from personadrop.data.world.states import States
from personadrop.data.world.vocab import (
    BELIEFS,
    EMOTIONS,
    GOALS,
    INTENSITIES,
    INTENSITY_ADVERBS,
    POSTER,
    STRENGTHS,
    TARGETS,
    TONES,
    VALUES,
)

#: Slots of each judged dimension, in the order of :class:`States`.
DIMENSION_SLOTS: dict[str, tuple[str, ...]] = {
    "stance": ("direction", "strength", "target"),
    "emotion": ("emotion", "intensity", "emotion_target"),
    "belief": ("belief",),
    "value": ("winner", "loser"),
    "goal": ("goal",),
    "communication": ("tone", "structure"),
}
SLOTS: tuple[str, ...] = tuple(s for slots in DIMENSION_SLOTS.values() for s in slots)


@dataclass
class Reading:
    """What a text says: every value found per slot, plus counts the rubric's penalties need."""

    slots: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SLOTS})
    words: int = 0
    sentences: int = 0
    unsupported: int = 0  # sentences in which nothing of the world's language was found

    def get(self, slot: str) -> set[str]:
        return self.slots[slot]

    def single(self, slot: str) -> str | None:
        values = self.slots[slot]
        return next(iter(values)) if len(values) == 1 else None

    def contradictions(self, slots: tuple[str, ...] = SLOTS) -> int:
        return sum(len(self.slots[s]) > 1 for s in slots)

    def states(self) -> States | None:
        """The reading as one consistent set of states, or None when any slot is missing or contradicted."""
        values = {s: self.single(s) for s in SLOTS}
        if any(v is None for v in values.values()):
            return None
        return States(**values)  # type: ignore[arg-type]

    @classmethod
    def of(cls, states: States) -> Reading:
        """The reading a perfectly parsed text of ``states`` gives."""
        reading = cls()
        for s in SLOTS:
            reading.slots[s].add(getattr(states, s))
        return reading


def _words(options: list[str]) -> str:
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


_TAG = re.compile(r"</?[a-z_+]+>")
_SENTENCE = re.compile(r"[.!?;\n]+")
_VERDICT = re.compile(r"\b(nta|yta)\b")
_SIDE = re.compile(r"\bsides? with\b")
_PARTY = re.compile(r"\b(?:(?:your|the|my|her|his) ([a-z][a-z-]*)|you|op)\b")
_STRENGTH = re.compile(rf"\b({_words(list(STRENGTHS))})\b")
_INTENSITY_OF = {**{w: w for w in INTENSITIES}, **{adv: name for name, adv in INTENSITY_ADVERBS.items()}}
_INTENSITY = re.compile(rf"\b({_words(list(_INTENSITY_OF))})\b")
_EMOTION_OF = {**{e: e for e in EMOTIONS}, **{adj: e for e, (adj, _) in EMOTIONS.items()}}
_EMOTION = re.compile(rf"\b({_words(list(_EMOTION_OF))})\b")
_BELIEF_OF = {phrase: key for key, phrase in BELIEFS.items()}
_BELIEF = re.compile(_words(list(_BELIEF_OF)))
_VALUE = re.compile(rf"\b({_words(list(VALUES))})\b")
_GOAL_OF = {
    "support": "support",
    "correct": "correct",
    "mock": "mock",
    "mockery": "mock",
    "advise": "advise",
    "advice": "advise",
    "question": "question",
}
assert set(_GOAL_OF.values()) == set(GOALS)
_GOAL = re.compile(rf"\b({_words(list(_GOAL_OF))})\b")
_TONE_NAME = re.compile(rf"\b({_words(list(TONES))})\b")
_TONE_CUE = {
    tone: re.compile(rf"(?<![a-z])(?:{_words(list(cues))})(?![a-z])") for tone, cues in TONE_CUES.items()
}
_STRUCTURE_NAME = re.compile(r"with reasons and a story|with reasons|\bbrief\b")
_STRUCTURE_OF = {"with reasons and a story": "storytelling", "with reasons": "reasoned", "brief": "brief"}
_REASON = re.compile(r"\bbecause\b")
_STORY = re.compile(r"\bonce\b")
_TARGET_SET = frozenset(TARGETS)


def _parties(text: str) -> list[str]:
    """People mentioned in order: ``poster`` for the poster (you, OP), else a target noun."""
    out = []
    for m in _PARTY.finditer(text):
        noun = m.group(1)
        if noun is None or noun == "poster":
            out.append(POSTER)
        elif noun in _TARGET_SET:
            out.append(noun)
    return out


def parse_text(text: str) -> Reading:
    """Read a reply or a state phrase (tags like ``<stance>`` are ignored) into a :class:`Reading`."""
    reading = Reading(words=len(text.split()))
    slots = reading.slots
    explicit_structure: set[str] = set()
    reasons = stories = 0
    tone_cues: dict[str, int] = dict.fromkeys(TONES, 0)
    for raw in _SENTENCE.split(_TAG.sub(". ", text.lower())):
        sentence = raw.strip()
        if not re.search(r"[a-z]", sentence):
            continue
        reading.sentences += 1
        found = False
        verdicts = _VERDICT.findall(sentence)
        for v in verdicts:
            slots["direction"].add("agree" if v == "nta" else "disagree")
        side = _SIDE.search(sentence)
        if side:
            parties = _parties(sentence[side.end() :])
            if parties:
                slots["direction"].add("agree" if parties[0] == POSTER else "disagree")
            slots["target"].update(p for p in parties if p != POSTER)
        if verdicts or side:
            slots["strength"].update(_STRENGTH.findall(sentence))
            found = True
        for m in _EMOTION.finditer(sentence):
            found = True
            slots["emotion"].add(_EMOTION_OF[m.group(1)])
            slots["intensity"].update(_INTENSITY_OF[w] for w in _INTENSITY.findall(sentence))
            after = _parties(sentence[m.end() :])
            if after:
                slots["emotion_target"].add(after[0])
        for m in _BELIEF.finditer(sentence):
            found = True
            slots["belief"].add(_BELIEF_OF[m.group(0)])
        values = list(dict.fromkeys(_VALUE.findall(sentence)))
        if values:
            found = True
            slots["winner"].add(values[0])
            if len(values) > 1:
                slots["loser"].add(values[1])
        for m in _GOAL.finditer(sentence):
            found = True
            slots["goal"].add(_GOAL_OF[m.group(1)])
        names = _TONE_NAME.findall(sentence)
        if names:
            found = True
            slots["tone"].update(names)
        for tone, cue in _TONE_CUE.items():
            hits = len(cue.findall(sentence))
            tone_cues[tone] += hits
            found = found or hits > 0
        structure = _STRUCTURE_NAME.search(sentence)
        if structure:
            found = True
            explicit_structure.add(_STRUCTURE_OF[structure.group(0)])
        if _REASON.search(sentence):
            reasons += 1
            found = True
        if _STORY.search(sentence):
            stories += 1
            found = True
        if not found:
            reading.unsupported += 1
    if not slots["tone"]:
        slots["tone"].update(t for t, n in tone_cues.items() if n)
    if explicit_structure:
        slots["structure"].update(explicit_structure)
    elif stories:
        slots["structure"].add("storytelling")
    elif reasons:
        slots["structure"].add("reasoned")
    elif reading.sentences > reading.unsupported:
        slots["structure"].add("brief")
    return reading


def parse_states(text: str) -> States | None:
    """The states a world reply states, or None when it is not one consistent world reply."""
    return parse_text(text).states()
