"""The Bayes-optimal reference: exact posteriors from the visible persona only, and a sound ceiling."""

from __future__ import annotations

import itertools
import math
import random
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from personadrop.data.example import STATE_DIMENSIONS, Turn
from personadrop.data.world import (
    PostFacts,
    StateLaw,
    States,
    generate_world_dir,
    read_post,
    realize_response,
)
from personadrop.data.world.model import COMMUNICATION_KEYS, EMOTION_KEYS, STANCE_KEYS
from personadrop.data.world.vocab import GOALS, GROUP_VALUES, POSTER, WORLDVIEWS, group_of
from personadrop.dropout import MaskKey, parse_condition
from personadrop.errors import DataError
from personadrop.evaluate.checks import CEILING_CONDITIONS, CeilingRow, ceiling_table
from personadrop.judges.base import JudgeRequest
from personadrop.judges.exact import ExactJudge
from personadrop.models.base import SimulationItem
from personadrop.models.bayes import BayesSimulator
from personadrop.persona import FIELD_NAMES, Persona
from personadrop.prompts import TASKS, parse_output

from world_support import WORLDS, small_world

FIELDS = [f"only:{f}" for f in FIELD_NAMES]


@cache
def _table(world: str) -> dict[str, CeilingRow]:
    w = WORLDS[world]()
    return {r.condition: r for r in ceiling_table(w.split("test"), BayesSimulator(w.config))}


@pytest.mark.parametrize("world", list(WORLDS))
def test_ceiling_orders_full_over_each_field_over_none(world: str) -> None:
    rows = _table(world)
    assert set(rows) == {c.name for c in CEILING_CONDITIONS}
    full, none = rows["full"].mean, rows["none"].mean
    assert full - none > 0.2  # the persona matters a lot
    for f in FIELDS:
        assert full >= rows[f].mean >= none, f
    assert full > rows["items:0.9"].mean > none


@pytest.mark.parametrize("world", list(WORLDS))
def test_at_least_three_fields_have_clearly_different_ceilings(world: str) -> None:
    rows = _table(world)

    def clearly_above(a: str, b: str) -> bool:
        # Paired over the same test examples; 2.58 standard errors is a two-sided 99% test.
        d = np.array(rows[a].scores) - np.array(rows[b].scores)
        return d.mean() > 2.58 * d.std(ddof=1) / math.sqrt(len(d))

    chains = [
        c
        for c in itertools.permutations(FIELDS, 3)
        if clearly_above(c[0], c[1]) and clearly_above(c[1], c[2])
    ]
    assert chains, {f: round(rows[f].mean, 3) for f in FIELDS}


def test_the_reference_reads_only_the_visible_persona() -> None:
    w = WORLDS["default"]()
    sim = BayesSimulator(w.config)
    by_post: dict[str, list] = {}
    for e in w.examples:
        by_post.setdefault(e.post_id, []).append(e)
    pairs = [v[:2] for v in by_post.values() if len(v) > 1][:40]
    none, only_values = parse_condition("none"), parse_condition("only:values")
    for a, b in pairs:
        # Without a persona, two users answering the same post are indistinguishable.
        outs = sim.generate([SimulationItem(x, none(x.persona, MaskKey(0, x.id))) for x in (a, b)])
        assert outs[0] == outs[1]
        # With only Values visible, the other fields may be anything.
        swapped = Persona.from_fields({**b.persona.to_dict(), "values": a.persona.field("values").items})
        a2 = a.model_copy(update={"persona": swapped})
        assert sim.generate([SimulationItem(a, only_values(a.persona, MaskKey(0, a.id)))]) == sim.generate(
            [SimulationItem(a2, only_values(a2.persona, MaskKey(0, a.id)))]
        )


def test_every_task_parses_and_scores_as_the_reply_does() -> None:
    w = WORLDS["alt"]()
    sim = BayesSimulator(w.config)
    judge = ExactJudge()
    full = parse_condition("full")
    for e in w.split("test")[:30]:
        visible = full(e.persona, MaskKey(0, e.id))
        outs = {t: sim.generate([SimulationItem(e, visible, t)])[0] for t in TASKS}
        assert parse_output(outs["states+response"], "states+response") == outs["response"]
        for dim in STATE_DIMENSIONS:
            phrase = parse_output(outs[dim], dim)
            assert phrase is not None
            assert f"<{dim}>{phrase}</{dim}>" in outs["states+response"]
            by_phrase, by_reply = judge.score(
                [
                    JudgeRequest(e.id, "", e.response, (phrase,), dim, e.states),
                    JudgeRequest(e.id, "", e.response, (outs["response"],), dim, e.states),
                ]
            )
            assert by_phrase == by_reply
        assert len(outs["response"].split()) < 2 * len(e.response.split())  # never penalized for length


