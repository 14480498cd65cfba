"""Population fidelity: does a simulator answer a survey question the way the population of respondents does?

Per question, the distribution of the simulated answers over the options is set against the real
respondents' (the same test respondents, under the same condition):

- ordinal questions: OpinionQA's representativeness, 1 - W / (K - 1), with W the Wasserstein distance
  between the two distributions over the ordinal positions 0..K-1 (the sum of the absolute differences of
  their cumulative distributions) and K - 1 the largest it can be;
- nominal questions: 1 - total variation distance (half the sum of absolute differences).

A variant's answers pool its training seeds. Intervals are percentile bootstraps over respondents (the
rows of each question resampled together). *Variety* says how much the simulated answers vary across
respondents: their entropy divided by the real answers' entropy (0: everyone gets the same answer, so a
simulator can be right on the majority and useless for a population; 1: as varied as the people).
Replies that name no option are left out and counted (``unreadable``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from personadrop.data.example import Example
from personadrop.evaluate.metrics import NAN_ESTIMATE, Estimate, Member
from personadrop.evaluate.store import Generation
from personadrop.judges.survey import Question, read_question


def representativeness(simulated: np.ndarray, real: np.ndarray, kind: str) -> float:
    """1 - W/(K-1) (ordinal) or 1 - TV (nominal) between two distributions over the same K options."""
    p, q = simulated / simulated.sum(), real / real.sum()
    if kind == "nominal":
        return float(1.0 - 0.5 * np.abs(p - q).sum())
    return float(1.0 - np.abs(np.cumsum(p) - np.cumsum(q))[:-1].sum() / (len(p) - 1))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


class PopulationCell(BaseModel):
    """One variant under one condition: overall, per question and per subgroup of respondents."""

    representativeness: Estimate
    questions: dict[str, Estimate]
    variety: float  # entropy of the simulated answers / entropy of the real ones (mean over questions)
    unreadable: int  # replies that named no option (left out here; the judge scored them 0)
    subgroups: dict[str, dict[str, Estimate]] = {}  # item label -> its value -> representativeness


def population_fidelity(
    generations: Sequence[Generation],
    examples: Mapping[str, Example],
    members: Mapping[str, Member],
    *,
    subgroups: Sequence[str] = (),
    resamples: int = 200,
    seed: int = 0,
) -> dict[str, dict[str, PopulationCell]]:
    """{variant: {condition: cell}} for every survey question among ``examples``; ``subgroups``: persona
    item labels whose values split the respondents (each subgroup's representativeness as well)."""
    cells = _fidelity(generations, examples, members, resamples=resamples, seed=seed)
    for label in subgroups:
        groups: dict[str, dict[str, Example]] = defaultdict(dict)
        for e in examples.values():
            value = _item(e, label)
            if value is not None:
                groups[value][e.id] = e
        for value, members_examples in sorted(groups.items()):
            part = _fidelity(generations, members_examples, members, resamples=resamples, seed=seed)
            for variant, by_condition in part.items():
                for condition, cell in by_condition.items():
                    if condition in cells.get(variant, {}):
                        target = cells[variant][condition].subgroups.setdefault(label, {})
                        target[value] = cell.representativeness
    return cells


def _item(example: Example, label: str) -> str | None:
    """The value of the persona item ``label`` (``label: value``), or None where the persona lacks it."""
    for f in example.persona.fields:
        for text in f.items:
            head, sep, words = text.partition(": ")
            if sep and head == label:
                return words
    return None


def _fidelity(
    generations: Sequence[Generation],
    examples: Mapping[str, Example],
    members: Mapping[str, Member],
    *,
    resamples: int,
    seed: int,
) -> dict[str, dict[str, PopulationCell]]:
    questions: dict[str, Question] = {}
    real: dict[str, int] = {}
    for e in examples.values():
        q = read_question(e.context_text())
        answer = q.read(e.response) if q else None
        if q is not None and answer is not None:
            questions[e.post_id] = q
            real[e.id] = answer
    # (variant, condition) -> question -> list of (real answer, simulated answer)
    pairs: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    unreadable: dict[tuple[str, str], int] = defaultdict(int)
    for g in generations:
        e = examples.get(g.example_id)
        if e is None or g.example_id not in real:
            continue
        variant = (members.get(g.variant) or Member(g.variant)).variant
        answer = questions[e.post_id].read(g.reply) if g.reply is not None else None
        if answer is None:
            unreadable[(variant, g.condition)] += 1
            continue
        pairs[(variant, g.condition)][e.post_id].append((real[g.example_id], answer))
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, PopulationCell]] = defaultdict(dict)
    for variant, condition in sorted(set(unreadable) - set(pairs)):  # no reply named an option
        out[variant][condition] = PopulationCell(
            representativeness=NAN_ESTIMATE,
            questions={},
            variety=math.nan,
            unreadable=unreadable[(variant, condition)],
        )
    for (variant, condition), by_question in sorted(pairs.items()):
        point, draws, varieties = {}, {}, []
        for qid, rows in sorted(by_question.items()):
            q = questions[qid]
            arr = np.array(rows)
            k = len(q.options)

            def rep(idx: np.ndarray, arr: np.ndarray = arr, k: int = k, q: Question = q) -> float:
                real_c = np.bincount(arr[idx, 0], minlength=k).astype(float)
                sim_c = np.bincount(arr[idx, 1], minlength=k).astype(float)
                return representativeness(sim_c, real_c, q.kind)

            n = len(arr)
            point[qid] = rep(np.arange(n))
            draws[qid] = np.array([rep(rng.integers(0, n, n)) for _ in range(resamples)])
            real_h = _entropy(np.bincount(arr[:, 0], minlength=k).astype(float))
            sim_h = _entropy(np.bincount(arr[:, 1], minlength=k).astype(float))
            varieties.append(sim_h / real_h if real_h > 0 else math.nan)
        overall = np.mean(np.vstack(list(draws.values())), axis=0)
        n_rows = sum(len(r) for r in by_question.values())
        out[variant][condition] = PopulationCell(
            representativeness=_estimate(float(np.mean(list(point.values()))), overall, n_rows),
            questions={qid: _estimate(point[qid], draws[qid], len(by_question[qid])) for qid in point},
            variety=_mean([x for x in varieties if not math.isnan(x)]),
            unreadable=unreadable[(variant, condition)],
        )
    return dict(out)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def unreadable_share(cell: PopulationCell) -> float:
    """The share of a cell's replies that named no option."""
    total = cell.unreadable + cell.representativeness.n
    return cell.unreadable / total if total else math.nan


def _estimate(mean: float, draws: np.ndarray, n: int) -> Estimate:
    low, high = np.percentile(draws, [2.5, 97.5])
    return Estimate(mean=mean, ci_low=float(low), ci_high=float(high), n=n)
