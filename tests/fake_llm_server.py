"""A real HTTP server on 127.0.0.1 that speaks just enough of the Anthropic Messages API and the OpenAI
chat-completions API for the official SDKs to talk to it, with faults on demand.

It plays the judge: it reads the candidates out of the rubric prompt and rates each one by a
``score=0.xx`` marker in its text (0.5 where there is none), so tests know what every score should be.
A request without candidates is a prompted simulator's: it answers with :func:`simulated_reply` of the
last message, so tests know every reply too.
Faults are scripted one per request (``server.script.extend(["429", "ok"])``), then ``server.default``
applies. It counts requests, in-flight calls and the tokens it billed, and writes nothing to disk.

Faults: ``ok``, ``429`` (with Retry-After: 0), ``500``, ``503``, ``400``, ``400-echo`` (an error message
that quotes the request's Authorization header, as a careless proxy might), ``401``, ``hang`` (answers
only after ``hang_seconds``), ``not-json`` (a 200 whose body is not JSON),
``broken`` (truncated JSON), ``fenced`` (valid JSON in a code fence with
a trailing comma: repairable), ``wrong-ids`` (a well-formed answer about the wrong candidates).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CANDIDATE = re.compile(r'<candidate id="(c\d+)">\n(.*?)\n</candidate>', re.DOTALL)
MARKER = re.compile(r"score=([0-9.]+)")


def simulated_reply(last_message: str) -> str:
    """What the fake server answers a simulator's request whose last message is ``last_message``."""
    return "I read: " + " ".join(last_message.split()[:6])


def marker_score(text: str) -> float:
    """The score the fake judge gives a candidate: its ``score=`` marker, else 0.5."""
    m = MARKER.search(text)
    return float(m.group(1)) if m else 0.5


class _Server(ThreadingHTTPServer):
    # The stdlib's default listen backlog (5) drops bursts of concurrent connections, which clients
    # then retry a second later; a real API front end accepts them.
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Seen:
    """One request as the server saw it."""

    api: str  # "anthropic" or "openai"
    fault: str
    candidates: list[tuple[str, str]]  # (id, text) in the order shown
    authorization: str
    body: dict


class FakeLLMServer:
    """Start with ``with FakeLLMServer() as server:``; point SDKs at ``anthropic_url`` / ``openai_url``."""

    def __init__(self, *, latency: float = 0.0, hang_seconds: float = 3.0):
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.script: deque[str] = deque()
        self.default = "ok"
        self.seen: list[Seen] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def url(self, api: str) -> str:
        return self.anthropic_url if api == "anthropic" else self.openai_url

    @property
    def requests(self) -> int:
        return len(self.seen)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # ------------------------------------------------------------------ behaviour
    def _next_fault(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _answer(self, candidates: list[tuple[str, str]], fault: str) -> str:
        ids = [cid for cid, _ in candidates]
        if fault == "wrong-ids":
            ids = [f"x{i}" for i in range(len(ids))]
        judgements = [
            {"id": cid, "ratings": [marker_score(text)], "penalty": 0}
            for cid, (_, text) in zip(ids, candidates, strict=True)
        ]
        text = json.dumps({"key_points": ["the main point"], "judgements": judgements})
        if fault == "broken":
            return text[: len(text) // 2]
        if fault == "fenced":
            return "```json\n" + text[:-1] + ",}\n```"
        return text

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(
                self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None
            ) -> None:
                blob = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(blob)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(blob)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
                    pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                api = "openai" if self.path.endswith("/chat/completions") else "anthropic"
                if api == "anthropic":
                    prompt = str(body.get("system", "")) + "".join(
                        str(m["content"]) for m in body["messages"]
                    )
                else:
                    prompt = "".join(str(m["content"]) for m in body["messages"])
                candidates = CANDIDATE.findall(prompt)
                fault = server._next_fault()
                auth = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
                with server._lock:
                    server.seen.append(Seen(api, fault, candidates, auth, body))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    self._respond(api, fault, prompt, candidates, auth, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _respond(
                self, api: str, fault: str, prompt: str, candidates: list, auth: str, body: dict
            ) -> None:
                model = str(body.get("model", "fake"))
                if fault == "hang":
                    server._stopping.wait(server.hang_seconds)
                    fault = "ok"
                if fault == "not-json":  # a proxy's error page, sent as a 200
                    self._send(200, b"<html><body>Bad gateway</body></html>")
                    return
                if fault[:3].isdigit():
                    status = int(fault[:3])
                    message = f"upstream refused the request (got {auth})" if fault == "400-echo" else "fault"
                    kind = {429: "rate_limit_error", 401: "authentication_error"}.get(status, "api_error")
                    payload = (
                        {"type": "error", "error": {"type": kind, "message": message}}
                        if api == "anthropic"
                        else {"error": {"message": message, "type": kind, "code": None}}
                    )
                    self._send(status, payload, {"retry-after": "0"} if status == 429 else None)
                    return
                if candidates or fault != "ok":
                    text = server._answer(candidates, fault)
                else:  # a simulator's request
                    text = simulated_reply(str(body["messages"][-1]["content"]))
                tokens_in, tokens_out = max(len(prompt) // 4, 1), len(text) // 4 + 1
                with server._lock:
                    server.input_tokens += tokens_in
                    server.output_tokens += tokens_out
                if api == "anthropic":
                    self._send(
                        200,
                        {
                            "id": "msg_fake",
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [{"type": "text", "text": text}],
                            "stop_reason": "end_turn",
                            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
                        },
                    )
                else:
                    self._send(
                        200,
                        {
                            "id": "chatcmpl_fake",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": model,
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text},
                                }
                            ],
                            "usage": {
                                "prompt_tokens": tokens_in,
                                "completion_tokens": tokens_out,
                                "total_tokens": tokens_in + tokens_out,
                            },
                        },
                    )

        return Handler
