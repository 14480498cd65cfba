"""The rubric: prompts per dimension, and the strict answer parser with its one repair pass."""

from __future__ import annotations

import json

import pytest

from personadrop.judges.base import DIMENSIONS
from personadrop.judges.rubric import (
    RUBRIC_VERSION,
    MalformedAnswer,
    answer_schema,
    build_prompt,
    parse_answer,
)

IDS = ("c1", "c2")


def answer(**overrides: object) -> dict:
    base = {
        "key_points": ["sides with OP", "blames the sister"],
        "judgements": [
            {"id": "c1", "ratings": [1, 0.5], "penalty": 0.25},
            {"id": "c2", "ratings": [0, 0], "penalty": 0},
        ],
    }
    return {**base, **overrides}


def test_scores_are_coverage_minus_penalty_clipped_to_the_unit_interval():
    scores = parse_answer(json.dumps(answer()), IDS)
    assert scores == {"c1": pytest.approx(0.75 - 0.25), "c2": 0.0}
    heavy = answer(
        judgements=[
            {"id": "c1", "ratings": [0.2, 0.2], "penalty": 1},
            {"id": "c2", "ratings": [1, 1], "penalty": 0},
        ]
    )
    assert parse_answer(json.dumps(heavy), IDS) == {"c1": 0.0, "c2": 1.0}


def test_one_repair_pass_fixes_fences_prose_and_trailing_commas():
    text = "Here is my grading:\n```json\n" + json.dumps(answer())[:-1] + ",}\n```"
    assert parse_answer(text, IDS)["c2"] == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        '{"key_points": ["a"], "judgements": [',  # truncated
        json.dumps(answer(judgements=[{"id": "c1", "ratings": [1, 1], "penalty": 0}])),  # c2 missing
        json.dumps(
            answer(judgements=[*answer()["judgements"], {"id": "c9", "ratings": [1, 1], "penalty": 0}])
        ),
        json.dumps(answer(judgements=[answer()["judgements"][0]] * 2)),  # c1 twice
        json.dumps(
            answer(
                judgements=[
                    {"id": "c1", "ratings": [1], "penalty": 0},  # one rating for two points
                    {"id": "c2", "ratings": [1, 1], "penalty": 0},
                ]
            )
        ),
        json.dumps(
            answer(
                judgements=[
                    {"id": "c1", "ratings": [7, 1], "penalty": 0},  # out of range
                    {"id": "c2", "ratings": [1, 1], "penalty": 0},
                ]
            )
        ),
        json.dumps(
            answer(
                judgements=[
                    {"id": "c1", "ratings": [True, 1], "penalty": 0},
                    {"id": "c2", "ratings": [1, 1], "penalty": 0},
                ]
            )
        ),
        json.dumps(
            answer(
                judgements=[
                    {"id": "c1", "ratings": [1, 1], "penalty": "none"},
                    {"id": "c2", "ratings": [1, 1], "penalty": 0},
                ]
            )
        ),
        json.dumps(answer(key_points=[])),
        json.dumps(answer(key_points=["a", "b", "c", "d"])),
        json.dumps([1, 2]),
    ],
)
def test_anything_but_a_complete_valid_answer_is_malformed(bad: str):
    with pytest.raises(MalformedAnswer):
        parse_answer(bad, IDS)


def test_each_dimension_has_its_own_prompt_and_candidates_keep_their_ids():
    systems = {d: build_prompt(d, "OP: my post", "NTA", ["one", "two"]).system for d in DIMENSIONS}
    assert len(set(systems.values())) == len(DIMENSIONS)
    p = build_prompt("stance", "OP: my post", "NTA", ["first", "second"], reference_state="agrees with OP")
    assert p.ids == ("c1", "c2")
    assert p.user.index('id="c1">\nfirst') < p.user.index('id="c2">\nsecond')
    assert "agrees with OP" in p.user and "OP: my post" in p.user and "NTA" in p.user
    # The recorded state is evidence for state dimensions only.
    assert (
        "agrees with OP"
        not in build_prompt("response", "c", "r", ["x"], reference_state="agrees with OP").user
    )


def test_very_long_threads_are_cut_in_the_middle():
    context = "START " + "blah " * 10_000 + " END"
    user = build_prompt("response", context, "NTA", ["x"]).user
    assert "START" in user and "END" in user and "characters left out" in user
    assert len(user) < 20_000


def rubric_fingerprint() -> str:
    """A hash of everything the judge is told: every dimension's prompt for fixed inputs, and the answer
    schema."""
    import hashlib

    texts = []
    for dim in DIMENSIONS:
        p = build_prompt(
            dim, "CONTEXT", "REFERENCE", ["GEN A", "GEN B"], "STATE" if dim != "response" else None
        )
        texts += [p.system, p.user]
    texts.append(json.dumps(answer_schema(), sort_keys=True))
    return hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]


def test_a_change_to_the_rubric_comes_with_a_new_version():
    # Cached judgements are keyed by RUBRIC_VERSION: a prompt change under the same version would replay
    # answers to another question. Change the prompt -> bump the version -> update this pair.
    assert (RUBRIC_VERSION, rubric_fingerprint()) == ("rubric-2", "2be3c517de6cd0b8")
    schema = answer_schema()
    assert schema["required"] == ["key_points", "judgements"] and schema["additionalProperties"] is False
