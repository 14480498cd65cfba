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

from pydantic import BaseModel, ConfigDict, Field

from personadrop.data.example import Example
from personadrop.dropout import Condition, VisiblePersona
from personadrop.judges.base import JudgeUsage


@dataclass(frozen=True)
class SimulationItem:
    """One thing to simulate: an example, what of its persona is visible, and the task."""

    example: Example
    visible: VisiblePersona
    task: str = "response"
    #: The sampling seed of this item alone (a served request's ``seed``); None: drawn from the
    #: simulator's decoding seed and the prompt. Masks are keyed apart, by the :class:`MaskKey`.
    seed: int | None = None
    #: The name of the condition the persona was masked under, where the item is a cell of a grid (a file
    #: of replies made elsewhere is keyed by it).
    condition: str | None = None


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
    #: Made outside personadrop (a prompted API model, a served checkpoint, a file of replies): the report
    #: labels it so.
    external: bool = False
    #: Calls, tokens and cost of a simulator behind a paid API (None: nothing to count).
    usage: JudgeUsage | None = None

    @abstractmethod
    def generate(self, items: Sequence[SimulationItem]) -> list[str | None]:
        """Raw outputs (for ``states+response`` the tagged text; the reply is read with ``parse_output``);
        None where no output could be had (an API call that failed): the row is missing, not scored 0."""

    def expect(self, cells: Sequence[tuple[str, str]]) -> str | None:
        """Check, before any work, that this simulator can answer every (condition name, example id) cell;
        raise a one-line error if not. Returns a note for the user, or None."""
        return None

    def check_ready(self) -> None:  # noqa: B027 - most simulators need nothing checked
        """Fail in one line before any work when the simulator cannot run (an API key not set)."""

    def close(self) -> None:  # noqa: B027 - most simulators hold nothing to release
        """Release what the simulator holds (connections, caches)."""


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
    external: bool = False  # made outside personadrop (an API model, a served checkpoint, a replies file)
    # Answered only a seeded sample of this many of the evaluation's examples (a slow simulator); its means
    # are over those. None: every example.
    sample: int | None = Field(None, ge=1)
