"""report.md from a :class:`~personadrop.evaluate.summary.Summary`: headline, verdicts, cautions, tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from personadrop.claims import GAINS
from personadrop.evaluate.human import HumanAgreement
from personadrop.evaluate.metrics import MIN_CEILING_LIFT, NAN_ESTIMATE, SINGLE_FIELD_MEAN, Estimate
from personadrop.evaluate.population import unreadable_share
from personadrop.evaluate.summary import Summary
from personadrop.evaluate.verdicts import RULE, Verdict
from personadrop.models.scaffold import RULE as SCAFFOLD_RULE
from personadrop.report.headline import ci, dropout_rates, fmt, gain, headline, pct, retention_range, share
from personadrop.variants import CEILING, ordered

#: A variant gets a caution when at least this share of its outputs under some condition held no reply.
UNREADABLE_CAUTION = 0.05


def intervals_note(summary: Summary) -> str:
    """How the intervals were made, in one sentence a reader needs before the numbers."""
    counts = sorted({len(s) for s in summary.seeds.values()})
    if not counts:
        return "95% intervals are bootstraps over test examples."
    if counts == [1]:
        return (
            "Each trained variant was trained once (one seed): its 95% intervals cover test-example noise "
            "only, not the noise between training runs."
        )
    seeds = "-".join(str(c) for c in (counts[0], counts[-1])) if len(counts) > 1 else str(counts[0])
    return (
        f"Each trained variant was trained with {seeds} seeds; cells are means over seeds, and 95% intervals "
        "come from a two-level bootstrap: resample the seeds, then the test examples within each resampled "
        "seed (gains and retention are paired by example within a seed)."
    )


def verdict_rows(summary: Summary) -> list[dict[str, str]]:
    return [
        {
            "claim": v.claim,
            "seed reports": v.seed_reports,
            "this study [95% CI]": verdict_number(v),
            "verdict": v.verdict + (f" ({v.detail})" if v.detail and v.verdict == "refuted" else ""),
        }
        for v in summary.verdicts
    ]


def verdict_number(v: Verdict) -> str:
    if v.kind == "level":
        return f"{pct(v.ours)} [{pct(v.ci_low)}, {pct(v.ci_high)}]"
    return f"{pct(v.ours, True)} [{pct(v.ci_low, True)}, {pct(v.ci_high, True)}]"


def cautions(summary: Summary) -> list[str]:
    """Warnings a reader needs before the numbers, one line each (none when all is well).

    - A variant that scores as well with no persona as with the full one (retention under ``none`` not
      clearly below 100%) does not use the persona: its retention is trivially high.
    - With a ceiling (a synthetic world): a variant whose full-persona score stays below the ceiling's
      ``none`` score, what a perfect persona-blind simulator reaches, has not learned the task itself yet.
    - A variant that wrote no readable reply in a share of its outputs of some condition (scored 0 there).
    """
    variants = [v for v in ordered(summary.scores) if v != summary.reference]
    out = []
    ignore = [v for v in variants if summary.retention_ci.get(v, {}).get("none", NAN_ESTIMATE).ci_high >= 1.0]
    if ignore:
        out.append(
            f"{', '.join(summary.label(v) for v in ignore)} score as well with no persona as with the full "
            "one "
            "(retention under `none` not below 100%): they do not use the persona, so their retention under "
            "missing fields says nothing about robustness (see persona use)."
        )
    blind = summary.score(summary.reference, "none").mean if summary.reference in summary.scores else None
    weak = [v for v in variants if blind is not None and summary.score(v, "full").ci_high < blind]
    if weak:
        out.append(
            f"{', '.join(summary.label(v) for v in weak)} score below {blind:.3f} with the full persona, "
            f"what {'a perfect simulator' if summary.reference == CEILING else 'the tabular reference'} "
            f"reaches with no persona at all (`{summary.reference}` under `none`): they are still "
            "learning the task itself; more training (e.g. more SFT epochs) moves every number in this "
            "report."
        )
    for v, cells in summary.unreadable.items():
        condition, worst = max(cells.items(), key=lambda kv: kv[1])
        if worst >= UNREADABLE_CAUTION:
            out.append(
                f"{summary.label(v)} wrote no readable reply in {worst:.0%} of its outputs under "
                f"`{condition}` "
                "(its worst condition; such an output scores 0): there its scores and retention measure the "
                "output format, not how well it reads the persona."
            )
    unanswered = []
    for v in ordered(summary.population):
        shares = {c: unreadable_share(cell) for c, cell in summary.population[v].items()}
        condition, worst = max(shares.items(), key=lambda kv: -1 if math.isnan(kv[1]) else kv[1])
        if worst >= UNREADABLE_CAUTION:
            unanswered.append(f"{summary.label(v)} in {worst:.0%} of its replies under `{condition}`")
    if unanswered:
        out.append(
            f"Named none of the question's options (worst condition; such a reply scores 0): "
            f"{'; '.join(unanswered)}. There the survey scores measure whether a simulator answers in the "
            "options' words as much as how it reads the persona."
        )
    if summary.missing:
        total = sum(n for cells in summary.missing.values() for n in cells.values())
        worst_cell = max(
            ((v, c, n) for v, cells in summary.missing.items() for c, n in cells.items()), key=lambda t: t[2]
        )
        out.append(
            f"{total:,} judgements failed and are left out of the means (most in "
            f"{summary.label(worst_cell[0])} "
            f"under `{worst_cell[1]}`: {worst_cell[2]}); see 'Missing judgements'. Re-running the same "
            "command "
            "retries them."
        )
    return out


def render_markdown(summary: Summary, figures: Sequence[Path], title: str) -> str:
    meta = summary.meta
    ev = meta.evaluations[0] if meta and meta.evaluations else None
    judge = summary.judge
    variants = ordered(summary.scores)
    lines = [f"# {title}", ""]
    lines += [
        f"Data: `{ev.data if ev else '?'}` (split `{ev.split if ev else '?'}`), {summary.n_examples} test "
        f"examples, {summary.n_unseen_examples} of them from users never seen in training. Judge: "
        f"`{judge.name if judge else '?'}`. Scores are mean alignment in [0, 1]. {intervals_note(summary)}",
        "",
        "## Headline",
        "",
    ]
    for base in meta.bases if meta else []:
        seen = f", {base['pretrained']}; never on this study's world" if base.get("pretrained") else ""
        lines += [f"Trained variants start from `{base['model']}`{seen}.", ""]
    lines += _table(
        [
            {
                "variant": r.label,
                "full": ci(r.full),
                "none": ci(r.none),
                "one field (mean)": ci(r.one_field),
                "items:0.9": ci(r.items),
                "retention, one field": retention_range(r.retention_one_field),
                "retention, items:0.9": pct(r.retention_items),
                **({"persona use, full": share(r.persona_use_full)} if summary.persona_use else {}),
                f"below {'ceiling' if summary.reference == CEILING else summary.reference} "
                "(full, unseen users)": fmt(r.below_ceiling, signed=True),
            }
            for r in headline(summary)
        ]
    )
    if summary.verdicts:
        lines += [
            "",
            "### Verdicts on the seed's claims",
            "",
            "The seed measured Qwen3-8B on HUMANUAL-Opinion with a Claude Haiku judge; this study's numbers "
            "come from the data, model and judge named above. " + RULE,
            "",
        ]
        lines += _table(verdict_rows(summary))
        notes = [f"{v.claim}: {v.detail}." for v in summary.verdicts if v.detail and v.verdict != "refuted"]
        if notes:
            lines += ["", *[f"- {n}" for n in notes]]
    if CEILING in summary.scores:
        lines += [
            "",
            "`Bayes-optimal` reads the visible persona with the generator's own model: no simulator can "
            "beat it on unseen users beyond noise. For seen users a model may remember more than the persona "
            "says.",
        ]
    if summary.reference == "tabular":
        lines += [
            "",
            "`tabular` is the reference on survey data: per question a gradient-boosted model fitted on the "
            "training respondents sees exactly the visible items (hidden ones as missing values) and gives "
            "the answer with the best expected score; under `none` it answers from the marginal "
            "distribution, the persona-blind level. It is a reference, not a ceiling: a simulator may beat "
            "it. Persona use is measured against it.",
        ]
    external = [v for v in variants if summary.variants.get(v) and summary.variants[v].kind == "external"]
    if external:
        lines += [
            "",
            f"External simulators ({', '.join(f'`{v}`' for v in external)}) were made outside personadrop: "
            "an API model or a served checkpoint was asked with the same persona rendering and instruction "
            "as a trained simulator (the persona under the condition as the system message, the thread "
            "after it), or a file of replies made elsewhere to the same prompts was read.",
        ]
    sampled = [v for v in variants if summary.variants.get(v) and summary.variants[v].sample]
    if sampled:
        lines += [
            "",
            "Answered on a seeded sample of the test examples (a slow simulator), the same sample under "
            "every condition; their means and intervals are over that sample: "
            + "; ".join(
                f"{summary.label(v)}: {summary.variants[v].sample} of {summary.n_examples}" for v in sampled
            )
            + ".",
        ]
    lines += [line for text in cautions(summary) for line in ("", f"**Caution.** {text}")]
    if any(info.writes_states for info in summary.variants.values()):
        lines += [
            "",
            "Variants that write latent states follow one rule, in training rollouts and here: "
            f"{SCAFFOLD_RULE}.",
        ]
    rates = dropout_rates(summary)
    if rates:
        lines += [
            "",
            "## The field-dropout rate",
            "",
            "Each method at each training rate p (0: trained on full personas), with its seed intervals: "
            "what "
            "dropout costs with the full persona against what it buys with one field.",
            "",
        ]
        lines += _table(
            [
                {
                    "method": method,
                    "p": f"{p:g}",
                    "variant": summary.label(v),
                    "full": ci(summary.scores[v].get("full")),
                    "one field (mean)": ci(summary.scores[v].get(SINGLE_FIELD_MEAN)),
                    "persona use, one field": share(summary.persona_use.get(v, {}).get(SINGLE_FIELD_MEAN)),
                }
                for method, points in rates.items()
                for p, v in points
            ]
        )
    if summary.gains:
        lines += ["", "## Relative gains (paired over examples and seeds)", ""]
        conds = [
            c
            for c in ("full", SINGLE_FIELD_MEAN, "items:0.9", "none")
            if any(c in g for g in summary.gains.values())
        ]
        lines += _table(
            [{"comparison": k, **{_cond(c): gain(g.get(c)) for c in conds}} for k, g in summary.gains.items()]
        )
        spread = _seed_spread(summary)
        if spread:
            lines += ["", "Per training seed (each seed's gain on the full persona):", "", *spread]
    lines += ["", "## All conditions", ""]
    conditions = list(dict.fromkeys(c for v in summary.scores.values() for c in v))
    lines += _table(
        [
            {"condition": _cond(c), **{summary.label(v): fmt(summary.score(v, c).mean) for v in variants}}
            for c in conditions
        ]
    )
    lines += ["", "Retention (score under the condition / score with the full persona, same variant):", ""]
    lines += _table(
        [
            {"condition": _cond(c), **{summary.label(v): pct(summary.retention[v].get(c)) for v in variants}}
            for c in conditions
            if c != "full"
        ]
    )
    if summary.persona_use:
        trained = [v for v in variants if v != summary.reference]
        lines += [
            "",
            "Persona use ((score - ceiling with no persona) / (ceiling under the condition - ceiling with no "
            "persona): the share of what the visible fields make achievable that the variant realizes; 0 is "
            "no better than a perfect persona-blind simulator, 1 is the ceiling; `-` where the visible "
            "fields "
            f"lift the ceiling by less than {MIN_CEILING_LIFT}). Unlike retention, ignoring the persona "
            "cannot score well here:",
            "",
        ]
        lines += _table(
            [
                {
                    "condition": _cond(c),
                    **{summary.label(v): share(summary.persona_use[v].get(c)) for v in trained},
                }
                for c in conditions
                if c != "none" and any(c in summary.persona_use.get(v, {}) for v in trained)
            ]
        )
    if summary.dimensions:
        lines += ["", "## Per dimension (full persona)", ""]
        lines += _table(
            [
                {
                    "variant": summary.label(v),
                    **{d: fmt(x) for d, x in summary.dimensions[v].get("full", {}).items()},
                }
                for v in variants
            ]
        )
    if summary.by_user:
        lines += ["", "## Seen and unseen users (full persona)", ""]
        lines += _table(
            [
                {
                    "variant": summary.label(v),
                    **{group: ci(summary.by_user[group].get(v, {}).get("full")) for group in summary.by_user},
                }
                for v in variants
            ]
        )
    if judge is not None:
        lines += [
            "",
            "## Judge",
            "",
            f"{judge.calls} calls, {judge.cache_hits} cache hits, {judge.failures} failed judgements (left "
            "out "
            f"of every mean, never scored 0), {judge.input_tokens} input and {judge.output_tokens} output "
            f"tokens, ${judge.cost_usd:.4f}.",
            "",
        ]
    if summary.population:
        lines += _population_section(summary)
    if summary.human is not None:
        lines += _human_section(summary.human)
    if summary.missing:
        lines += [
            "## Missing judgements",
            "",
            "Failed judgements per cell (left out of that cell's mean):",
            "",
        ]
        missing_conditions = list(dict.fromkeys(c for cells in summary.missing.values() for c in cells))
        lines += _table(
            [
                {
                    "variant": summary.label(v),
                    **{c: str(summary.missing[v].get(c, 0)) for c in missing_conditions},
                }
                for v in ordered(summary.missing)
            ]
        )
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{f.stem}]({f.as_posix()})\n" for f in figures]
    return "\n".join(lines) + "\n"


def _seed_spread(summary: Summary) -> list[str]:
    """One line per comparison whose two sides have several seeds: each seed's full-persona gain."""
    out = []
    for a, b in GAINS:
        if f"{a} vs {b}" not in summary.gains:
            continue
        seeds_a, seeds_b = summary.per_seed.get(a, {}), summary.per_seed.get(b, {})
        shared = [s for s in seeds_a if s in seeds_b]
        if len(shared) < 2:
            continue
        values = []
        for s in shared:
            num, den = seeds_a[s].get("full"), seeds_b[s].get("full")
            if num is not None and den:
                values.append(f"seed {s}: {pct(num / den - 1, True)}")
        out.append(f"- {a} vs {b}: " + ", ".join(values))
    return out


