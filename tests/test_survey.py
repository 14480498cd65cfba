"""Survey respondents as users: specs, rows, the survey judge and the tabular reference, on real and made
tables."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from personadrop.data.humanual import load_examples
from personadrop.dropout import parse_conditions
from personadrop.evaluate import EvalTask, evaluate
from personadrop.judges import make_judge
from personadrop.judges.base import JudgeRequest
from personadrop.judges.survey import read_question
from personadrop.simulators import load_simulator

SPEC = {
    "name": "made",
    "id": "rid",
    "persona": {
        "demographics": [{"column": "age", "label": "age group", "bins": [18, 40, 65]}],
        "values": [
            {
                "column": "leaning",
                "label": "political leaning",
                "values": {0: "left", 1: "centre", 2: "right"},
            }
        ],
        "interests": [{"column": "noise", "label": "favourite number"}],
    },
    "questions": [
        {
            "id": "tax",
            "column": "tax",
            "wording": "Should taxes on the rich go up?",
            "kind": "ordinal",
            "options": [
                {"value": 0, "text": "no"},
                {"value": 1, "text": "maybe"},
                {"value": 2, "text": "yes"},
            ],
        },
        {
            "id": "party",
            "column": "party",
            "wording": "Which party?",
            "kind": "nominal",
            "options": [{"value": "A", "text": "Party A"}, {"value": "B", "text": "Party B"}],
        },
    ],
    "split": {"test": 0.25, "val": 0.0, "seed": 1},
    "subgroups": ["political leaning"],
}


def made_table(n: int = 600, seed: int = 0, shuffle: bool = False) -> pd.DataFrame:
    """Respondents whose leaning decides their answers (plus noise); shuffled, the answers say nothing."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        leaning = rng.randrange(3)
        tax = 2 - leaning if rng.random() < 0.8 else rng.randrange(3)
        party = "A" if (leaning < 1 if rng.random() < 0.85 else rng.random() < 0.5) else "B"
        rows.append({"rid": i, "age": rng.randrange(18, 90), "leaning": leaning, "noise": rng.randrange(10),
                     "tax": tax, "party": party})  # fmt: skip
    frame = pd.DataFrame(rows)
    if shuffle:  # the answers of other people: no signal left
        frame[["tax", "party"]] = frame[["tax", "party"]].sample(frac=1, random_state=seed).to_numpy()
    return frame


def write(tmp_path: Path, spec: dict, frame: pd.DataFrame) -> tuple[Path, Path]:
    spec_path, table = tmp_path / "spec.yaml", tmp_path / "table.csv"
    spec_path.write_text(yaml.safe_dump(spec))
    frame.to_csv(table, index=False)
    return spec_path, table


# --------------------------------------------------------------------------- specs and rows
@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda s: s["persona"]["values"][0].update(column="nope"), "column 'nope' is not in the table"),
        (lambda s: s["questions"][0].update(column="leaning"), "which is also a persona item"),
        (lambda s: s["questions"][1].update(options=[]), "at least two answer options"),
        (lambda s: s["questions"][1].update(kind="scale"), "questions.1.kind"),
        (lambda s: s.update(subgroups=["party"]), "subgroup 'party' is not the label of a persona item"),
        (lambda s: s["persona"].update(Values=[]), "persona field 'values' is given twice"),
        (lambda s: s["persona"].update({"2nd": []}), "persona field '2nd': start with a letter"),
    ],
)
def test_a_bad_spec_is_one_line(tmp_path, cli, change, needle):
    spec = json.loads(json.dumps(SPEC))
    change(spec)
    spec_path, table = write(tmp_path, spec, made_table(40))
    code, _, err = cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "out")
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code != 0 and len(lines) == 1 and needle in lines[0], err


def test_the_spec_in_the_help_is_one_that_runs(tmp_path, cli):
    """`personadrop survey --help` teaches the spec format with an example; the example itself works."""
    import re
    import textwrap

    code, help_text, _ = cli("survey", "--help")
    assert code == 0 and "subgroups: [gender]" in help_text
    from personadrop.cli.data import survey_cmd

    block = re.search(r"```yaml\n(.*?)```", survey_cmd.__doc__ or "", re.S)
    assert block is not None
    (tmp_path / "spec.yaml").write_text(textwrap.dedent(block.group(1)))
    code, out, err = cli("survey", "--spec", tmp_path / "spec.yaml", "--out", tmp_path / "data")
    assert code == 0, err
    assert "my-survey: 1,525 respondents" in out
    assert {
        e.persona.field("values").items[0] for e in load_examples(tmp_path / "data", split="test").examples
    } >= {
        "attitude to Europe: in favour",
        "attitude to Europe: sceptical",
    }


