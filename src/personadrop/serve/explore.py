"""The persona explorer: a page over a finished study where a person hides persona fields or items and sees,
side by side, what every variant answers, its latent states and its judge score against the real reply.

It is served by the same app as the chat API (its variants are the served models, batched alike). Masks
are keyed like the study's evaluation (its seed, the example id, epoch 0), so a condition the study
evaluated shows exactly the replies the study scored. Answers are cached per (variant, condition, example).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from personadrop.data.example import Example
from personadrop.dropout import Compose, Drop, Full, ItemDropout, MaskKey, NoPersona, Policy
from personadrop.errors import ConfigError
from personadrop.evaluate.summary import Summary
from personadrop.judges.base import Judge, JudgeRequest
from personadrop.models.base import SimulationItem, Simulator
from personadrop.prompts import TASKS, parse_output, parse_tag
from personadrop.report.headline import headline
from personadrop.serve.app import Served
from personadrop.serve.protocol import ProtocolError
from personadrop.variants import ordered


@dataclass
class StudyView:
    """What the explorer shows of one study: its examples, simulators, judge, figures and summary."""

    path: Path
    name: str
    seed: int
    examples: dict[str, Example]
    simulators: dict[str, Simulator]
    judge: Judge
    summary: Summary | None = None
    cache: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, study_dir: str | Path) -> StudyView:
        """Open a study directory (trained runs, evaluation data, report) for exploring: each variant as its
        first training seed's simulator (the study's evaluation masks it with the same keys)."""
        from personadrop.judges import make_judge
        from personadrop.report.writer import read_summary
        from personadrop.study import Study, StudyLayout, load_study_config

        layout = StudyLayout(Path(study_dir))
        if not layout.is_study:
            raise ConfigError(
                f"{layout.root} is not a study directory (no study.yaml); run `personadrop study` first"
            )
        cfg = load_study_config(layout.config)
        study = Study(cfg, layout.root, progress=False)
        task = study.task()
        members = study.members()
        simulators: dict[str, Simulator] = {
            members[name].variant or name: simulator
            for name, simulator in study.simulators(finished_only=True, first_seed_only=True).items()
        }
        if not simulators:
            raise ConfigError(f"{layout.root} holds no trained variant yet; finish the study first")
        summary = read_summary(layout.summary) if layout.summary.exists() else None
        judge = make_judge(cfg.judge, cache_dir=layout.judge_cache, **cfg.judge_options)
        examples = {e.id: e for e in task.examples}
        return cls(layout.root, cfg.name, cfg.seed, examples, simulators, judge, summary)

    # ------------------------------------------------------------------ what the page asks
    def overview(self) -> dict[str, Any]:
        fields = list(dict.fromkeys(f.name for e in self.examples.values() for f in e.persona.fields))
        figures = sorted(p.name for p in (self.path / "report" / "figures").glob("*.png"))
        return {
            "name": self.name,
            "variants": [{"name": v, "label": self.label(v)} for v in ordered(self.simulators)],
            "fields": fields,
            "figures": figures,
            "headline": _headline(self.summary),
        }

    def label(self, variant: str) -> str:
        return self.summary.label(variant) if self.summary else variant

    def example_list(self, user: str | None, seen: str | None) -> list[dict[str, Any]]:
        out = []
        for e in self.examples.values():
            if user and e.user_id != user:
                continue
            if seen in ("seen", "unseen") and e.unseen_user != (seen == "unseen"):
                continue
            out.append(
                {
                    "id": e.id,
                    "user": e.user_id,
                    "unseen_user": e.unseen_user,
                    "post": e.context[0].content[:90],
                }
            )
        return out

    def example(self, example_id: str) -> Example:
        if example_id not in self.examples:
            raise ProtocolError(
                f"no example {example_id!r} in this study's evaluation", status=404, param="example_id"
            )
        return self.examples[example_id]

    def describe(self, example_id: str) -> dict[str, Any]:
        e = self.example(example_id)
        return {
            "id": e.id,
            "user": e.user_id,
            "unseen_user": e.unseen_user,
            "persona": {f.name: list(f.items) for f in e.persona.fields},
            "thread": [{"speaker": t.speaker, "content": t.content} for t in e.context],
            "reply": e.response,
        }


def condition_of(fields: list[str], hidden: list[str], item_p: float) -> Policy:
    """The condition a page's toggles describe: hidden fields dropped, then items dropped with ``item_p``."""
    shown = [f for f in fields if f not in hidden]
    if not shown:
        return NoPersona()
    parts: list[Policy] = []
    if len(shown) < len(fields):
        parts.append(Drop(tuple(f for f in fields if f in hidden)))
    if item_p > 0:
        parts.append(ItemDropout(item_p))
    return Full() if not parts else parts[0] if len(parts) == 1 else Compose(*parts)


