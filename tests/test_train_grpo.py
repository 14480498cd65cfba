"""GRPO on a judge's reward: it learns, every group shares one persona, and judge failures leave the loss."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
import torch

from personadrop.dropout import FieldDropout, MaskKey
from personadrop.evaluate.checks import heldout_alignment
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.models.hf import load_model
from personadrop.prompts import PromptBuilder
from personadrop.simulators import load_simulator
from personadrop.train.config import resolve_config
from personadrop.train.datasets import GRPO_EPOCH_OFFSET, build_rows, count_rows, each_state_and, reply_only
from personadrop.train.grpo import make_grpo_trainer, train_grpo
from personadrop.train.rewards import AsyncJudgeReward, JudgeReward, reward_function
from personadrop.train.variant import train_variant

from trainkit import FlakyJudge, OverlapJudge, sft_run, world


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    return sft_run(tmp_path_factory.getbasetemp())


def small_trainer(warm, tmp_path, reward, *, examples, epochs=1, policy=None, **grpo):
    """A GRPO trainer over a few examples, starting from the warm-start run's model."""
    cfg = resolve_config(
        "grpo",
        profile="quick",
        config={
            "grpo": {"prompts_per_step": 4, "num_generations": 4, **grpo},
            "progress": False,
            "logging_steps": 1,
        },
    )
    model, tokenizer = load_model(warm.model_dir)
    builder = PromptBuilder(tokenizer, cfg.max_prompt_tokens)
    rows = build_rows(
        examples,
        policy or FieldDropout(0.6),
        builder,
        seed=cfg.seed,
        epochs=epochs,
        tasks=reply_only,
        with_targets=False,
        stage="grpo",
        epoch_offset=GRPO_EPOCH_OFFSET,
    )
    steps = len(rows.rows) // cfg.grpo.prompts_per_step
    trainer = make_grpo_trainer(
        model.train(),
        tokenizer,
        rows.dataset(),
        reward,
        cfg,
        tmp_path / "grpo",
        steps=steps,
        max_completion_tokens=cfg.grpo.max_completion_tokens,
    )
    return trainer, rows


def test_grpo_raises_the_held_out_reward_over_its_warm_start(warm, tmp_path):
    train, test = world()
    run = train_variant(
        "grpo",
        train,
        tmp_path / "grpo",
        profile="quick",
        judge=OverlapJudge(),
        warm_start=warm,
        config={
            "grpo": {"max_steps": 14, "prompts_per_step": 4, "num_generations": 4, "lr": 3e-4},
            "progress": False,
            "max_train_examples": None,
        },
    )
    assert run.record.warm_start == str(warm.path)
    before = heldout_alignment(load_simulator(warm.path), test, OverlapJudge()).mean
    after = heldout_alignment(load_simulator(run.path), test, OverlapJudge()).mean
    assert after > before + 0.05, (before, after)
    rewards = [
        r["value"] for r in run.read_curves() if r["stage"] == "grpo" and r["name"] == "reward/response"
    ]
    assert rewards and all(0 <= r <= 1 for r in rewards)


def test_every_completion_of_a_group_saw_the_same_persona_and_each_epoch_redraws_masks(warm, tmp_path):
    train, _ = world()
    examples = train[:8]
    seen: list[tuple[str, int, str]] = []

    def recording_reward(prompts, completions, example_id, epoch, **_):
        for p, ex_id, ep in zip(prompts, example_id, epoch, strict=True):
            seen.append((ex_id, ep, p))
        return [random.random() for _ in completions]

    trainer, _ = small_trainer(
        warm, tmp_path, recording_reward, examples=examples, epochs=2, max_completion_tokens=8
    )
    train_grpo(trainer)

    assert len(seen) == 2 * len(examples) * 4  # every row of both epochs, once per generation
    for g in range(0, len(seen), 4):
        group = seen[g : g + 4]
        assert len({(ex, ep) for ex, ep, _ in group}) == 1 and len({s for *_, s in group}) == 1
    policy = FieldDropout(0.6)
    by_example = {e.id: e for e in examples}
    for ex_id, ep, prompt in seen:
        visible = policy(by_example[ex_id].persona, MaskKey(0, ex_id, ep))
        assert f"persona:\n{visible.render()}<|end|>" in prompt  # the prompt shows exactly that epoch's mask
    first = {ex: s for ex, ep, s in seen if ep == GRPO_EPOCH_OFFSET}
    second = {ex: s for ex, ep, s in seen if ep == GRPO_EPOCH_OFFSET + 1}
    assert set(first) == set(second) == set(by_example)
    assert sum(first[ex] != second[ex] for ex in first) >= len(examples) // 2


