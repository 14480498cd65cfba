"""verl's custom reward hook, backed by personadrop's judges.

Point verl at this file (``custom_reward_function.path``) and at ``compute_score`` (one rollout per call,
verl's ``naive`` reward manager) or ``compute_score_batch`` (all rollouts of a step at once, verl's ``batch``
reward manager; rollouts of one prompt then go to the judge together, as the rubric wants). Rows come
from ``personadrop export verl``; each carries its task (a HumanLM latent state or the reply), so the same
hook rewards all seven HumanLM tasks, each on its own dimension.

Which judge: ``judge=...`` in ``custom_reward_function.reward_kwargs``, else ``$PERSONADROP_VERL_JUDGE``, else
``exact`` (synthetic worlds). LLM judges cache every judgement (``cache_dir``, else
``$PERSONADROP_VERL_CACHE``, else the user cache) and batch within a call.

Scores: output that does not parse for its task earns 0 (a format signal to learn from). A judge that
finally fails has no score to give, and verl has no value meaning "no reward": its reward managers write
whatever number comes back into the reward tensor, so any stand-in, 0 included, would be trained on. The
hook therefore raises :class:`JudgeUnavailable`: the step fails, and verl resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from functools import cache
from typing import Any

from personadrop.errors import PersonadropError
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.prompts import TASKS, answer_prefix, parse_output


class JudgeUnavailable(PersonadropError):
    """The judge could not score a rollout (after its retries); verl has no value for a missing reward."""


@cache
def _judge(spec: str, cache_dir: str | None) -> Judge:
    from personadrop.judges import make_judge

    judge = make_judge(spec, cache_dir=cache_dir)
    judge.check_ready()
    return judge


def _judge_for(kwargs: dict[str, Any]) -> Judge:
    spec = kwargs.get("judge") or os.environ.get("PERSONADROP_VERL_JUDGE") or "exact"
    return _judge(spec, kwargs.get("cache_dir") or os.environ.get("PERSONADROP_VERL_CACHE"))


def _parse(solution: str, task: str) -> str | None:
    # verl writes the whole answer itself (no prefilled tag); accept it either way.
    return parse_output(solution, task) or parse_output(answer_prefix(task) + solution, task)


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None, **kwargs: Any
) -> dict[str, Any]:
    """The reward of one rollout: ``{"score", "parsed", "dimension"}`` (verl logs the extra keys)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


def compute_score_batch(
    data_sources: list[str],
    solution_strs: list[str],
    ground_truths: list[str],
    extra_infos: list[dict | None],
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Rewards of many rollouts; rollouts of the same (example, task, epoch) are judged in one request."""
    results: list[dict[str, Any] | None] = [None] * len(solution_strs)
    groups: dict[tuple[str, str, int], list[tuple[int, str]]] = defaultdict(list)
    infos = [dict(info or {}) for info in extra_infos]
    for i, (solution, info) in enumerate(zip(solution_strs, infos, strict=True)):
        task = info.get("task", "response")
        if task not in TASKS:
            raise PersonadropError(
                f"row {i}: unknown task {task!r} in extra_info (rows come from `personadrop export verl`)"
            )
        parsed = _parse(solution, task)
        if parsed is None:
            results[i] = {"score": 0.0, "parsed": False, "dimension": TASKS[task].dimension}
        else:
            groups[(str(info.get("example_id", i)), task, int(info.get("epoch", 0)))].append((i, parsed))
    requests, members = [], []
    for (example_id, task, _), group in groups.items():
        first = infos[group[0][0]]
        requests.append(
            JudgeRequest(
                example_id=example_id,
                context=str(first.get("context", "")),
                reference=ground_truths[group[0][0]],
                generations=tuple(text for _, text in group),
                dimension=TASKS[task].dimension,
                reference_states=json.loads(first.get("states") or "{}") or None,
            )
        )
        members.append(group)
    scores = _judge_for(kwargs).score(requests) if requests else []
    for request, group, row in zip(requests, members, scores, strict=True):
        for (i, _), value in zip(group, row, strict=True):
            if math.isnan(value):
                raise JudgeUnavailable(
                    f"the judge could not score rollouts of example {request.example_id} "
                    f"({request.dimension}); verl has no missing-reward value, so the step stops"
                )
            results[i] = {"score": float(value), "parsed": True, "dimension": request.dimension}
    return results  # type: ignore[return-value]
