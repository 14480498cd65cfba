"""The study's variants in one table: what each name means, how it is trained, and how it is drawn.

Every other module asks this one: the study config validates names against it, the study trains what it
says, metrics and the report compare the pairs it lists, figures take its labels and colours. Adding a
variant touches this file only.

A variant trained ``with_dropout`` sees every training prompt through the study's ``train_condition``
(``fields:0.6`` by default: each persona field hidden with probability 0.6, redrawn each epoch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["trained", "untrained", "reference"]


@dataclass(frozen=True)
class VariantSpec:
    """One row of the table."""

    name: str
    label: str  # how figures and reports name it
    color: str
    kind: Kind = "trained"
    method: str | None = None  # the training method (sft, grpo, humanlm); None: not trained
    dropout_of: str | None = None  # this variant is that one trained under the study's train condition
    warm_start: str | None = None  # a variant whose finished run this one starts from (both in a study)
    needs_world: bool = False  # exists only where the data is a synthetic world
    needs_checkpoint: bool = False  # exists only where the study's model is a pretrained checkpoint

    @property
    def trained(self) -> bool:
        return self.kind == "trained"

    @property
    def with_dropout(self) -> bool:
        return self.dropout_of is not None


_TABLE: tuple[VariantSpec, ...] = (
    # The study's base checkpoint as it is, with the persona in its prompt: the untrained baseline.
    VariantSpec("prompted", "Prompted (untrained)", "#7b5ea7", kind="untrained", needs_checkpoint=True),
    VariantSpec("sft", "SFT", "#9e9e9e", method="sft"),
    # GRPO starts from the finished SFT run (same data, seed and persona): its warm start is that stage.
    VariantSpec("grpo", "GRPO", "#8fb8de", method="grpo", warm_start="sft"),
    VariantSpec("grpo+fd", "GRPO + FD", "#1f5f99", method="grpo", dropout_of="grpo"),
    VariantSpec("humanlm", "HumanLM", "#f4b183", method="humanlm"),
    VariantSpec("humanlm+fd", "HumanLM + FD", "#c0504d", method="humanlm", dropout_of="humanlm"),
    # The synthetic world's Bayes-optimal reference: the ceiling every simulator is measured against.
    VariantSpec("bayes", "Bayes-optimal (ceiling)", "#222222", kind="reference", needs_world=True),
)

VARIANTS: dict[str, VariantSpec] = {v.name: v for v in _TABLE}
#: The reference whose scores are the ceiling, where the data is a synthetic world.
CEILING = "bayes"
#: The comparisons the seed reports, as (variant, baseline): field dropout's gain for each method, ...
GAINS: tuple[tuple[str, str], ...] = (
    ("grpo+fd", "grpo"),
    ("humanlm+fd", "humanlm"),
    ("humanlm+fd", "grpo"),
    ("humanlm", "grpo"),
    ("grpo", "sft"),
)
#: (variant, the same variant trained with dropout), for every pair the table has.
DROPOUT_PAIRS: tuple[tuple[str, str], ...] = tuple((v.dropout_of, v.name) for v in _TABLE if v.dropout_of)


def spec(name: str) -> VariantSpec | None:
    """The table's row for ``name``; None for a name it does not know (e.g. a run evaluated by path)."""
    return VARIANTS.get(name)


def label(name: str) -> str:
    v = VARIANTS.get(name)
    return v.label if v else name


def color(name: str) -> str | None:
    v = VARIANTS.get(name)
    return v.color if v else None


def ordered(names: Iterable[str]) -> list[str]:
    """Names in the table's reading order, then unknown ones in the order given."""
    names = list(names)
    known = list(VARIANTS)
    return sorted(names, key=lambda v: (known.index(v) if v in known else len(known), names.index(v)))


def run_name(method: str, train_condition: str = "full") -> str:
    """What a training run is called: the method, ``+fd`` under field dropout (as in the table), else the
    method and its train condition (``sft+items:0.5``)."""
    from personadrop.dropout import FieldDropout, parse_condition

    policy = parse_condition(train_condition)
    if policy.is_full:
        return method
    return method + ("+fd" if isinstance(policy, FieldDropout) else f"+{policy.name}")
