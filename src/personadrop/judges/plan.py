"""Dry-run planning: how many judge calls, tokens and dollars a judging job will take, before it runs.

Needs no API key and makes no call. Token counts are estimates (about four characters per token for
the prompt; a typical answer size for the output), good to the rough factor a budget decision needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from personadrop.judges.base import JudgeRequest
from personadrop.judges.pricing import cost_usd, price_for
from personadrop.judges.rubric import build_prompt, expected_answer_tokens

#: Judges that run locally and cost nothing.
LOCAL_JUDGES = ("exact", "embedding", "survey")


@dataclass(frozen=True)
class JudgePlan:
    """Planned judge work. ``calls`` excludes retries and calls already ``cached``; ``priced`` is False
    when the model has no price, so ``cost_usd`` reads 0 without meaning "free"."""

    judge: str
    generations: int
    calls: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        """One line for a dry run."""
        if self.judge.split(":")[0] in LOCAL_JUDGES:
            scores = f"{self.generations:,} scores (a generation on one dimension)"
            return f"judge {self.judge}: {scores}, local, no API calls, no cost"
        cost = f"~${self.cost_usd:,.2f}" if self.priced else "cost unknown (no price for this model)"
        cached = f" ({self.cached:,} more already cached)" if self.cached else ""
        return (
            f"judge {self.judge}: {self.generations:,} scores (a generation on one dimension) in "
            f"{self.calls:,} calls{cached}, "
            f"~{self.input_tokens:,} input + ~{self.output_tokens:,} output tokens, {cost}"
        )


def plan_cost(
    spec: str,
    requests: Sequence[JudgeRequest] | None = None,
    *,
    n_requests: int = 0,
    generations_per_request: int = 1,
    context_chars: int = 2000,
    reference_chars: int = 500,
    generation_chars: int = 500,
    check_cache: bool = False,
    **options: object,
) -> JudgePlan:
    """Plan judging with judge ``spec`` (any form :func:`~personadrop.judges.make_judge` takes).

    Give the actual ``requests`` where they exist (their texts set the token estimate and, with
    ``check_cache``, calls already in the judge's cache are left out), or before anything is generated,
    counts: ``n_requests`` requests of ``generations_per_request`` generations with texts of about the
    given sizes. ``options`` go to the judge as in ``make_judge`` (e.g. ``batch_size``, ``prices``).
    """
    from personadrop.judges import make_judge
    from personadrop.judges.llm import LLMJudge, estimate_tokens, plan_jobs

    generations = (
        sum(len(r.generations) for r in requests)
        if requests is not None
        else n_requests * generations_per_request
    )
    if spec.strip() in LOCAL_JUDGES:
        # Local judges need no planning, and building one (e.g. loading a model) is not free.
        return JudgePlan(spec.strip(), generations, 0, 0, 0, 0, 0.0, True)
    judge = make_judge(spec, **options)
    if not isinstance(judge, LLMJudge):
        return JudgePlan(judge.name, generations, 0, 0, 0, 0, 0.0, True)

    calls = cached = tokens_in = tokens_out = 0
    if requests is not None:
        jobs = plan_jobs(requests, identity=judge.identity(), batch_size=judge.batch_size, seed=judge.seed)
        cache = judge.cache if check_cache else None
        for job in jobs:
            if cache is not None and cache.get(job.key) is not None:
                cached += 1
                continue
            prompt = job.prompt()
            calls += 1
            tokens_in += estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
            tokens_out += expected_answer_tokens(len(job.generations))
        judge.close()
    elif n_requests > 0 and generations_per_request > 0:
        size = judge.batch_size or generations_per_request
        per_request = math.ceil(generations_per_request / size)
        for chunk in range(per_request):
            k = min(size, generations_per_request - chunk * size)
            prompt = build_prompt(
                "response", "x" * context_chars, "x" * reference_chars, ["x" * generation_chars] * k
            )
            tokens_in += n_requests * (estimate_tokens(prompt.system) + estimate_tokens(prompt.user))
            tokens_out += n_requests * expected_answer_tokens(k)
        calls = n_requests * per_request
    priced = price_for(judge.model, judge.ledger.prices) is not None
    cost = cost_usd(judge.model, tokens_in, tokens_out, judge.ledger.prices) if priced else 0.0
    return JudgePlan(judge.name, generations, calls, cached, tokens_in, tokens_out, cost, priced)
