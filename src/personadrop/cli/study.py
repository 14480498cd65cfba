"""`personadrop study | evaluate | report | judge-agreement`: the experiment and its numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich import box
from rich.table import Table

from personadrop.cli.app import CONDITION_HELP, OnBadRowOpt, ProgressOpt, app, read_conditions, seed_option
from personadrop.cli.console import caution, clean, err, out, quiet_libraries, resumable, say
from personadrop.errors import PersonadropError
from personadrop.evaluate.metrics import Estimate
from personadrop.evaluate.summary import Summary
from personadrop.judges.base import DIMENSIONS

if TYPE_CHECKING:
    from personadrop.evaluate.store import ResultsStore
    from personadrop.evaluate.task import EvalTask
    from personadrop.models.base import Simulator


@app.command("study")
def study_cmd(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Study config (YAML). Default: the embedded demo, configs/demo.yaml."
        ),
    ] = None,
    profile: Annotated[
        Literal["quick", "default"],
        typer.Option(help="`quick`: a smoke run in about two minutes; `default`: the study."),
    ] = "default",
    judge: Annotated[
        str | None,
        typer.Option(
            help="Judge for the evaluation: exact, embedding, survey, anthropic:<model>, "
            "openai:<model>[@url]."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Study directory (resumed if it exists). Default: runs/<name>[-quick]."
        ),
    ] = None,
    seed: Annotated[
        int | None, seed_option("Override the config's seed (the world, the evaluation sample, masks).")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            min=1,
            max=100,
            help="Train every variant with this many training seeds (0, 1, ...): intervals then cover "
            "training noise too. Default: the config's `seeds` (the demo: 0, 1, 2).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the plan (runs, generations, judge calls, cost) and exit."),
    ] = False,
    progress: ProgressOpt = True,
) -> None:
    """Run the whole experiment: data -> train every variant -> evaluate under every condition -> report.

    With no options it runs the embedded default (a synthetic persona world, a tiny model and the exact
    judge) offline on a CPU. Every stage is resumable: run the same command again after an interruption.
    """
    from personadrop.study import Study, load_study_config

    cfg = load_study_config(
        config, profile, judge=judge, seed=seed, seeds=list(range(seeds)) if seeds is not None else None
    )
    out_dir = out_dir or Path("runs") / (cfg.name + ("-quick" if profile == "quick" else ""))
    study = Study(cfg, out_dir, console=err, progress=progress)
    if dry_run:
        lines = study.plan().lines()
        say(clean(f"plan for study {cfg.name!r} (profile {profile}, directory {out_dir})"), style="bold")
        for line in lines:
            say("  " + clean(line))
        return
    quiet_libraries(progress)
    with resumable():
        summary = study.run()
    print_headline(summary)
    report = out_dir / "report"
    say(
        clean(
            f"report: {report / 'report.md'}  figures: {report / 'figures'}  summary: {report}/summary.json"
        )
    )


@app.command("evaluate")
def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset: file, directory of splits or hub id.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Evaluation directory (resumed if it exists).")
    ] = None,
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            "-m",
            help="A simulator; repeat for several. A training run directory, a local checkpoint, `bayes` "
            "(the world's Bayes-optimal reference), or an external one: openai:<model>[@base_url] (any "
            "OpenAI-compatible endpoint, e.g. `personadrop serve`), anthropic:<model>, or replies:<file> "
            "(replies made elsewhere to --export-prompts).",
        ),
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    conditions: Annotated[
        str | None,
        typer.Option(
            help="Space-separated condition names. Default: full, none, only:<each field> (a survey's own "
            "fields on survey data), items:0.9. " + CONDITION_HELP
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            help="exact, embedding, survey, anthropic:<model> or openai:<model>[@base_url]. Default: survey "
            "on survey data (`personadrop survey`), else exact."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Which split to evaluate on.")] = "test",
    max_examples: Annotated[
        int | None, typer.Option(min=1, help="Evaluate a seeded sample of this many examples.")
    ] = None,
    on_bad_row: OnBadRowOpt = "stop",
    max_failure_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Exit non-zero when more than this share of judgements failed."),
    ] = 0.05,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Spread generation over this many processes (one torch thread each); the "
            "rows are exactly those of one process.",
        ),
    ] = 1,
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option(
            min=32,
            help="Prompt budget of a checkpoint, in tokens: the persona stays whole and the thread is cut "
            "to fit, oldest text first. Default: its context less the reply budget (a training run keeps "
            "its own). `data render --model` shows the cut.",
        ),
    ] = None,
    dimensions: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated judge dimensions, of {','.join(DIMENSIONS)}. Default: every one the "
            "judge scores (the survey judge: response)."
        ),
    ] = None,
    seed: Annotated[int, seed_option("Mask and sampling seed.")] = 0,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the planned generations, API calls and their cost (no key needed), then exit.",
        ),
    ] = False,
    export_prompts: Annotated[
        Path | None,
        typer.Option(
            "--export-prompts",
            help="Write every example under every condition as the chat messages a simulator is asked (JSON "
            "lines: id, condition, messages), then exit. Answer them elsewhere as JSON lines of id, "
            "condition and reply, and evaluate that file with --model replies:FILE.",
        ),
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Evaluate simulators under missing-persona conditions and write scores to a resumable directory.

    Any simulator can be evaluated: one trained here, a checkpoint, a model behind an API or a served
    endpoint (prompted with the persona exactly as trained simulators are), or a file of replies.
    """
    from personadrop.data.survey import evaluation_defaults
    from personadrop.evaluate import EvalTask, evaluate
    from personadrop.evaluate.evaluation import check_failures
    from personadrop.evaluate.runner import plan_grid
    from personadrop.evaluate.store import ResultsStore
    from personadrop.files import output_dir
    from personadrop.judges import check_judge_dimensions, judge_dimensions, make_judge, plan_cost
    from personadrop.simulators import API_PREFIXES, describe_simulator, is_external, load_simulator

    default_judge, default_grid = evaluation_defaults(data)  # survey data: its own judge and fields
    judge = judge or default_judge
    task = EvalTask.load(
        data,
        split=split,
        max_examples=max_examples,
        seed=seed,
        conditions=read_conditions(conditions) if conditions else default_grid,
        dimensions=dimensions.split(",") if dimensions else judge_dimensions(judge),
        on_bad_row=on_bad_row,
    )
    check_judge_dimensions(judge, task.dimensions)
    if export_prompts is not None:
        from personadrop.evaluate.grid import write_prompts

        count = write_prompts(task, export_prompts)
        say(
            clean(
                f"{count:,} prompts written to {export_prompts}; answer each as a JSON line of id, "
                "condition and reply, then evaluate with --model replies:FILE"
            )
        )
        return
    if not model or out_dir is None:
        raise PersonadropError("give at least one --model and --out DIR (or only --export-prompts FILE)")
    described = [describe_simulator(m) for m in model]
    names = [name for name, _ in described]
    if len(set(names)) != len(names):
        raise PersonadropError(
            f"two --model values are the same variant and seed ({', '.join(names)}); use distinct runs"
        )
    cache = out_dir / "judge-cache"  # judgements and API replies, so a re-run makes no call
    api = {"cache_dir": cache, "seed": seed}
    if dry_run:
        store = ResultsStore(out_dir if out_dir.is_dir() else None)
        grid = plan_grid(store, names, task, judge)
        jp = plan_cost(judge, n_requests=grid.judge_requests_todo, generations_per_request=len(names))
        say(
            f"{len(names)} variants x {len(task.conditions)} conditions x {len(task.examples)} examples = "
            f"{grid.generations:,} generations ({grid.generations_todo:,} still to do)"
        )
        for spec, name in zip(model, names, strict=True):
            if spec.startswith(API_PREFIXES):
                say(clean(plan_simulator(spec, name, task, store, api)))
        say(clean(jp.describe()))
        return
    quiet_libraries(progress)
    output_dir(out_dir, "evaluation")
    judge_obj = make_judge(judge, cache_dir=cache)
    simulators: dict[str, Simulator] = {}
    try:
        judge_obj.check_ready()
        for m, n in zip(model, names, strict=True):
            simulators[n] = (
                load_simulator(m, name=n, api=api)
                if is_external(m)
                else load_simulator(m, data=data, name=n, max_prompt_tokens=max_prompt_tokens)
            )
            simulators[n].check_ready()
        with resumable():
            results = evaluate(
                task,
                simulators,
                judge_obj,
                out=out_dir,
                records=dict(described),
                progress=progress,
                workers=processes,
            )
    finally:
        judge_obj.close()
        for sim in simulators.values():
            sim.close()
    from personadrop.distributed import is_main

    if not is_main():  # the main process of a launched evaluation judged and reports
        return
    for note in results.notes:
        caution(clean(note))
    say(clean(f"evaluation stored in {out_dir}; `personadrop report {out_dir} --out DIR` writes the report"))
    again = "Run the same command again to retry them."
    check_failures(
        *results.missing_generations(names), max_failure_share, retry_hint=again, what="generations"
    )
    failed, total = results.failures()
    check_failures(failed, total, max_failure_share, retry_hint=again)


