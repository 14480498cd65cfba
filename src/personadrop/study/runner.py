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
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from rich.console import Console

from personadrop.errors import ConfigError
from personadrop.evaluate.evaluation import check_failures
from personadrop.study.config import StudyConfig, dump_config
from personadrop.study.data import DataSource
from personadrop.study.plan import StudyPlan
from personadrop.study.scheduler import TrainJob, train_all
from personadrop.train.config import TrainConfig
from personadrop.train.run import RunDir
from personadrop.variants import VARIANTS
from personadrop.workers import worker_pool


class Study:
    """Runs (or plans) one study in ``out_dir``."""

    def __init__(
        self, cfg: StudyConfig, out_dir: str | Path, *, console: Console | None = None, progress: bool = True
    ):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.data = DataSource.of(cfg, self.out)
        self.console = console or Console(stderr=True, markup=False)
        self.progress = progress
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ the job
    def run(self) -> dict[str, Any]:
        """Every stage, skipping what is done; returns the summary.

        Everything a run needs (API keys, judges, the evaluation split, decoding) is checked before any
        work, and the directory is held by this process until it ends.
        """
        from personadrop.data.humanual import BadRowError

        try:
            return self._run()
        except BadRowError as err:
            raise err.with_hint("set data.on_bad_row: skip in the study config to skip such rows") from None

    def _run(self) -> dict[str, Any]:
        from personadrop.files import exclusive

        with exclusive(self.out, "study"):
            self._check_config_unchanged()
            self._check_base()
            self.timings = self._read_timings()
            judge = self._judges_ready()
            try:
                self._stage("data", self.data.prepare, did_work=not self.data.ready)
                task = self._task()  # a missing split or a bad row fails here, before any training
                self._write_config()
                train_workers, eval_workers = self._training_workers(), self._evaluation_workers()
                # One pool for both stages: evaluation runs in the processes that trained (already
                # started, libraries imported). Processes start on first use, so a resumed study whose
                # runs are done starts none for training.
                with worker_pool(max(train_workers, eval_workers), threads=1) as pool:
                    runs = train_all(
                        self._jobs(),
                        workers=train_workers,
                        console=self.console,
                        progress=self.progress,
                        record=self._record,
                        pool=pool,
                    )
                    results = self._stage(
                        "evaluate",
                        lambda: self._evaluate(task, runs, judge, eval_workers, pool),
                        did_work=lambda r: r.work.any,
                    )
            finally:
                judge.close()
            summary = self._stage("report", self._report)
        failed, total = results.failures()
        check_failures(
            failed,
            total,
            self.cfg.evaluation.max_failure_share,
            retry_hint=f"Run the same command again to retry them (report: {self.out / 'report'}).",
        )
        return summary

    def plan(self) -> StudyPlan:
        """The work a run would do; needs no API key, no model weights and (for real data) no data."""
        from personadrop.judges import plan_cost

        examples = len(self._task().examples) if self.data.ready else self.cfg.data.max_eval_examples
        runs = [
            {
                "variant": job.variant,
                "method": job.method,
                "train_condition": job.config.train_condition,
                "warm_start": job.warm_start,
                "done": RunDir(job.out_dir).done,
            }
            for job in self._jobs()
        ]  # building the jobs validates every training config
        plan = StudyPlan(
            data=self.data.describe(),
            eval_examples=examples,
            runs=runs,
            conditions=self.cfg.evaluation.conditions,
            variants=self.cfg.variants,
            dimensions=self.cfg.evaluation.dimensions,
        )
        if examples is not None:
            groups = len(plan.conditions) * examples
            ev = plan_cost(
                self.cfg.judge,
                n_requests=groups * len(plan.dimensions),
                generations_per_request=len(plan.variants),
                **self.cfg.judge_options,
            )
            plan.judge_lines.append("evaluation " + ev.describe())
        if any(VARIANTS[v].method != "sft" for v in self.cfg.trained_variants):
            reward, _ = self.cfg.reward_judge_spec()
            plan.judge_lines.append(
                f"GRPO rewards: judge {reward} (calls depend on training steps; see the training profile)"
            )
        return plan

    # ------------------------------------------------------------------ stages
    def _jobs(self) -> list[TrainJob]:
        reward, options = self.cfg.reward_judge_spec()
        jobs = []
        for name in self.cfg.trained_variants:
            spec = VARIANTS[name]
            warm = spec.warm_start if spec.warm_start in self.cfg.variants else None
            jobs.append(
                TrainJob(
                    variant=name,
                    method=spec.method or "",
                    data=self.data.location,
                    out_dir=str(self._run_dir(name)),
                    config=self.train_config(name),
                    judge=reward,
                    judge_options=options,
                    judge_cache=str(self.out / "judge-cache"),
                    warm_start=warm,
                    on_bad_row=self.cfg.data.on_bad_row,
                )
            )
        return jobs

    def train_config(self, variant: str) -> TrainConfig:
        """The resolved training config of one trained variant."""
        from personadrop.train.config import resolve_config

        spec = VARIANTS[variant]
        options: dict[str, Any] = {
            **self.cfg.training,
            "seed": self.cfg.seed,
            "judge": self.cfg.reward_judge_spec()[0],
            "train_condition": self.cfg.train_condition if spec.with_dropout else "full",
        }
        if self.cfg.model:
            options["model"] = self.cfg.model
        return resolve_config(spec.method or "", profile=self.cfg.training_profile, **options)

    def _reward_judge_ready(self) -> None:
        if not self.cfg.trained_variants or all(
            VARIANTS[v].method == "sft" for v in self.cfg.trained_variants
        ):
            return
        from personadrop.judges import make_judge

        spec, options = self.cfg.reward_judge_spec()
        reward = make_judge(spec, **options)
        try:
            reward.check_ready()
        finally:
            reward.close()

    def _evaluation_workers(self) -> int:
        if self.cfg.evaluation.workers is not None:
            return self.cfg.evaluation.workers
        import torch

        return 1 if torch.cuda.is_available() else min(2, os.cpu_count() or 1)

    def _training_workers(self) -> int:
        if self.cfg.training_workers is not None:
            return self.cfg.training_workers
        # Small models on a CPU use two cores best as two one-thread runs; a real checkpoint (or a GPU)
        # trains one run at a time.
        import torch

        small = self._model_megabytes() < 64
        cores = os.cpu_count() or 1
        return (
            2
            if small and not torch.cuda.is_available() and cores >= 2 and len(self.cfg.trained_variants) > 1
            else 1
        )

    def _model_megabytes(self) -> float:
        path = self.cfg.model.get("path")
        if not path:
            return 0.0
        from personadrop.models.registry import MODELS, resolve_model

        if str(path) in MODELS:
            return 1e6  # a named real model: large, whether or not it is prepared yet
        weights = resolve_model(path).glob("*.safetensors")
        return sum(w.stat().st_size for w in weights) / 2**20

    def _check_base(self) -> None:
        """A pretrained base must not have seen the study's own world (its users and posts come from the
        seed)."""
        path = self.cfg.model.get("path")
        if not path or self.data.world is None:
            return
        from personadrop.models.registry import MODELS, resolve_model
        from personadrop.train.pretrain import read_manifest

        if str(path) in MODELS:
            return
        manifest = read_manifest(resolve_model(path)) or {}
        seed = self.cfg.seed if self.data.world.seed is None else self.data.world.seed
        if seed in (manifest.get("world_seeds") or []):
            raise ConfigError(
                f"the base model {path} was pretrained on world seed {seed}, this study's world; "
                "choose another study seed (or another base)"
            )

    def _task(self):
        from personadrop.evaluate import EvalTask

        ev = self.cfg.evaluation
        return EvalTask.load(
            self.data.location,
            split=self.cfg.data.eval_split,
            max_examples=self.cfg.data.max_eval_examples,
            seed=self.cfg.seed,
            conditions=ev.conditions,
            dimensions=ev.dimensions,
            on_bad_row=self.cfg.data.on_bad_row,
        )

    def _evaluate(
        self, task: Any, runs: dict[str, Path], judge: Any, workers: int, pool: Executor | None
    ) -> Any:
        from personadrop.evaluate import evaluate
        from personadrop.simulators import load_simulator

        simulators, records = {}, {}
        for name in self.cfg.variants:
            options: dict[str, Any] = dict(self.cfg.evaluation.decoding)
            if name in runs:
                spec = str(runs[name])
            elif VARIANTS[name].needs_checkpoint:  # the base model as it is: the training prompt budget
                base = self.train_config("sft")
                spec = str(base.model.path)
                options = {
                    "max_prompt_tokens": base.max_prompt_tokens,
                    **base.decoding.model_dump(),
                    **options,
                }
            else:
                spec = name
            simulators[name] = load_simulator(spec, data=self.data.location, name=name, **options)
            records[name] = {"run": str(runs.get(name, spec))}
            if name in runs:  # which pretrained model it started from, for the report
                records[name]["base"] = RunDir(runs[name]).meta.get("base")
        return evaluate(
            task,
            simulators,
            judge,
            out=self.out / "eval",
            runs=records,
            progress=self.progress,
            judge_batch_size=self.cfg.evaluation.judge_batch_size,
            workers=workers,
            pool=pool,
        )

    def _report(self) -> dict[str, Any]:
        from personadrop.report.writer import write_report

        return write_report(
            [self.out / "eval"],
            self.out / "report",
            seed=self.cfg.seed,
            resamples=self.cfg.bootstrap_resamples,
            title=f"personadrop study: {self.cfg.name}",
        )

    # ------------------------------------------------------------------ helpers
    def _stage(self, name: str, fn: Callable[[], Any], did_work: bool | Callable[[Any], bool] = True) -> Any:
        """Run one stage and record its time, unless it found its work already done (then the time of
        the run that did it stays)."""
        if did_work is not False:
            self.console.print(f"{name} ...", highlight=False)
        start = time.perf_counter()
        result = fn()
        if did_work(result) if callable(did_work) else did_work:
            self._record(name, time.perf_counter() - start)
        return result

    def _record(self, stage: str, seconds: float) -> None:
        self.timings[stage] = round(seconds, 2)
        self._write_timings()

    def _read_timings(self) -> dict[str, float]:
        path = self.out / "timings.json"
        try:
            return dict(json.loads(path.read_text())) if path.exists() else {}
        except (OSError, ValueError, TypeError):
            return {}  # only a record of times: a damaged one is started afresh

    def _write_timings(self) -> None:
        (self.out / "timings.json").write_text(json.dumps(self.timings, indent=2) + "\n")

    def _check_config_unchanged(self) -> None:
        path = self.out / "study.yaml"
        if path.exists() and path.read_text() != dump_config(self.cfg):
            raise ConfigError(
                f"{self.out} holds a study with a different config; use another --out directory "
                f"(compare with {path})"
            )

    def _write_config(self) -> None:
        """Record the config once every check has passed (a failed start leaves no config behind)."""
        (self.out / "study.yaml").write_text(dump_config(self.cfg))

    def _judges_ready(self) -> Any:
        """The evaluation judge, built and ready; the reward judge checked too. Fails in seconds on a
        missing API key, not after an hour of training."""
        from personadrop.judges import make_judge

        # LLM judgements are cached inside the study: a re-run (or a resumed one) pays for nothing twice.
        judge = make_judge(self.cfg.judge, cache_dir=self.out / "judge-cache", **self.cfg.judge_options)
        try:
            judge.check_ready()
            self._reward_judge_ready()
        except BaseException:
            judge.close()
            raise
        return judge

    def _run_dir(self, variant: str) -> Path:
        return self.out / "runs" / variant.replace("+", "_")
