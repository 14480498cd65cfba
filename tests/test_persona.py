"""Persona parsing and rendering: HUMANUAL shapes in, the research layout out, bad input named."""

from __future__ import annotations

import copy
import json

import pytest

from personadrop.errors import PersonaError
from personadrop.persona import FIELD_NAMES, MAX_PERSONA_CHARS, Persona

from conftest import humanual_persona


def test_dict_and_json_string_parse_to_the_same_persona():
    raw = humanual_persona()
    assert Persona.from_raw(raw) == Persona.from_raw(json.dumps(raw))


def test_render_uses_the_humanual_layout_and_skips_unknown_demographics():
    text = Persona.from_raw(humanual_persona(statistics=[])).render()
    assert text.splitlines()[:4] == [
        "Demographics:",
        "  age group: 25-34",
        "  gender: female",
        "  occupation: nurse",
    ]
    assert "location" not in text and "NA" not in text  # "NA" and "" mean unknown
    assert "Interests:\n  gardening\n  true crime podcasts\n  board games" in text
    assert text.endswith("Statistics: Missing")


def test_all_unknown_demographics_render_as_missing():
    persona = Persona.from_raw(humanual_persona(demographics={k: "NA" for k in ("age group", "gender")}))
    assert persona.render().startswith("Demographics: Missing\nInterests:")


def test_missing_fields_are_standard_fields_and_can_be_omitted():
    persona = Persona.from_raw({"values": ["loyalty"]})
    assert persona.field_names == FIELD_NAMES
    assert persona.render(missing="omit") == "Values:\n  loyalty"
    assert persona.render().count(": Missing") == 4


def test_extra_fields_are_kept_in_order_after_the_standard_ones():
    raw = {"zeta": ["z1"], "values": ["v"], "alpha": {"k": "v"}, "notes": "likes cats"}
    persona = Persona.from_raw(raw)
    assert persona.field_names == (*FIELD_NAMES, "zeta", "alpha", "notes")
    assert persona.render().endswith("Zeta:\n  z1\nAlpha:\n  k: v\nNotes:\n  likes cats")


def test_field_names_are_case_insensitive_and_items_are_normalized():
    persona = Persona.from_raw({"Values": ["  honesty\n first\t "], "INTERESTS": ["", "chess"]})
    assert persona.field("values").items == ("honesty first",)
    assert persona.field("interests").items == ("chess",)


def test_plain_string_personas_stay_opaque():
    persona = Persona.from_raw("The user is a helpful person who asks follow-up questions.")
    assert persona.is_text and persona.fields == ()
    assert persona.render() == "The user is a helpful person who asks follow-up questions."
    assert persona.render(masks=(0,)) == "Persona: Missing"


def test_rendering_and_masking_never_mutate_input():
    raw = humanual_persona()
    before = copy.deepcopy(raw)
    persona = Persona.from_raw(raw)
    persona.render(masks=(0, 1, 0b101, 0, 1))
    persona.masked((0, 1, 0b101, 0, 1))
    assert raw == before
    assert persona == Persona.from_raw(before)


def test_masks_select_items_and_masked_persona_renders_the_same():
    persona = Persona.from_raw(humanual_persona())
    masks = (0, 0b010, 0b101, 0, 0b01)
    text = persona.render(masks)
    assert "true crime podcasts" in text and "gardening" not in text
    assert "honesty above all" in text and "family comes first" not in text and "fairness in chores" in text
    assert persona.masked(masks).render() == text


def test_to_dict_round_trips_through_the_parser():
    persona = Persona.from_raw(humanual_persona())
    again = Persona.from_raw(persona.to_json())
    assert again == persona
    assert persona.to_dict()["demographics"]["location"] == "NA"


# --------------------------------------------------------------------------- malformed input
BAD_PERSONAS = [
    (None, None, "missing"),
    (b'{"values": []}', None, "bytes"),
    (42, None, "got int"),
    (["honesty"], None, "got list"),
    ('{"values": ["a", }', None, "looks like JSON"),
    ("[1, 2, 3]", None, "must be an object"),
    ('{"values": "honesty"}', "values", "list of strings"),
    ({"values": [1, 2]}, "values", "item 0 is a int"),
    ({"values": [["nested"]]}, "values", "item 0 is a list"),
    ({"values": [{"k": "v"}]}, "values", "item 0 is a dict"),
    ({"interests": {"a": "b"}}, "interests", "list of strings"),
    ({"demographics": ["age 30"]}, "demographics", "dict"),
    ({"demographics": {"age group": ["25-34"]}}, "demographics", "expected text"),
    ({"demographics": {"age group": {"min": 25}}}, "demographics", "expected text"),
    ({"demographics": {"married": True}}, "demographics", "expected text"),
    ({"demographics": {3: "x"}}, "demographics", "keys must be strings"),
    ({1: ["x"]}, None, "field names must be strings"),
    ({"values": ["ok"], "Values": ["dup"]}, "values", "twice"),
    ({"": ["x"]}, "", "invalid field name"),
    ({"bad\x00name": ["x"]}, None, "invalid field name"),
    ({"values": ["null byte \x00 inside"]}, "values", "control characters"),
    ({"communication": ["bell \x07"]}, "communication", "control characters"),
    ("plain text with escape \x1b[31m", None, "control characters"),
    ({"values": ["x" * 5000]}, "values", "limit"),
    ({"values": ["x"] * 1000}, "values", "1000 items"),
    ("y" * (10 * 1024 * 1024), None, "characters; the limit"),
    ({f"f{i}": ["x" * 1500] * 200 for i in range(5)}, None, "longer than"),
    ({"hobbies": 7}, "hobbies", "a list, a dict or a string"),
    ({"statistics": [None]}, "statistics", "item 0 is a NoneType"),
]


@pytest.mark.parametrize(
    ("raw", "field", "needle"), BAD_PERSONAS, ids=[f"bad{i}" for i in range(len(BAD_PERSONAS))]
)
def test_malformed_persona_gives_one_clear_error(raw, field, needle):
    with pytest.raises(PersonaError) as info:
        Persona.from_raw(raw, example_id="ex-17")
    message = str(info.value)
    assert needle in message
    assert "example ex-17" in message
    assert "\n" not in message and len(message) < 300
    if field is not None:
        assert info.value.field == field and f"field '{field}'" in message


def test_error_size_limits_are_checked_before_parsing_huge_json():
    huge = '{"values": ["' + "a" * (MAX_PERSONA_CHARS + 1) + '"]}'
    with pytest.raises(PersonaError, match="limit"):
        Persona.from_raw(huge)


def test_null_fields_and_empty_strings_mean_empty():
    persona = Persona.from_raw({"values": None, "demographics": None, "interests": []})
    assert all(not f.items for f in persona.fields)
    assert Persona.from_raw("") == Persona.from_raw({})
