"""The five figures of the seed post, drawn from a summary.json: one function per figure.

Every figure shows 95% bootstrap intervals (error bars or bands) and, where the data is a synthetic world,
the Bayes-optimal ceiling. Colours are fixed per variant so the figures read together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from personadrop.evaluate.metrics import SINGLE_FIELD_MEAN, Estimate
from personadrop.evaluate.summary import Summary
from personadrop.persona import title_of
from personadrop.report.headline import dropout_rates
from personadrop.variants import ordered


def color(summary: Summary, variant: str, index: int = 0) -> Any:
    return summary.color(variant) or plt.get_cmap("tab10")(index % 10)


def trained_variants(summary: Summary) -> list[str]:
    """Every simulator of the summary but the ceiling (trained, untrained and external ones)."""
    return [v for v in ordered(summary.scores) if v != summary.reference]


def single_fields(summary: Summary) -> list[tuple[str, str]]:
    """(condition, field) for each condition that shows one field alone, in the summary's order."""
    return [(c.name, c.single_field) for c in summary.conditions if c.single_field is not None]


def item_levels(summary: Summary) -> list[tuple[float, str]]:
    """(p, condition) for each pure item-dropout condition, by p."""
    return sorted((c.item_p, c.name) for c in summary.conditions if c.item_p is not None)


def _triple(e: Estimate | None) -> tuple[float, float, float]:
    return (e.mean, e.ci_low, e.ci_high) if e is not None else (np.nan, np.nan, np.nan)


def _est(summary: Summary, variant: str, condition: str) -> tuple[float, float, float]:
    return _triple(summary.scores.get(variant, {}).get(condition))


def _bars(
    ax: Any,
    x: np.ndarray,
    estimates: Sequence[tuple[float, float, float]],
    width: float,
    seeds: Sequence[Sequence[float]] = (),
    **kw: Any,
) -> None:
    """Bars with their intervals; ``seeds``: per bar, each training seed's own mean, drawn as dots."""
    means = np.array([e[0] for e in estimates])
    err = np.array([[m - lo, hi - m] for m, lo, hi in estimates]).T
    ax.bar(x, means, width, yerr=err, capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#333333"}, **kw)
    for xi, values in zip(x, seeds, strict=False):
        if len(values) > 1:
            named = "one training seed" in ax.get_legend_handles_labels()[1]
            ax.scatter(
                np.full(len(values), xi),
                values,
                s=9,
                color="white",
                edgecolors="#222222",
                linewidths=0.6,
                zorder=4,
                label=None if named else "one training seed",
            )


def _seed_means(summary: Summary, variant: str, conditions: Sequence[str]) -> list[list[float]]:
    """Per condition, the mean of each training seed of ``variant`` (empty for one seed or none)."""
    per_seed = summary.per_seed.get(variant, {})
    return [[cells[c] for cells in per_seed.values() if c in cells] for c in conditions]


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
    with_dropout = {b for _, b in dropout_pairs(summary)}
    variants = [v for v in trained_variants(summary) if v not in with_dropout] or trained_variants(summary)
    conditions, fields = zip(*single_fields(summary), strict=True)
    width = max(3.6 * len(variants), 7.0)  # room for the title even with one variant
    fig, axes = plt.subplots(1, len(variants), figsize=(width, 4.0), sharey=True, squeeze=False)
    x = np.arange(len(fields))
    for i, (ax, v) in enumerate(zip(axes[0], variants, strict=True)):
        _bars(
            ax,
            x,
            [_est(summary, v, c) for c in conditions],
            0.7,
            _seed_means(summary, v, conditions),
            color=color(summary, v, i),
            label="only this field",
        )
        full = _est(summary, v, "full")[0]
        ax.axhline(full, color="#333333", linestyle="--", linewidth=1.2, label="full persona (same model)")
        if summary.reference in summary.scores:
            _ceiling_ticks(
                summary,
                ax,
                x,
                [_est(summary, summary.reference, c)[0] for c in conditions],
                0.35,
                label="ceiling (one field)",
            )
        _blind_line(ax, summary)
        ax.set_xticks(x, [title_of(f) for f in fields], rotation=30, ha="right")
        ax.set_title(f"{summary.label(v)} (full persona: {full:.3f})", fontsize=10)
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
        if all(c in summary.scores[v] for p in pairs for v in p)
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
            seeds = _seed_means(summary, v, conditions)
            _bars(ax, x + offset, ests, width, seeds, color=color(summary, v), label=summary.label(v))
            if k == 1:
                gains = summary.gains.get(f"{fd} vs {base}", {})
                for xi, c, e in zip(x + offset, conditions, ests, strict=True):
                    g = gains[c].mean if c in gains else None
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
    if summary.reference in summary.scores:
        _ceiling_ticks(
            summary, ax, x, [_est(summary, summary.reference, c)[0] for c in conditions], 0.42, linestyles=":"
        )
    _blind_line(ax, summary)
    ax.set_xticks(x, [names[c] for c in conditions])
    return _finish(
        fig,
        ax,
        "Field dropout during training (labels: gain of +FD over the same method without it)",
        "alignment score (response)",
    )


def _field_bars(summary: Summary, estimate: Any, per_seed: bool = True) -> tuple[Figure, Any]:
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
            _seed_means(summary, v, conditions) if per_seed else (),
            color=color(summary, v, i),
            label=summary.label(v),
        )
    if summary.reference in summary.scores and estimate(summary.reference, conditions[0]) is not None:
        _ceiling_ticks(summary, ax, x, [estimate(summary.reference, c)[0] for c in conditions], 0.42)
    ax.set_xticks(x, [f"only {title_of(f)}" for f in fields])
    return fig, ax


