"""The typed results of an evaluation: :class:`Summary` (``summary.json``) and the pieces it is made of.

``summary.json`` is written from these models and read back through them (the report, the CLI's closing
table and the explorer all read the same object), so a field has one meaning and one type everywhere.
A number that could not be computed is NaN in memory and ``null`` in JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from personadrop.claims import Claim
from personadrop.dropout import Condition, Policy
from personadrop.evaluate.human import HumanAgreement
from personadrop.evaluate.metrics import (
    FULL,
    NAN_ESTIMATE,
    NONE,
    SINGLE_FIELD_MEAN,
    Bootstrap,
    Estimate,
    Member,
    Num,
    Record,
    ScoreTable,
    seed_mean,
)
from personadrop.evaluate.population import PopulationCell
from personadrop.evaluate.store import ScoreRow
from personadrop.evaluate.verdicts import Verdict, judge_claims
from personadrop.judges.base import JudgeUsage
from personadrop.variants import color as variant_color
from personadrop.variants import label as variant_label
from personadrop.variants import reference_of


class SingleField(Record):
    """Retention with one field visible, over the fields the evaluation showed alone."""

    retention_min: Num
    retention_max: Num
    retention_of_mean: Num  # retention of the mean over single-field conditions
    best_field: str | None


class VariantInfo(Record):
    """What a row of the report is: how it is named and drawn, what made it, and its training seeds."""

    label: str
    color: str | None = None
    kind: Literal["trained", "untrained", "reference", "external"] = "trained"
    method: str | None = None
    train_condition: Condition | None = None
    dropout_of: str | None = None  # the variant this one is, trained without dropout
    writes_states: bool = False  # writes latent states before its reply (follows the state scaffold)
    seeds: list[int] = Field(default_factory=list)
    sample: int | None = None  # answered a seeded sample of this many examples (None: all of them)


class JudgeBlock(JudgeUsage):
    """The ``judge`` block of summary.json: which judge, and what judging cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str


class EvaluationRef(Record):
    path: str
    data: str | None = None
    split: str | None = None
    seed: int | None = None
    judge: str | None = None
    dimensions: list[str] = Field(default_factory=list)


class SummaryMeta(Record):
    personadrop: str
    evaluations: list[EvaluationRef]
    bootstrap: dict[str, Any]
    bases: list[dict[str, Any]] = Field(default_factory=list)


Cells = dict[str, dict[str, Estimate]]  # variant -> condition -> estimate


class Summary(Record):
    """``summary.json``: every number of a report, per variant (across its training seeds) and condition."""

    # The evaluated conditions, in order; cells also hold "only:*", the mean over single-field conditions.
    conditions: list[Condition] = Field(default_factory=list)
    variants: dict[str, VariantInfo] = Field(default_factory=dict)
    scores: Cells = Field(default_factory=dict)
    retention: dict[str, dict[str, Num]] = Field(default_factory=dict)
    retention_ci: Cells = Field(default_factory=dict)
    dimensions: dict[str, dict[str, dict[str, Num]]] = Field(default_factory=dict)
    gains: Cells = Field(default_factory=dict)  # "a vs b" -> condition -> relative gain of a over b
    single_field: dict[str, SingleField] = Field(default_factory=dict)
    ceiling: dict[str, Num] = Field(default_factory=dict)
    persona_use: Cells = Field(default_factory=dict)
    by_user: dict[str, Cells] = Field(default_factory=dict)
    seeds: dict[str, list[int]] = Field(default_factory=dict)
    per_seed: dict[str, dict[str, dict[str, Num]]] = Field(default_factory=dict)  # variant -> seed -> cond
    n_examples: int = 0
    n_unseen_examples: int = 0
    missing: dict[str, dict[str, int]] = Field(default_factory=dict)
    unreadable: dict[str, dict[str, float]] = Field(default_factory=dict)
    verdicts: list[Verdict] = Field(default_factory=list)
    judge: JudgeBlock | None = None
    human: HumanAgreement | None = None  # the judge against people, once `judge-agreement --human` ran
    # The reference persona use and the persona-blind level are measured against: `bayes` on a synthetic
    # world (the ceiling), `tabular` on survey data; None without one.
    reference: str | None = None
    # Survey data only: how each variant's answers are distributed against the respondents' (variant ->
    # condition -> cell).
    population: dict[str, dict[str, PopulationCell]] = Field(default_factory=dict)
    meta: SummaryMeta | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference(cls, data: Any) -> Any:
        # Named by the rule the report uses (also for a summary written before references were named).
        if isinstance(data, dict) and data.get("reference") is None:
            data = {**data, "reference": reference_of(data.get("scores") or {})}
        return data

    def score(self, variant: str, condition: str) -> Estimate:
        return self.scores.get(variant, {}).get(condition, NAN_ESTIMATE)

    def label(self, variant: str) -> str:
        """How the report names a variant (the variant table's label for a name it knows)."""
        info = self.variants.get(variant)
        return info.label if info else variant_label(variant)

    def color(self, variant: str) -> str | None:
        info = self.variants.get(variant)
        return info.color if info else variant_color(variant)

    def to_json(self) -> str:
        """The JSON text of summary.json (keys sorted: equal results, byte-identical files)."""
        import json

        return json.dumps(json.loads(self.model_dump_json()), indent=2, sort_keys=True) + "\n"


