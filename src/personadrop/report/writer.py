"""Write a study's report: summary.json, results.csv, report.md and the five figures.

The report reads evaluation directories only (never a model), so it can be redrawn at any time, and it
holds no timestamps: the same results give byte-identical summaries.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from personadrop import __version__
from personadrop.errors import DataError
from personadrop.evaluate.directory import EvaluationDir, merge_unseen
from personadrop.evaluate.metrics import SINGLE_FIELD_MEAN, summarize
from personadrop.evaluate.store import ScoreRow
from personadrop.report.figures import write_figures
from personadrop.variants import CEILING, label, ordered

#: What the seed post reports on HUMANUAL-Opinion, for side-by-side reading (not a target to hit).
#: A variant gets a caution when at least this share of its outputs under some condition held no reply.
UNREADABLE_CAUTION = 0.05

SEED_CLAIMS = {
    "grpo+fd vs grpo": "+16%",
    "humanlm+fd vs humanlm": "+15%",
    "humanlm+fd vs grpo": "+43%",
    "humanlm+fd single-field retention": "86-90%",
    "humanlm+fd vs humanlm, single field": "+23%",
    "items:0.9 retention": {"humanlm+fd": "92%", "humanlm": "84%", "grpo": "77%"},
}


def write_report(
    eval_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    seed: int = 0,
    resamples: int = 2000,
    title: str = "personadrop report",
) -> dict[str, Any]:
    """Summarize one or more evaluation directories into ``out_dir``; returns the summary."""
    dirs = [EvaluationDir.open(p) for p in eval_dirs]
    judges = sorted({d.judge_name for d in dirs})
    if len(judges) > 1:
        raise DataError(f"these evaluations used different judges ({', '.join(judges)}); report them apart")
    rows: list[ScoreRow] = []
    owner: dict[str, Path] = {}
    for d in dirs:
        for row in d.store.score_rows(d.judge_name):
            if owner.setdefault(row.variant, d.path) != d.path:
                raise DataError(f"variant {row.variant!r} appears in both {owner[row.variant]} and {d.path}")
            rows.append(row)
    if not rows:
        raise DataError(f"no scored rows in {', '.join(str(d.path) for d in dirs)}")

    summary = summarize(rows, merge_unseen(dirs), seed=seed, resamples=resamples)
    summary["unreadable"] = _unreadable(dirs)
    summary["judge"] = _merge_judge_blocks([d.judge_block() for d in dirs])
    summary["meta"] = {
        "personadrop": __version__,
        "evaluations": [
            {
                "path": str(d.path),
                **{k: d.meta.get(k) for k in ("data", "split", "seed", "judge", "dimensions")},
            }
            for d in dirs
        ],
        "bootstrap": {"seed": seed, "resamples": resamples, "level": 0.95},
        "bases": _bases(dirs),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n")
    _write_csv(dirs, out / "results.csv")
    figures = write_figures(summary, out / "figures")
    (out / "report.md").write_text(render_markdown(summary, [f.relative_to(out) for f in figures], title))
    return summary


def _unreadable(dirs: Sequence[EvaluationDir]) -> dict[str, dict[str, float]]:
    """Per variant and condition, the share of outputs from which no reply could be read (a HumanLM output
    without ``<response>``, scored 0 on every dimension); cells without any are left out."""
    counts: dict[tuple[str, str], list[int]] = {}
    for d in dirs:
        for g in d.store.generations.values():
            cell = counts.setdefault((g.variant, g.condition), [0, 0])
            cell[0] += g.reply is None
            cell[1] += 1
    out: dict[str, dict[str, float]] = {}
    for (variant, condition), (bad, total) in sorted(counts.items()):
        if bad:
            out.setdefault(variant, {})[condition] = round(bad / total, 4)
    return out


# --------------------------------------------------------------------------- headline numbers
def headline(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per variant: the numbers a reader looks at first, formatted."""
    rows = []
    unseen = summary.get("by_user", {}).get("unseen", {})
    for v in ordered(summary["scores"]):
        scores = summary["scores"][v]
        ret = summary["retention"].get(v, {})
        sf = summary.get("single_field", {}).get(v, {})
        gap = ""
        if v != CEILING and CEILING in summary["scores"]:
            source = unseen if v in unseen and CEILING in unseen else summary["scores"]
            gap = fmt(source[CEILING]["full"]["mean"] - source[v]["full"]["mean"], signed=True)
        rows.append(
            {
                "variant": label(v),
                "full": _ci(scores.get("full")),
                "none": _ci(scores.get("none")),
                "one field (mean)": _ci(scores.get(SINGLE_FIELD_MEAN)),
                "items:0.9": _ci(scores.get("items:0.9")),
                "retention, one field": f"{pct(sf.get('retention_min'))}-{pct(sf.get('retention_max'))}"
                if sf
                else "",
                "retention, items:0.9": pct(ret.get("items:0.9")),
                "below ceiling (full, unseen users)": gap,
            }
        )
    return rows