def test_rows_split_by_respondent_and_work_with_the_data_commands(tmp_path, cli):
    spec_path, table = write(tmp_path, SPEC, made_table(200))
    code, out, err = cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "data")
    assert code == 0, err
    assert "200 respondents (150 train, 0 val, 50 test; split seed 1), 2 questions, 400 rows" in " ".join(
        out.split()
    )
    train = load_examples(tmp_path / "data", split="train").examples
    test = load_examples(tmp_path / "data", split="test").examples
    assert not {e.user_id for e in train} & {e.user_id for e in test}
    e = test[0]
    assert e.post_id.startswith("made/") and e.response in {"no", "maybe", "yes", "Party A", "Party B"}
    assert "political leaning:" in e.persona.render() and read_question(e.context_text()) is not None
    assert cli("data", "inspect", tmp_path / "data")[0] == 0
    code, out, _ = cli("data", "render", tmp_path / "data", "-c", "only:values")
    assert code == 0 and "Options (" in out and "Demographics: Missing" in out


def test_the_shipped_specs_read_their_packages():
    from personadrop.data.survey import load_spec, load_table, shipped_specs, survey_rows

    assert shipped_specs() == ["anes96", "beps", "ces11", "wvs"]
    for name, respondents in (("beps", 1525), ("anes96", 944), ("ces11", 2231), ("wvs", 5381)):
        spec = load_spec(name)
        _, counts = survey_rows(spec, load_table(spec))
        assert sum(counts["respondents"].values()) == respondents
        assert sum(counts["rows"].values()) == respondents * len(spec.questions) - sum(
            counts["skipped_answers"].values()
        )


# --------------------------------------------------------------------------- the judge
def test_the_survey_judge_scores_nominal_ordinal_and_unreadable_replies():
    judge = make_judge("survey")
    ordinal = "How much?\nOptions (ordinal, lowest first): none | a little | some | a lot"
    nominal = "Which?\nOptions (nominal): Party A | Party B | Party C"
    requests = [
        JudgeRequest(
            "1", ordinal, "some", ("some", "a lot", "none", "I think a little.", "3", "dunno"), "response"
        ),
        JudgeRequest(
            "2", nominal, "Party B", ("Party B", "party a!", "I'd vote Party C", "nobody"), "response"
        ),
        # Naming some options answers with the first; naming all of them (the options restated) answers none.
        JudgeRequest(
            "3", nominal, "Party B", ("Party B, not Party A", "Party A, Party B or Party C?"), "response"
        ),
    ]
    scores = judge.score(requests)
    assert scores[0] == pytest.approx([1.0, 2 / 3, 1 / 3, 2 / 3, 1.0, 0.0])
    assert scores[1] == [1.0, 0.0, 0.0, 0.0]
    assert scores[2] == [1.0, 0.0]
    assert judge.unreadable == 3


# --------------------------------------------------------------------------- the tabular reference
@pytest.mark.parametrize("shuffle", [False, True])
def test_the_tabular_reference_reads_the_persona_where_it_holds_signal(tmp_path, cli, shuffle):
    spec_path, table = write(tmp_path, SPEC, made_table(800, shuffle=shuffle))
    assert cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "data")[0] == 0
    task = EvalTask.load(tmp_path / "data", conditions=parse_conditions("full none"), dimensions=["response"])
    results = evaluate(
        task, {"tabular": load_simulator("tabular", data=tmp_path / "data")}, make_judge("survey")
    )
    full, blind = (results.scores("tabular", c) for c in ("full", "none"))
    gain = float(np.mean(full - blind))
    if shuffle:
        assert abs(gain) < 0.03, gain  # nothing to read: the persona-blind level
    else:
        assert gain > 0.15, gain  # the leaning decides most answers


# --------------------------------------------------------------------------- population fidelity
def test_representativeness_matches_a_hand_computation():
    from personadrop.evaluate.population import representativeness

    # Ordinal, K = 3: simulated (0.5, 0.5, 0) against real (0, 0.5, 0.5). CDFs 0.5, 1.0 and 0, 0.5: the
    # Wasserstein distance is |0.5 - 0| + |1 - 0.5| = 1, the largest possible K - 1 = 2: 1 - 1/2 = 0.5.
    assert representativeness(np.array([1.0, 1, 0]), np.array([0.0, 2, 2]), "ordinal") == pytest.approx(0.5)
    # All mass at opposite ends: W = 2 = K - 1, so 0. The same distribution: 1.
    assert representativeness(np.array([3.0, 0, 0]), np.array([0.0, 0, 5]), "ordinal") == pytest.approx(0.0)
    assert representativeness(np.array([1.0, 2, 3]), np.array([2.0, 4, 6]), "ordinal") == pytest.approx(1.0)
    # Nominal: total variation between (0.6, 0.4, 0) and (0.2, 0.4, 0.4) is (0.4 + 0 + 0.4) / 2 = 0.4.
    assert representativeness(np.array([3.0, 2, 0]), np.array([1.0, 2, 2]), "nominal") == pytest.approx(0.6)