def summarize(
    rows: Iterable[ScoreRow],
    unseen_users: Mapping[str, bool],
    conditions: Sequence[Policy],
    *,
    members: Mapping[str, Member] | None = None,
    seed: int = 0,
    resamples: int = 2000,
    gains: Sequence[tuple[str, str]] = (),
    ceiling_variant: str | None = None,
    claims: Sequence[Claim] = (),
) -> Summary:
    """Every number of summary.json from the scored rows of one judge.

    ``unseen_users`` maps each evaluated example id to whether its user is absent from training; rows of
    other examples, and of conditions not in ``conditions``, are ignored. ``members`` says which variant and
    seed each stored name is (default: every name its own variant). ``gains`` are the (variant, baseline)
    pairs to compare; ``ceiling_variant`` the reference whose scores are the ceiling (persona use is
    measured against it); ``claims`` those to give a verdict on.
    """
    rows = list(rows)
    table = ScoreTable(rows, unseen_users, conditions, members)
    boot = Bootstrap(seed, resamples)
    subsets = {"seen": ~table.unseen, "unseen": table.unseen} if table.unseen.any() else {}

    def score_block(subset: np.ndarray | None) -> dict[str, dict[str, Estimate]]:
        return {
            v: {c: boot.mean(table.get(v, c, subset=subset)) for c in table.conditions_of(v)}
            for v in table.variants
        }

    retention_ci = {
        v: {c: boot.ratio(table.get(v, c), table.get(v, FULL)) for c in table.conditions_of(v)}
        for v in table.variants
    }
    gain_block: dict[str, dict[str, Estimate]] = {}
    for a, b in gains:
        if a in table.variants and b in table.variants:
            ra, rb = table.paired(a, b)
            gain_block[f"{a} vs {b}"] = {
                c: boot.ratio(table.get(a, c)[ra], table.get(b, c)[rb], minus_one=True)
                for c in table.conditions_of(a)
                if c in table.conditions_of(b)
            }
    ceiling: dict[str, float] = {}
    persona_use: dict[str, dict[str, Estimate]] = {}
    if ceiling_variant in table.variants:
        ceiling = {c: seed_mean(table.get(ceiling_variant, c)) for c in table.conditions_of(ceiling_variant)}
        blind = table.get(ceiling_variant, NONE)
        persona_use = {
            v: {
                c: boot.persona_use(table.get(v, c), table.get(ceiling_variant, c), blind)
                for c in table.conditions_of(v)
                if c in ceiling
            }
            for v in table.variants
        }
    retention = {v: {c: e.mean for c, e in cells.items()} for v, cells in retention_ci.items()}
    return Summary(
        conditions=table.conditions,
        scores=score_block(None),
        retention=retention,
        retention_ci=retention_ci,
        dimensions={
            v: {
                c: {d: seed_mean(table.get(v, c, d)) for d in table.dimensions}
                for c in table.conditions_of(v)
            }
            for v in table.variants
        },
        gains=gain_block,
        single_field=_single_field_block(table, retention),
        ceiling=ceiling,
        persona_use=persona_use,
        by_user={name: score_block(mask) for name, mask in subsets.items()},
        seeds={
            v: [s for s in seeds if s is not None] for v, seeds in table.seeds.items() if None not in seeds
        },
        per_seed={
            v: {
                str(s): {c: seed_mean(table.get(v, c)[i : i + 1]) for c in table.conditions_of(v)}
                for i, s in enumerate(seeds)
            }
            for v, seeds in table.seeds.items()
            if None not in seeds
        },
        n_examples=len(table.example_ids),
        n_unseen_examples=int(table.unseen.sum()),
        missing=_missing(rows, unseen_users, members or {}),
        verdicts=judge_claims(claims, table, boot),
    )


def _missing(
    rows: Iterable[ScoreRow], unseen_users: Mapping[str, bool], members: Mapping[str, Member]
) -> dict[str, dict[str, int]]:
    """Failed judgements (the response score is NaN) per variant and condition; cells without any left out."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.example_id in unseen_users and np.isnan(r.scores.get("response", np.nan)):
            cell = out.setdefault((members.get(r.variant) or Member(r.variant)).variant, {})
            cell[r.condition] = cell.get(r.condition, 0) + 1
    return out


def _single_field_block(
    table: ScoreTable, retention: Mapping[str, Mapping[str, float]]
) -> dict[str, SingleField]:
    out = {}
    for v in table.variants:
        fields = [c for c in table.single_fields if c.name in retention[v]]
        if not fields:
            continue
        values = [retention[v][c.name] for c in fields]
        best = max(fields, key=lambda c: seed_mean(table.get(v, c.name)))
        out[v] = SingleField(
            retention_min=round(min(values), 6),
            retention_max=round(max(values), 6),
            retention_of_mean=retention[v].get(SINGLE_FIELD_MEAN, float("nan")),
            best_field=best.single_field,
        )
    return out
