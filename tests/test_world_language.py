"""The world's language: replies and state phrases read back into exactly the states they were written
from."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personadrop.data.world import States, parse_states, parse_text, read_post, realize_response
from personadrop.data.world.lexicon import ITEM_INDEX, PERSONA_FIELDS, phrasings, supports
from personadrop.data.world.parse import DIMENSION_SLOTS
from personadrop.data.world.responses import TEMPLATES, TONE_CUES
from personadrop.data.world.vocab import (
    GOALS,
    GROUP_VALUES,
    VALUES,
    value_trait,
)

from world_support import WORLDS, any_states


@settings(max_examples=300, deadline=None)
@given(any_states(), st.integers(0, 2**32 - 1))
def test_any_reply_in_any_tone_reads_back_to_its_states(states: States, seed: int) -> None:
    assert parse_states(realize_response(states, random.Random(seed))) == states
    assert parse_states(realize_response(states)) == states  # the shortest wording too


@settings(max_examples=200, deadline=None)
@given(any_states())
def test_each_state_phrase_reads_back_along_its_dimension(states: States) -> None:
    for dim, phrase in states.phrases().items():
        reading = parse_text(phrase)
        for slot in DIMENSION_SLOTS[dim]:
            assert reading.get(slot) == {getattr(states, slot)}, (dim, phrase, slot)
        assert len(phrase.split()) <= 15  # HumanLM's state length
        assert reading.unsupported == 0
    tagged = "".join(f"<{d}>{p}</{d}>" for d, p in states.phrases().items())
    assert parse_states(tagged) == states  # tags are ignored


@pytest.mark.parametrize("world", list(WORLDS))
def test_parser_reads_back_true_replies_and_posts(world: str) -> None:
    w = WORLDS[world]()
    read = sum(parse_states(e.response) == w.true_states[e.id] for e in w.examples)
    assert read / len(w.examples) >= 0.99
    for post in w.posts:
        assert read_post(post.text) == post.facts


def test_every_template_carries_its_own_tone_and_no_other() -> None:
    for tone, bank in TEMPLATES.items():
        for kind, templates in bank.items():
            for template in templates:
                low = template.lower()
                hits = {
                    t
                    for t, cues in TONE_CUES.items()
                    if any(re.search(rf"(?<![a-z]){re.escape(c)}(?![a-z])", low) for c in cues)
                }
                assert hits == {tone}, (tone, kind, template, hits)


def test_goals_and_structures_have_a_wording_in_every_tone() -> None:
    for bank in TEMPLATES.values():
        assert set(GOALS) <= set(bank)
        assert {"stance", "emotion", "value", "belief", "reason", "story"} <= set(bank)


def test_persona_phrases_map_to_one_meaning_and_cover_every_supported_cell() -> None:
    for field in PERSONA_FIELDS:
        for group, values in GROUP_VALUES.items():
            if not supports(field, group):
                continue
            traits = [value_trait(v) for v in VALUES] if group == "values" else [group]
            for trait in traits:
                for value in values:
                    options = phrasings(field, trait, value)
                    assert options
                    for phrase in options:
                        text = f"x: {phrase}" if field == "demographics" else phrase
                        if field != "demographics":
                            assert ITEM_INDEX[field][text] == (trait, value)
                            assert 1 <= len(phrase.split()) <= 6


def test_text_outside_the_world_reads_as_nothing(aita_posts: dict[str, dict[str, str]]) -> None:
    for post in list(aita_posts.values())[:20]:
        reading = parse_text(post["post"])
        assert reading.states() is None
    assert parse_states("") is None