def plan_simulator(spec: str, name: str, task: EvalTask, store: ResultsStore, api: dict) -> str:
    """The dry-run line of an API simulator: the replies still to ask for, their tokens and cost."""
    from personadrop.evaluate.grid import grid_item
    from personadrop.simulators import load_simulator

    simulator = load_simulator(spec, name=name, api=api)
    try:
        items = [
            grid_item(c, e, task.seed, simulator.inference_task)
            for c in task.conditions
            for e in task.examples
            if not store.has_generation((name, c.name, e.id))
        ]
        return simulator.plan(items)  # type: ignore[attr-defined]
    finally:
        simulator.close()


@app.command("report")
def report_cmd(
    evaluations: Annotated[
        list[Path], typer.Argument(help="One or more evaluation directories (or study directories).")
    ],
    out_dir: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write summary.json, results.csv, report.md, figures/."),
    ],
    seed: Annotated[int, seed_option("Bootstrap seed.")] = 0,
    resamples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 2000,
) -> None:
    """Summarize evaluations: means with 95% CIs, retention, gains, ceiling, figures and report.md."""
    from personadrop.report.writer import write_report

    dirs = [e / "eval" if (e / "study.yaml").exists() else e for e in evaluations]
    summary = write_report(dirs, out_dir, seed=seed, resamples=resamples)
    print_headline(summary)
    say(clean(f"report: {out_dir / 'report.md'}"))


