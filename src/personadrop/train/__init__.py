"""Training simulators on TRL: ``sft``, ``grpo`` and ``humanlm`` (the methods registry), with per-epoch
persona field dropout.

Entry points::

    run = train_variant("grpo", "data/world", "runs/grpo+fd", train_condition="fields:0.6", profile="default")
    sim = run.simulator()                                            # evaluate it

Configuration is plain values (:class:`TrainConfig`), resolved from a profile, a file and options.
"""

from personadrop.train.config import PROFILES, TrainConfig, resolve_config
from personadrop.train.methods import METHODS, Method, get_method, register
from personadrop.train.run import RunDir
from personadrop.train.variant import train_variant

__all__ = [
    "METHODS",
    "PROFILES",
    "Method",
    "RunDir",
    "TrainConfig",
    "get_method",
    "register",
    "resolve_config",
    "train_variant",
]
