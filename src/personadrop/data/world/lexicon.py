"""Persona phrases: how each field talks about each hidden trait, and the way back from an item to a trait.

Every persona item is written from ONE trait (or is pure noise), so an item read in a prompt maps back to
exactly one (trait, shown value). Phrases differ by field: the Values field says "honesty above all",
Interests says "loves fact-checking", Statistics says "frequent word: honesty". A world's signal table
decides which fields carry which traits and how reliably; this module only holds the words.
"""

from __future__ import annotations

from collections.abc import Mapping

from personadrop.data.world.vocab import GROUP_VALUES, VALUES, group_of, value_trait

PERSONA_FIELDS: tuple[str, ...] = ("demographics", "interests", "values", "communication", "statistics")

#: Demographic key that carries each trait group (groups without a key cannot live in Demographics).
DEMOGRAPHIC_KEY: dict[str, str] = {
    "leniency": "age group",
    "tone": "occupation",
    "worldview": "location",
    "temperament": "other",
}
#: Keys that never carry a trait: pure noise.
DEMOGRAPHIC_NOISE: dict[str, tuple[str, ...]] = {
    "gender": ("male", "female", "nonbinary"),
    "nationality": ("American", "Canadian", "British", "Australian", "Irish", "Indian", "German"),
}

# Value priorities are written from per-field templates; {v} is the value, {topic} an interest tied to it.
VALUE_TOPICS: dict[str, tuple[str, str]] = {
    "honesty": ("fact-checking", "investigative journalism"),
    "loyalty": ("team sports", "veterans groups"),
    "fairness": ("debate club", "court dramas"),
    "compassion": ("animal rescue", "hospice volunteering"),
    "autonomy": ("solo travel", "van life"),
    "family duty": ("family reunions", "genealogy"),
    "respect": ("martial arts", "etiquette books"),
    "generosity": ("charity drives", "gift wrapping"),
}
_VALUE_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "interests": {
        "high": ("loves {topic}",),
        "mid": ("sometimes enjoys {topic}",),
        "low": ("bored by {topic}",),
    },
    "values": {
        "high": ("{v} above all", "deeply values {v}"),
        "mid": ("cares about {v}", "{v} in moderation"),
        "low": ("{v} is overrated", "doubts {v}"),
    },
    "communication": {
        "high": ("often cites {v}", "argues from {v}"),
        "mid": ("sometimes mentions {v}",),
        "low": ("rarely mentions {v}", "dismisses {v} arguments"),
    },
    "statistics": {
        "high": ("frequent word: {v}",),
        "mid": ("occasional word: {v}",),
        "low": ("never writes {v}",),
    },
}