def seed_comparison(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(claim, what the seed reports, what this study measured) for the seed's headline claims."""
    gains = summary.get("gains", {})
    out = []
    for key, text in (
        ("grpo+fd vs grpo", "GRPO + FD over GRPO (full persona)"),
        ("humanlm+fd vs humanlm", "HumanLM + FD over HumanLM (full persona)"),
        ("humanlm+fd vs grpo", "HumanLM + FD over GRPO (full persona)"),
    ):
        if key in gains:
            out.append((text, SEED_CLAIMS[key], _gain(gains[key].get("full"))))
    if "humanlm+fd vs humanlm" in gains and SINGLE_FIELD_MEAN in gains["humanlm+fd vs humanlm"]:
        out.append(
            (
                "HumanLM + FD over HumanLM, one field (mean over fields)",
                SEED_CLAIMS["humanlm+fd vs humanlm, single field"],
                _gain(gains["humanlm+fd vs humanlm"][SINGLE_FIELD_MEAN]),
            )
        )
    sf = summary.get("single_field", {}).get("humanlm+fd")
    if sf:
        out.append(
            (
                "HumanLM + FD retention, one field (range over fields)",
                SEED_CLAIMS["humanlm+fd single-field retention"],
                f"{pct(sf['retention_min'])}-{pct(sf['retention_max'])}",
            )
        )
    for v, claim in SEED_CLAIMS["items:0.9 retention"].items():
        value = summary["retention"].get(v, {}).get("items:0.9")
        if value is not None:
            out.append((f"{label(v)} retention at items:0.9", claim, pct(value)))
    return out


def cautions(summary: Mapping[str, Any]) -> list[str]:
    """Warnings a reader needs before the numbers, one line each (none when all is well).

    - A variant that scores as well with no persona as with the full one (retention under ``none`` not
      clearly below 100%) does not use the persona: its retention is trivially high.
    - With a ceiling (a synthetic world): a variant whose full-persona score stays below the ceiling's
      ``none`` score, what a perfect persona-blind simulator reaches, has not learned the task itself yet.
    - A variant that wrote no readable reply in a share of its outputs of some condition (scored 0 there).
    """
    scores, variants = summary["scores"], [v for v in ordered(summary["scores"]) if v != CEILING]
    out = []
    ignore = [
        v
        for v in variants
        if (summary.get("retention_ci", {}).get(v, {}).get("none") or {}).get("ci_high", 0.0) >= 1.0
    ]
    if ignore:
        out.append(
            f"{', '.join(label(v) for v in ignore)} score as well with no persona as with the full one "
            "(retention under `none` not below 100%): they do not use the persona, so their retention under "
            "missing fields says nothing about robustness."
        )
    blind = scores.get(CEILING, {}).get("none", {}).get("mean")
    weak = [
        v for v in variants if blind is not None and (scores[v].get("full", {}).get("ci_high") or 0.0) < blind
    ]
    if weak:
        out.append(
            f"{', '.join(label(v) for v in weak)} score below {blind:.3f} with the full persona, what a "
            "perfect simulator reaches with no persona at all (the ceiling's `none`): they are still "
            "learning the task itself; more training (e.g. more SFT epochs) moves every number in this "
            "report."
        )
    unreadable = [
        (v, max(cells.items(), key=lambda kv: kv[1]))
        for v, cells in (summary.get("unreadable") or {}).items()
        if max(cells.values()) >= UNREADABLE_CAUTION
    ]
    for v, (condition, share) in unreadable:
        out.append(
            f"{label(v)} wrote no readable reply in {share:.0%} of its outputs under `{condition}` (its "
            "worst condition; such an output scores 0): there its scores and retention measure the output "
            "format, not how well it reads the persona."
        )
    missing = summary.get("missing") or {}
    if missing:
        total = sum(n for cells in missing.values() for n in cells.values())
        worst = max(((v, c, n) for v, cells in missing.items() for c, n in cells.items()), key=lambda t: t[2])
        out.append(
            f"{total:,} judgements failed and are left out of the means (most in {label(worst[0])} under "
            f"`{worst[1]}`: {worst[2]}); see 'Missing judgements'. Re-running the same command retries them."
        )
    return out


def render_markdown(summary: Mapping[str, Any], figures: Sequence[Path], title: str) -> str:
    meta = summary.get("meta", {})
    ev = (meta.get("evaluations") or [{}])[0]
    judge = summary.get("judge", {})
    lines = [f"# {title}", ""]
    lines += [
        f"Data: `{ev.get('data')}` (split `{ev.get('split')}`), {summary['n_examples']} test examples, "
        f"{summary['n_unseen_examples']} of them from users never seen in training. Judge: "
        f"`{judge.get('name')}`. "
        f"Scores are mean alignment in [0, 1] with 95% bootstrap intervals over examples.",
        "",
        "## Headline",
        "",
    ]
    for base in meta.get("bases") or []:
        seen = f", {base['pretrained']}; never on this study's world" if base.get("pretrained") else ""
        lines += [f"Trained variants start from `{base['model']}`{seen}.", ""]
    lines += _table(headline(summary))
    if CEILING in summary["scores"]:
        lines += [
            "",
            "`Bayes-optimal` reads the visible persona with the generator's own model: no simulator can "
            "beat it on unseen users beyond noise. For seen users a model may remember more than the persona "
            "says.",
        ]
    lines += [line for text in cautions(summary) for line in ("", f"**Caution.** {text}")]
    comparison = seed_comparison(summary)
    if comparison:
        lines += [
            "",
            "## Against the seed's claims",
            "",
            "The seed measured Qwen3-8B on HUMANUAL-Opinion with a Claude Haiku judge; this study's numbers "
            "come from the data, model and judge named above.",
            "",
        ]
        lines += _table([{"claim": c, "seed reports": s, "this study": m} for c, s, m in comparison])
    if summary.get("gains"):
        lines += ["", "## Relative gains (paired over examples)", ""]
        conds = [
            c
            for c in ("full", SINGLE_FIELD_MEAN, "items:0.9", "none")
            if any(c in g for g in summary["gains"].values())
        ]
        lines += _table(
            [
                {"comparison": k, **{_cond(c): _gain(g.get(c)) for c in conds}}
                for k, g in summary["gains"].items()
            ]
        )
    lines += ["", "## All conditions", ""]
    conditions = list(dict.fromkeys(c for v in summary["scores"].values() for c in v))
    variants = ordered(summary["scores"])
    lines += _table(
        [
            {
                "condition": _cond(c),
                **{label(v): fmt(summary["scores"][v].get(c, {}).get("mean")) for v in variants},
            }
            for c in conditions
        ]
    )
    lines += ["", "Retention (score under the condition / score with the full persona, same variant):", ""]
    lines += _table(
        [
            {"condition": _cond(c), **{label(v): pct(summary["retention"][v].get(c)) for v in variants}}
            for c in conditions
            if c != "full"
        ]
    )
    if summary.get("dimensions"):
        lines += ["", "## Per dimension (full persona)", ""]
        lines += _table(
            [
                {
                    "variant": label(v),
                    **{d: fmt(x) for d, x in summary["dimensions"][v].get("full", {}).items()},
                }
                for v in variants
            ]
        )
    if summary.get("by_user"):
        lines += ["", "## Seen and unseen users (full persona)", ""]
        lines += _table(
            [
                {
                    "variant": label(v),
                    **{
                        group: _ci(summary["by_user"][group].get(v, {}).get("full"))
                        for group in summary["by_user"]
                    },
                }
                for v in variants
            ]
        )
    lines += [
        "",
        "## Judge",
        "",
        f"{judge.get('calls', 0)} calls, {judge.get('cache_hits', 0)} cache hits, "
        f"{judge.get('failures', 0)} failed judgements (left out of every mean, never scored 0), "
        f"{judge.get('input_tokens', 0)} input and "
        f"{judge.get('output_tokens', 0)} output tokens, ${judge.get('cost_usd', 0):.4f}.",
        "",
    ]
    missing = summary.get("missing") or {}
    if missing:
        lines += [
            "## Missing judgements",
            "",
            "Failed judgements per cell (left out of that cell's mean):",
            "",
        ]
        conditions = list(dict.fromkeys(c for cells in missing.values() for c in cells))
        lines += _table(
            [
                {"variant": label(v), **{c: str(missing[v].get(c, 0)) for c in conditions}}
                for v in ordered(missing)
            ]
        )
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{f.stem}]({f.as_posix()})\n" for f in figures]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- helpers
def _write_csv(dirs: Sequence[EvaluationDir], path: Path) -> None:
    fields = [
        "variant",
        "condition",
        "example_id",
        "user_id",
        "unseen_user",
        "visible_fields",
        "reply",
        "judge",
    ]
    dims: list[str] = []
    for d in dirs:
        for row in d.store.score_rows(d.judge_name):
            dims += [k for k in row.scores if k not in dims]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields + [f"score_{d}" for d in dims])
        for d in dirs:
            for row in sorted(d.store.score_rows(d.judge_name), key=lambda r: r.key):
                gen = d.store.generations.get(row.key)
                ex = d.examples.get(row.example_id, {})
                writer.writerow(
                    [
                        row.variant,
                        row.condition,
                        row.example_id,
                        ex.get("user_id"),
                        ex.get("unseen_user"),
                        "+".join(gen.visible.get("fields", [])) if gen else "",
                        gen.reply if gen else "",
                        row.judge,
                        *(
                            "" if math.isnan(row.scores.get(k, math.nan)) else f"{row.scores[k]:.6f}"
                            for k in dims
                        ),
                    ]
                )


