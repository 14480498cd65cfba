"""Dropout policies: rates, determinism per key, fresh masks per epoch, condition names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personadrop.dropout import (
    DEFAULT_CONDITIONS,
    Compose,
    FieldDropout,
    ItemDropout,
    KeepOnly,
    MaskKey,
    NoPersona,
    parse_condition,
    parse_conditions,
)
from personadrop.errors import ConditionError
from personadrop.persona import FIELD_NAMES, Persona

N_KEYS = 10_000


@pytest.fixture(scope="module")
def persona() -> Persona:
    return Persona.from_raw(
        {
            "demographics": {"age group": "30s", "gender": "male", "location": "Leeds", "occupation": "chef"},
            "interests": [f"interest {i}" for i in range(8)],
            "values": [f"value {i}" for i in range(10)],
            "communication": [f"style {i}" for i in range(9)],
            "statistics": [f"stat {i}" for i in range(6)],
        }
    )


def hide_rates(policy, persona, n=N_KEYS, epoch=0):
    hidden = dict.fromkeys(persona.field_names, 0)
    for i in range(n):
        visible = policy(persona, MaskKey(7, f"ex{i}", epoch))
        for name in persona.field_names:
            hidden[name] += name not in visible.visible_fields
    return {k: v / n for k, v in hidden.items()}


def test_field_dropout_without_min_keep_hides_each_field_at_p(persona):
    for name, rate in hide_rates(FieldDropout(0.6, min_keep=0), persona).items():
        assert abs(rate - 0.6) < 0.02, name


def test_min_keep_lowers_the_rate_exactly_as_documented(persona):
    policy = FieldDropout(0.6, min_keep=1)
    expected = policy.expected_hide_rate(5)
    assert expected == pytest.approx(0.6 - 0.6**5 / 5)  # 0.584: one field restored when all five drew "hide"
    for name, rate in hide_rates(policy, persona).items():
        assert abs(rate - expected) < 0.02, name
        assert abs(rate - 0.6) < 0.02, name  # still within the tolerance of the target


def test_min_keep_is_never_violated(persona):
    for k in (1, 2, 3):
        policy = FieldDropout(0.9, min_keep=k)
        for i in range(2000):
            assert len(policy(persona, MaskKey(1, f"e{i}")).visible_fields) >= k


def test_per_field_probabilities_override_p(persona):
    rates = hide_rates(FieldDropout(0.5, min_keep=0, per_field={"values": 0.1, "statistics": 0.9}), persona)
    assert abs(rates["values"] - 0.1) < 0.02
    assert abs(rates["statistics"] - 0.9) < 0.02
    assert abs(rates["interests"] - 0.5) < 0.02


@pytest.mark.parametrize(
    ("p", "n_fields", "expected_hidden"), [(0.6, 5, 3), (0.5, 5, 3), (0.2, 5, 1), (0.6, 3, 2), (1.0, 5, 4)]
)
def test_fixed_count_hides_exactly_round_p_n(persona, p, n_fields, expected_hidden):
    sub = persona.masked(
        tuple((1 << len(f.items)) - 1 if i < n_fields else 0 for i, f in enumerate(persona.fields))
    )
    policy = FieldDropout(p, mode="fixed_count")  # min_keep=1 caps p=1.0 at n-1
    counts = {n_fields - len(policy(sub, MaskKey(0, f"e{i}")).visible_fields) for i in range(500)}
    assert counts == {expected_hidden}
    assert policy.expected_hide_rate(n_fields) == pytest.approx(expected_hidden / n_fields)


def test_fixed_count_spreads_over_fields(persona):
    for rate in hide_rates(FieldDropout(0.6, mode="fixed_count"), persona, n=3000).values():
        assert abs(rate - 0.6) < 0.03


def test_same_key_gives_identical_text_and_new_epoch_a_fresh_mask(persona):
    policy = FieldDropout(0.6)
    changed = 0
    for i in range(1000):
        a = policy(persona, MaskKey(3, f"ex{i}", 0))
        assert a.render() == policy(persona, MaskKey(3, f"ex{i}", 0)).render()
        changed += a.masks != policy(persona, MaskKey(3, f"ex{i}", 1)).masks
    # Two independent draws over 5 fields coincide with probability ~0.2; most must differ.
    assert changed > 700


def test_different_seed_or_example_changes_masks(persona):
    policy = FieldDropout(0.6)
    base = [policy(persona, MaskKey(0, f"ex{i}")).masks for i in range(300)]
    other_seed = [policy(persona, MaskKey(1, f"ex{i}")).masks for i in range(300)]
    assert sum(a != b for a, b in zip(base, other_seed, strict=True)) > 200
    assert len(set(base)) > 10  # examples of one user do not share one mask


def test_item_dropout_hides_about_p_of_items(persona):
    total = persona.item_count
    for p in (0.1, 0.5, 0.9):
        policy = ItemDropout(p)
        hidden = sum(
            total - sum(policy(persona, MaskKey(0, f"e{i}")).items_visible.values()) for i in range(2000)
        )
        assert abs(hidden / (2000 * total) - p) < 0.02


def test_item_dropout_sweep_is_nested(persona):
    for i in range(300):
        key = MaskKey(0, f"e{i}")
        low, high = ItemDropout(0.3)(persona, key).masks, ItemDropout(0.7)(persona, key).masks
        assert all(h & ~lo == 0 for lo, h in zip(low, high, strict=True))


def test_item_dropout_min_keep_items(persona):
    policy = ItemDropout(0.95, min_keep_items=2)
    for i in range(300):
        items = policy(persona, MaskKey(0, f"e{i}")).items_visible
        assert all(n >= 2 for n in items.values())


def test_only_values_shows_exactly_values_and_none_shows_nothing(persona):
    visible = parse_condition("only:values")(persona, MaskKey(0, "x"))
    assert visible.visible_fields == ("values",)
    assert visible.items_visible["values"] == 10
    text = visible.render()
    assert "value 9" in text and "interest" not in text and "Interests: Missing" in text
    nothing = parse_condition("none")(persona, MaskKey(0, "x"))
    assert nothing.visible_fields == ()
    assert all(line.endswith(": Missing") for line in nothing.render().splitlines())


def test_drop_and_compose(persona):
    visible = parse_condition("drop:demographics+values")(persona, MaskKey(0, "x"))
    assert visible.visible_fields == ("interests", "communication", "statistics")
    composed = parse_condition("only:values+communication,items:0.5")
    assert isinstance(composed, Compose)
    for i in range(50):
        v = composed(persona, MaskKey(0, f"e{i}"))
        assert set(v.visible_fields) <= {"values", "communication"}


def test_visibility_record_counts_fields_and_items(persona):
    record = KeepOnly(("values", "statistics"))(persona, MaskKey(0, "x")).visibility()
    assert record == {
        "fields": ["values", "statistics"],
        "items": {"demographics": 0, "interests": 0, "values": 10, "communication": 0, "statistics": 6},
    }


def test_empty_fields_are_not_counted_as_visible():
    sparse = Persona.from_raw({"values": ["a", "b"], "interests": []})
    v = FieldDropout(0.0)(sparse, MaskKey(0, "x"))
    assert v.visible_fields == ("values",)
    # min_keep only ever restores non-empty fields
    for i in range(200):
        assert FieldDropout(1.0, min_keep=1)(sparse, MaskKey(0, f"{i}")).visible_fields == ("values",)


def test_text_personas_pass_through_all_but_none():
    persona = Persona.from_raw("A fixed description shared by all users.")
    assert parse_condition("only:values")(persona, MaskKey(0, "x")).render() == persona.text
    assert FieldDropout(0.9)(persona, MaskKey(0, "x")).render() == persona.text
    assert NoPersona()(persona, MaskKey(0, "x")).visible_fields == ()


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "name",
    [
        *(c.name for c in DEFAULT_CONDITIONS),
        "drop:demographics",
        "fields:0.6",
        "fields:0.6/fixed",
        "only:values+communication",
        "only:values,items:0.5",
    ],
)
def test_condition_names_round_trip(name):
    policy = parse_condition(name)
    assert policy.name == name
    assert parse_condition(policy.name) == policy


def test_probability_names_are_canonical():
    assert parse_condition("items:0.90").name == "items:0.9"
    assert parse_condition("ITEMS:.5").name == "items:0.5"
    assert parse_conditions("full; none full items:0.9") == [
        parse_condition(n) for n in ("full", "none", "items:0.9")
    ]


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("everything", "valid forms"),
        ("only:Hob!bies", "fields are: demographics"),
        ("only:", "unknown field"),
        ("only:values+values", "named twice"),
        ("items:1.5", "probability"),
        ("items:abc", "probability"),
        ("fields:0.6/random", "probability"),
        ("items:0.5/fixed", "probability"),
        ("", "empty"),
    ],
)
def test_unknown_condition_names_list_valid_ones(name, needle):
    with pytest.raises(ConditionError, match=needle):
        parse_condition(name)


def test_extra_fields_can_be_allowed():
    assert parse_condition("only:hobbies", known_fields=(*FIELD_NAMES, "hobbies")).name == "only:hobbies"
    with pytest.raises(ConditionError, match="unknown field 'hobbies'"):
        parse_condition("only:hobbies", known_fields=FIELD_NAMES)


def test_a_field_of_the_datas_own_is_checked_against_the_data():
    """A name parses wherever it is well formed; the data it meets says whether the field exists."""
    from personadrop.dropout import check_fields

    policy = parse_condition("drop:values,only:background+politics")
    assert policy.named_fields == ("values", "background", "politics")
    check_fields([policy], (*FIELD_NAMES, "background", "politics"), "a survey")
    with pytest.raises(ConditionError, match="names field 'background', which the world does not have"):
        check_fields([policy], FIELD_NAMES, "the world")


# --------------------------------------------------------------------------- properties
field_items = st.lists(st.text(alphabet="abcdef xyz", min_size=1, max_size=8).filter(str.strip), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.fixed_dictionaries({name: field_items for name in FIELD_NAMES[1:]}),
    condition=st.sampled_from(
        [
            *(c.name for c in DEFAULT_CONDITIONS),
            "fields:0.6",
            "fields:0.3/fixed",
            "drop:values",
            "only:values,items:0.5",
        ]
    ),
    seed=st.integers(0, 2**31),
    example_id=st.text(max_size=12),
    epoch=st.integers(0, 50),
)
def test_policies_are_pure_and_only_narrow(fields, condition, seed, example_id, epoch):
    persona = Persona.from_fields(fields)
    snapshot = persona.render()
    policy = parse_condition(condition)
    key = MaskKey(seed, example_id, epoch)
    a, b = policy(persona, key), policy(persona, key)
    assert a == b and a.render() == b.render()
    assert all(m & ~full == 0 for m, full in zip(a.masks, persona.full_masks, strict=True))
    assert persona.render() == snapshot
    for line in a.render().splitlines():
        assert line.endswith(": Missing") or line.endswith(":") or line.startswith("  ")
