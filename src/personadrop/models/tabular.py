"""The tabular reference (``tabular``): where the users are real survey respondents there is no generator to
be Bayes-optimal with, so the reference is a well-tuned tabular model that sees exactly the visible items.

Per question, a scikit-learn ``HistGradientBoostingClassifier`` is fitted on the training respondents. Each
persona item of the survey spec is one feature, its value coded by the order of the words the spec writes
(numbers by value); a hidden item is a missing value, which the model handles natively. It is fitted under
the masks it will meet: every training row once whole, then under field and item dropout and with each field
alone, so it has seen every pattern of missing items. It answers what maximizes the expected survey-judge
score under its predicted distribution: the most likely option for a nominal question, the weighted median
for an ordinal one. With nothing visible it gives the best answer from the marginal distribution: the
persona-blind level.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from personadrop.data.example import Example
from personadrop.data.survey import SurveySpec, read_survey
from personadrop.dropout import FieldDropout, ItemDropout, KeepOnly, MaskKey
from personadrop.errors import DataError
from personadrop.models.base import SimulationItem, Simulator
from personadrop.persona import Persona

#: Copies of every training row under masks (whole, fields:0.5, items:0.5, each field alone).
MASKED_COPIES = 3


class TabularSimulator(Simulator):
    name = "tabular"

    def __init__(self, spec: SurveySpec, train: Sequence[Example], *, seed: int = 0):
        self.spec = spec
        self.items = [(field, item) for field, items in spec.persona.items() for item in items]
        self.vocab = _vocabulary(train, self.items)
        self.models: dict[str, object] = {}
        self.marginal: dict[str, np.ndarray] = {}
        rows = self._training_rows(train, seed)
        for q in spec.questions:
            xs = np.array([x for qid, x, _ in rows if qid == q.id], dtype=float)
            ys = np.array([y for qid, _, y in rows if qid == q.id], dtype=int)
            if len(ys) == 0:
                raise DataError(f"no training rows answer question {q.id!r}")
            counts = np.bincount(ys, minlength=len(q.options)).astype(float)
            self.marginal[q.id] = counts / counts.sum()
            if len(set(ys.tolist())) > 1:
                from sklearn.ensemble import HistGradientBoostingClassifier

                model = HistGradientBoostingClassifier(
                    max_iter=300,
                    learning_rate=0.05,
                    max_leaf_nodes=15,
                    l2_regularization=1.0,
                    early_stopping=True,
                    validation_fraction=0.15,
                    n_iter_no_change=20,
                    random_state=seed,
                )
                model.fit(xs, ys)
                self.models[q.id] = model
        self.identity = {"tabular": spec.name, "seed": str(seed)}

    @classmethod
    def from_data_dir(cls, data: str | Path, *, seed: int = 0) -> TabularSimulator:
        from personadrop.data.humanual import load_examples

        spec = read_survey(data)
        return cls(spec, load_examples(data, split="train").examples, seed=seed)

    # ------------------------------------------------------------------ answering
    def generate(self, items: Sequence[SimulationItem]) -> list[str | None]:
        """Answers in one prediction per question (a row at a time costs a model call each)."""
        out: list[str | None] = [None] * len(items)
        by_question: dict[str, list[int]] = {}
        features = [self._features(item.visible.to_persona()) for item in items]
        for i, item in enumerate(items):
            by_question.setdefault(self._question(item.example).id, []).append(i)
        for question_id, rows in by_question.items():
            question = self.spec.question(question_id)
            probs = self._probabilities(question_id, [features[i] for i in rows])
            for i, p in zip(rows, probs, strict=True):
                out[i] = question.options[_best(p, question.kind)].text
        return out

    def _probabilities(self, question_id: str, xs: list[list[float]]) -> np.ndarray:
        """One distribution over the options per row; the marginal where nothing is visible."""
        marginal = self.marginal[question_id]
        out = np.tile(marginal, (len(xs), 1))
        model = self.models.get(question_id)
        seen = [i for i, x in enumerate(xs) if not all(math.isnan(v) for v in x)]
        if model is not None and seen:
            predicted = model.predict_proba(np.array([xs[i] for i in seen], dtype=float))  # type: ignore[attr-defined]
            out[seen] = 0.0
            out[np.ix_(seen, model.classes_)] = predicted  # type: ignore[attr-defined]
        return out

    def _question(self, example: Example):
        question_id = example.post_id.split("/", 1)[-1]
        try:
            return self.spec.question(question_id)
        except KeyError:
            raise DataError(
                f"example {example.id}: {example.post_id} is not a question of {self.spec.name}"
            ) from None

    # ------------------------------------------------------------------ features
    def _features(self, persona: Persona) -> list[float]:
        """One value per spec item: its code, NaN where the item is hidden or unknown."""
        shown: dict[tuple[str, str], str] = {}
        if not persona.is_text:
            for f in persona.fields:
                for text in f.items:
                    label, sep, words = text.partition(": ")
                    if sep:
                        shown[(f.name, label)] = words
        values = []
        for field, item in self.items:
            words = shown.get((field, item.label))
            code = self.vocab[(field, item.label)].get(words) if words is not None else None
            values.append(float(code) if code is not None else math.nan)
        return values

    def _training_rows(self, train: Sequence[Example], seed: int) -> list[tuple[str, list[float], int]]:
        rng = random.Random(seed)
        fields = list(self.spec.persona)
        rows = []
        for e in train:
            question = self._question(e)
            answer = next((k for k, o in enumerate(question.options) if o.text == e.response), None)
            if answer is None:
                continue
            policies = [FieldDropout(0.5), ItemDropout(0.5), KeepOnly((rng.choice(fields),))][:MASKED_COPIES]
            rows.append((question.id, self._features(e.persona), answer))
            for k, policy in enumerate(policies):
                visible = policy(e.persona, MaskKey(seed, e.id, k + 1))
                rows.append((question.id, self._features(visible.to_persona()), answer))
        return rows


def _vocabulary(train: Sequence[Example], items) -> dict[tuple[str, str], dict[str, int]]:
    """Per item, the words seen in training, coded in order: the order the spec writes them in (its
    ``values``), else by the number they start with (ages, counts), else alphabetically."""
    seen: dict[tuple[str, str], set[str]] = {(f, i.label): set() for f, i in items}
    for e in train:
        for f in e.persona.fields:
            for text in f.items:
                label, sep, words = text.partition(": ")
                if sep and (f.name, label) in seen:
                    seen[(f.name, label)].add(words)
    out = {}
    for field, item in items:
        spec_order = list(dict.fromkeys(item.values.values()))
        rank = {w: k for k, w in enumerate(spec_order)}
        words = sorted(seen[(field, item.label)], key=lambda w: (rank.get(w, len(rank)), *_order(w)))
        out[(field, item.label)] = {w: k for k, w in enumerate(words)}
    return out


def _order(words: str) -> tuple[float, str]:
    head = words.replace("$", "").replace(",", "").split(" ")[0].split("-")[0].rstrip("+")
    try:
        return float(head), words
    except ValueError:
        return math.inf, words


def _best(probs: np.ndarray, kind: str) -> int:
    """The answer with the highest expected survey-judge score: the mode (nominal), the weighted median
    (ordinal: it minimizes the expected distance)."""
    if kind == "nominal":
        return int(np.argmax(probs))
    return int(np.searchsorted(np.cumsum(probs), 0.5 - 1e-12))
