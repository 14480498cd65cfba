"""Any simulator by name, wherever a model goes (``evaluate --model``, a study's ``simulators``,
``simulate --user``, ``serve``):

- a training run directory, a local checkpoint or a model name (``smollm2-135m``);
- ``bayes``: a synthetic world's Bayes-optimal reference;
- ``openai:<model>[@base_url]``: a model behind any OpenAI-compatible chat endpoint (a provider, vLLM, the
  llama.cpp server, ``personadrop serve``), prompted with the persona;
- ``anthropic:<model>``: Claude, prompted the same way;
- ``replies:<file>``: replies made elsewhere, keyed by example id and condition.

The last three are *external*: made outside personadrop, and labelled so in the report. The evaluator, the
study and the command line all resolve what the user typed through :func:`load_simulator`, so "a model"
means the same thing everywhere.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from personadrop.errors import ConfigError
from personadrop.models.base import Simulator, SimulatorRecord
from personadrop.train.run import RunDir

BAYES = "bayes"
TABULAR = "tabular"  # a survey's reference: a tabular model that sees exactly the visible items
API_PREFIXES = ("openai:", "anthropic:")
REPLIES = "replies:"
#: Decoding settings (of a study or a command) that mean something to an API simulator, and their names there.
_API_DECODING = {"temperature": "temperature", "seed": "seed", "max_new_tokens": "max_tokens"}


def is_external(spec: str | Path) -> bool:
    """Whether ``spec`` names a simulator made outside personadrop (an API model or a replies file)."""
    return str(spec).startswith((*API_PREFIXES, REPLIES))


def member_name(variant: str, seed: int | None) -> str:
    """The name a simulator's results are stored under: its variant, and for a trained run its seed
    (``grpo+fd/seed-1``); the seeds of one variant are then one row of the report."""
    return variant if seed is None else f"{variant}/seed-{seed}"


def describe_simulator(spec: str | Path) -> tuple[str, SimulatorRecord]:
    """The stored name of the simulator ``spec`` names and what it is: a training run's variant and seed
    (from run.json), else the checkpoint directory's name (``bayes`` for bayes)."""
    if str(spec) in (BAYES, TABULAR):
        return str(spec), SimulatorRecord(variant=str(spec), run=str(spec))
    if is_external(spec):
        name = _external_name(str(spec))
        return name, SimulatorRecord(variant=name, run=_shown(str(spec)), external=True)
    run = RunDir(spec)
    record = run.record if run.is_run else None
    if record is None:
        return Path(spec).name, SimulatorRecord(variant=Path(spec).name, run=str(spec))
    return member_name(record.variant, record.seed), SimulatorRecord(
        variant=record.variant,
        seed=record.seed,
        method=record.method,
        train_condition=record.train_condition,
        run=str(spec),
        base=record.base,
    )


def load_simulator(
    spec: str | Path,
    *,
    data: str | Path | None = None,
    name: str | None = None,
    device: str | None = None,
    max_prompt_tokens: int | None = None,
    api: dict[str, Any] | None = None,
    **decoding: Any,
) -> Simulator:
    """The simulator ``spec`` names.

    ``spec``: a training run directory (its model, prompt budget, decoding and inference task), a local
    Hugging Face checkpoint directory, ``bayes`` with ``data`` a synthetic world directory, an API model
    (``openai:<model>[@base_url]``, ``anthropic:<model>``) or ``replies:<file>``.
    ``decoding``: fields of :class:`~personadrop.models.hf.Decoding` to override (an API model takes
    ``temperature``, ``seed`` and ``max_new_tokens``). ``api``: options of
    :class:`~personadrop.models.api.APISimulator` (``concurrency``, ``requests_per_minute``, ``cache_dir``,
    ``prices``, ...).
    """
    if is_external(spec):
        return _external(str(spec), name=name, api=api or {}, decoding=decoding)
    simulator = _load(
        spec, data=data, name=name, device=device, max_prompt_tokens=max_prompt_tokens, **decoding
    )
    simulator.source = {
        "spec": str(spec),
        "data": None if data is None else str(data),
        "name": name,
        "device": device,
        "max_prompt_tokens": max_prompt_tokens,
        **decoding,
    }
    return simulator


def reload_simulator(source: dict[str, Any]) -> Simulator:
    """The simulator a ``Simulator.source`` describes (in another process)."""
    return load_simulator(**source)


def _load(
    spec: str | Path,
    *,
    data: str | Path | None,
    name: str | None,
    device: str | None,
    max_prompt_tokens: int | None,
    **decoding: Any,
) -> Simulator:
    if str(spec) == BAYES:
        if data is None:
            raise ConfigError(
                "the bayes reference needs the synthetic world it belongs to (--data WORLD_DIR)"
            )
        from personadrop.models.bayes import BayesSimulator

        return BayesSimulator.from_data_dir(data)  # its identity is the world: the evaluation's data
    if str(spec) == TABULAR:
        if data is None:
            raise ConfigError("the tabular reference needs the survey data it belongs to (--data SURVEY_DIR)")
        from personadrop.models.tabular import TabularSimulator

        return TabularSimulator.from_data_dir(data)
    run = RunDir(spec)
    if run.is_run:
        return run.simulator(name=name, device=device, max_prompt_tokens=max_prompt_tokens, **decoding)
    from personadrop.models.hf import Decoding, HFSimulator, checkpoint_identity, load_model
    from personadrop.models.registry import resolve_model

    path = resolve_model(spec)  # a checkpoint directory, or a model name (prepared on first use)
    model, tokenizer = load_model(path, device=device)
    simulator = HFSimulator(
        model,
        tokenizer,
        name=name or describe_simulator(spec)[0],
        decoding=Decoding(**decoding),
        max_prompt_tokens=max_prompt_tokens,
    )
    simulator.identity = checkpoint_identity(path)
    return simulator


def _external(spec: str, *, name: str | None, api: dict[str, Any], decoding: dict[str, Any]) -> Simulator:
    name = name or _external_name(spec)
    if spec.startswith(REPLIES):
        from personadrop.models.replies import RepliesSimulator

        path = spec[len(REPLIES) :].strip()
        if not path:
            raise ConfigError(f"simulator {spec!r}: give the replies file, replies:<file>")
        return RepliesSimulator(path, name=name)
    from personadrop.judges import parse_llm_spec
    from personadrop.models.api import APISimulator

    backend, model, base_url = parse_llm_spec(spec, "simulator")
    options = {_API_DECODING[k]: v for k, v in decoding.items() if k in _API_DECODING} | dict(api)
    options.setdefault("base_url", base_url)
    from dataclasses import fields

    from personadrop.judges.llm_settings import LLMSettings

    known = set(inspect.signature(APISimulator).parameters) | {f.name for f in fields(LLMSettings)}
    known -= {"limits", "structured", "backend", "model"}  # set by the spec, or never for a simulator
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"simulator {spec!r} does not take option(s) {', '.join(unknown)}")
    return APISimulator(backend, model, name=name, **options)


def _external_name(spec: str) -> str:
    """The stored name of an external simulator: its spec without the endpoint (``openai:grpo/seed-0``),
    ``replies:<file stem>`` for a replies file."""
    if spec.startswith(REPLIES):
        return REPLIES + Path(spec[len(REPLIES) :].strip()).stem
    return spec.partition("@")[0].strip()


def _shown(spec: str) -> str:
    """``spec`` as it may be written down: credentials inside a URL masked."""
    from personadrop.judges.backends import scrub

    return scrub(spec, None)
