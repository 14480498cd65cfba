"""The training methods in one registry: what each asks of the model, what it trains on, and its stages.

A method is data plus stage functions (:mod:`personadrop.train.stages`)::

    sft      the reply, imitated (one SFT stage)
    grpo     SFT warm start, then GRPO on the judge's score of the reply
    humanlm  SFT warm start on "states, then reply", then GRPO over the six states and the reply

Adding a method is one :func:`register` call: a :class:`~personadrop.train.stages.Method` naming its
inference task, its task choosers and its stages. Nothing else in the package branches on a method's name.
"""

from __future__ import annotations

from personadrop.errors import ConfigError
from personadrop.train.datasets import each_state_and, reply_only, states_then_reply
from personadrop.train.stages import Method, Stage, grpo_stage, sft_stage

METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (a name registered twice is an error)."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered already")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name``; a :class:`ConfigError` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; methods are {', '.join(METHODS)}") from None


SFT, GRPO = Stage("sft", sft_stage), Stage("grpo", grpo_stage)

register(Method("sft", "imitate the real replies (supervised fine-tuning)", "response", (SFT,)))
register(
    Method(
        "grpo",
        "SFT warm start, then GRPO on the judge's score of the reply",
        "response",
        (SFT, GRPO),
        grpo_tasks=lambda cfg: reply_only,
        warm_start_from="sft",
    )
)
#: The seed's own method: what ``personadrop export verl`` writes unless told otherwise.
MAIN_METHOD = "humanlm"
register(
    Method(
        MAIN_METHOD,
        "states-then-reply warm start, then GRPO over the six latent states and the reply",
        "states+response",
        (SFT, GRPO),
        sft_tasks=lambda cfg: states_then_reply(cfg.seed, cfg.sft.state_task_share),
        grpo_tasks=lambda cfg: each_state_and(cfg.grpo.humanlm_response_task),
    )
)