# Other traits: field -> group -> value -> phrasings.
_BANKS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "demographics": {
        "leniency": {"harsh": ("55-64", "65+"), "neutral": ("35-44", "45-54"), "lenient": ("18-24", "25-34")},
        "tone": {
            "blunt": ("mechanic", "construction foreman"),
            "warm": ("nurse", "kindergarten teacher"),
            "sarcastic": ("bartender", "comedy writer"),
            "formal": ("lawyer", "accountant"),
        },
        "worldview": {
            "trusting": ("small town", "rural village"),
            "cynical": ("big city", "downtown apartment"),
            "karmic": ("coastal town", "island community"),
            "pragmatic": ("suburbs", "tech hub"),
            "traditional": ("family farm", "old neighborhood"),
        },
        "temperament": {
            "calm": ("meditates daily", "plays chess"),
            "fiery": ("boxing hobbyist", "plays rugby"),
            "anxious": ("lives with anxiety", "insomniac"),
            "cheerful": ("amateur clown", "party planner"),
        },
    },
    "interests": {
        "temperament": {
            "calm": ("yoga", "bird watching"),
            "fiery": ("boxing", "heavy metal"),
            "anxious": ("true crime", "disaster documentaries"),
            "cheerful": ("stand-up comedy", "karaoke"),
        },
        "tone": {
            "blunt": ("no-nonsense podcasts", "powerlifting"),
            "warm": ("baking for friends", "knitting"),
            "sarcastic": ("satire websites", "roast battles"),
            "formal": ("classical music", "opera"),
        },
        "verbosity": {
            "terse": ("haiku", "tweets"),
            "moderate": ("short stories", "magazines"),
            "wordy": ("long novels", "epic sagas"),
        },
        "leniency": {
            "harsh": ("crime dramas", "courtroom shows"),
            "neutral": ("documentaries", "debates"),
            "lenient": ("feel-good movies", "redemption stories"),
        },
        "worldview": {
            "trusting": ("community potlucks", "volunteer fairs"),
            "cynical": ("conspiracy documentaries", "political thrillers"),
            "karmic": ("astrology", "tarot"),
            "pragmatic": ("personal finance", "productivity blogs"),
            "traditional": ("church choir", "folk dancing"),
        },
    },
    "values": {
        "temperament": {
            "calm": ("inner peace", "keeping composure"),
            "fiery": ("passion", "fighting for causes"),
            "anxious": ("security", "avoiding risk"),
            "cheerful": ("joy", "humor"),
        },
        "tone": {
            "blunt": ("directness", "saying it straight"),
            "warm": ("kindness", "gentleness"),
            "sarcastic": ("wit", "irony"),
            "formal": ("decorum", "good manners"),
        },
        "verbosity": {
            "terse": ("brevity", "efficiency"),
            "moderate": ("balance", "clarity"),
            "wordy": ("storytelling", "thoroughness"),
        },
        "leniency": {
            "harsh": ("accountability", "consequences"),
            "neutral": ("hearing both sides", "open mind"),
            "lenient": ("forgiveness", "second chances"),
        },
        "worldview": {
            "trusting": ("believes most people mean well", "faith in people"),
            "cynical": ("trusts no one", "people look out for themselves"),
            "karmic": ("believes in karma", "what goes around comes around"),
            "pragmatic": ("results over intentions", "practical outcomes"),
            "traditional": ("blood is thicker than water", "old-fashioned values"),
        },
    },
    "communication": {
        "temperament": {
            "calm": ("stays calm", "even-tempered replies"),
            "fiery": ("gets heated quickly", "uses exclamation points"),
            "anxious": ("nervous hedging", "second-guesses often"),
            "cheerful": ("upbeat and playful", "cracks jokes"),
        },
        "tone": {
            "blunt": ("blunt and direct", "no sugarcoating"),
            "warm": ("warm and supportive", "gentle wording"),
            "sarcastic": ("heavy sarcasm", "dry wit"),
            "formal": ("formal wording", "polite and measured"),
        },
        "verbosity": {
            "terse": ("short replies", "gets to the point"),
            "moderate": ("explains briefly", "gives a reason or two"),
            "wordy": ("tells personal stories", "long explanations"),
        },
        "leniency": {
            "harsh": ("quick to judge", "calls people out"),
            "neutral": ("weighs both sides", "even-handed"),
            "lenient": ("gives the benefit of the doubt", "goes easy on people"),
        },
        "worldview": {
            "trusting": ("assumes good intent",),
            "cynical": ("suspects hidden motives",),
            "karmic": ("mentions karma often",),
            "pragmatic": ("focuses on outcomes",),
            "traditional": ("cites tradition",),
        },
    },
    "statistics": {
        "temperament": {
            "calm": ("rare exclamation marks",),
            "fiery": ("frequent exclamation marks", "many all-caps words"),
            "anxious": ("many question marks",),
            "cheerful": ("frequent laughing emoji",),
        },
        "tone": {
            "blunt": ("frequent words: look, period", "short sentences"),
            "warm": ("frequent words: friend, dear", "many heart emoji"),
            "sarcastic": ("frequent words: wow, genius", "many eye-roll emoji"),
            "formal": ("frequent word: respectfully", "long formal sentences"),
        },
        "verbosity": {
            "terse": ("average reply: 30 words", "one short paragraph"),
            "moderate": ("average reply: 40 words", "two short paragraphs"),
            "wordy": ("average reply: 50 words", "three paragraphs or more"),
        },
        "leniency": {
            "harsh": ("votes YTA 60% of the time", "often votes YTA"),
            "neutral": ("votes NTA half the time", "mixed verdicts"),
            "lenient": ("votes NTA 80% of the time", "rarely votes YTA"),
        },
        "worldview": {
            "trusting": ("frequent phrase: mean well",),
            "cynical": ("frequent phrase: look out",),
            "karmic": ("frequent word: karma",),
            "pragmatic": ("frequent word: results",),
            "traditional": ("frequent word: blood",),
        },
    },
}

