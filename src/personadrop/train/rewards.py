"""The one reward path of ``grpo`` and ``humanlm``: a judge's alignment score as a TRL reward function.

Each row says which task it asked for and which dimension that task is judged on, so HumanLM's seven
tasks need no second reward: a stance prompt is scored on stance only, the reply task on the reply.
Completions of one prompt go to the judge together (one request per group), because a rubric compares
the rollouts of a prompt with each other.

Two kinds of zero are kept apart:
- output that does not parse for its task (no tag, empty) earns reward 0: a format signal the policy
  should learn from;
- a judge failure (NaN) becomes ``None``: TRL leaves it out of the group baseline and gives it no
  advantage, and :class:`~personadrop.train.grpo.MaskedGRPOTrainer` also removes it from the loss.
"""

from __future__ import annotations

import inspect
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from personadrop.judges.base import Judge, JudgeRequest
from personadrop.prompts import TASKS, answer_prefix, parse_output


def completion_text(completion: Any) -> str:
    """The generated text, whether TRL passes a string or conversational messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[0], dict):
        return "".join(str(m.get("content", "")) for m in completion)
    return str(completion)


class JudgeReward:
    """A TRL reward function backed by a :class:`Judge`.

    Rows must carry ``example_id``, ``task``, ``dimension``, ``epoch``, ``reference``, ``reference_states``
    (JSON) and ``context`` (see :mod:`personadrop.train.datasets`); prompts end with the task's answer
    prefix, which is put back in front of each completion before parsing. Mean reward per dimension is
    logged through TRL's ``log_metric`` as ``reward/<dimension>``.
    """

    def __init__(self, judge: Judge):
        self.judge = judge
        self.__name__ = f"judge_{getattr(judge, 'name', type(judge).__name__)}".replace(":", "_")
        self.failures = 0  # rollouts left unscored (NaN from the judge)
        self.unparsable = 0  # rollouts given 0 for their format

    # TRL calls reward functions with keyword columns; prompts/completions come per rollout.
    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        groups, rewards = self._prepare(completions, columns)
        scores = self.judge.score([req for req, _ in groups]) if groups else []
        return self._finish(groups, scores, rewards, columns)

    def _prepare(
        self, completions: Sequence[Any], columns: dict[str, Any]
    ) -> tuple[list[tuple[JudgeRequest, list[int]]], list[float | None]]:
        n = len(completions)
        rewards: list[float | None] = [0.0] * n
        by_prompt: dict[tuple[str, str, int], list[tuple[int, str]]] = defaultdict(list)
        for i, completion in enumerate(completions):
            task = columns["task"][i]
            # The prompt ended with the task's opening tag (an assistant prefill); the answer starts with it.
            parsed = parse_output(answer_prefix(task) + completion_text(completion), task)
            if parsed is None:
                self.unparsable += 1
                continue
            epoch = columns["epoch"][i] if "epoch" in columns else 0
            by_prompt[(columns["example_id"][i], task, epoch)].append((i, parsed))
        groups = []
        for (example_id, task, _), members in by_prompt.items():
            first = members[0][0]
            states = columns["reference_states"][first]
            groups.append(
                (
                    JudgeRequest(
                        example_id=example_id,
                        context=columns["context"][first],
                        reference=columns["reference"][first],
                        generations=tuple(text for _, text in members),
                        dimension=TASKS[task].dimension,
                        reference_states=(json.loads(states) or None) if isinstance(states, str) else states,
                    ),
                    [i for i, _ in members],
                )
            )
        return groups, rewards

    def _finish(
        self,
        groups: list[tuple[JudgeRequest, list[int]]],
        scores: list[list[float]],
        rewards: list[float | None],
        columns: dict[str, Any],
    ) -> list[float | None]:
        if len(scores) != len(groups):
            raise RuntimeError(
                f"judge {self.__name__} returned {len(scores)} score lists for {len(groups)} requests"
            )
        for (_, indices), group_scores in zip(groups, scores, strict=True):
            for i, s in zip(indices, group_scores, strict=True):
                if s is None or (isinstance(s, float) and math.isnan(s)):
                    rewards[i] = None
                    self.failures += 1
                else:
                    rewards[i] = float(s)
        log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
        if log_metric is not None:
            by_dim: dict[str, list[float]] = defaultdict(list)
            for i, r in enumerate(rewards):
                if r is not None:
                    by_dim[columns["dimension"][i]].append(r)
            for dim, values in by_dim.items():
                log_metric(f"reward/{dim}", sum(values) / len(values))
            log_metric("reward/unscored_share", sum(r is None for r in rewards) / max(len(rewards), 1))
        return rewards


class AsyncJudgeReward(JudgeReward):
    """The same reward for judges with an ``async ascore(requests)``; TRL awaits it alongside other work."""

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:  # type: ignore[override]
        groups, rewards = self._prepare(completions, columns)
        scores = await self.judge.ascore([req for req, _ in groups]) if groups else []  # type: ignore[attr-defined]
        return self._finish(groups, scores, rewards, columns)


def reward_function(judge: Judge) -> JudgeReward:
    """The TRL reward function for ``judge``: async when the judge offers ``ascore``."""
    ascore = getattr(judge, "ascore", None)
    if ascore is not None and inspect.iscoroutinefunction(ascore):
        return AsyncJudgeReward(judge)
    return JudgeReward(judge)
