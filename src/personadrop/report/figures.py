"""The five figures of the seed post, drawn from a summary.json: one function per figure.

Every figure shows 95% bootstrap intervals (error bars or bands) and, where the data is a synthetic world,
the Bayes-optimal ceiling. Colours are fixed per variant so the figures read together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from personadrop.evaluate.metrics import SINGLE_FIELD_MEAN, item_p_of, single_field_of
from personadrop.persona import title_of
from personadrop.variants import CEILING, DROPOUT_PAIRS, label, ordered
from personadrop.variants import color as variant_color

Summary = Mapping[str, Any]


def color(variant: str, index: int = 0) -> Any:
    return variant_color(variant) or plt.get_cmap("tab10")(index % 10)


def trained_variants(summary: Summary) -> list[str]:
    return [v for v in ordered(summary["scores"]) if v != CEILING]


def _conditions(summary: Summary) -> list[str]:
    return list(dict.fromkeys(c for v in summary["scores"].values() for c in v))


def single_fields(summary: Summary) -> list[tuple[str, str]]:
    """(condition, field) for each condition that shows one field alone, in the summary's order."""
    return [(c, f) for c in _conditions(summary) if (f := single_field_of(c)) is not None]


def item_levels(summary: Summary) -> list[tuple[float, str]]:
    """(p, condition) for each pure item-dropout condition, by p."""
    return sorted((p, c) for c in _conditions(summary) if (p := item_p_of(c)) is not None)


def _est(summary: Summary, variant: str, condition: str) -> tuple[float, float, float]:
    e = summary["scores"].get(variant, {}).get(condition)
    if not e:
        return (np.nan, np.nan, np.nan)
    return e["mean"], e["ci_low"], e["ci_high"]