def _population_section(summary: Summary) -> list[str]:
    """Survey data: how each variant's answers are distributed against the respondents'."""
    conditions = [c.name for c in summary.conditions if any(c.name in v for v in summary.population.values())]
    lines = [
        "## Population fidelity (survey questions)",
        "",
        "Representativeness of each variant's answers as a population (per question: 1 - Wasserstein / "
        "(K - 1) for ordinal questions, 1 - total variation for nominal ones; the mean over questions, 95% "
        "intervals over respondents). Variety: the entropy of the simulated answers over the real answers' "
        "(0: everyone is given the same answer), with the full persona. Replies that name no option are "
        "left out of both (the judge scores them 0); their share is the last column.",
        "",
    ]
    rows = []
    for v in ordered(summary.population):
        cells = summary.population[v]
        row = {"variant": summary.label(v)}
        row |= {c: ci(cells[c].representativeness) if c in cells else "-" for c in conditions}
        row["variety (full)"] = fmt(cells["full"].variety) if "full" in cells else "-"
        row["no option named (full)"] = pct(unreadable_share(cells["full"])) if "full" in cells else "-"
        rows.append(row)
    lines += [*_table(rows), ""]
    groups = [
        (label, value)
        for cells in summary.population.values()
        if "full" in cells
        for label, values in cells["full"].subgroups.items()
        for value in values
    ]
    groups = list(dict.fromkeys(groups))
    if groups:
        lines += ["By subgroup of respondents (full persona):", ""]
        lines += _table(
            [
                {"variant": summary.label(v)}
                | {
                    f"{label}: {value}": ci(cells["full"].subgroups[label][value])
                    if "full" in cells and value in cells["full"].subgroups.get(label, {})
                    else "-"
                    for label, value in groups
                }
                for v in ordered(summary.population)
                for cells in [summary.population[v]]
            ]
        )
        lines.append("")
    return lines


