"""The HTTP app: an OpenAI-compatible chat API over one or more simulators (FastAPI, served by uvicorn).

``GET /v1/models`` lists the simulators by name; ``POST /v1/chat/completions`` answers as the simulated
user (non-streaming, or ``stream: true`` as server-sent events); ``GET /v1/stats`` says how many requests
each model answered in how many generation calls. Every refusal is an OpenAI-style JSON error with a 4xx
status; nothing a client sends produces a 500 or a traceback.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from personadrop.dropout import Full, Policy
from personadrop.errors import ConfigError, PersonadropError
from personadrop.limits import MAX_BATCH_WINDOW_MS
from personadrop.models.base import Simulator
from personadrop.prompts import TASKS, parse_output, parse_tag
from personadrop.serve.batcher import DynamicBatcher
from personadrop.serve.protocol import ChatRequest, ProtocolError, chunks, completion, read_request


class Served:
    """The simulators an app serves, each behind its own batcher."""

    def __init__(
        self,
        simulators: Mapping[str, Simulator],
        *,
        condition: Policy = Full(),  # noqa: B008 - policies are immutable
        window: float = 0.01,
        max_batch: int = 64,
    ):
        if not 0 <= window * 1000 <= MAX_BATCH_WINDOW_MS:  # NaN too: a window that never closes hangs
            raise ConfigError(
                f"the batch window (--batch-window-ms) must be between 0 and {MAX_BATCH_WINDOW_MS:g} ms"
            )
        self.simulators = dict(simulators)
        self.condition = condition
        self.batchers = {
            name: DynamicBatcher(sim, window=window, max_batch=max_batch)
            for name, sim in self.simulators.items()
        }

    def batcher(self, model: str) -> DynamicBatcher:
        if model not in self.batchers:
            raise ProtocolError(
                f"the model {model!r} does not exist; this server has: {', '.join(self.batchers)}",
                status=404,
                param="model",
                code="model_not_found",
            )
        return self.batchers[model]

    async def answer(self, request: ChatRequest) -> tuple[str, dict[str, str] | None, str, dict[str, int]]:
        """(reply, latent states or None, the condition applied, token usage) for one request."""
        batcher = self.batcher(request.model)
        simulator = batcher.simulator
        task = simulator.inference_task
        simulation = read_request(request, task=task, default_condition=self.condition)
        try:
            output = await batcher.generate(simulation.item, request.decoding())
        except PersonadropError as err:  # what the request holds, found wrong while generating (a post
            # that is not from the reference's world): the request's error, not the server's
            raise ProtocolError(str(err), code="invalid_input") from None
        if output is None:  # a prompted API model whose call failed, retries spent
            raise ProtocolError(
                "the simulator's own model did not answer (its API call failed after retries)",
                status=502,
                kind="server_error",
                code="upstream_error",
            )
        reply = parse_output(output, task)
        if reply is None:
            raise ProtocolError(
                f"the simulator wrote no readable reply (its output: {output[:120]!r}); ask again with "
                "another seed or a larger max_tokens",
                status=500,
                kind="server_error",
                code="no_reply",
            )
        states = None
        if task == "states+response":
            states = {
                d: v
                for d in TASKS
                if d not in ("response", "states+response")
                if (v := parse_tag(output, d)) is not None
            }
        return reply, states, simulation.condition.name, _usage(simulator, simulation.item, output)


def _usage(simulator: Simulator, item: Any, output: str) -> dict[str, int]:
    prompts = getattr(simulator, "prompts", None)
    if prompts is None:  # not a language model: words stand in for tokens
        prompt, done = len(item.example.context_text().split()), len(output.split())
    else:
        prompt, done = (
            prompts.count(prompts.prompt(item.example, item.visible, item.task)),
            prompts.count(output),
        )
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def create_app(served: Served, *, api_key: str | None = None, extra_routes: Any = None) -> FastAPI:
    """The app serving ``served``; with ``api_key``, every /v1 request needs ``Authorization: Bearer <key>``.

    ``extra_routes(app, served)`` adds more routes (the explorer page) before the app is returned.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for batcher in served.batchers.values():
            await batcher.start()
        yield
        for batcher in served.batchers.values():
            await batcher.stop()

    # With a key, the schema is not published either: the middleware guards /v1 only.
    app = FastAPI(
        title="personadrop simulators",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None if api_key is not None else "/openapi.json",
    )

    @app.middleware("http")
    async def bearer_token(request: Request, call_next: Any) -> Any:
        if api_key is not None and request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                error = ProtocolError(
                    "a valid API key is required (Authorization: Bearer ...)",
                    status=401,
                    code="invalid_api_key",
                )
                return JSONResponse(error.body(), status_code=401)
        return await call_next(request)

    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, err: ProtocolError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            message, where = "the body is not valid JSON", ""
        else:
            message = f"{where}: {first['msg']}"
        return JSONResponse(ProtocolError(message, param=where or None).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        kind = "not_found_error" if err.status_code == 404 else "invalid_request_error"
        body = ProtocolError(str(err.detail), status=err.status_code, kind=kind).body()
        return JSONResponse(body, status_code=err.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:  # a bug: no traceback goes out
        body = ProtocolError("the simulator failed on this request", status=500, kind="server_error").body()
        return JSONResponse(body, status_code=500)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "personadrop"}
                for name in served.simulators
            ],
        }

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        return {name: b.stats() for name, b in served.batchers.items()}

    @app.post("/v1/chat/completions")
    async def chat(request: ChatRequest) -> Any:
        reply, states, condition, usage = await served.answer(request)
        if not request.stream:
            return completion(request.model, reply, states, usage, condition)

        async def events() -> AsyncIterator[str]:
            for chunk in chunks(request.model, reply, states, condition):
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    if extra_routes is not None:
        extra_routes(app, served)
    return app
