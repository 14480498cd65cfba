"""Write a report: summary.json, results.csv, report.md and the figures, from evaluation directories.

The report reads evaluation directories only (never a model), so it can be redrawn at any time, and it
holds no timestamps: the same results give byte-identical summaries.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personadrop import __version__
from personadrop.claims import CLAIMS, GAINS
from personadrop.errors import DataError
from personadrop.evaluate.directory import EvaluationDir, merge_unseen
from personadrop.evaluate.human import HUMAN_AGREEMENT, HumanAgreement
from personadrop.evaluate.metrics import Member
from personadrop.evaluate.population import PopulationCell, population_fidelity
from personadrop.evaluate.store import ScoreRow
from personadrop.evaluate.summary import (
    EvaluationRef,
    JudgeBlock,
    Summary,
    SummaryMeta,
    VariantInfo,
    summarize,
)
from personadrop.report.figures import write_figures
from personadrop.report.markdown import render_markdown
from personadrop.variants import VARIANTS, reference_of, row_of


def write_report(
    eval_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    seed: int = 0,
    resamples: int = 2000,
    title: str = "personadrop report",
) -> Summary:
    """Summarize one or more evaluation directories into ``out_dir``; returns the summary."""
    dirs = [EvaluationDir.open(p) for p in eval_dirs]
    judges = sorted({d.judge_name for d in dirs})
    if len(judges) > 1:
        raise DataError(f"these evaluations used different judges ({', '.join(judges)}); report them apart")
    rows: list[ScoreRow] = []
    owner: dict[str, Path] = {}
    members: dict[str, Member] = {}
    for d in dirs:
        members.update(d.meta.members())
        for row in d.store.score_rows(d.judge_name):
            if owner.setdefault(row.variant, d.path) != d.path:
                raise DataError(f"variant {row.variant!r} appears in both {owner[row.variant]} and {d.path}")
            rows.append(row)
    if not rows:
        raise DataError(f"no scored rows in {', '.join(str(d.path) for d in dirs)}")
    conditions = list({c.name: c for d in dirs for c in d.meta.conditions}.values())

    summary = summarize(
        rows,
        merge_unseen(dirs),
        conditions,
        members=members,
        seed=seed,
        resamples=resamples,
        gains=GAINS,
        ceiling_variant=reference_of((members.get(r.variant) or Member(r.variant)).variant for r in rows),
        claims=CLAIMS,
    )
    summary = summary.model_copy(
        update={
            "variants": _variants(dirs, summary),
            "unreadable": _unreadable(dirs, members),
            "judge": _judge_block(dirs),
            "human": _human(dirs),
            "population": _population(dirs, members, seed),
            "meta": SummaryMeta(
                personadrop=__version__,
                evaluations=[
                    EvaluationRef(
                        path=str(d.path),
                        data=d.meta.data,
                        split=d.meta.split,
                        seed=d.meta.seed,
                        judge=d.meta.judge,
                        dimensions=d.meta.dimensions,
                    )
                    for d in dirs
                ],
                bootstrap={
                    "seed": seed,
                    "resamples": resamples,
                    "level": 0.95,
                    "levels": ["seeds", "examples"],
                },
                bases=_bases(dirs),
            ),
        }
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(summary.to_json())
    _write_csv(dirs, members, out / "results.csv")
    figures = write_figures(summary, out / "figures")
    (out / "report.md").write_text(render_markdown(summary, [f.relative_to(out) for f in figures], title))
    return summary


def _population(
    dirs: Sequence[EvaluationDir], members: dict[str, Member], seed: int
) -> dict[str, dict[str, PopulationCell]]:
    """Population fidelity where the evaluated data is survey respondents (else nothing)."""
    from personadrop.data.humanual import load_examples
    from personadrop.data.survey import SURVEY_FILE, read_survey

    out: dict[str, dict[str, PopulationCell]] = {}
    for d in dirs:
        if d.meta.data is None or not (Path(d.meta.data) / SURVEY_FILE).is_file():
            continue
        wanted = set(d.examples)
        examples = {
            e.id: e for e in load_examples(d.meta.data, split=d.meta.split).examples if e.id in wanted
        }
        spec = read_survey(d.meta.data)
        cells = population_fidelity(
            list(d.store.generations.values()), examples, members, subgroups=spec.subgroups, seed=seed
        )
        for variant, by_condition in cells.items():
            out.setdefault(variant, {}).update(by_condition)
    return out


def _human(dirs: Sequence[EvaluationDir]) -> HumanAgreement | None:
    """The judge against people, where `judge-agreement --human` wrote it into an evaluation directory."""
    for d in dirs:
        path = d.path / HUMAN_AGREEMENT
        if path.exists():
            try:
                return HumanAgreement.model_validate_json(path.read_text(encoding="utf-8"))
            except ValueError:
                raise DataError(
                    f"{path}: not a readable agreement; run `personadrop judge-agreement --human` again"
                ) from None
    return None


def read_summary(path: str | Path) -> Summary:
    """A summary.json written by :func:`write_report`."""
    from pydantic import ValidationError

    path = Path(path)
    try:
        return Summary.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as err:
        raise DataError(
            f"{path}: not a readable summary ({str(err).splitlines()[0]}); redraw it with "
            "`personadrop report`"
        ) from None


def _variants(dirs: Sequence[EvaluationDir], summary: Summary) -> dict[str, VariantInfo]:
    """What each reported variant is: the variant table's row where it has one, else what its runs say."""
    records: dict[str, Any] = {}
    for d in dirs:
        for name, record in d.meta.variants.items():
            records.setdefault(record.variant or name, record)
    out = {}
    for v in summary.scores:
        record = records.get(v)
        method = record.method if record else None
        condition = record.train_condition if record else None
        spec = VARIANTS.get(v)
        row = spec or row_of(method, condition)
        label = spec.label if spec else f"{row.label} ({condition.name})" if row and condition else v
        external = bool(record and record.external)
        out[v] = VariantInfo(
            label=f"{v} (external)" if external else label,
            color=spec.color if spec else None,  # another rate of a row: a colour of its own
            kind="external" if external else row.kind if row else ("trained" if method else "untrained"),
            method=method or (row.method if row else None),
            train_condition=condition,
            dropout_of=row.dropout_of if row else None,
            writes_states=bool(record and record.task == "states+response"),
            seeds=summary.seeds.get(v, []),
            sample=record.sample if record else None,
        )
    return out


