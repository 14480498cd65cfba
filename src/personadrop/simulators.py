"""Any simulator by name: a training run directory, a local checkpoint, or ``bayes`` (a world's reference).

The evaluator, the study and the command line all resolve what the user typed through :func:`load_simulator`,
so "a model" means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personadrop.errors import ConfigError
from personadrop.models.base import Simulator
from personadrop.train.run import RunDir

BAYES = "bayes"


def simulator_name(spec: str | Path) -> str:
    """The name results are stored under: a run's own name, else the directory's name (``bayes`` for
    bayes)."""
    if str(spec) == BAYES:
        return BAYES
    run = RunDir(spec)
    if run.is_run:
        return str(run.meta.get("name") or run.path.name)
    return Path(spec).name


def load_simulator(
    spec: str | Path,
    *,
    data: str | Path | None = None,
    name: str | None = None,
    device: str | None = None,
    max_prompt_tokens: int | None = None,
    **decoding: Any,
) -> Simulator:
    """The simulator ``spec`` names.

    ``spec``: a training run directory (its model, prompt budget, decoding and inference task), a local
    Hugging Face checkpoint directory, or ``bayes`` with ``data`` a synthetic world directory.
    ``decoding``: fields of :class:`~personadrop.models.hf.Decoding` to override.
    """
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
        name=name or simulator_name(spec),
        decoding=Decoding(**decoding),
        max_prompt_tokens=max_prompt_tokens,
    )
    simulator.identity = checkpoint_identity(path)
    return simulator
