"""The ``personadrop`` command line. Each command is a thin shell over the library.

Errors a user can cause end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from personadrop.dropout import DEFAULT_CONDITIONS
from personadrop.errors import PersonadropError
from personadrop.judges.base import DIMENSIONS

app = typer.Typer(
    name="personadrop",
    help="Train and evaluate user simulators that stay faithful when persona information is missing.\n\n"
    "Start with `personadrop study` (the whole experiment on the embedded synthetic world), or "
    "`personadrop data inspect PATH` to check a HUMANUAL-style dataset.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
data_app = typer.Typer(help="Validate, summarize and render HUMANUAL-style datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)

OnBadRowOpt = Annotated[
    Literal["stop", "skip"],
    typer.Option("--on-bad-row", help="`stop` at the first invalid row (default) or `skip` invalid rows and count them."),
]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Only this split: train, val or test.")]


# --------------------------------------------------------------------------- data
@data_app.command("inspect")
def data_inspect(
    path: Annotated[str, typer.Argument(help="A .jsonl/.json/.parquet file, a directory of split files, or a hub id.")],
    split: SplitOpt = None,
    on_bad_row: OnBadRowOpt = "stop",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate every row and summarize: rows, users, posts, persona fields present, items per field."""
    from personadrop.data.humanual import load_examples
    from personadrop.data.summary import describe

    summary = describe(load_examples(path, split=split, on_bad_row=on_bad_row))
    if as_json:
        out.print_json(json.dumps(summary))
        return
    head = Table(title=f"{summary['source']}", show_header=False, title_justify="left")
    for key in ("rows", "users", "posts", "splits", "unseen_user_rows", "with_true_states", "text_personas",
                "context_turns_mean", "response_words_mean", "bad_rows"):
        value = summary[key]
        head.add_row(key.replace("_", " "), f"{value:.1f}" if isinstance(value, float) else str(value))
    out.print(head)
    fields = Table("field", "present", "items (mean)", "min", "max", title="persona fields", title_justify="left")
    for name, f in summary["fields"].items():
        fields.add_row(name, f"{f['present_share']:.0%}", f"{f['items_mean']:.1f}", str(f["items_min"]), str(f["items_max"]))
    out.print(fields)
    for line in summary["bad_row_examples"]:
        out.print(f"[yellow]skipped[/] {line}", markup=True, highlight=False)


@data_app.command("render")
def data_render(
    path: Annotated[str, typer.Argument(help="Dataset file, directory or hub id.")],
    condition: Annotated[str, typer.Option("--condition", "-c", help="What is visible: full, none, only:values, items:0.9, ...")] = "full",
    index: Annotated[int, typer.Option("--index", "-i", help="Which example (0-based, in file order).")] = 0,
    split: SplitOpt = None,
    task: Annotated[str, typer.Option(help="Prompt task: response, states+response, or a state dimension.")] = "response",
    seed: Annotated[int, typer.Option(help="Mask seed.")] = 0,
    epoch: Annotated[int, typer.Option(help="Mask epoch (training epochs draw fresh masks).")] = 0,
    omit_missing: Annotated[bool, typer.Option("--omit-missing", help="Leave hidden fields out instead of `Field: Missing`.")] = False,
) -> None:
    """Show one prompt exactly as the simulator sees it under a condition."""
    from personadrop.data.humanual import load_examples
    from personadrop.dropout import MaskKey, parse_condition
    from personadrop.prompts import TASKS, simulator_messages

    policy = parse_condition(condition)
    if task not in TASKS:
        raise PersonadropError(f"unknown task {task!r}; tasks are: {', '.join(TASKS)}")
    if index < 0:
        raise PersonadropError("--index must be >= 0")
    examples = load_examples(path, split=split, limit=index + 1).examples
    if index >= len(examples):
        raise PersonadropError(f"--index {index} is out of range: {path} has {len(examples)} examples")
    ex = examples[index]
    visible = policy(ex.persona, MaskKey(seed, ex.id, epoch))
    messages = simulator_messages(ex, visible, task, "omit" if omit_missing else "marker")
    out.rule(f"example {ex.id} · user {ex.user_id} · condition {policy.name}")
    for m in messages:
        out.print(f"[bold]<{m['role']}>[/]", markup=True)
        out.print(m["content"], markup=False, highlight=False)
    out.rule("visible")
    out.print(json.dumps(visible.visibility()), markup=False, highlight=False)