@app.command("judge-agreement")
def judge_agreement_cmd(
    results: Annotated[Path, typer.Argument(help="An evaluation (or study) directory holding generations.")],
    judges: Annotated[
        str | None,
        typer.Option(help="Two judges, comma-separated, e.g. exact,anthropic:claude-haiku-4-5."),
    ] = None,
    human: Annotated[
        list[Path] | None,
        typer.Option(
            "--human",
            help="Check the evaluation's judge against people instead: a ratings directory from "
            "`personadrop annotate` (its sample), and any more ratings of that sample, as directories or "
            "CSV / JSON-lines files with columns item, rater, dimension, value (0 to 1). Repeat for each.",
        ),
    ] = None,
    max_groups: Annotated[
        int | None,
        typer.Option(min=1, help="Re-score at most this many (condition, example) groups (a seeded sample)."),
    ] = None,
    dimensions: Annotated[
        str | None, typer.Option(help="Comma-separated dimensions (default: those of the evaluation).")
    ] = None,
    seed: Annotated[int, seed_option("Sampling seed for --max-groups.")] = 0,
    max_failure_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Exit non-zero when more than this share of either judge's judgements failed.",
        ),
    ] = 0.05,
) -> None:
    """Re-score stored generations with two judges and report their correlation per dimension; or, with
    --human, set the evaluation's judge against people's ratings (Krippendorff's alpha, Spearman, Kendall,
    agreement between people, and whether the judge is as good as one more person)."""
    if human:
        if judges:
            raise PersonadropError("give either --judges or --human, not both")
        _human_agreement(results, human, seed)
        return
    if judges is None:
        raise PersonadropError("give --judges A,B (two judges) or --human RATINGS_DIR")
    from personadrop.evaluate.agreement import agreement_requests
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.evaluate.evaluation import check_failures
    from personadrop.evaluate.task import check_dimensions
    from personadrop.judges import judge_agreement, make_judge
    from personadrop.judges.agreement import POOLED

    names = [j.strip() for j in judges.split(",") if j.strip()]
    if len(names) != 2:
        raise PersonadropError("--judges takes exactly two judges, comma-separated")
    ev = EvaluationDir.open(results / "eval" if (results / "study.yaml").exists() else results)
    dims = check_dimensions(dimensions.split(",")) if dimensions else ev.meta.dimensions
    requests = agreement_requests(ev, dims, max_groups=max_groups, seed=seed)
    judge_a, judge_b = (make_judge(n, cache_dir=ev.path / "judge-cache") for n in names)
    try:
        for j in (judge_a, judge_b):
            j.check_ready()
        report = judge_agreement(requests, judge_a, judge_b)
    finally:
        judge_a.close()
        judge_b.close()
    path = ev.path / f"agreement_{_slug(names[0])}__{_slug(names[1])}.json"
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    out.print(report.table(), markup=False)
    say(clean(f"written to {path}"))
    # A pair one judge failed is dropped from the correlations: too many and the numbers say nothing.
    pooled = report.row(POOLED)
    check_failures(
        pooled.dropped,
        pooled.n + pooled.dropped,
        max_failure_share,
        retry_hint="Run the same command again to retry them (judgements made are cached).",
    )