def test_predicted_agreement_is_calibrated_against_the_generator() -> None:
    """The posterior is exact: P(agree) predicted from the full persona matches observed frequencies."""
    w = WORLDS["default"]()
    sim = BayesSimulator(w.config)
    full = parse_condition("full")
    predicted, observed = [], []
    for e in w.examples:
        post = sim.world.posterior(full(e.persona, MaskKey(0, e.id)).to_persona())
        predicted.append(sim.world.law(post, read_post(e.context[0].content)).agree)
        observed.append(w.true_states[e.id].direction == "agree")
    predicted_a, observed_a = np.array(predicted), np.array(observed, dtype=float)
    edges = np.quantile(predicted_a, np.linspace(0, 1, 6))
    for lo, hi in itertools.pairwise(edges):
        inside = (predicted_a >= lo) & (predicted_a <= hi)
        p, o = predicted_a[inside].mean(), observed_a[inside].mean()
        se = math.sqrt(max(p * (1 - p), 0.01) / inside.sum())
        assert abs(p - o) < 3.5 * se, (lo, hi, p, o)


def test_expected_scores_match_realized_scores() -> None:
    w = WORLDS["default"]()
    sim = BayesSimulator(w.config)
    judge = ExactJudge()
    policy = parse_condition("only:communication")
    expected, realized = [], []
    for e in w.examples[:1500]:
        visible = policy(e.persona, MaskKey(0, e.id))
        _, picks = sim.choose(visible, read_post(e.context[0].content))
        expected.append(np.mean(list(picks.values())))
        reply = sim.generate([SimulationItem(e, visible)])[0]
        realized.append(
            judge.score([JudgeRequest(e.id, "", e.response, (reply,), "response", e.states)])[0][0]
        )
    gap = np.mean(expected) - np.mean(realized)
    assert abs(gap) < 3 * np.std(realized) / math.sqrt(len(realized))


def _draw(keys: tuple, p: np.ndarray, rng: random.Random):  # type: ignore[no-untyped-def, type-arg]
    return keys[rng.choices(range(len(keys)), weights=p)[0]]


def _sampled_states(law: StateLaw, facts: PostFacts, rng: random.Random) -> States:
    """States drawn from the predictive law instead of optimized (a probability-matching simulator)."""
    direction, strength = _draw(STANCE_KEYS, law.stance, rng)
    emotion, intensity, role = _draw(EMOTION_KEYS, law.emotion, rng)
    tone, structure = _draw(COMMUNICATION_KEYS, law.communication, rng)
    agree = rng.random() < law.agree
    return States(
        direction,
        strength,
        facts.target,
        emotion,
        intensity,
        POSTER if role == POSTER else facts.target,
        _draw(WORLDVIEWS, law.belief, rng),
        facts.chosen if agree else facts.sacrificed,
        facts.sacrificed if agree else facts.chosen,
        _draw(GOALS, law.goal, rng),
        tone,
        structure,
    )


def test_no_other_policy_beats_the_reference_but_knowing_the_traits_does() -> None:
    w = WORLDS["default"]()
    sim = BayesSimulator(w.config)
    judge = ExactJudge()
    rng = random.Random(0)
    full = parse_condition("full")
    traits = {u.user_id: u.traits for u in w.users}
    scores: dict[str, list[float]] = {"bayes": [], "sampled": [], "oracle": []}
    for e in w.examples[:800]:
        facts = read_post(e.context[0].content)
        assert facts is not None
        law = sim.world.law(sim.world.posterior(full(e.persona, MaskKey(0, e.id)).to_persona()), facts)
        # The oracle knows the user's true traits: a point-mass posterior.
        point = {
            t: np.array([float(v == traits[e.user_id][t]) for v in GROUP_VALUES[group_of(t)]])
            for t in sim.world.priors
        }
        candidates = {
            "bayes": sim.choose_from_law(law, facts)[0],
            "sampled": _sampled_states(law, facts, rng),
            "oracle": sim.choose_from_law(sim.world.law(point, facts), facts)[0],
        }
        for name, states in candidates.items():
            request = JudgeRequest(e.id, "", e.response, (realize_response(states),), "response", e.states)
            scores[name].append(judge.score([request])[0][0])
    assert np.mean(scores["sampled"]) < np.mean(scores["bayes"]) < np.mean(scores["oracle"])


def test_reference_from_a_data_dir_and_refusal_of_other_data(
    tmp_path: Path, aita_posts: dict[str, dict[str, str]]
) -> None:
    generate_world_dir(tmp_path, seed=3, users=40, posts=120)
    sim = BayesSimulator.from_data_dir(tmp_path)
    w = small_world(3)
    assert sim.world.config == w.config
    e = w.split("test")[0]
    for text in [p["post"] for p in list(aita_posts.values())[:10]] + [
        "AITA for eating the last slice? My roommate is mad."
    ]:
        if read_post(text) is not None:
            continue  # a real post that happens to use the world's phrases is read as one
        real = e.model_copy(update={"context": (Turn(speaker="Poster", content=text),)})
        with pytest.raises(DataError, match="synthetic-world"):
            sim.generate([SimulationItem(real, parse_condition("full")(real.persona, MaskKey(0, real.id)))])
    with pytest.raises(ValueError, match="unknown task"):
        sim.generate([SimulationItem(e, parse_condition("full")(e.persona, MaskKey(0, e.id)), "poem")])
