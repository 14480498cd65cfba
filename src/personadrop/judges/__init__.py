"""Judges: score generated responses against real ones (exact world judge, embeddings, LLMs).

:func:`make_judge` turns a judge spec into a :class:`Judge`:

- ``exact``: the synthetic world's exact judge (knows the true latent states);
- ``embedding``: cosine similarity with a local sentence-embedding model;
- ``survey``: the answer a reply gives to a survey question, against the real one;
- ``anthropic:<model>[@base_url]``: Claude through the Messages API (``anthropic`` alone: claude-haiku-4-5);
- ``openai:<model>[@base_url]``: any chat-completions server (OpenAI, vLLM, Ollama, ...).

Imports are lazy, so importing this package pulls in neither torch nor an SDK.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from personadrop.errors import ConfigError
from personadrop.judges.base import DIMENSIONS, Judge, JudgeRequest, JudgeUsage

if TYPE_CHECKING:
    from personadrop.judges.agreement import AgreementReport, judge_agreement
    from personadrop.judges.plan import JudgePlan, plan_cost

JUDGE_FORMS = ("exact", "embedding", "survey", "anthropic:<model>[@base_url]", "openai:<model>[@base_url]")

# Options any caller may pass to any judge (a study passes its run directory and seed to whichever judge
# it was given); a judge that has no use for one simply does not receive it.
_SHARED_OPTIONS = frozenset({"cache_dir", "seed"})


def _bad_spec(spec: str, why: str = "") -> ConfigError:
    return ConfigError(f"unknown judge {spec!r}{why}; valid forms: {', '.join(JUDGE_FORMS)}")


def _construct(cls: type[Judge], spec: str, *args: Any, **options: Any) -> Judge:
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        options = {k: v for k, v in options.items() if k in params or k not in _SHARED_OPTIONS}
        unknown = sorted(k for k in options if k not in params)
        if unknown:
            raise ConfigError(f"judge {spec!r} does not take option(s) {', '.join(unknown)}")
    return cls(*args, **options)


def parse_llm_spec(spec: str, what: str = "judge") -> tuple[str, str, str | None]:
    """``backend:model[@base_url]`` -> (backend, model, base_url or None); ``what`` it names (a judge, a
    simulator), for the error."""

    def bad(why: str) -> ConfigError:
        return _bad_spec(spec, why) if what == "judge" else ConfigError(f"{what} {spec!r}{why}")

    backend, _, rest = spec.partition(":")
    model, _, base_url = rest.partition("@")
    model, base_url = model.strip(), base_url.strip()
    if backend == "anthropic" and not model:
        from personadrop.judges.llm_settings import DEFAULT_ANTHROPIC_MODEL

        model = DEFAULT_ANTHROPIC_MODEL
    if not model:
        raise bad(f": the {backend} {what} needs a model name")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise bad(f": base URL {base_url!r} must start with http:// or https://")
    return backend, model, base_url or None


def judge_dimensions(spec: str) -> tuple[str, ...]:
    """The dimensions the judge ``spec`` names can score along, without building it."""
    if spec.strip() == "survey":
        from personadrop.judges.survey import SurveyJudge

        return SurveyJudge.dimensions
    return Judge.dimensions


def check_judge_dimensions(spec: str, dimensions: Iterable[str]) -> None:
    """Fail in one line when ``dimensions`` asks the judge ``spec`` for one it cannot score."""
    known = judge_dimensions(spec)
    beyond = [d for d in dimensions if d not in known]
    if beyond:
        raise ConfigError(
            f"the {spec} judge scores {', '.join(known)} only, not {', '.join(beyond)}; leave those "
            "dimensions out, or use a judge that reads them"
        )


def make_judge(spec: str, **options: Any) -> Judge:
    """The judge named by ``spec``; ``options`` go to its constructor (see each judge's class).

    Raises :class:`~personadrop.errors.ConfigError` for an unknown spec or option. Building a judge
    checks no API key; call :meth:`Judge.check_ready` before expensive work.
    """
    spec = spec.strip()
    if spec == "exact":
        try:
            from personadrop.judges.exact import ExactJudge
        except ImportError as e:
            raise ConfigError(f"the exact judge is not available: {e}") from None
        return _construct(ExactJudge, spec, **options)
    if spec == "embedding":
        from personadrop.judges.embedding import EmbeddingJudge

        return _construct(EmbeddingJudge, spec, **options)
    if spec == "survey":
        from personadrop.judges.survey import SurveyJudge

        return _construct(SurveyJudge, spec, **options)
    backend = spec.partition(":")[0]
    if backend in ("anthropic", "openai"):
        from personadrop.judges.llm import LLMJudge

        backend, model, base_url = parse_llm_spec(spec)
        if base_url is not None:
            options.setdefault("base_url", base_url)
        return _construct(LLMJudge, spec, backend, model, **options)
    raise _bad_spec(spec)


def __getattr__(name: str) -> Any:
    # The agreement and planning helpers load on first use, keeping `import personadrop.judges` light.
    if name in ("judge_agreement", "AgreementReport"):
        from personadrop.judges import agreement

        return getattr(agreement, name)
    if name in ("plan_cost", "JudgePlan"):
        from personadrop.judges import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIMENSIONS",
    "JUDGE_FORMS",
    "AgreementReport",
    "Judge",
    "JudgePlan",
    "JudgeRequest",
    "JudgeUsage",
    "judge_agreement",
    "make_judge",
    "parse_llm_spec",
    "plan_cost",
]