def _human_agreement(results: Path, paths: list[Path], seed: int) -> None:
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.evaluate.human import HUMAN_AGREEMENT, human_agreement
    from personadrop.evaluate.ratings import RatingsDir, read_ratings
    from personadrop.report.headline import fmt

    ev = EvaluationDir.open(results / "eval" if (results / "study.yaml").exists() else results)
    dirs = [p for p in paths if p.is_dir()]
    if not dirs:
        raise PersonadropError(
            "--human needs a ratings directory (from `personadrop annotate`): it holds the sample"
        )
    base = RatingsDir.open(dirs[0])
    ratings = []
    for p in paths:
        if p.is_dir():
            other = RatingsDir.open(p)
            if other.sample.item_ids() != base.sample.item_ids():
                raise PersonadropError(f"{p} rates another sample than {dirs[0]}; give ratings of one sample")
            ratings += other.ratings()
        else:
            ratings += read_ratings(p, base.sample)
    if not ratings:
        raise PersonadropError(f"no ratings in {', '.join(map(str, paths))}")
    report = human_agreement(ev, base.sample, ratings, seed=seed)
    path = ev.path / HUMAN_AGREEMENT
    path.write_text(report.model_dump_json(indent=2) + "\n")
    say(clean(f"judge {report.judge} against {len(report.raters)} rater(s), {report.ratings:,} ratings"))
    for row in report.dimensions:
        table = Table(
            title=f"{row.dimension} ({row.items} items): the judge is {row.verdict}"
            if row.judge_minus_person is not None
            else f"{row.dimension} ({row.items} items), {row.verdict}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for head in ("measure", "value", "95% CI"):
            table.add_column(head, overflow="fold")
        measures = [
            ("alpha, judge and people (interval)", row.alpha_interval),
            ("alpha, judge and people (ordinal)", row.alpha_ordinal),
            ("Spearman, judge vs mean rating", row.spearman),
            ("Kendall, judge vs mean rating", row.kendall),
        ]
        if row.alpha_people is not None and row.judge_minus_person is not None:
            measures += [
                ("alpha between people (interval)", row.alpha_people),
                ("judge minus a person (pairwise alpha)", row.judge_minus_person),
            ]
        for name, e in measures:
            table.add_row(name, fmt(e.mean), f"[{fmt(e.ci_low)}, {fmt(e.ci_high)}]")
        out.print(table, markup=False)
    say(clean(f"written to {path}; `personadrop report` adds it to report.md"))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def print_headline(summary: Summary) -> None:
    """Means only, short headers, to fit a terminal; report.md has the intervals and the long names. Then
    the verdicts on the seed's claims, one line each, and the cautions."""
    from personadrop.report.headline import fmt, headline, pct, retention_range
    from personadrop.report.markdown import cautions, verdict_number

    table = Table(
        title="means (CIs and `none` in report.md); ret: retention; use: persona use",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    heads = ["variant", "full", "1 field", "items:0.9", "ret 1 field", "ret i:0.9"]
    if summary.persona_use:
        heads.append("use 1f")
    for head in heads:
        table.add_column(
            head, justify="left" if head == "variant" else "right", no_wrap=True, min_width=len(head)
        )

    def mean(e: Estimate | None) -> str:
        return fmt(e.mean if e is not None else None)

    for r in headline(summary):
        cells = [clean(r.variant), mean(r.full), mean(r.one_field), mean(r.items)]
        cells += [retention_range(r.retention_one_field), pct(r.retention_items)]
        if summary.persona_use:
            use = r.persona_use_one_field
            cells.append(f"{use.mean:.2f}" if use is not None and use.known else "-")
        table.add_row(*cells)
    out.print(table, markup=False)
    for v in summary.verdicts:
        say(clean(f"{v.verdict:<12} {v.claim}: {verdict_number(v)} (seed: {v.seed_reports})"))
    for text in cautions(summary):
        caution(text)
