"""The numbers a reader looks at first, one row per variant: the same rows in report.md, in the CLI's
closing table and on the explorer page, and how numbers are written everywhere."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from personadrop.evaluate.metrics import SINGLE_FIELD_MEAN, Estimate
from personadrop.evaluate.summary import Summary
from personadrop.variants import ordered

ITEMS_HEADLINE = "items:0.9"  # the item-dropout level the seed reports retention at


@dataclass(frozen=True)
class HeadlineRow:
    """One variant's headline numbers (estimates, not text: each reader formats them its own way)."""

    variant: str
    label: str
    full: Estimate | None
    none: Estimate | None
    one_field: Estimate | None  # the mean over single-field conditions
    items: Estimate | None  # at ITEMS_HEADLINE
    retention_one_field: tuple[float, float] | None  # lowest and highest over fields
    retention_items: float | None
    persona_use_full: Estimate | None
    persona_use_one_field: Estimate | None
    below_ceiling: float | None  # the ceiling's full score minus this one's (unseen users where split)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def headline(summary: Summary) -> list[HeadlineRow]:
    """One row per variant, in the variant table's order."""
    rows = []
    unseen = summary.by_user.get("unseen", {})
    for v in ordered(summary.scores):
        scores = summary.scores[v]
        use = summary.persona_use.get(v, {})
        sf = summary.single_field.get(v)
        gap = None
        if v != summary.reference and summary.reference in summary.scores:
            source = unseen if v in unseen and summary.reference in unseen else summary.scores
            if "full" in source[summary.reference] and "full" in source[v]:
                gap = source[summary.reference]["full"].mean - source[v]["full"].mean
        rows.append(
            HeadlineRow(
                variant=v,
                label=summary.label(v),
                full=scores.get("full"),
                none=scores.get("none"),
                one_field=scores.get(SINGLE_FIELD_MEAN),
                items=scores.get(ITEMS_HEADLINE),
                retention_one_field=(sf.retention_min, sf.retention_max) if sf else None,
                retention_items=summary.retention.get(v, {}).get(ITEMS_HEADLINE),
                persona_use_full=use.get("full") if v != summary.reference else None,
                persona_use_one_field=use.get(SINGLE_FIELD_MEAN) if v != summary.reference else None,
                below_ceiling=gap,
            )
        )
    return rows


def dropout_rates(summary: Summary) -> dict[str, list[tuple[float, str]]]:
    """Per method, its variants by field-dropout rate: (0, the plain variant), (p, the +fd variant at p), ...
    for every method the summary holds a field-dropout variant of."""
    from personadrop.dropout import FieldDropout

    out: dict[str, list[tuple[float, str]]] = {}
    for v, info in summary.variants.items():
        c = info.train_condition
        if info.method is None or c is None or v not in summary.scores:
            continue
        if c.is_full:
            out.setdefault(info.method, []).append((0.0, v))
        elif isinstance(c, FieldDropout):
            out.setdefault(info.method, []).append((c.p, v))
    return {m: sorted(points) for m, points in out.items() if any(p > 0 for p, _ in points)}


# --------------------------------------------------------------------------- how numbers are written
def fmt(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def pct(x: float | None, signed: bool = False) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{x:+.0%}" if signed else f"{x:.0%}"


def ci(e: Estimate | None) -> str:
    """``0.512 [0.490, 0.533]``."""
    if e is None or not e.known:
        return "-"
    return f"{e.mean:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


def gain(e: Estimate | None) -> str:
    """A relative gain with its interval: ``+4% [+1%, +7%]``."""
    if e is None or not e.known:
        return "-"
    return f"{e.mean:+.0%} [{e.ci_low:+.0%}, {e.ci_high:+.0%}]"


def share(e: Estimate | None) -> str:
    """A share (persona use) with its interval: ``0.61 [0.55, 0.67]``."""
    if e is None or not e.known:
        return "-"
    return f"{e.mean:.2f} [{e.ci_low:.2f}, {e.ci_high:.2f}]"


def retention_range(r: tuple[float, float] | None) -> str:
    if r is None or any(math.isnan(x) for x in r):
        return "-"
    return f"{pct(r[0])}-{pct(r[1])}"