def test_judge_failures_are_left_out_of_the_loss_not_scored_zero(warm, tmp_path):
    train, _ = world()
    judge = FlakyJudge(every=3)
    reward = reward_function(judge)
    returned: list[list[float | None]] = []
    batches: list[dict] = []

    def recorded(*args, **kwargs):
        out = JudgeReward.__call__(reward, *args, **kwargs)
        returned.append(list(out))
        return out

    trainer, _ = small_trainer(
        warm, tmp_path, recorded, examples=train[:8], policy=FieldDropout(0.0), max_completion_tokens=16
    )
    inner = trainer._generate_and_score_completions

    def capture(inputs):
        out = inner(inputs)
        batches.append({k: (v.clone() if torch.is_tensor(v) else v) for k, v in out.items()})
        return out

    trainer._generate_and_score_completions = capture
    train_grpo(trainer)
    assert judge.failed and returned

    for rewards, batch in zip(returned, batches, strict=True):
        failed = torch.tensor([r is None for r in rewards])
        loss_mask = batch["completion_mask"] * batch.get(
            "tool_mask", torch.ones_like(batch["completion_mask"])
        )
        assert torch.all(batch["advantages"][failed] == 0)
        assert torch.all(loss_mask[failed] == 0)
        assert int(batch["num_items_in_batch"]) == int(loss_mask[~failed].sum())
        # Group baselines use only the scored members: a failure did not drag the mean toward 0.
        for g in range(0, len(rewards), 4):
            scored = [(i, r) for i, r in enumerate(rewards[g : g + 4], start=g) if r is not None]
            if len(scored) >= 2 and len(scored) < 4:
                values = torch.tensor([r for _, r in scored])
                expected = (values - values.mean()) / (values.std() + 1e-4)
                got = batch["advantages"][[i for i, _ in scored]]
                assert torch.allclose(got, expected, atol=1e-3)

    # The loss of a batch equals the loss of the same batch with its unscored rollouts removed.
    batch = next(b for b, r in zip(batches, returned, strict=True) if any(x is None for x in r))
    keep = torch.tensor([x is not None for x in next(r for r in returned if any(x is None for x in r))])
    trimmed = {
        k: (v[keep] if torch.is_tensor(v) and v.dim() > 0 and v.size(0) == keep.numel() else v)
        for k, v in batch.items()
    }
    trainer.model.eval()
    with torch.no_grad():
        full = trainer.compute_loss(trainer.model, batch)
        without = trainer.compute_loss(trainer.model, trimmed)
    assert torch.allclose(full, without, atol=1e-5)


def test_reward_scores_each_task_on_its_own_dimension_and_gives_unparsable_output_zero():
    judge = OverlapJudge()
    reward = JudgeReward(judge)
    columns = {
        "example_id": ["a"] * 4 + ["b"] * 2,
        "task": ["response"] * 4 + ["stance"] * 2,
        "dimension": ["response"] * 4 + ["stance"] * 2,
        "epoch": [0] * 6,
        "reference": ["NTA. be kind"] * 4 + ["YTA. no"] * 2,
        "reference_states": ['{"stance": "agrees with the poster"}'] * 6,
        "context": ["post"] * 6,
    }
    # State tasks are prompted with their opening tag, so their completions continue after it.
    completions = ["NTA. be kind", "nonsense", "", "NTA", "agrees with the poster</stance>", "no closing tag"]
    out = reward(prompts=[None] * 6, completions=completions, **columns)
    assert out[0] == 1.0 and out[2] == 0.0 and out[5] == 0.0  # empty reply / missing tag: format zero
    assert out[4] == 1.0  # the stance task is judged against the true stance, not the reply
    assert [r.dimension for r in judge.requests] == ["response", "stance"]
    assert len(judge.requests[0].generations) == 3  # one request per prompt group, unparsable ones left out
    assert reward.unparsable == 2


def test_async_judges_get_an_async_reward_that_trl_awaits():
    from trl.trainer.utils import is_async_callable

    class AsyncOverlap(Judge):
        name = "async-overlap"

        def score(self, requests: list[JudgeRequest]) -> list[list[float]]:
            return [[math.nan] * len(r.generations) for r in requests]

        async def ascore(self, requests: list[JudgeRequest]) -> list[list[float]]:
            await asyncio.sleep(0)
            return [[0.5] * len(r.generations) for r in requests]

    reward = reward_function(AsyncOverlap())
    assert isinstance(reward, AsyncJudgeReward) and is_async_callable(reward)
    out = asyncio.run(
        reward(
            prompts=[None],
            completions=["hi"],
            example_id=["a"],
            task=["response"],
            dimension=["response"],
            epoch=[0],
            reference=["hi"],
            reference_states=["{}"],
            context=["c"],
        )
    )
    assert out == [0.5]


def test_a_row_limit_renders_the_first_rows_of_the_whole_build_and_records_what_they_show():
    train, _ = world()
    examples = train[:10]
    from personadrop.models.tokenizer import build_tokenizer, corpus_texts

    builder = PromptBuilder(build_tokenizer(corpus_texts(examples), vocab_size=600), 352)
    common = dict(seed=3, epochs=2, tasks=each_state_and(), with_targets=False, stage="grpo", epoch_offset=7)
    whole = build_rows(examples, FieldDropout(0.6), builder, **common)
    assert count_rows(examples, each_state_and(), epochs=2, epoch_offset=7) == len(whole.rows) == 140
    for limit in (5, 70, 75, 500):
        cut = build_rows(examples, FieldDropout(0.6), builder, limit=limit, **common)
        assert cut.rows == whole.rows[:limit]  # the same rows, in the same order, as a full build
        shown = {(r["epoch"], r["example_id"]) for r in cut.rows}
        assert [(v["epoch"], v["example_id"]) for v in cut.visibility] == [
            (v["epoch"], v["example_id"]) for v in whole.visibility if (v["epoch"], v["example_id"]) in shown
        ]
