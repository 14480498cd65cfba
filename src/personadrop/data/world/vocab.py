"""The world's fixed vocabulary: hidden trait values and the words states are written with.

The language is part of the code version, not of a world's config: every world speaks it, so the exact
judge needs no arguments. Slot words are unique across slots (no emotion word is also a value word, no
intensity word is also a strength word), which is what lets the parser read any tone back.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- hidden traits
#: Moral values a post can pit against each other; each user has a priority level for every one.
VALUES: tuple[str, ...] = (
    "honesty",
    "loyalty",
    "fairness",
    "compassion",
    "autonomy",
    "family duty",
    "respect",
    "generosity",
)
LEVELS: tuple[str, ...] = ("low", "mid", "high")
TEMPERAMENTS: tuple[str, ...] = ("calm", "fiery", "anxious", "cheerful")
TONES: tuple[str, ...] = ("blunt", "warm", "sarcastic", "formal")
VERBOSITIES: tuple[str, ...] = ("terse", "moderate", "wordy")
LENIENCIES: tuple[str, ...] = ("harsh", "neutral", "lenient")
WORLDVIEWS: tuple[str, ...] = ("trusting", "cynical", "karmic", "pragmatic", "traditional")

#: Trait groups (what a signal-table column names) and the values each of their traits takes.
GROUP_VALUES: dict[str, tuple[str, ...]] = {
    "values": LEVELS,
    "temperament": TEMPERAMENTS,
    "tone": TONES,
    "verbosity": VERBOSITIES,
    "leniency": LENIENCIES,
    "worldview": WORLDVIEWS,
}
GROUPS: tuple[str, ...] = tuple(GROUP_VALUES)


def value_trait(value: str) -> str:
    """Trait name of a value's priority level: ``value:honesty``."""
    return f"value:{value}"


#: Every hidden trait, in a fixed order; the ``values`` group has one trait per moral value.
TRAITS: tuple[str, ...] = (*(value_trait(v) for v in VALUES), *GROUPS[1:])


def group_of(trait: str) -> str:
    return "values" if trait.startswith("value:") else trait


# --------------------------------------------------------------------------- latent state slots
DIRECTIONS: tuple[str, ...] = ("agree", "disagree")  # with the poster (NTA) or against (YTA)
VERDICTS: dict[str, str] = {"agree": "NTA", "disagree": "YTA"}
STRENGTHS: tuple[str, ...] = ("slightly", "firmly", "totally")
INTENSITIES: tuple[str, ...] = ("mild", "moderate", "intense")
#: How a reply says each intensity (state phrases use the adjective above).
INTENSITY_ADVERBS: dict[str, str] = {"mild": "a little", "moderate": "quite", "intense": "deeply"}

#: Emotion noun (state phrase) -> adjective and preposition (reply).
EMOTIONS: dict[str, tuple[str, str]] = {
    "sympathy": ("sympathetic", "toward"),
    "disappointment": ("disappointed", "in"),
    "anger": ("angry", "at"),
    "frustration": ("frustrated", "with"),
    "worry": ("worried", "about"),
    "sadness": ("sad", "for"),
    "pride": ("proud", "of"),
    "amusement": ("amused", "by"),
}
#: Emotions judged close to each other (partial credit): hostile, caring, light.
EMOTION_FAMILY: dict[str, str] = {
    "disappointment": "hostile",
    "anger": "hostile",
    "frustration": "hostile",
    "sympathy": "caring",
    "worry": "caring",
    "sadness": "caring",
    "pride": "light",
    "amusement": "light",
}
POSTER = "poster"  # emotion target meaning the poster (the other value is the post's target noun)

#: Worldview -> the belief sentence a user states.
BELIEFS: dict[str, str] = {
    "trusting": "most people mean well",
    "cynical": "people look out for themselves",
    "karmic": "what goes around comes around",
    "pragmatic": "results count more than intentions",
    "traditional": "blood is thicker than water",
}
GOALS: tuple[str, ...] = ("support", "correct", "mock", "advise", "question")
GOAL_FAMILY: dict[str, str] = {
    "support": "friendly",
    "advise": "friendly",
    "correct": "challenge",
    "question": "challenge",
    "mock": "mock",
}
#: Reply structure; a user's verbosity sets it, elaboration sentences realize it.
STRUCTURES: tuple[str, ...] = ("brief", "reasoned", "storytelling")
STRUCTURE_PHRASES: dict[str, str] = {
    "brief": "brief",
    "reasoned": "with reasons",
    "storytelling": "with reasons and a story",
}

#: People a post can be in conflict with; the stance and often the emotion are toward one of them.
TARGETS: tuple[str, ...] = (
    "sister",
    "brother",
    "mom",
    "dad",
    "landlord",
    "boss",
    "coworker",
    "roommate",
    "neighbor",
    "cousin",
    "aunt",
    "uncle",
    "girlfriend",
    "boyfriend",
    "husband",
    "wife",
    "stepdad",
    "stepmom",
    "grandma",
    "grandpa",
    "manager",
    "tenant",
    "classmate",
    "stepson",
)
