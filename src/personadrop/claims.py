"""What the seed post reports, as data: the comparisons it makes and the claims a study holds against it.

The seed measured Qwen3-8B on HUMANUAL-Opinion with a Claude Haiku judge. Every claim names what it is
measured on here (a ratio of two cells, paired by example and seed) and what the seed says of it: a side
of no effect (a gain), or a level or range (a retention). :mod:`personadrop.evaluate.verdicts` turns a
claim and a study's numbers into *reproduced*, *refuted* or *inconclusive*.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The comparisons the report tabulates, as (variant, baseline): field dropout's gain for each method, ...
GAINS: tuple[tuple[str, str], ...] = (
    ("grpo+fd", "grpo"),
    ("humanlm+fd", "humanlm"),
    ("humanlm+fd", "grpo"),
    ("humanlm", "grpo"),
    ("grpo", "sft"),
)


@dataclass(frozen=True)
class Ratio:
    """mean(variant under condition) / mean(baseline under baseline_condition), minus 1 for a gain."""

    variant: str
    condition: str
    baseline: str | None = None  # None: the same variant (a retention)
    baseline_condition: str = "full"
    gain: bool = False


@dataclass(frozen=True)
class BestField:
    """How much better ``field`` alone does than the best other single field, for the first of ``variants``
    the study evaluated (a gain of one condition over another)."""

    variants: tuple[str, ...]
    field: str


@dataclass(frozen=True)
class Claim:
    """A claim of the seed and how to hold it against a study.

    ``expect``: ``(low, high)`` for a level or range the seed reports (reproduced when the interval overlaps
    it); None for an effect whose sign the seed reports as ``side`` (reproduced when the interval lies on
    that side of no effect). Several ``measures`` (e.g. "for both HumanLM variants") must all agree.
    """

    text: str
    seed_reports: str
    measures: tuple[Ratio | BestField, ...]
    expect: tuple[float, float] | None = None
    side: int = 1


ONE_FIELD = "only:*"  # the mean over single-field conditions (see personadrop.evaluate.metrics)

CLAIMS: tuple[Claim, ...] = (
    Claim("GRPO + FD over GRPO (full persona)", "+16%", (Ratio("grpo+fd", "full", "grpo", "full", True),)),
    Claim(
        "HumanLM + FD over HumanLM (full persona)",
        "+15%",
        (Ratio("humanlm+fd", "full", "humanlm", "full", True),),
    ),
    Claim(
        "HumanLM + FD over GRPO (full persona)", "+43%", (Ratio("humanlm+fd", "full", "grpo", "full", True),)
    ),
    Claim(
        "HumanLM + FD over HumanLM, one field (mean over fields)",
        "+23%",
        (Ratio("humanlm+fd", ONE_FIELD, "humanlm", ONE_FIELD, True),),
    ),
    Claim(
        "HumanLM + FD retention, one field (mean over fields)",
        "86-90%",
        (Ratio("humanlm+fd", ONE_FIELD),),
        expect=(0.86, 0.90),
    ),
    Claim(
        "HumanLM + FD retention at items:0.9", "92%", (Ratio("humanlm+fd", "items:0.9"),), expect=(0.92, 0.92)
    ),
    Claim("HumanLM retention at items:0.9", "84%", (Ratio("humanlm", "items:0.9"),), expect=(0.84, 0.84)),
    Claim("GRPO retention at items:0.9", "77%", (Ratio("grpo", "items:0.9"),), expect=(0.77, 0.77)),
    Claim(
        "Communication alone nearly matches the full persona, for HumanLM and HumanLM + FD",
        "nearly matches (read: 95-105% retention)",
        (Ratio("humanlm", "only:communication"), Ratio("humanlm+fd", "only:communication")),
        expect=(0.95, 1.05),
    ),
    Claim(
        "For the base model, Values is the most useful single field",
        "Values best",
        (BestField(("prompted", "grpo"), "values"),),
    ),
)