#: Uninformative items mixed into each field (the same for every trait value).
NOISE_PHRASES: dict[str, tuple[str, ...]] = {
    "interests": (
        "cooking",
        "gardening",
        "video games",
        "hiking",
        "photography",
        "coffee",
        "board games",
        "travel",
        "cats",
        "dogs",
        "football",
        "podcasts",
        "reality tv",
        "running",
        "anime",
        "fishing",
    ),
    "values": (
        "hard work",
        "health",
        "education",
        "adventure",
        "creativity",
        "punctuality",
        "cleanliness",
        "ambition",
    ),
    "communication": (
        "uses emojis",
        "writes in lowercase",
        "uses abbreviations",
        "uses bullet points",
        "quotes the post",
        "addresses OP directly",
        "edits posts often",
    ),
    "statistics": (
        "posts mostly at night",
        "active since 2019",
        "comments on weekends",
        "about 20 comments a month",
        "uses few commas",
        "replies within an hour",
    ),
}


def supports(field: str, group: str) -> bool:
    """Whether the language can write ``group`` traits in ``field`` (the signal table may only use these)."""
    if field == "demographics":
        return group in DEMOGRAPHIC_KEY
    return (group == "values" and field in _VALUE_TEMPLATES) or group in _BANKS.get(field, {})


def phrasings(field: str, trait: str, value: str) -> tuple[str, ...]:
    """All ways ``field`` can write that ``trait`` has ``value`` (demographics: the value of its key)."""
    group = group_of(trait)
    if group == "values":
        moral = trait.split(":", 1)[1]
        templates = _VALUE_TEMPLATES[field][value]
        return (
            tuple(t.format(v=moral, topic=topic) for t in templates for topic in VALUE_TOPICS[moral])
            if field == "interests"
            else tuple(t.format(v=moral) for t in templates)
        )
    return _BANKS[field][group][value]


def item_text(field: str, trait: str, phrase: str) -> str:
    """The item as the persona renders it (demographics items are ``key: value``)."""
    return f"{DEMOGRAPHIC_KEY[group_of(trait)]}: {phrase}" if field == "demographics" else phrase


def _build_index() -> dict[str, dict[str, tuple[str, str] | None]]:
    index: dict[str, dict[str, tuple[str, str] | None]] = {f: {} for f in PERSONA_FIELDS}

    def add(field: str, text: str, meaning: tuple[str, str] | None) -> None:
        if text in index[field] and index[field][text] != meaning:
            raise AssertionError(f"persona phrase {text!r} in {field} is ambiguous")
        index[field][text] = meaning

    for field in PERSONA_FIELDS:
        for group, values in GROUP_VALUES.items():
            if not supports(field, group):
                continue
            traits = [value_trait(v) for v in VALUES] if group == "values" else [group]
            for trait in traits:
                for value in values:
                    for phrase in phrasings(field, trait, value):
                        add(field, item_text(field, trait, phrase), (trait, value))
        for phrase in NOISE_PHRASES.get(field, ()):
            add(field, phrase, None)
    for key, options in DEMOGRAPHIC_NOISE.items():
        for phrase in options:
            add("demographics", f"{key}: {phrase}", None)
    return index


#: field -> rendered item -> (trait, shown value), or None for a noise item.
ITEM_INDEX: Mapping[str, Mapping[str, tuple[str, str] | None]] = _build_index()


def read_item(field: str, text: str) -> tuple[str, str] | None:
    """The (trait, shown value) an item of ``field`` speaks about; None for noise or text not from the
    world."""
    return ITEM_INDEX.get(field, {}).get(text)