def _bars(
    ax: Any, x: np.ndarray, estimates: Sequence[tuple[float, float, float]], width: float, **kw: Any
) -> None:
    means = np.array([e[0] for e in estimates])
    err = np.array([[m - lo, hi - m] for m, lo, hi in estimates]).T
    ax.bar(x, means, width, yerr=err, capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#333333"}, **kw)


def _finish(fig: Figure, ax: Any, title: str, ylabel: str) -> Figure:
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    _legend_below(fig, ax.get_legend_handles_labels())
    return fig


def _legend_below(fig: Figure, handles_labels: tuple[list[Any], list[str]]) -> None:
    """One legend under the plot, where it cannot cover a bar."""
    handles, labels = handles_labels
    ncol = min(len(labels), 4)  # long labels (the ceilings) must not run off the figure's edges
    rows = -(-len(labels) // max(ncol, 1))
    fig.tight_layout(rect=(0, 0.02 + 0.055 * rows, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)


def fig_single_field_vs_full(summary: Summary) -> Figure:
    """Figure 1: each variant's single-field scores against its own full-persona score (dashed)."""
    with_dropout = {b for _, b in DROPOUT_PAIRS}
    variants = [v for v in trained_variants(summary) if v not in with_dropout] or trained_variants(summary)
    conditions, fields = zip(*single_fields(summary), strict=True)
    width = max(3.6 * len(variants), 7.0)  # room for the title even with one variant
    fig, axes = plt.subplots(1, len(variants), figsize=(width, 4.0), sharey=True, squeeze=False)
    x = np.arange(len(fields))
    for i, (ax, v) in enumerate(zip(axes[0], variants, strict=True)):
        _bars(
            ax, x, [_est(summary, v, c) for c in conditions], 0.7, color=color(v, i), label="only this field"
        )
        full = _est(summary, v, "full")[0]
        ax.axhline(full, color="#333333", linestyle="--", linewidth=1.2, label="full persona (same model)")
        if CEILING in summary["scores"]:
            _ceiling_ticks(
                ax, x, [_est(summary, CEILING, c)[0] for c in conditions], 0.35, label="ceiling (one field)"
            )
        _blind_line(ax, summary)
        ax.set_xticks(x, [title_of(f) for f in fields], rotation=30, ha="right")
        ax.set_title(f"{label(v)} (full persona: {full:.3f})", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("alignment score (response)")
    fig.suptitle("Scores drop when only one persona field is visible", fontsize=11)
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(fig, (handles, [lb.split(" (")[0] if lb.startswith("full") else lb for lb in labels]))
    return fig


def fig_dropout_effect(summary: Summary) -> Figure:
    """Figure 2: field dropout's effect on GRPO and HumanLM, with relative gains."""
    pairs = dropout_pairs(summary)
    conditions = [
        c
        for c in ("full", SINGLE_FIELD_MEAN, "items:0.9")
        if all(c in summary["scores"][v] for p in pairs for v in p)
    ]
    names = {
        "full": "full persona",
        SINGLE_FIELD_MEAN: "one field (mean)",
        "items:0.9": "items dropped p=0.9",
    }
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    width = 0.8 / max(1, 2 * len(pairs))
    x = np.arange(len(conditions))
    for j, (base, fd) in enumerate(pairs):
        for k, v in enumerate((base, fd)):
            offset = (2 * j + k - (2 * len(pairs) - 1) / 2) * width
            ests = [_est(summary, v, c) for c in conditions]
            _bars(ax, x + offset, ests, width, color=color(v), label=label(v))
            if k == 1:
                gains = summary.get("gains", {}).get(f"{fd} vs {base}", {})
                for xi, c, e in zip(x + offset, conditions, ests, strict=True):
                    g = gains.get(c, {}).get("mean")
                    if g is not None and np.isfinite(g):
                        top = max(e[2], _est(summary, base, c)[2])
                        ax.annotate(
                            f"{g:+.0%}",
                            (xi - width / 2, top),
                            textcoords="offset points",
                            xytext=(0, 4),
                            ha="center",
                            fontsize=8,
                            fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                        )
    if CEILING in summary["scores"]:
        _ceiling_ticks(ax, x, [_est(summary, CEILING, c)[0] for c in conditions], 0.42, linestyles=":")
    _blind_line(ax, summary)
    ax.set_xticks(x, [names[c] for c in conditions])
    return _finish(
        fig,
        ax,
        "Field dropout during training (labels: gain of +FD over the same method without it)",
        "alignment score (response)",
    )


def _field_bars(summary: Summary, estimate: Any) -> tuple[Figure, Any]:
    """Grouped bars: one group per single-field condition, one bar per trained variant, the ceiling as
    ticks."""
    variants = trained_variants(summary)
    conditions, fields = zip(*single_fields(summary), strict=True)
    fig, ax = plt.subplots(figsize=(8.5, 4.4))
    x = np.arange(len(fields))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        _bars(
            ax,
            x + (i - (len(variants) - 1) / 2) * width,
            [estimate(v, c) for c in conditions],
            width,
            color=color(v, i),
            label=label(v),
        )
    if CEILING in summary["scores"]:
        _ceiling_ticks(ax, x, [estimate(CEILING, c)[0] for c in conditions], 0.42)
    ax.set_xticks(x, [f"only {title_of(f)}" for f in fields])
    return fig, ax


def _blind_line(ax: Any, summary: Summary) -> None:
    """The persona-blind level (the ceiling under ``none``) across the plot: a bar below it does no better
    than a perfect simulator that never saw a persona."""
    level = _est(summary, CEILING, "none")[0] if CEILING in summary["scores"] else np.nan
    if np.isfinite(level):
        ax.axhline(
            level,
            color="#8c8c8c",
            linestyle="-.",
            linewidth=1.2,
            zorder=2,
            label=f"Bayes-optimal with no persona ({level:.3f})",
        )


def _ceiling_ticks(ax: Any, x: np.ndarray, values: Sequence[float], half_width: float, **kw: Any) -> None:
    """The ceiling as a short black line across each group of bars (one legend entry)."""
    ax.hlines(
        values,
        x - half_width,
        x + half_width,
        colors=color(CEILING),
        linewidths=2,
        zorder=3,
        label=kw.pop("label", label(CEILING)),
        **kw,
    )


def _retention(summary: Summary, variant: str, condition: str) -> tuple[float, float, float]:
    e = summary.get("retention_ci", {}).get(variant, {}).get(condition)
    return (e["mean"], e["ci_low"], e["ci_high"]) if e else (np.nan, np.nan, np.nan)


def fig_single_field_all(summary: Summary) -> Figure:
    """Figure 3: single-field scores per field for all variants."""
    fig, ax = _field_bars(summary, lambda v, c: _est(summary, v, c))
    _blind_line(ax, summary)
    return _finish(fig, ax, "Scores with a single persona field visible", "alignment score (response)")


def fig_retention_by_field(summary: Summary) -> Figure:
    """Figure 4: retention (score with one field / score with the full persona) by field."""
    fig, ax = _field_bars(summary, lambda v, c: _retention(summary, v, c))
    ax.axhline(1.0, color="#333333", linestyle="--", linewidth=1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    return _finish(fig, ax, "Retention with a single field (100% = the full-persona score)", "retention")


def fig_item_dropout(summary: Summary) -> Figure:
    """Figure 5: score and retention against the item-dropout probability p (p=0 is the full persona)."""
    levels = [0.0, *(p for p, _ in item_levels(summary))]
    conditions = ["full", *(c for _, c in item_levels(summary))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, v in enumerate(ordered(summary["scores"])):
        style = {
            "color": color(v, i),
            "label": label(v),
            "linestyle": ":" if v == CEILING else "-",
            "marker": "o",
            "markersize": 3,
        }
        ests = np.array([_est(summary, v, c) for c in conditions])
        left.plot(levels, ests[:, 0], **style)
        left.fill_between(levels, ests[:, 1], ests[:, 2], color=style["color"], alpha=0.15)
        ret = np.array([_retention(summary, v, c) for c in conditions])
        right.plot(levels, ret[:, 0], **style)
        right.fill_between(levels, ret[:, 1], ret[:, 2], color=style["color"], alpha=0.15)
    for ax in (left, right):
        ax.set_xlabel("item dropout probability p (each line of each field hidden)")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
    _blind_line(left, summary)
    left.set_ylabel("alignment score (response)")
    left.set_title("Score under item dropout", fontsize=11)
    right.set_ylabel("retention")
    right.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    right.set_title("Retention under item dropout (never seen in training)", fontsize=11)
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {
    "fig1_single_field_vs_full.png": fig_single_field_vs_full,
    "fig2_field_dropout_effect.png": fig_dropout_effect,
    "fig3_single_field_all_variants.png": fig_single_field_all,
    "fig4_retention_by_field.png": fig_retention_by_field,
    "fig5_item_dropout.png": fig_item_dropout,
}


def dropout_pairs(summary: Summary) -> list[tuple[str, str]]:
    """(variant, the same trained with dropout) for every pair the summary holds both of."""
    return [(a, b) for a, b in DROPOUT_PAIRS if a in summary["scores"] and b in summary["scores"]]


def write_figures(summary: Summary, out_dir: Path) -> list[Path]:
    """Draw every figure the summary has data for; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        if name.startswith(("fig1", "fig3", "fig4")) and not single_fields(summary):
            continue
        if name.startswith("fig5") and not item_levels(summary):
            continue
        if name.startswith("fig2") and not dropout_pairs(summary):
            continue
        fig = draw(summary)
        fig.savefig(out_dir / name, dpi=130)
        plt.close(fig)
        written.append(out_dir / name)
    return written