def test_the_report_gives_population_fidelity_on_survey_data(tmp_path, cli):
    spec_path, table = write(tmp_path, SPEC, made_table(400))
    assert cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "data")[0] == 0
    code, _, err = cli(
        "evaluate", "--model", "tabular", "--data", tmp_path / "data", "--judge", "survey", "--dimensions",
        "response", "--conditions", "full none only:values", "--out", tmp_path / "ev", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert cli("report", tmp_path / "ev", "--out", tmp_path / "report", "--resamples", "100")[0] == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    cells = summary["population"]["tabular"]
    # With nothing visible everyone gets the marginal's best answer: no variety, a poor population.
    assert cells["none"]["variety"] == pytest.approx(0.0)
    assert cells["full"]["representativeness"]["mean"] > cells["none"]["representativeness"]["mean"] + 0.1
    assert "## Population fidelity" in (tmp_path / "report" / "report.md").read_text()
    groups = cells["full"]["subgroups"]["political leaning"]
    assert set(groups) == {"left", "centre", "right"} and all(0 <= g["mean"] <= 1 for g in groups.values())
    assert (tmp_path / "report" / "figures" / "fig8_population.png").is_file()


def test_fields_of_a_surveys_own_are_what_evaluation_shows_alone_by_default(tmp_path, cli):
    """A spec may name its fields anything: `Political_Views` is the field `political_views`; by default
    `evaluate` and a study judge with `survey` and show each of the survey's own fields alone."""
    spec = json.loads(json.dumps(SPEC))
    spec["persona"] = {
        "Background": SPEC["persona"]["demographics"],
        "Political_Views": SPEC["persona"]["values"],
    }
    spec["subgroups"] = []
    spec_path, table = write(tmp_path, spec, made_table(200))
    assert cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "data")[0] == 0
    code, _, err = cli(
        "evaluate",
        "--model",
        "tabular",
        "--data",
        tmp_path / "data",
        "--out",
        tmp_path / "ev",
        "--no-progress",
    )
    assert code == 0, err
    meta = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert meta["judge"] == "survey" and meta["dimensions"] == ["response"]
    assert meta["conditions"] == ["full", "none", "only:background", "only:political_views", "items:0.9"]
    from personadrop.errors import ConfigError
    from personadrop.study import load_study_config

    cfg = load_study_config(None, "quick", data={"path": str(tmp_path / "data")})
    assert [c.name for c in cfg.evaluation.conditions] == meta["conditions"]
    with pytest.raises(ConfigError, match="names field 'politics', which the study's data does not have"):
        load_study_config(
            None,
            "quick",
            data={"path": str(tmp_path / "data")},
            evaluation={"conditions": ["full", "only:politics"]},
        )


def test_a_study_on_survey_data_takes_the_tabular_reference_and_no_humanlm(tmp_path, cli):
    from personadrop.errors import ConfigError
    from personadrop.study import load_study_config

    spec_path, table = write(tmp_path, SPEC, made_table(60))
    assert cli("survey", "--spec", spec_path, "--table", table, "--out", tmp_path / "data")[0] == 0
    cfg = load_study_config(None, "quick", data={"path": str(tmp_path / "data")}, judge="survey")
    assert cfg.variants == ["sft", "grpo", "grpo+fd", "tabular"]
    with pytest.raises(ConfigError, match="latent states"):
        load_study_config(None, "quick", data={"path": str(tmp_path / "data")}, variants=["humanlm"])
    # The survey judge scores the answer alone: that is every dimension a study asks of it by default,
    # asking it for a state fails in one line, and HumanLM trains only with a reward judge that reads states.
    assert cfg.evaluation.dimensions == ["response"]
    data = {"path": str(tmp_path / "data")}
    with pytest.raises(ConfigError, match="scores response only, not stance"):
        load_study_config(
            None, "quick", data=data, judge="survey", evaluation={"dimensions": ["response", "stance"]}
        )
    llm = load_study_config(
        None, "quick", data=data, judge="survey", reward_judge="anthropic:claude-haiku-4-5"
    )
    assert "humanlm" in llm.variants and "humanlm+fd" in llm.variants
    with pytest.raises(ConfigError, match="only for survey data"):
        load_study_config(None, "quick", variants=["tabular"])
