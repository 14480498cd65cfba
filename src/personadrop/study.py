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
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from personadrop.data.example import Example
from personadrop.data.humanual import load_examples
from personadrop.dropout import parse_conditions
from personadrop.errors import ConfigError
from personadrop.study_config import StudyConfig, dump_config

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
        runs = {}
        for variant in self.cfg.trained_variants:
            runs[variant] = self._stage(f"train {variant}", lambda v=variant: self._train(v, data_dir, runs, reward_judge))
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
                         "warm_start": warm, "done": (self._run_dir(variant) / "run.json").exists()
                         and json.loads((self._run_dir(variant) / "run.json").read_text()).get("status") == "done"})
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

    def _train(self, variant: str, data_dir: Path, runs: dict[str, Any], reward_judge: Any) -> Path:
        from personadrop.train.variant import train_variant

        method, _ = METHOD_OF[variant]
        warm = self._warm_start_name(variant)
        run = train_variant(
            method,
            str(data_dir) if self.cfg.data.world is not None else self.cfg.data.path,
            self._run_dir(variant),
            config=self._train_config(variant),
            profile=self.cfg.training_profile,
            judge=reward_judge,
            warm_start=runs[warm] if warm else None,
            name=variant,
        )
        return run.path

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
