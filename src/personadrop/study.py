"""The main job: one config -> data -> trained variants -> evaluation under every condition -> report.

A study directory holds every stage's output and is resumed stage by stage: the world is not redrawn,
a finished training run is skipped and a killed one resumes from its last checkpoint, the evaluation
store skips rows it holds, and the report is redrawn from the store (cheap)::

    study.yaml       the resolved config           timings.json   seconds per stage, per run
    data/            the synthetic world (when the data is a world)
    runs/<variant>/  training run directories
    eval/            the evaluation directory (generations, scores)
    report/          summary.json, results.csv, report.md, figures/
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from personadrop.data.example import Example
from personadrop.data.humanual import load_examples
from personadrop.dropout import parse_conditions
from personadrop.errors import ConfigError
from personadrop.study_config import StudyConfig, dump_config
from personadrop.train.run import RunDir

log = logging.getLogger(__name__)

# Variant -> (training method, uses field dropout).
METHOD_OF = {"sft": ("sft", False), "grpo": ("grpo", False), "grpo+fd": ("grpo", True),
             "humanlm": ("humanlm", False), "humanlm+fd": ("humanlm", True)}


@dataclass
class StudyPlan:
    """What a study will do, before it does any of it (``--dry-run``)."""

    data: str
    eval_examples: int | None
    runs: list[dict[str, Any]]
    conditions: list[str]
    variants: list[str]
    dimensions: list[str]
    judge_lines: list[str] = field(default_factory=list)

    @property
    def generations(self) -> int | None:
        if self.eval_examples is None:
            return None
        return len(self.variants) * len(self.conditions) * self.eval_examples

    def lines(self) -> list[str]:
        n = f"{self.eval_examples:,}" if self.eval_examples is not None else "all"
        out = [f"data: {self.data}; evaluation on {n} examples"]
        out += [f"train {r['variant']:<11} method={r['method']:<8} field_dropout={r['field_dropout']}"
                f"{'  warm start: ' + r['warm_start'] if r.get('warm_start') else ''}{'  (done)' if r.get('done') else ''}"
                for r in self.runs]
        gen = f"{self.generations:,}" if self.generations is not None else "?"
        out.append(f"evaluate {len(self.variants)} variants x {len(self.conditions)} conditions x {n} examples "
                   f"= {gen} generations, judged on {len(self.dimensions)} dimensions")
        return out + self.judge_lines


class Study:
    """Runs (or plans) one study in ``out_dir``."""

    def __init__(self, cfg: StudyConfig, out_dir: str | Path, *, console: Console | None = None,
                 progress: bool = True):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ the job
    def run(self) -> dict[str, Any]:
        """Every stage, skipping what is done; returns the summary."""
        from personadrop.judges import make_judge

        self.out.mkdir(parents=True, exist_ok=True)
        self._check_config_unchanged()
        # LLM judgements are cached inside the study, so a re-run (or a resumed one) pays for nothing twice.
        cache = {"cache_dir": self.out / "judge-cache"}
        judge = make_judge(self.cfg.judge, **{**cache, **self.cfg.judge_options})
        reward_judge = (judge if self.cfg.reward_judge in (None, self.cfg.judge)
                        else make_judge(self.cfg.reward_judge, **cache))
        # Fail in seconds on a missing API key, not after an hour of training.
        judge.check_ready()
        reward_judge.check_ready()

        data_dir = self._stage("data", self._prepare_data)
        runs = self._train_all(data_dir, reward_judge)
        self._stage("evaluate", lambda: self._evaluate(data_dir, runs, judge))
        judge.close()
        summary = self._stage("report", self._report)
        self._write_timings()
        return summary

    def plan(self) -> StudyPlan:
        """The work a run would do; needs no API key, no model weights and (for real data) no data."""
        data_dir = self._data_dir()
        examples = None
        if (self.cfg.data.world is None and Path(self.cfg.data.path or "").exists()) or (self.cfg.data.world is not None and (data_dir / "world.json").exists()):
            examples = len(self._eval_examples(data_dir))
        if examples is None:
            examples = self.cfg.data.max_eval_examples
        runs = []
        for variant in self.cfg.trained_variants:
            method, fd = METHOD_OF[variant]
            self._train_config(variant)  # validates the training settings without touching data or weights
            warm = self._warm_start_name(variant)
            runs.append({"variant": variant, "method": method, "field_dropout": self.cfg.field_dropout if fd else None,
                         "warm_start": warm, "done": RunDir(self._run_dir(variant)).done})
        plan = StudyPlan(
            data=self.cfg.data.path or f"synthetic world -> {data_dir}",
            eval_examples=examples,
            runs=runs,
            conditions=self.cfg.evaluation.conditions,
            variants=self.cfg.variants,
            dimensions=self.cfg.evaluation.dimensions,
        )
        from personadrop.judges import plan_cost

        if examples is not None:
            groups = len(plan.conditions) * examples
            ev = plan_cost(self.cfg.judge, n_requests=groups * len(plan.dimensions),
                           generations_per_request=len(plan.variants), **self.cfg.judge_options)
            plan.judge_lines.append("evaluation " + ev.describe())
        reward = self.cfg.reward_judge or self.cfg.judge
        if any(METHOD_OF[v][0] != "sft" for v in self.cfg.trained_variants):
            plan.judge_lines.append(f"GRPO rewards: judge {reward} (calls depend on training steps; see the training profile)")
        return plan

    # ------------------------------------------------------------------ stages
    def _prepare_data(self) -> Path:
        if self.cfg.data.world is None:
            return Path(self.cfg.data.path)  # type: ignore[arg-type]
        data_dir = self._data_dir()
        if not (data_dir / "world.json").exists():
            write_world(self.cfg, data_dir)
        return data_dir

    def _train_all(self, data_dir: Path, reward_judge: Any) -> dict[str, Path]:
        """Train every variant; with several workers, independent runs train side by side."""
        workers = self._training_workers()
        runs: dict[str, Path] = {}
        variants = []
        for v in self.cfg.trained_variants:
            if workers <= 1 or RunDir(self._run_dir(v)).done:
                # In this process: a finished run is only checked against the config and data, then skipped.
                runs[v] = self._stage(f"train {v}", lambda v=v: self._train_job(v, data_dir, runs, reward_judge)())
            else:
                variants.append(v)
        if not variants:
            return runs
        # Small CPU models use two cores better as two one-thread runs than as one two-thread run
        # (measured 1.3x), so runs that do not depend on each other train in parallel processes.
        threads = max(1, (os.cpu_count() or 2) // workers)
        pending = sorted(variants, key=lambda v: METHOD_OF[v][0] != "humanlm")  # the longest runs first
        running: dict[str, tuple[AsyncResult, float]] = {}
        start_all = time.perf_counter()
        self.console.print(f"[bold]train[/] {len(variants)} variants, {workers} at a time ...", markup=True)
        bars = Progress(TextColumn("  {task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=self.console, disable=not self.progress)
        # Workers ignore Ctrl-C: the study catches it, stops them, and a re-run resumes from their checkpoints.
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=signal.signal,
                                                          initargs=(signal.SIGINT, signal.SIG_IGN))
        tasks = {}
        try:
            with bars:
                while pending or running:
                    for v in list(pending):
                        warm = self._warm_start_name(v)
                        if len(running) < workers and (warm is None or warm in runs):
                            job = self._train_job(v, data_dir, runs, self.cfg.reward_judge or self.cfg.judge, threads)
                            running[v] = (pool.apply_async(job), time.perf_counter())
                            pending.remove(v)
                            bars.console.print(f"  training {v} (log: {Path(job.out_dir) / 'train.log'})", highlight=False)
                            tasks[v] = bars.add_task(v, total=None)
                    time.sleep(0.5)
                    for v, (result, started) in list(running.items()):
                        state = RunDir(self._run_dir(v)).progress  # a worker's trainer reports its step there
                        if state:
                            bars.update(tasks[v], description=f"{v} ({state['stage']})", completed=state["step"],
                                        total=state["max_steps"])
                        if result.ready():
                            runs[v] = Path(result.get())  # a worker's exception is raised here
                            del running[v]
                            bars.remove_task(tasks[v])
                            self.timings[f"train {v}"] = round(time.perf_counter() - started, 2)
                            bars.console.print(f"  trained {v} in {self.timings[f'train {v}']:.0f} s", highlight=False)
                            self._write_timings()
            pool.close()
        finally:
            pool.terminate()  # stops runs still training when the study fails or is interrupted; no-op otherwise
            pool.join()
        self.timings["train (all, parallel)"] = round(time.perf_counter() - start_all, 2)
        return runs

    def _train_job(self, variant: str, data_dir: Path, runs: dict[str, Path], judge: Any,
                   threads: int | None = None) -> TrainJob:
        method, _ = METHOD_OF[variant]
        warm = self._warm_start_name(variant)
        config = self._train_config(variant)
        if threads is not None:
            config = config.model_copy(update={"threads": threads, "progress": False})
        return TrainJob(
            method=method,
            data=str(data_dir) if self.cfg.data.world is not None else str(self.cfg.data.path),
            out_dir=str(self._run_dir(variant)),
            config=config,
            profile=self.cfg.training_profile,
            judge=judge,
            judge_cache=str(self.out / "judge-cache"),
            warm_start=str(runs[warm]) if warm else None,
            name=variant,
            quiet=threads is not None,
        )

    def _training_workers(self) -> int:
        if self.cfg.training_workers is not None:
            return self.cfg.training_workers
        # A checkpoint path means a real model, usually on one GPU: one run at a time.
        on_cpu_preset = "path" not in self.cfg.model
        return 2 if on_cpu_preset and (os.cpu_count() or 1) >= 2 and len(self.cfg.trained_variants) > 1 else 1

    def _train_config(self, variant: str) -> Any:
        from personadrop.train.config import resolve_config

        method, fd = METHOD_OF[variant]
        options = {**self.cfg.training, "seed": self.cfg.seed}
        if self.cfg.model:
            options["model"] = self.cfg.model
        if self.cfg.reward_judge or self.cfg.judge:
            options["judge"] = self.cfg.reward_judge or self.cfg.judge
        return resolve_config(method, profile=self.cfg.training_profile,
                              field_dropout=self.cfg.field_dropout if fd else None, **options)

    def _evaluate(self, data_dir: Path, runs: dict[str, Path], judge: Any) -> None:
        from personadrop.evaluate.directory import EvaluationDir
        from personadrop.evaluate.runner import Variant, run_grid
        from personadrop.models.checkpoint import load_simulator, read_run_meta

        examples = self._eval_examples(data_dir)
        conditions = parse_conditions(self.cfg.evaluation.conditions)
        variants = []
        for name in self.cfg.variants:
            if name == "bayes":
                variants.append(Variant("bayes", bayes_simulator(data_dir), "response"))
                continue
            meta = read_run_meta(runs[name])
            variants.append(Variant(name, load_simulator(runs[name], name=name, **self.cfg.evaluation.decoding),
                                    meta.get("inference_task", "response")))
        meta = {
            "data": str(data_dir), "split": self.cfg.data.eval_split, "seed": self.cfg.seed, "judge": judge.name,
            "dimensions": self.cfg.evaluation.dimensions, "conditions": [c.name for c in conditions],
            "variants": {v.name: {"task": v.task, "run": str(runs.get(v.name, ""))} for v in variants},
        }
        ev = EvaluationDir.create(self.out / "eval", meta, examples)
        try:
            run_grid(ev.store, variants, conditions, examples, judge, seed=self.cfg.seed,
                     dimensions=self.cfg.evaluation.dimensions, judge_batch_size=self.cfg.evaluation.judge_batch_size,
                     progress=self.progress)
        finally:
            ev.add_usage(judge.name, judge.usage)

    def _report(self) -> dict[str, Any]:
        from personadrop.report.writer import write_report

        return write_report([self.out / "eval"], self.out / "report", seed=self.cfg.seed,
                            resamples=self.cfg.bootstrap_resamples, title=f"personadrop study: {self.cfg.name}")

    # ------------------------------------------------------------------ helpers
    def _stage(self, name: str, fn: Callable[[], Any]) -> Any:
        self.console.print(f"[bold]{name}[/] ...", markup=True, highlight=False)
        start = time.perf_counter()
        result = fn()
        self.timings[name] = round(time.perf_counter() - start, 2)
        self._write_timings()
        return result

    def _write_timings(self) -> None:
        (self.out / "timings.json").write_text(json.dumps(self.timings, indent=2) + "\n")

    def _check_config_unchanged(self) -> None:
        path = self.out / "study.yaml"
        text = dump_config(self.cfg)
        if path.exists() and path.read_text() != text:
            raise ConfigError(f"{self.out} holds a study with a different config; use another --out directory "
                              f"(compare with {path})")
        path.write_text(text)

    def _data_dir(self) -> Path:
        return self.out / "data" if self.cfg.data.world is not None else Path(self.cfg.data.path or "")

    def _run_dir(self, variant: str) -> Path:
        return self.out / "runs" / variant.replace("+", "_")

    def _warm_start_name(self, variant: str) -> str | None:
        # GRPO starts from the finished SFT run when it trained under the same dropout (plain sft only).
        return "sft" if variant == "grpo" and "sft" in self.cfg.variants else None

    def _eval_examples(self, data_dir: Path) -> list[Example]:
        source = data_dir if self.cfg.data.world is not None else self.cfg.data.path
        loaded = load_examples(source, split=self.cfg.data.eval_split, on_bad_row=self.cfg.data.on_bad_row)  # type: ignore[arg-type]
        examples = loaded.examples
        n = self.cfg.data.max_eval_examples
        if n is not None and len(examples) > n:
            # A seeded sample, so seen and unseen users keep their share; then file order for readability.
            keep = set(random.Random(self.cfg.seed).sample(range(len(examples)), n))
            examples = [e for i, e in enumerate(examples) if i in keep]
        return examples


@dataclass(frozen=True)
class TrainJob:
    """One training run, as plain values that can cross into a worker process."""

    method: str
    data: str
    out_dir: str
    config: Any  # a TrainConfig
    profile: str
    judge: Any  # a Judge in this process, or a registry spec for a worker to build
    judge_cache: str
    warm_start: str | None
    name: str
    quiet: bool = False  # in a worker process: the trainer's logs go to <out_dir>/train.log, not the terminal

    def __call__(self) -> str:
        from personadrop.train.variant import train_variant

        if self.quiet:
            _log_to(Path(self.out_dir) / "train.log")
        judge = self.judge
        if isinstance(judge, str):
            from personadrop.judges import make_judge

            judge = make_judge(judge, cache_dir=self.judge_cache)
        run = train_variant(self.method, self.data, self.out_dir, config=self.config, profile=self.profile,
                            judge=judge, warm_start=self.warm_start, name=self.name)
        return str(run.path)


def _log_to(path: Path) -> None:
    """Send this process's stdout and stderr (Python's and the C library's) to ``path``."""
    import sys

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


# --------------------------------------------------------------------------- the synthetic world's hooks
def write_world(cfg: StudyConfig, data_dir: Path) -> None:
    """Generate the study's synthetic world into ``data_dir``."""
    from personadrop.data.world import generate_world_dir

    spec = cfg.data.world
    assert spec is not None
    generate_world_dir(data_dir, seed=cfg.seed if spec.seed is None else spec.seed, users=spec.users,
                       posts=spec.posts, config=spec.config, **spec.options)


def bayes_simulator(data_dir: Path) -> Any:
    """The world's Bayes-optimal reference simulator."""
    from personadrop.models.bayes import BayesSimulator

    return BayesSimulator.from_data_dir(data_dir)