class SimulateRequest(BaseModel):
    example_id: str
    hidden: list[str] = Field(default_factory=list)
    item_p: float = Field(0.0, ge=0.0, le=1.0)


def explorer_routes(view: StudyView):
    """The routes of the explorer, added to the app that serves the study's variants."""
    page = resources.files("personadrop.serve").joinpath("static/explore.html").read_text(encoding="utf-8")

    def add(app: FastAPI, served: Served) -> None:
        @app.get("/", response_class=HTMLResponse)
        async def index() -> str:
            return page

        @app.get("/api/study")
        async def study() -> dict[str, Any]:
            return view.overview()

        @app.get("/api/examples")
        async def examples(user: str | None = None, seen: str | None = None) -> list[dict[str, Any]]:
            return view.example_list(user, seen)

        @app.get("/api/examples/{example_id:path}")
        async def example(example_id: str) -> dict[str, Any]:
            return view.describe(example_id)

        @app.get("/figures/{name}")
        async def figure(name: str) -> FileResponse:
            path = view.path / "report" / "figures" / Path(name).name
            if path.suffix != ".png" or not path.is_file():
                raise ProtocolError(f"no figure {name!r}", status=404)
            return FileResponse(path)

        @app.post("/api/simulate")
        async def simulate(request: SimulateRequest) -> dict[str, Any]:
            e = view.example(request.example_id)
            fields = [f.name for f in e.persona.fields]
            unknown = [f for f in request.hidden if f not in fields]
            if unknown:
                raise ProtocolError(
                    f"unknown field {unknown[0]!r}; fields are {', '.join(fields)}", param="hidden"
                )
            policy = condition_of(fields, request.hidden, request.item_p)
            visible = policy(e.persona, MaskKey(view.seed, e.id, 0))
            answers = await asyncio.gather(
                *(_answer(view, served, name, e, visible, policy.name) for name in ordered(view.simulators))
            )
            return {
                "condition": policy.name,
                "visible": visible.render(),
                "real_reply": e.response,
                "variants": dict(zip(ordered(view.simulators), answers, strict=True)),
            }

    return add


async def _answer(
    view: StudyView, served: Served, name: str, example: Example, visible: Any, condition: str
) -> dict[str, Any]:
    key = (name, condition, example.id)
    if key not in view.cache:
        batcher = served.batcher(name)
        task = batcher.simulator.inference_task
        output = await batcher.generate(SimulationItem(example, visible, task))
        reply = parse_output(output, task)
        states = (
            {
                d: v
                for d in TASKS
                if d not in ("response", "states+response")
                if (v := parse_tag(output, d)) is not None
            }
            if task == "states+response"
            else None
        )
        score = (
            0.0
            if reply is None
            else (await asyncio.to_thread(view.judge.score, [JudgeRequest.about(example, [reply])]))[0][0]
        )
        view.cache[key] = {
            "label": view.label(name),
            "reply": reply or "",
            "states": states,
            "score": None if score != score else round(float(score), 3),
        }
    return view.cache[key]


def _headline(summary: Summary | None) -> list[dict[str, Any]]:
    """The summary's headline rows, as the page shows them (means)."""
    if summary is None:
        return []
    return [
        {
            "variant": r.label,
            **{
                name: e.mean if e is not None and e.known else None
                for name, e in (
                    ("full", r.full),
                    ("none", r.none),
                    ("only:*", r.one_field),
                    ("items:0.9", r.items),
                )
            },
        }
        for r in headline(summary)
    ]