def _blind_line(ax: Any, summary: Summary) -> None:
    """The persona-blind level (the ceiling under ``none``) across the plot: a bar below it does no better
    than a perfect simulator that never saw a persona."""
    level = _est(summary, summary.reference, "none")[0] if summary.reference in summary.scores else np.nan
    if np.isfinite(level):
        ax.axhline(
            level,
            color="#8c8c8c",
            linestyle="-.",
            linewidth=1.2,
            zorder=2,
            label=f"Bayes-optimal with no persona ({level:.3f})",
        )


def _ceiling_ticks(
    summary: Summary, ax: Any, x: np.ndarray, values: Sequence[float], half_width: float, **kw: Any
) -> None:
    """The ceiling as a short black line across each group of bars (one legend entry)."""
    ax.hlines(
        values,
        x - half_width,
        x + half_width,
        colors=color(summary, summary.reference),
        linewidths=2,
        zorder=3,
        label=kw.pop("label", summary.label(summary.reference)),
        **kw,
    )


def _retention(summary: Summary, variant: str, condition: str) -> tuple[float, float, float]:
    return _triple(summary.retention_ci.get(variant, {}).get(condition))


def fig_single_field_all(summary: Summary) -> Figure:
    """Figure 3: single-field scores per field for all variants."""
    fig, ax = _field_bars(summary, lambda v, c: _est(summary, v, c))
    _blind_line(ax, summary)
    return _finish(fig, ax, "Scores with a single persona field visible", "alignment score (response)")