def _unreadable(dirs: Sequence[EvaluationDir], members: dict[str, Member]) -> dict[str, dict[str, float]]:
    """Per variant and condition, the share of outputs from which no reply could be read (a HumanLM output
    without ``<response>``, scored 0 on every dimension); cells without any are left out."""
    counts: dict[tuple[str, str], list[int]] = {}
    for d in dirs:
        for g in d.store.generations.values():
            variant = (members.get(g.variant) or Member(g.variant)).variant
            cell = counts.setdefault((variant, g.condition), [0, 0])
            cell[0] += g.reply is None
            cell[1] += 1
    out: dict[str, dict[str, float]] = {}
    for (variant, condition), (bad, total) in sorted(counts.items()):
        if bad:
            out.setdefault(variant, {})[condition] = round(bad / total, 4)
    return out


def _write_csv(dirs: Sequence[EvaluationDir], members: dict[str, Member], path: Path) -> None:
    fields = [
        "variant",
        "seed",
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
                member = members.get(row.variant) or Member(row.variant)
                writer.writerow(
                    [
                        member.variant,
                        "" if member.seed is None else member.seed,
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
        for record in d.meta.variants.values():
            base = record.base
            if base and base.get("model"):
                found.setdefault(
                    base["model"], {"model": base["model"], "pretrained": base.get("pretrained")}
                )
    return list(found.values())


def _judge_block(dirs: Sequence[EvaluationDir]) -> JudgeBlock:
    blocks = [d.judge_block() for d in dirs]
    merged: dict[str, Any] = {"name": blocks[0]["name"]}
    for key in ("calls", "cache_hits", "failures", "input_tokens", "output_tokens"):
        merged[key] = sum(int(b.get(key, 0)) for b in blocks)
    merged["cost_usd"] = round(sum(float(b.get("cost_usd", 0)) for b in blocks), 6)
    return JudgeBlock(**merged)