def _human_section(human: HumanAgreement) -> list[str]:
    """The judge against people (`judge-agreement --human`): agreement per dimension, with intervals."""

    def est(e: Estimate | None) -> str:
        return "-" if e is None else ci(e)

    lines = [
        "## The judge against people",
        "",
        f"{human.ratings:,} ratings by {len(human.raters)} rater(s) ({', '.join(human.raters)}) of items "
        f"drawn blind from this evaluation, set against the judge `{human.judge}`. Alpha is "
        "Krippendorff's, with the judge as one more rater; the correlations are with the mean rating; the "
        "judge is as good as one more person when its pairwise alpha with each person is not clearly below "
        "the people's with each other. 95% intervals over items.",
        "",
    ]
    lines += _table(
        [
            {
                "dimension": row.dimension,
                "items": str(row.items),
                "alpha (interval)": est(row.alpha_interval),
                "alpha (ordinal)": est(row.alpha_ordinal),
                "Spearman": est(row.spearman),
                "Kendall": est(row.kendall),
                "alpha between people": est(row.alpha_people),
                "the judge against one more person": row.verdict,
            }
            for row in human.dimensions
        ]
    )
    return [*lines, ""]


def _table(rows: Sequence[Mapping[str, str]]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(str(r.get(h, "")) for h in head) + " |" for r in rows
    ]


def _cond(c: str) -> str:
    return "one field (mean)" if c == SINGLE_FIELD_MEAN else c