def fig_retention_by_field(summary: Summary) -> Figure:
    """Figure 4: retention (score with one field / score with the full persona) by field."""
    fig, ax = _field_bars(summary, lambda v, c: _retention(summary, v, c), per_seed=False)
    ax.axhline(1.0, color="#333333", linestyle="--", linewidth=1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    return _finish(fig, ax, "Retention with a single field (100% = the full-persona score)", "retention")


def fig_item_dropout(summary: Summary) -> Figure:
    """Figure 5: score and retention against the item-dropout probability p (p=0 is the full persona)."""
    levels = [0.0, *(p for p, _ in item_levels(summary))]
    conditions = ["full", *(c for _, c in item_levels(summary))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, v in enumerate(ordered(summary.scores)):
        style = {
            "color": color(summary, v, i),
            "label": summary.label(v),
            "linestyle": ":" if v == summary.reference else "-",
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


def fig_persona_use(summary: Summary) -> Figure:
    """Figure 6: persona use with one field visible, per field and variant: the share of what that field
    makes achievable (ceiling minus the persona-blind ceiling) that the variant realizes."""

    def use(v: str, c: str) -> tuple[float, float, float] | None:
        return None if v == summary.reference else _triple(summary.persona_use.get(v, {}).get(c))

    fig, ax = _field_bars(summary, use, per_seed=False)
    # A field that lifts the ceiling little makes a small denominator: far-negative values are cut at the
    # axis and written there, so the rest of the plot stays readable.
    floor = -2.0
    low = min((b.get_y() + b.get_height() for b in ax.patches), default=0.0)
    if low < floor:
        ax.set_ylim(floor, 1.25)
        for bar in ax.patches:
            value = bar.get_y() + bar.get_height()
            if value < floor:
                x = bar.get_x() + bar.get_width() / 2
                ax.annotate(
                    f"{value:.1f}",
                    (x, floor),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
                )
    ax.axhline(
        1.0, color=color(summary, summary.reference), linewidth=1.5, label="the ceiling reads it all (1)"
    )
    ax.axhline(0.0, color="#8c8c8c", linestyle="-.", linewidth=1.2, label="no better than persona-blind (0)")
    return _finish(
        fig,
        ax,
        "Persona use with a single field visible (unlike retention, not gamed by ignoring it)",
        "persona use",
    )


def fig_dropout_tradeoff(summary: Summary) -> Figure:
    """Figure 7: what the field-dropout rate trades: the full-persona score against the one-field mean (left)
    and against persona use with one field (right), one point per rate (p=0: trained on full personas),
    with 95% intervals over seeds and examples on both axes."""
    rates = dropout_rates(summary)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    panels = (
        (axes[0], lambda v: _est(summary, v, SINGLE_FIELD_MEAN), "score with one field (mean over fields)"),
        (
            axes[1],
            lambda v: _triple(summary.persona_use.get(v, {}).get(SINGLE_FIELD_MEAN)),
            "persona use with one field (mean over fields)",
        ),
    )
    for i, points in enumerate(rates.values()):
        plain = next((v for p, v in points if p == 0), points[0][1])
        style = {"color": color(summary, plain, i), "marker": "o", "markersize": 5, "capsize": 2, "lw": 1.2}
        for ax, x_of, _ in panels:
            xs = np.array([x_of(v) for _, v in points])
            ys = np.array([_est(summary, v, "full") for _, v in points])
            ax.errorbar(
                xs[:, 0],
                ys[:, 0],
                xerr=np.abs(xs[:, 1:].T - xs[:, 0]),
                yerr=np.abs(ys[:, 1:].T - ys[:, 0]),
                label=summary.label(plain) if ax is axes[0] else None,
                **style,
            )
            for k, ((p, _), x, y) in enumerate(zip(points, xs[:, 0], ys[:, 0], strict=True)):
                # Neighbouring rates often sit close: their labels go right-above and left-below in turn.
                even = k % 2 == 0
                ax.annotate(
                    f"p={p:g}", (x, y), textcoords="offset points", xytext=(5, 4) if even else (-5, -11),
                    ha="left" if even else "right", fontsize=8,
                )  # fmt: skip
    for ax, _, xlabel in panels:
        ax.set_xlabel(xlabel)
        ax.set_ylabel("score with the full persona")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
    title = "Field-dropout rate: full-persona score against one-field score and persona use"
    if (
        summary.reference in summary.scores
    ):  # written, not drawn: a line far above the points would squash them
        ceiling = (
            _est(summary, summary.reference, "full")[0],
            _est(summary, summary.reference, SINGLE_FIELD_MEAN)[0],
        )
        title += f"\n(Bayes-optimal: {ceiling[0]:.3f} with the full persona, {ceiling[1]:.3f} with one field)"
    fig.suptitle(title, fontsize=11)
    _legend_below(fig, axes[0].get_legend_handles_labels())
    return fig


def fig_population(summary: Summary) -> Figure:
    """Figure 8 (survey data): how each variant's answers match the respondents' as a population, per
    condition (representativeness with its interval), and how varied they are with the full persona."""
    variants = ordered(summary.population)
    conditions = [
        c.name for c in summary.conditions if any(c.name in summary.population[v] for v in variants)
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [3, 1]})
    x = np.arange(len(conditions))
    width = 0.8 / max(len(variants), 1)
    for i, v in enumerate(variants):
        cells = summary.population[v]
        ests = [_triple(cells[c].representativeness) if c in cells else (np.nan,) * 3 for c in conditions]
        _bars(left, x + (i - (len(variants) - 1) / 2) * width, ests, width, color=color(summary, v, i),
              label=summary.label(v))  # fmt: skip
        variety = cells["full"].variety if "full" in cells else np.nan
        right.barh(i, variety, color=color(summary, v, i))
    left.set_xticks(x, conditions, rotation=20, ha="right", fontsize=8)
    left.set_ylabel("representativeness\n(1: distributed as the respondents)")
    left.set_ylim(0, 1.05)
    left.set_title("Answers as a population, per condition", fontsize=11)
    right.set_yticks(range(len(variants)), [summary.label(v) for v in variants], fontsize=8)
    right.axvline(1.0, color="#333333", linestyle="--", linewidth=1)
    right.invert_yaxis()  # the first variant on top, as in the legend
    right.set_xlabel("variety, full persona\n(0: one answer for all,\n1: as varied as the people)")
    right.set_title("Variety", fontsize=11)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3, axis="x" if ax is right else "y")
    _legend_below(fig, left.get_legend_handles_labels())
    return fig


FIGURES = {
    "fig1_single_field_vs_full.png": fig_single_field_vs_full,
    "fig2_field_dropout_effect.png": fig_dropout_effect,
    "fig3_single_field_all_variants.png": fig_single_field_all,
    "fig4_retention_by_field.png": fig_retention_by_field,
    "fig5_item_dropout.png": fig_item_dropout,
    "fig6_persona_use.png": fig_persona_use,
    "fig7_dropout_tradeoff.png": fig_dropout_tradeoff,
    "fig8_population.png": fig_population,
}


def dropout_pairs(summary: Summary) -> list[tuple[str, str]]:
    """(variant, the same trained with dropout) for every pair the summary holds both of."""
    return [
        (info.dropout_of, v)
        for v, info in summary.variants.items()
        if info.dropout_of in summary.scores and v in summary.scores
    ]


def write_figures(summary: Summary, out_dir: Path) -> list[Path]:
    """Draw every figure the summary has data for; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    alone = not trained_variants(summary)  # the reference alone: nothing to set against it
    for name, draw in FIGURES.items():
        if alone and not name.startswith("fig8"):
            continue
        if name.startswith(("fig1", "fig3", "fig4", "fig6")) and not single_fields(summary):
            continue
        if name.startswith("fig6") and not summary.persona_use:
            continue
        if name.startswith("fig5") and not item_levels(summary):
            continue
        if name.startswith("fig2") and not dropout_pairs(summary):
            continue
        if name.startswith("fig7") and not (dropout_rates(summary) and single_fields(summary)):
            continue
        if name.startswith("fig8") and not summary.population:
            continue
        fig = draw(summary)
        fig.savefig(out_dir / name, dpi=130)
        plt.close(fig)
        written.append(out_dir / name)
    return written
