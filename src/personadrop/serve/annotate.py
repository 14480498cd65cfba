"""The rating page: a person scores simulated replies against the real ones, blind, with the keyboard.

Served on the explorer's stack (``create_app`` with extra routes, no simulators). The page shows one item
at a time: the thread, the real reply and a simulated reply, never its variant or condition; the rater
scores each dimension of the sample on the judges' scale with the judges' own rubric text beside it. Every
item's ratings are saved as soon as it is done (``ratings.jsonl``), so a reload resumes where the rater
stopped.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from personadrop.evaluate.ratings import STEPS, Rating, RatingsDir, now
from personadrop.judges.rubric import ASPECTS
from personadrop.serve.app import Served
from personadrop.serve.protocol import ProtocolError


class RateRequest(BaseModel):
    item: str
    ratings: dict[str, float]


def annotate_routes(ratings: RatingsDir, rater: str):
    """Routes of the rating page over ``ratings`` for one named ``rater``."""
    sample = ratings.sample
    items = {i.id: i for i in sample.items}

    def add(app: FastAPI, served: Served) -> None:
        @app.get("/", response_class=HTMLResponse)
        async def index() -> str:
            return resources.files("personadrop.serve").joinpath("static", "annotate.html").read_text()

        @app.get("/api/sample")
        async def sample_view() -> dict[str, Any]:
            return {
                "rater": rater,
                "dimensions": sample.dimensions,
                "rubric": {d: ASPECTS[d] for d in sample.dimensions},
                "steps": list(STEPS),
                # Blind: what the page gets of an item is its id and texts, never variant or condition.
                "items": [
                    {"id": i.id, "context": i.context, "reference": i.reference, "reply": i.reply}
                    for i in sample.items
                ],
                "given": ratings.given(rater),
            }

        @app.post("/api/rate")
        async def rate(request: RateRequest) -> dict[str, Any]:
            if request.item not in items:
                raise ProtocolError(f"item {request.item!r} is not in the sample", param="item")
            unknown = sorted(set(request.ratings) - set(sample.dimensions))
            if unknown:
                raise ProtocolError(f"dimension {unknown[0]!r} is not rated here", param="ratings")
            if any(not 0.0 <= v <= 1.0 for v in request.ratings.values()):
                raise ProtocolError("ratings are on the judges' scale, 0 to 1", param="ratings")
            at = now()
            ratings.add(
                Rating(item=request.item, rater=rater, dimension=d, value=v, time=at)
                for d, v in request.ratings.items()
            )
            return {"saved": len(request.ratings)}

    return add