# --------------------------------------------------------------------------- world (the synthetic persona world)
@app.command("world")
def world_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write: train/val/test.jsonl, traits.jsonl, world.json.")],
    seed: Annotated[int | None, typer.Option(help="World seed (default: the config's, else 0). Same seed, same files.")] = None,
    users: Annotated[int | None, typer.Option(help="Number of users (default 320).")] = None,
    posts: Annotated[int | None, typer.Option(help="Number of distinct posts (default 1200).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="World config (YAML/JSON): sizes, priors, signal table, noise.")] = None,
    ceiling: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Print the field-informativeness (ceiling) table.")] = True,
) -> None:
    """Write a synthetic persona world (HUMANUAL schema plus true latent states) and print its ceilings.

    The ceiling of a condition is the mean exact-judge response score of the world's Bayes-optimal reference
    on the test split when only that part of the persona is visible: how much each field can tell.
    """
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from personadrop.data.world import generate_world, load_world_config, world_config, write_world
    from personadrop.models.bayes import CEILING_CONDITIONS, BayesSimulator, ceiling_table

    sizes = {"seed": seed, "users": users, "posts": posts}
    cfg = load_world_config(config, **sizes) if config is not None else world_config(**sizes)
    started = time.perf_counter()
    with err.status("generating the world"):
        world = generate_world(cfg)
        record = write_world(world, out_dir)
    elapsed = time.perf_counter() - started
    counts = record["counts"]
    head = Table(title=f"world {out_dir} (seed {cfg.seed}, {elapsed:.1f} s)", show_header=False, title_justify="left")
    head.add_row("users", f"{counts['users']} ({counts['unseen_users']} never in training)")
    head.add_row("posts", f"{counts['posts']} (" + ", ".join(f"{s} {n}" for s, n in counts["posts_per_split"].items()) + ")")
    head.add_row("rows", ", ".join(f"{s} {n}" for s, n in counts["rows"].items()))
    head.add_row("unseen-user rows", ", ".join(f"{s} {n}" for s, n in counts["unseen_user_rows"].items()))
    out.print(head)
    if not ceiling:
        return
    test = world.split("test")
    with Progress(TextColumn("ceiling"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
        task = bar.add_task("ceiling", total=len(CEILING_CONDITIONS))
        rows = ceiling_table(test, BayesSimulator(cfg), CEILING_CONDITIONS, on_condition=lambda _: bar.advance(task))
    table = Table("condition", "ceiling (test) ± 95% CI", "unseen users", "n / unseen n",
                  title="field informativeness: Bayes-optimal exact-judge response score", title_justify="left")
    for r in rows:
        table.add_row(r.condition, f"{r.mean:.3f} ± {r.ci95:.3f}", f"{r.unseen_mean:.3f}", f"{r.n} / {r.unseen_n}")
    out.print(table)


# --------------------------------------------------------------------------- train (simulators, on TRL)
@app.command("train")
def train_cmd(
    method: Annotated[Literal["sft", "grpo", "humanlm"], typer.Option("--method", help="`sft`: imitate real replies; `grpo`: SFT warm start then GRPO on judge rewards; `humanlm`: states-then-reply warm start, then GRPO over seven tasks.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset directory or file (its train split is used).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory: resumed if it exists, skipped when finished.")],
    field_dropout: Annotated[float | None, typer.Option("--field-dropout", help="Hide each persona field with probability P in every training prompt, redrawn each epoch.")] = None,
    profile: Annotated[Literal["quick", "default"], typer.Option(help="`quick`: a few steps (tests, smoke checks); `default`: what the study uses.")] = "default",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON training config (a study config's `train:` section works too).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="`tiny` or `small` (built from scratch), or a local Hugging Face checkpoint directory.")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters on a checkpoint given with --model (peft).")] = False,
    judge: Annotated[str | None, typer.Option(help="Reward judge for grpo/humanlm (default: exact).")] = None,
    warm_start: Annotated[Path | None, typer.Option("--warm-start", help="grpo only: a finished sft run (same data, seed, dropout) to start from.")] = None,
    seed: Annotated[int | None, typer.Option(help="The one seed for masks, data order and initialization.")] = None,
    report_to: Annotated[list[str] | None, typer.Option("--report-to", help="Also log to tensorboard or wandb (repeatable).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
) -> None:
    """Train one simulator and write a self-describing, resumable run directory."""
    from personadrop.train.variant import train_variant

    _quiet_libraries(progress)
    overrides: dict[str, object] = {"seed": seed, "judge": judge, "report_to": report_to, "progress": progress}
    if model is not None:
        overrides["model"] = {"preset": model} if model in ("tiny", "small") else {"path": model}
    if lora:
        if model is None or model in ("tiny", "small"):
            raise PersonadropError("--lora needs --model PATH (a local pretrained checkpoint)")
        overrides["model"] = {"path": model, "lora": {}}
    with _resumable():
        run = train_variant(method, data, out, field_dropout=field_dropout, profile=profile, config=config,
                            warm_start=warm_start, **overrides)
    meta = run.meta
    summary = Table("stage", "steps", "seconds", "s/step", "final", title=f"{meta.get('name')} -> {run.path}",
                    title_justify="left")
    stages = meta.get("stages", {})
    for stage, s in sorted(stages.items(), key=lambda kv: ("sft", "grpo").index(kv[0]) if kv[0] in ("sft", "grpo") else 9):
        final = ", ".join(f"{k}={v:.3g}" for k, v in s.get("final", {}).items() if k in ("loss", "reward"))
        summary.add_row(stage, str(s["steps"]), f"{s['seconds']:.1f}", f"{s['step_seconds']:.3f}", final)
    Console().print(summary)


# --------------------------------------------------------------------------- study, evaluate, report
@app.command("study")
def study_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Study config (YAML). Default: the embedded demo, configs/demo.yaml.")] = None,
    profile: Annotated[Literal["quick", "default"], typer.Option(help="`quick`: a smoke run in about two minutes; `default`: the study.")] = "default",
    judge: Annotated[str | None, typer.Option(help="Judge for the evaluation: exact, embedding, anthropic:<model>, openai:<model>[@url].")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Study directory (resumed if it exists). Default: runs/<name>[-quick].")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (runs, generations, judge calls, cost) and exit.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
) -> None:
    """Run the whole experiment: data -> train every variant -> evaluate under every condition -> report.

    With no options it runs the embedded default (a synthetic persona world, a tiny model trained from
    scratch and the exact judge) offline on a CPU. Every stage is resumable: run the same command again
    after an interruption.
    """
    from personadrop.study import Study
    from personadrop.study_config import load_study_config

    cfg = load_study_config(config, profile, judge=judge, seed=seed)
    out = out or Path("runs") / (cfg.name + ("-quick" if profile == "quick" else ""))
    study = Study(cfg, out, console=err, progress=progress)
    if dry_run:
        lines = study.plan().lines()
        out_console = Console()
        out_console.print(f"[bold]plan for study {cfg.name!r}[/] (profile {profile}, directory {out})", markup=True,
                          soft_wrap=True)
        for line in lines:
            out_console.print("  " + line, markup=False, highlight=False, soft_wrap=True)
        return
    _quiet_libraries(progress)
    with _resumable():
        summary = study.run()
    _print_headline(summary)
    out_path = out / "report"
    Console().print(f"report: {out_path / 'report.md'}  figures: {out_path / 'figures'}  summary: {out_path / 'summary.json'}",
                    markup=False, highlight=False)


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[list[str], typer.Option("--model", "-m", help="A training run directory or local checkpoint; repeat for several. `bayes` = the world's Bayes-optimal reference.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset: file, directory of splits or hub id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Evaluation directory (resumed if it exists).")],
    conditions: Annotated[str, typer.Option(help="Space-separated condition names. Default: full, none, only:<each field>, items:0.1..0.9.")] = " ".join(DEFAULT_CONDITIONS),
    judge: Annotated[str, typer.Option(help="exact, embedding, anthropic:<model> or openai:<model>[@base_url].")] = "exact",
    split: Annotated[str, typer.Option(help="Which split to evaluate on.")] = "test",
    max_examples: Annotated[int | None, typer.Option(help="Evaluate a seeded sample of this many examples.")] = None,
    dimensions: Annotated[str, typer.Option(help="Comma-separated judge dimensions.")] = ",".join(DIMENSIONS),
    seed: Annotated[int, typer.Option(help="Mask and sampling seed.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned generations and judge calls/cost, then exit.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Evaluate simulators under missing-persona conditions and write scores to a resumable directory."""
    import random

    from personadrop.data.humanual import load_examples
    from personadrop.dropout import parse_conditions
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.evaluate.runner import plan_grid, run_grid
    from personadrop.judges import make_judge, plan_cost

    policies = parse_conditions(conditions)
    dims = [d.strip() for d in dimensions.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or "response" not in dims:
        raise PersonadropError(f"--dimensions must include response and come from {', '.join(DIMENSIONS)}")
    examples = load_examples(data, split=split).examples
    if max_examples is not None and len(examples) > max_examples:
        keep = set(random.Random(seed).sample(range(len(examples)), max_examples))
        examples = [e for i, e in enumerate(examples) if i in keep]
    names = [_variant_name(m) for m in model]
    if len(set(names)) != len(names):
        raise PersonadropError(f"two --model values share the variant name ({', '.join(names)}); use distinct runs")
    if dry_run:
        store_plan = plan_grid(_open_store(out), names, policies, examples, judge, dims)
        jp = plan_cost(judge, n_requests=store_plan.judge_requests_todo, generations_per_request=len(names))
        console = Console()
        console.print(f"{len(names)} variants x {len(policies)} conditions x {len(examples)} examples = "
                      f"{store_plan.generations:,} generations ({store_plan.generations_todo:,} still to do)", markup=False)
        console.print(jp.describe(), markup=False)
        return
    _quiet_libraries(progress)
    judge_obj = make_judge(judge, cache_dir=out / "judge-cache")
    judge_obj.check_ready()
    variants = [_load_variant(m, n, data) for m, n in zip(model, names, strict=True)]
    meta = {"data": data, "split": split, "seed": seed, "judge": judge_obj.name, "dimensions": dims,
            "conditions": [p.name for p in policies], "variants": {v.name: {"task": v.task, "run": m} for v, m in zip(variants, model, strict=True)}}
    ev = EvaluationDir.create(out, meta, examples)
    try:
        with _resumable():
            run_grid(ev.store, variants, policies, examples, judge_obj, seed=seed, dimensions=dims, progress=progress)
    finally:
        ev.add_usage(judge_obj.name, judge_obj.usage)
        judge_obj.close()
    Console().print(f"evaluation stored in {out}; `personadrop report {out} --out REPORT_DIR` writes the report",
                    markup=False, highlight=False)


@app.command("report")
def report_cmd(
    evaluations: Annotated[list[Path], typer.Argument(help="One or more evaluation directories (or study directories).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write summary.json, results.csv, report.md, figures/.")],
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
) -> None:
    """Summarize evaluations: means with 95% CIs, retention, gains, ceiling, figures and report.md."""
    from personadrop.report.writer import write_report

    dirs = [e / "eval" if (e / "study.yaml").exists() else e for e in evaluations]
    summary = write_report(dirs, out, seed=seed, resamples=resamples)
    _print_headline(summary)
    Console().print(f"report: {out / 'report.md'}", markup=False, highlight=False)


@app.command("judge-agreement")
def judge_agreement_cmd(
    results: Annotated[Path, typer.Argument(help="An evaluation (or study) directory holding generations.")],
    judges: Annotated[str, typer.Option(help="Two judges, comma-separated, e.g. exact,anthropic:claude-haiku-4-5.")],
    max_groups: Annotated[int | None, typer.Option(help="Re-score at most this many (condition, example) groups (a seeded sample).")] = None,
    dimensions: Annotated[str | None, typer.Option(help="Comma-separated dimensions (default: those of the evaluation).")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed for --max-groups.")] = 0,
) -> None:
    """Re-score stored generations with two judges and report their correlation per dimension."""
    from personadrop.evaluate.agreement import agreement_requests
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.judges import judge_agreement, make_judge

    names = [j.strip() for j in judges.split(",") if j.strip()]
    if len(names) != 2:
        raise PersonadropError("--judges takes exactly two judges, comma-separated")
    ev = EvaluationDir.open(results / "eval" if (results / "study.yaml").exists() else results)
    dims = [d.strip() for d in dimensions.split(",")] if dimensions else ev.meta.get("dimensions", ["response"])
    requests = agreement_requests(ev, dims, max_groups=max_groups, seed=seed)
    judge_a, judge_b = (make_judge(n, cache_dir=ev.path / "judge-cache") for n in names)
    for j in (judge_a, judge_b):
        j.check_ready()
    try:
        report = judge_agreement(requests, judge_a, judge_b)
    finally:
        judge_a.close()
        judge_b.close()
    path = ev.path / f"agreement_{_slug(names[0])}__{_slug(names[1])}.json"
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    Console().print(report.table())
    Console().print(f"written to {path}", markup=False, highlight=False)


@contextmanager
def _resumable() -> Iterator[None]:
    """Ctrl-C during long work: one line saying nothing finished is lost, and exit code 130."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted; finished work is kept and the same command resumes from it")
        raise typer.Exit(130) from None


def _quiet_libraries(progress: bool) -> None:
    """With --no-progress, the libraries' own bars (loading weights, writing shards, datasets) stay off too."""
    if progress:
        return
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _variant_name(model: str) -> str:
    if model == "bayes":
        return "bayes"
    meta = Path(model) / "run.json"
    if meta.exists():
        return str(json.loads(meta.read_text()).get("name") or Path(model).name)
    return Path(model).name


def _load_variant(model: str, name: str, data: str):
    from personadrop.evaluate.runner import Variant

    if model == "bayes":
        from personadrop.study import bayes_simulator

        return Variant("bayes", bayes_simulator(Path(data)), "response")
    from personadrop.models.checkpoint import load_simulator

    sim = load_simulator(model, name=name)
    return Variant(name, sim, getattr(sim, "inference_task", "response"))


def _open_store(out: Path):
    from personadrop.evaluate.store import ResultsStore

    return ResultsStore(out) if out.exists() else ResultsStore(Path(tempfile.mkdtemp()))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _print_headline(summary: dict) -> None:
    """Means only, short headers, to fit a terminal; report.md has the intervals and the long names."""
    from personadrop.report.figures import ordered
    from personadrop.report.writer import cautions, fmt, pct

    def mean(v: str, c: str) -> str:
        return fmt((summary["scores"][v].get(c) or {}).get("mean"))

    table = Table(title="mean alignment score (CIs in report.md); ret = retention vs full",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for head in ("variant", "full", "none", "1 field", "items:0.9", "ret 1 field", "ret items:0.9"):
        table.add_column(head, justify="left" if head == "variant" else "right", no_wrap=True, min_width=len(head))
    for v in ordered(summary["scores"]):
        sf = summary.get("single_field", {}).get(v, {})
        low, high = pct(sf.get("retention_min")), pct(sf.get("retention_max"))
        ret_sf = f"{low}-{high}" if "-" not in (low, high) else "-"
        table.add_row(v, mean(v, "full"), mean(v, "none"), mean(v, "only:*"), mean(v, "items:0.9"), ret_sf,
                      pct(summary["retention"][v].get("items:0.9")))
    Console().print(table)
    for text in cautions(summary):
        Console().print(f"[yellow]caution:[/] {text}", markup=True, highlight=False)


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit code 2.

    Typer formats usage errors (unknown option, bad value) itself in standalone mode.
    """
    try:
        app(args=argv)
    except PersonadropError as e:
        err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])


__all__ = ["app", "main"]
