"""The simulator seam: anything that writes a user's reply from an example and the persona it may see.

A simulator never knows its judge. Trained models turn each item into chat messages with
:class:`personadrop.prompts.PromptBuilder`; the synthetic world's Bayes-optimal reference reads the
visible persona directly. Both receive the persona already masked, so neither can see hidden fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from personadrop.data.example import Example
from personadrop.dropout import Condition, VisiblePersona


@dataclass(frozen=True)
class SimulationItem:
    """One thing to simulate: an example, what of its persona is visible, and the task."""

    example: Example
    visible: VisiblePersona
    task: str = "response"
    #: The sampling seed of this item alone (a served request's ``seed``); None: drawn from the
    #: simulator's decoding seed and the prompt. Masks are keyed apart, by the :class:`MaskKey`.
    seed: int | None = None


class Simulator(ABC):
    """Writes outputs for a batch of items, in order. Deterministic given its seed and the items."""

    name: str
    #: The task an evaluator asks this simulator for its reply (``states+response`` for HumanLM models).
    inference_task: str = "response"
    #: What model this is (a run id, a checkpoint's fingerprint), so stored results can name their writer.
    identity: dict[str, str] | None = None
    #: How to load this simulator again in another process (arguments of ``simulators.load_simulator``);
    #: None for one built in memory.
    source: dict[str, Any] | None = None
    #: Whether generation is heavy enough to be worth spreading over worker processes.
    parallel_worthwhile: bool = False

    @abstractmethod
    def generate(self, items: Sequence[SimulationItem]) -> list[str]:
        """Raw outputs (for ``states+response`` the tagged text; the reply is read with ``parse_output``)."""


class SimulatorRecord(BaseModel):
    """What answered under one stored name: its variant and training seed, its task, its identity."""

    model_config = ConfigDict(extra="allow")

    variant: str | None = None  # None: the stored name is the variant (records written before seeds)
    seed: int | None = None  # the training seed of a trained simulator
    method: str | None = None
    train_condition: Condition | None = None
    task: str = "response"
    identity: dict[str, Any] | None = None
    run: str | None = None  # the run directory or checkpoint it was loaded from
    base: dict[str, Any] | None = None  # the pretrained model a trained run started from
