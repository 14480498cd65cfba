"""The study's variants in one table: what each name means, how it is trained, and how it is drawn.

Every other module asks this one: the study config validates names against it, the study trains what it
says, and the report takes its labels, colours and dropout pairs. Adding a variant touches this file only.
The seed's comparisons and claims are in :mod:`personadrop.claims`.

A variant trained ``with_dropout`` sees every training prompt through the study's ``train_condition``
(``fields:0.6`` by default: each persona field hidden with probability 0.6, redrawn each epoch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from personadrop.dropout import FieldDropout, Policy

#: The seed's field dropout: each field hidden with probability 0.6 per training example.
DEFAULT_FIELD_DROPOUT = FieldDropout(0.6)

Kind = Literal["trained", "untrained", "reference"]


@dataclass(frozen=True)
class VariantSpec:
    """One row of the table."""

    name: str
    label: str  # how figures and reports name it
    color: str
    kind: Kind = "trained"
    method: str | None = None  # the training method (sft, grpo, humanlm); None: not trained
    dropout_of: str | None = None  # this variant is that one trained under the study's train condition(s)
    # A train condition of the row's own (instead of the study's); None: full for a plain row, the study's
    # train conditions for a dropout row.
    train_condition: Policy | None = None
    warm_start: str | None = None  # a variant whose finished run this one starts from (both in a study)
    needs_world: bool = False  # exists only where the data is a synthetic world
    needs_survey: bool = False  # exists only where the data is survey respondents
    needs_checkpoint: bool = False  # exists only where the study's model is a pretrained checkpoint

    @property
    def trained(self) -> bool:
        return self.kind == "trained"

    @property
    def with_dropout(self) -> bool:
        return self.dropout_of is not None or (
            self.train_condition is not None and not self.train_condition.is_full
        )


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
    # Survey respondents' reference: a tabular model that sees exactly the visible items (no ceiling exists).
    VariantSpec("tabular", "Tabular reference", "#555555", kind="reference", needs_survey=True),
)

VARIANTS: dict[str, VariantSpec] = {v.name: v for v in _TABLE}
#: The reference whose scores are the ceiling, where the data is a synthetic world.
CEILING = "bayes"
#: The references a report measures persona use against, in order of preference: the world's ceiling, else
#: a survey's tabular reference.
REFERENCES = (CEILING, "tabular")


def reference_of(names: Iterable[str]) -> str | None:
    """The reference among ``names`` that persona use is measured against; None if there is none."""
    present = set(names)
    return next((r for r in REFERENCES if r in present), None)


def label(name: str) -> str:
    """How reports name a variant: the table's label, else the name itself."""
    v = VARIANTS.get(name)
    return v.label if v else name


def row_of(method: str | None, train_condition: Policy | None) -> VariantSpec | None:
    """The table's row a trained simulator belongs to: the method's plain row under the full persona, else
    its dropout row (a study's ``grpo+fd0.2`` is a ``grpo+fd`` at another rate)."""
    if method is None:
        return None
    dropout = train_condition is not None and not train_condition.is_full
    return next((v for v in _TABLE if v.trained and v.method == method and v.with_dropout == dropout), None)


def color(name: str) -> str | None:
    v = VARIANTS.get(name)
    return v.color if v else None


def ordered(names: Iterable[str]) -> list[str]:
    """Names in the table's reading order, then unknown ones in the order given."""
    names = list(names)
    known = list(VARIANTS)
    return sorted(names, key=lambda v: (known.index(v) if v in known else len(known), names.index(v)))


def variant_name(method: str, train_condition: Policy) -> str:
    """What a trained simulator is called, in a study, in ``personadrop train``, run.json and the report:
    the method; ``+fd`` under the seed's field dropout (``fields:0.6``); ``+fd<p>`` under field dropout at
    another rate; else the method and its train condition (``sft+items:0.5``)."""
    if train_condition.is_full:
        return method
    if isinstance(train_condition, FieldDropout) and train_condition == FieldDropout(train_condition.p):
        return method + ("+fd" if train_condition == DEFAULT_FIELD_DROPOUT else f"+fd{train_condition.p:g}")
    return f"{method}+{train_condition.name}"
