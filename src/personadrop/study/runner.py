"""The main job: one config -> data -> trained variants (each with its training seeds) -> evaluation under
every condition -> report.

A study directory (:class:`~personadrop.study.layout.StudyLayout`) holds every stage's output and is
resumed stage by stage: the world is not redrawn, a finished training run is skipped and a killed one
resumes from its last checkpoint, the evaluation store skips rows it holds, and the report is redrawn from
the store (cheap).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from personadrop.dropout import Full, Policy
from personadrop.errors import ConfigError
from personadrop.evaluate.evaluation import check_failures
from personadrop.evaluate.summary import Summary
from personadrop.evaluate.task import EvalTask
from personadrop.models.base import Simulator, SimulatorRecord
from personadrop.models.registry import check_model
from personadrop.simulators import API_PREFIXES, describe_simulator, load_simulator, member_name
from personadrop.study.config import ListedSimulator, StudyConfig, dump_config
from personadrop.study.data import DataSource
from personadrop.study.layout import StudyLayout
from personadrop.study.plan import StudyPlan
from personadrop.study.scheduler import TrainJob, train_all
from personadrop.train.config import TrainConfig
from personadrop.train.run import RunDir
from personadrop.variants import VARIANTS, VariantSpec, variant_name
from personadrop.workers import worker_pool


@dataclass(frozen=True)
class PlannedRun:
    """One training run of a study: a variant of the table, under its train condition, with one seed."""

    name: str  # the variant's name in this study (``grpo+fd``; by its rate in a dropout sweep)
    spec: VariantSpec
    train_condition: Policy
    seed: int

    @property
    def key(self) -> str:
        return member_name(self.name, self.seed)


class Study:
    """Runs (or plans) one study in ``out_dir``."""

    def __init__(
        self, cfg: StudyConfig, out_dir: str | Path, *, console: Console | None = None, progress: bool = True
    ):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.layout = StudyLayout(self.out)
        self.data = DataSource.of(cfg, self.layout.data)
        self.console = console or Console(stderr=True, markup=False)
        self.progress = progress
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ the job
    def run(self) -> Summary:
        """Every stage, skipping what is done; returns the summary.

        Everything a run needs (API keys, judges, the evaluation split, decoding) is checked before any
        work, and the directory is held by this process until it ends.
        """
        from personadrop.data.humanual import BadRowError

        try:
            return self._run()
        except BadRowError as err:
            raise err.with_hint("set data.on_bad_row: skip in the study config to skip such rows") from None

    def _run(self) -> Summary:
        from personadrop.files import exclusive

        with exclusive(self.out, "study"):
            self._check_config_unchanged()
            self._check_base()
            self.timings = self._read_timings()
            judge = self._judges_ready()
            try:
                self._stage("data", self.data.prepare, did_work=not self.data.ready)
                task = self.task()  # a missing split or a bad row fails here, before any training
                self._write_config()
                train_workers, eval_workers = self._training_workers(), self._evaluation_workers()
                # One pool for both stages: evaluation runs in the processes that trained (already
                # started, libraries imported). Processes start on first use, so a resumed study whose
                # runs are done starts none for training.
                with worker_pool(max(train_workers, eval_workers), threads=1) as pool:
                    train_all(
                        self._jobs(),
                        workers=train_workers,
                        console=self.console,
                        progress=self.progress,
                        record=self._record,
                        pool=pool,
                    )
                    results = self._stage(
                        "evaluate",
                        lambda: self._evaluate(task, judge, eval_workers, pool),
                        did_work=lambda r: r.work.any,
                    )
            finally:
                judge.close()
            summary = self._stage("report", self._report)
        again = f"Run the same command again to retry them (report: {self.layout.report})."
        share = self.cfg.evaluation.max_failure_share
        check_failures(
            *results.missing_generations(list(self.members())), share, retry_hint=again, what="generations"
        )
        check_failures(*results.failures(), share, retry_hint=again)
        return summary

    def plan(self) -> StudyPlan:
        """The work a run would do; needs no API key, no model weights and (for real data) no data."""
        from personadrop.judges import plan_cost

        examples = len(self.task().examples) if self.data.ready else self.cfg.data.max_eval_examples
        runs = [
            {
                "variant": job.key,
                "method": job.method,
                "train_condition": job.config.train_condition.name,
                "warm_start": job.warm_start,
                "done": RunDir(job.out_dir).done,
            }
            for job in self._jobs()
        ]  # building the jobs validates every training config
        members = self.members()
        plan = StudyPlan(
            data=self.data.describe(),
            eval_examples=examples,
            runs=runs,
            conditions=[c.name for c in self.cfg.evaluation.conditions],
            variants=list(members),
            dimensions=self.cfg.evaluation.dimensions,
            samples={name: r.sample for name, r in members.items() if r.sample},
        )
        if examples is not None and plan.generations is not None:
            groups = len(plan.conditions) * examples
            ev = plan_cost(
                self.cfg.judge,
                n_requests=groups * len(plan.dimensions),
                generations_per_request=max(1, round(plan.generations / groups)),  # a sample answers fewer
                **self.cfg.judge_options,
            )
            ev = replace(ev, generations=plan.generations * len(plan.dimensions))  # exact, samples and all
            plan.judge_lines.append("evaluation " + ev.describe())
        for sim in self.cfg.simulators:
            if examples is not None and sim.spec.startswith(API_PREFIXES):
                plan.judge_lines.append(self._plan_external(sim, examples))
        if any(self._method(r.spec).uses_reward for r in self.planned_runs()):
            reward, _ = self.cfg.reward_judge_spec()
            plan.judge_lines.append(
                f"GRPO rewards: judge {reward} (calls depend on training steps; see the training profile)"
            )
        return plan

    # ------------------------------------------------------------------ what the study holds
    def planned_runs(self) -> list[PlannedRun]:
        """Every training run: each trained variant of the config, under its train condition, per seed."""
        out = []
        for name in self.cfg.trained_variants:
            spec = VARIANTS[name]
            if spec.train_condition is not None:
                conditions = [spec.train_condition]
            else:
                conditions = self.cfg.train_conditions if spec.with_dropout else [Full()]
            for condition in conditions:
                variant = variant_name(spec.method or "", condition)
                out += [PlannedRun(variant, spec, condition, seed) for seed in self.cfg.seeds]
        return out

    def members(self) -> dict[str, SimulatorRecord]:
        """What the evaluation stores results under: each trained run (variant and seed), and each untrained
        variant or reference once, with what it is."""
        out = {
            r.key: SimulatorRecord(
                variant=r.name,
                seed=r.seed,
                method=r.spec.method,
                train_condition=r.train_condition,
                run=str(self.layout.run(r.name, r.seed)),
            )
            for r in self.planned_runs()
        }
        for name in self.cfg.variants:
            if not VARIANTS[name].trained:
                out[name] = SimulatorRecord(variant=name, run=self._untrained_source(name)[0])
        for sim in self.cfg.simulators:
            name, record = self._listed_record(sim)
            if name in out:
                raise ConfigError(f"two simulators of the study are both called {name!r}; give one a `name`")
            out[name] = record
        return out

    def _listed_record(self, sim: ListedSimulator) -> tuple[str, SimulatorRecord]:
        """A listed simulator's stored name and record: not trained by this study (labelled external in the
        report), and the sample it answers."""
        name, record = describe_simulator(sim.spec)
        name = sim.name or name
        return name, record.model_copy(update={"variant": name, "external": True, "sample": sim.sample})

    def simulators(
        self, *, finished_only: bool = False, first_seed_only: bool = False
    ) -> dict[str, Simulator]:
        """Every member as a simulator, loaded (the study's evaluation decoding). ``finished_only`` leaves out
        trained runs that have not finished; ``first_seed_only`` loads each variant's first seed alone."""
        out: dict[str, Simulator] = {}
        decoding = dict(self.cfg.evaluation.decoding)
        first = self.cfg.seeds[0]
        listed = {self._listed_record(sim)[0]: sim for sim in self.cfg.simulators}
        for name, record in self.members().items():
            if name in listed:
                out[name] = self._listed(listed[name], name)
            elif first_seed_only and record.seed not in (None, first):
                continue
            elif record.seed is not None:
                if finished_only and not RunDir(record.run or "").done:
                    continue
                out[name] = load_simulator(record.run or "", name=name, **decoding)
            else:
                spec, options = self._untrained_source(name)
                out[name] = load_simulator(spec, data=self.data.location, name=name, **options, **decoding)
        return out

    def _plan_external(self, sim: ListedSimulator, examples: int) -> str:
        """The dry-run line of an API simulator: its prompts counted where the data is at hand, else
        estimated (a real HUMANUAL persona is ~3,700 characters; a thread is taken as ~2,000)."""
        simulator = self._listed(sim, self._listed_record(sim)[0])
        try:
            if not self.data.ready:
                calls = len(self.cfg.evaluation.conditions) * min(examples, sim.sample or examples)
                return simulator.plan_estimate(calls, 3_700 + 2_000)  # type: ignore[attr-defined]
            from personadrop.evaluate.grid import grid_item

            task = self.task().sample(sim.sample)
            items = [grid_item(c, e, task.seed) for c in task.conditions for e in task.examples]
            return simulator.plan(items)  # type: ignore[attr-defined]
        finally:
            simulator.close()

    def _listed(self, sim: ListedSimulator, name: str) -> Simulator:
        """A listed simulator: an API model with its replies cached inside the study, a replies file, or a
        checkpoint with the study's evaluation decoding (its own options first)."""
        if sim.external:
            api = {"cache_dir": self.layout.judge_cache, "seed": self.cfg.seed, **sim.options}
            return load_simulator(sim.spec, name=name, api=api if sim.spec.startswith(API_PREFIXES) else None)
        options = {**self.cfg.evaluation.decoding, **sim.options}
        return load_simulator(sim.spec, data=self.data.location, name=name, **options)

    def _untrained_source(self, name: str) -> tuple[str, dict[str, Any]]:
        """What an untrained variant loads: the study's base checkpoint (with the training prompt budget and
        decoding), or a reference by name (``bayes``)."""
        if VARIANTS[name].needs_checkpoint:
            base = self.train_config(None)
            return str(base.model.path), {
                "max_prompt_tokens": base.max_prompt_tokens,
                **base.decoding.model_dump(),
            }
        return name, {}

    # ------------------------------------------------------------------ stages
    def _jobs(self) -> list[TrainJob]:
        reward, options = self.cfg.reward_judge_spec()
        runs = self.planned_runs()
        keys = {(r.spec.name, r.train_condition.name, r.seed): r.key for r in runs}
        jobs = []
        for r in runs:
            # A warm start is the same seed's finished run of the variant it names (same train condition).
            warm = keys.get((r.spec.warm_start or "", r.train_condition.name, r.seed))
            jobs.append(
                TrainJob(
                    variant=r.name,
                    seed=r.seed,
                    method=r.spec.method or "",
                    data=self.data.location,
                    out_dir=str(self.layout.run(r.name, r.seed)),
                    config=self.train_config(r),
                    judge=reward,
                    judge_options=options,
                    judge_cache=str(self.layout.judge_cache),
                    warm_start=warm,
                    on_bad_row=self.cfg.data.on_bad_row,
                )
            )
        return jobs

    def train_config(self, run: PlannedRun | None) -> TrainConfig:
        """The resolved training config of one planned run (None: the study's plain SFT settings)."""
        from personadrop.train.config import resolve_config

        options: dict[str, Any] = {
            **self.cfg.training,
            "seed": run.seed if run else self.cfg.seeds[0],
            "judge": self.cfg.reward_judge_spec()[0],
            "train_condition": run.train_condition if run else Full(),
        }
        if self.cfg.model:
            options["model"] = self.cfg.model
        method = run.spec.method if run else "sft"
        return resolve_config(method or "", profile=self.cfg.training_profile, **options)

    @staticmethod
    def _method(spec: VariantSpec):
        from personadrop.train.methods import get_method

        return get_method(spec.method or "")

    def _reward_judge_ready(self) -> None:
        if not any(self._method(r.spec).uses_reward for r in self.planned_runs()):
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
            if small and not torch.cuda.is_available() and cores >= 2 and len(self.planned_runs()) > 1
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

    def task(self) -> EvalTask:
        """The evaluation: the sampled test examples under every condition, masked with the study seed."""
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

    def _evaluate(self, task: Any, judge: Any, workers: int, pool: Executor | None) -> Any:
        from personadrop.evaluate import evaluate

        records = self.members()
        for record in records.values():
            if record.seed is not None:  # which pretrained model a run started from, for the report
                run = RunDir(record.run or "").record
                record.base = run.base if run else None
        simulators = self.simulators()
        try:
            return evaluate(
                task,
                simulators,
                judge,
                out=self.layout.eval,
                records=records,
                progress=self.progress,
                judge_batch_size=self.cfg.evaluation.judge_batch_size,
                workers=workers,
                pool=pool,
            )
        finally:
            for sim in simulators.values():
                sim.close()

    def _report(self) -> Summary:
        from personadrop.report.writer import write_report

        return write_report(
            [self.layout.eval],
            self.layout.report,
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
        path = self.layout.timings
        try:
            return dict(json.loads(path.read_text())) if path.exists() else {}
        except (OSError, ValueError, TypeError):
            return {}  # only a record of times: a damaged one is started afresh

    def _write_timings(self) -> None:
        self.layout.timings.write_text(json.dumps(self.timings, indent=2) + "\n")

    def _check_config_unchanged(self) -> None:
        """Refuse a directory holding another study's config. A setting added to personadrop after the
        directory was written counts as unchanged while it is left empty (a study of an older version
        resumes)."""
        path = self.layout.config
        if not path.exists():
            return
        import yaml

        stored = yaml.safe_load(path.read_text())
        current = yaml.safe_load(dump_config(self.cfg))
        if isinstance(stored, dict):
            current = {k: v for k, v in current.items() if k in stored or v not in ([], {}, None)}
        if stored != current:
            raise ConfigError(
                f"{self.out} holds a study with a different config; use another --out directory "
                f"(compare with {path})"
            )

    def _write_config(self) -> None:
        """Record the config once every check has passed (a failed start leaves no config behind)."""
        (self.layout.config).write_text(dump_config(self.cfg))

    def _judges_ready(self) -> Any:
        """The evaluation judge, built and ready; the reward judge checked too. Fails in seconds on a
        missing API key, not after an hour of training."""
        from personadrop.judges import make_judge

        # LLM judgements are cached inside the study: a re-run (or a resumed one) pays for nothing twice.
        judge = make_judge(self.cfg.judge, cache_dir=self.layout.judge_cache, **self.cfg.judge_options)
        try:
            judge.check_ready()
            self._reward_judge_ready()
            for sim in self.cfg.simulators:  # keys, replies files and models at hand, before any training
                if not sim.external:
                    if not RunDir(sim.spec).is_run:
                        check_model(sim.spec)
                    continue
                loaded = self._listed(sim, self._listed_record(sim)[0])
                try:
                    loaded.check_ready()
                finally:
                    loaded.close()
        except BaseException:
            judge.close()
            raise
        return judge
