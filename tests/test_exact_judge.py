"""The exact judge: the rubric on world text, from true states and parsed generations."""

from __future__ import annotations

import math
import random
from statistics import mean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personadrop.data.example import Example
from personadrop.data.world import States, realize_response
from personadrop.data.world.vocab import (
    BELIEFS,
    EMOTION_FAMILY,
    EMOTIONS,
    GOAL_FAMILY,
    GOALS,
    INTENSITIES,
    POSTER,
    STRENGTHS,
    STRUCTURES,
    TARGETS,
    TONES,
    VALUES,
)
from personadrop.judges import make_judge
from personadrop.judges.base import DIMENSIONS, JudgeRequest
from personadrop.judges.exact import ExactJudge

from world_support import WORLDS, any_states

JUDGE = ExactJudge()


def _request(
    e: Example, generations: list[str], dimension: str = "response", with_states: bool = True
) -> JudgeRequest:
    return JudgeRequest(
        e.id, e.context_text(), e.response, tuple(generations), dimension, e.states if with_states else None
    )


def _score(e: Example, generation: str, dimension: str = "response", with_states: bool = True) -> float:
    return JUDGE.score([_request(e, [generation], dimension, with_states)])[0][0]


@pytest.mark.parametrize("world", list(WORLDS))
def test_true_reply_scores_high_same_post_in_between_other_posts_low(world: str) -> None:
    w = WORLDS[world]()
    rng = random.Random(0)
    by_post: dict[str, list[Example]] = {}
    for e in w.examples:
        by_post.setdefault(e.post_id, []).append(e)
    true, same, other = [], [], []
    for e in w.split("test"):
        true.append(_score(e, e.response))
        peers = [x for x in by_post[e.post_id] if x.user_id != e.user_id]
        if peers:
            same.append(_score(e, rng.choice(peers).response))
        stranger = rng.choice(w.examples)
        while stranger.post_id == e.post_id or stranger.user_id == e.user_id:
            stranger = rng.choice(w.examples)
        other.append(_score(e, stranger.response))
    assert mean(true) >= 0.95
    assert mean(other) <= 0.3
    assert mean(other) < mean(same) < mean(true)
    assert len(same) > 100


def _corrupt(states: States, slot: str, rng: random.Random) -> States:
    """The same states with ``slot`` made wrong in a way that costs a key point."""
    value = getattr(states, slot)
    if slot == "target":
        new_target = rng.choice([t for t in TARGETS if t != value])
        toward = POSTER if states.emotion_target == POSTER else new_target
        return states.replace(target=new_target, emotion_target=toward)
    if slot == "emotion_target":
        return states.replace(emotion_target=states.target if value == POSTER else POSTER)
    if slot == "emotion":
        choices = [e for e in EMOTIONS if EMOTION_FAMILY[e] != EMOTION_FAMILY[value]]
    elif slot == "goal":
        choices = [g for g in GOALS if GOAL_FAMILY[g] != GOAL_FAMILY[value]]
    elif slot in ("winner", "loser"):
        choices = [v for v in VALUES if v not in (states.winner, states.loser)]
    else:
        choices = {
            "direction": ["agree", "disagree"],
            "strength": list(STRENGTHS),
            "intensity": list(INTENSITIES),
            "belief": list(BELIEFS),
            "tone": list(TONES),
            "structure": list(STRUCTURES),
        }[slot]
    return states.replace(**{slot: rng.choice([c for c in choices if c != value])})


CORRUPTIBLE = (
    "direction",
    "strength",
    "target",
    "emotion",
    "intensity",
    "emotion_target",
    "belief",
    "winner",
    "loser",
    "goal",
    "tone",
    "structure",
)


@settings(max_examples=150, deadline=None)
@given(any_states(), st.permutations(CORRUPTIBLE), st.integers(0, 2**16))
def test_score_falls_monotonically_as_key_points_are_corrupted(
    states: States, order: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    truth_text = realize_response(states, random.Random(seed))
    e = Example(
        id="x",
        user_id="u",
        post_id="p",
        persona={},
        context=({"speaker": "Poster", "content": "post"},),
        response=truth_text,
        states=states.phrases(),
    )
    scores = [_score(e, truth_text)]
    current = states
    for slot in order:
        current = _corrupt(current, slot, rng)
        scores.append(_score(e, realize_response(current, random.Random(seed))))
        assert scores[-1] <= scores[-2] + 1e-9, (slot, scores)
    assert scores[0] >= 0.95
    assert scores[-1] <= 0.1


def test_each_corrupted_key_point_costs_something() -> None:
    w = WORLDS["default"]()
    rng = random.Random(1)
    for e in w.split("test")[:60]:
        truth = w.true_states[e.id]
        for slot in (
            "strength",
            "target",
            "intensity",
            "emotion_target",
            "belief",
            "winner",
            "loser",
            "goal",
            "tone",
            "structure",
        ):
            wrong = realize_response(_corrupt(truth, slot, rng))
            assert _score(e, wrong) < _score(e, realize_response(truth)), slot


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_whole_replies_and_single_state_phrases_both_parse_along_every_dimension(dimension: str) -> None:
    w = WORLDS["alt"]()
    for e in w.split("test")[:50]:
        assert _score(e, e.response, dimension) == 1.0
        assert _score(e, e.response, dimension, with_states=False) == 1.0
        if dimension != "response":
            assert _score(e, e.states[dimension], dimension) == 1.0
            assert _score(e, f"<{dimension}>{e.states[dimension]}</{dimension}>", dimension) == 1.0
            # A phrase of another dimension says nothing about this one.
            other = next(d for d in e.states if d != dimension)
            assert _score(e, e.states[other], dimension) < 1.0


def test_penalties_for_contradiction_unsupported_content_and_length() -> None:
    w = WORLDS["default"]()
    for e in w.split("test")[:40]:
        base = _score(e, e.response)
        verdict = "YTA." if "NTA" in e.response else "NTA."
        assert _score(e, e.response + " " + verdict) <= base - 0.2
        assert _score(e, e.response + " Purple bananas dance. Tables sing loudly.") <= base - 0.2 + 1e-9
        assert _score(e, " ".join([e.response] * 3)) <= base - 0.4
        assert _score(e, "") == 0.0


def test_scores_stay_in_the_unit_interval_for_arbitrary_text() -> None:
    w = WORLDS["default"]()
    e = w.split("test")[0]
    rng = random.Random(3)
    words = " ".join(x.response for x in w.examples[:50]).split()
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 120)))
        for dim in DIMENSIONS:
            s = _score(e, text, dim)
            assert 0.0 <= s <= 1.0


def test_text_that_is_not_world_data_gets_nan_and_counts_as_failure(
    aita_posts: dict[str, dict[str, str]],
) -> None:
    judge = ExactJudge()
    post = next(iter(aita_posts.values()))["post"]
    request = JudgeRequest("r", post, "NTA, your house your rules.", ("whatever", "NTA"), "response")
    scores = judge.score([request])[0]
    assert all(math.isnan(s) for s in scores)
    assert judge.usage.failures == 2 and judge.usage.calls == 1


def test_one_request_scores_several_generations_in_order() -> None:
    w = WORLDS["default"]()
    a, b = w.split("test")[:2]
    scores = JUDGE.score([_request(a, [a.response, b.response, ""]), _request(b, [b.response])])
    assert scores[0][0] == 1.0 and scores[0][2] == 0.0 and scores[0][1] < 1.0
    assert scores[1] == [1.0]


def test_registry_builds_the_exact_judge_without_arguments() -> None:
    judge = make_judge("exact")
    assert isinstance(judge, ExactJudge) and judge.name == "exact"
