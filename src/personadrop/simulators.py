"""Any simulator by name: a training run directory, a local checkpoint, or ``bayes`` (a world's reference).

The evaluator, the study and the command line all resolve what the user typed through :func:`load_simulator`,
so "a model" means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personadrop.errors import ConfigError
from personadrop.models.base import Simulator, SimulatorRecord
from personadrop.train.run import RunDir

BAYES = "bayes"


def member_name(variant: str, seed: int | None) -> str:
    """The name a simulator's results are stored under: its variant, and for a trained run its seed
    (``grpo+fd/seed-1``); the seeds of one variant are then one row of the report."""
    return variant if seed is None else f"{variant}/seed-{seed}"


def describe_simulator(spec: str | Path) -> tuple[str, SimulatorRecord]:
    """The stored name of the simulator ``spec`` names and what it is: a training run's variant and seed
    (from run.json), else the checkpoint directory's name (``bayes`` for bayes)."""
    if str(spec) == BAYES:
        return BAYES, SimulatorRecord(variant=BAYES, run=BAYES)
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
        name=name or describe_simulator(spec)[0],
        decoding=Decoding(**decoding),
        max_prompt_tokens=max_prompt_tokens,
    )
    simulator.identity = checkpoint_identity(path)
    return simulator