def _bases(dirs: Sequence[EvaluationDir]) -> list[dict[str, Any]]:
    """The pretrained models the evaluated runs started from (as their run directories recorded them)."""
    found: dict[str, dict[str, Any]] = {}
    for d in dirs:
        for record in (d.meta.get("variants") or {}).values():
            base = (record or {}).get("base")
            if base and base.get("model"):
                found.setdefault(
                    base["model"], {"model": base["model"], "pretrained": base.get("pretrained")}
                )
    return list(found.values())


def _merge_judge_blocks(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"name": blocks[0]["name"]}
    for key in ("calls", "cache_hits", "failures", "input_tokens", "output_tokens"):
        merged[key] = sum(int(b.get(key, 0)) for b in blocks)
    merged["cost_usd"] = round(sum(float(b.get("cost_usd", 0)) for b in blocks), 6)
    return merged


def _table(rows: Sequence[Mapping[str, str]]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(str(r.get(h, "")) for h in head) + " |" for r in rows
    ]


def _cond(c: str) -> str:
    return "one field (mean)" if c == SINGLE_FIELD_MEAN else c


def fmt(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def pct(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.0%}"


def _ci(e: Mapping[str, float] | None) -> str:
    if not e or math.isnan(e["mean"]):
        return "-"
    return f"{e['mean']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def _gain(e: Mapping[str, float] | None) -> str:
    if not e or math.isnan(e["mean"]):
        return "-"
    return f"{e['mean']:+.0%} [{e['ci_low']:+.0%}, {e['ci_high']:+.0%}]"


def _jsonable(x: Any) -> Any:
    """NaN is not JSON: missing values are written as null."""
    if isinstance(x, float):
        return None if math.isnan(x) else x
    if isinstance(x, Mapping):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
