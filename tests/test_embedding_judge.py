"""The embedding judge: offline, local MiniLM, paraphrases above unrelated text."""

from __future__ import annotations

import os

import pytest

from personadrop.judges import JudgeRequest, make_judge
from personadrop.judges.embedding import EmbeddingJudge, default_model_path

REFERENCE = (
    "NTA. Your brother borrowed the car without asking and wrecked it, so he should pay for the repair."
)


@pytest.fixture(scope="module")
def judge() -> EmbeddingJudge:
    j = make_judge("embedding")
    assert isinstance(j, EmbeddingJudge)
    return j


def test_it_loads_the_packaged_model_offline(judge: EmbeddingJudge):
    judge.check_ready()
    assert default_model_path().is_dir()
    judge.score([JudgeRequest("e", "ctx", REFERENCE, ("warm up",))])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_a_paraphrase_scores_above_an_unrelated_reply(judge: EmbeddingJudge):
    paraphrase = (
        "Not the asshole: he took your car without permission and crashed it, he owes you the repair."
    )
    unrelated = "My favourite pasta recipe needs fresh basil, garlic and good olive oil."
    [[close, far]] = judge.score(
        [JudgeRequest("e", "AITA for asking my brother to pay?", REFERENCE, (paraphrase, unrelated))]
    )
    assert 0.0 <= far < close <= 1.0
    assert close - far > 0.3
    assert judge.usage.calls == 0 and judge.usage.failures == 0


def test_state_dimensions_compare_with_the_real_state_where_it_is_known(judge: EmbeddingJudge):
    state = "strong anger at the brother for wrecking the car"
    gens = ("furious with the brother over the wrecked car", "calm gratitude toward the parents")
    with_state = JudgeRequest("e", "ctx", REFERENCE, gens, "emotion", {"emotion": state})
    without_state = JudgeRequest("e", "ctx", REFERENCE, gens, "emotion")
    [[a_close, a_far]], [[b_close, _]] = judge.score([with_state]), judge.score([without_state])
    assert a_close > a_far
    assert a_close != pytest.approx(b_close)  # a different target text, so a different similarity


def test_many_requests_score_in_order(judge: EmbeddingJudge):
    reqs = [
        JudgeRequest(f"e{i}", "ctx", REFERENCE, (REFERENCE, "Unrelated words about gardening.") * 2)
        for i in range(5)
    ]
    scores = judge.score(reqs)
    assert [len(s) for s in scores] == [4] * 5
    for row in scores:
        assert row[0] == pytest.approx(1.0, abs=1e-4) and row[0] > row[1]
        assert row[0] == row[2] and row[1] == row[3]
    assert judge.score([]) == [] and judge.score([JudgeRequest("e", "c", "r", ())]) == [[]]
