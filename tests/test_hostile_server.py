"""Hostile input over HTTP (issue #29, round two): every client-caused failure is a 4xx with a one-line
reason, one request never takes the server or its batch neighbours down."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from personadrop.data.humanual import load_examples
from personadrop.data.world import generate_world, world_config, write_world
from personadrop.models.base import Simulator
from personadrop.models.hf import Decoding
from personadrop.serve import Served, create_app, running
from personadrop.simulators import load_simulator


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=7, users=40, posts=120)), out)
    return out


@pytest.fixture(scope="module")
def example(world):
    return load_examples(world, split="test").examples[0]


def chat(url: str, body: dict, **extra) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json={**body, **extra}, timeout=120)


def one_line(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and "Traceback" not in message
    return message


class LengthCostly(Simulator):
    """Takes a millisecond per token of its length limit, like a model filling its static cache."""

    name = "costly"

    def __init__(self) -> None:
        self.decoding = Decoding()

    def generate(self, items):
        time.sleep(self.decoding.max_new_tokens / 1000)
        return ["a reply"] * len(items)


# --------------------------------------------------------------------------- 1. one request, the server down
def test_a_huge_max_tokens_is_refused_and_a_long_one_costs_its_neighbours_nothing():
    body = {"model": "costly", "messages": [{"role": "user", "content": "AITA?"}], "condition": "none"}
    with running(create_app(Served({"costly": LengthCostly()}, window=0.3))) as url:
        for huge in (10_000_000, 10**12):
            assert "max_tokens" in one_line(chat(url, body, max_tokens=huge), 400)
        with ThreadPoolExecutor(2) as pool:
            long = pool.submit(chat, url, body, max_tokens=4000)  # 4 s of generation
            time.sleep(0.05)  # in the same batch window, asked second
            start = time.perf_counter()
            short = chat(url, body, max_tokens=10)
            waited = time.perf_counter() - start
            assert short.status_code == 200 and long.result().status_code == 200
    assert waited < 2.0, f"the short request waited {waited:.1f} s behind the long one"


# --------------------------------------------------------------------------- 2. one bad request, its batch
def test_a_request_that_fails_in_generation_is_answered_alone_and_its_batch_goes_on(world, example):
    app = create_app(Served({"bayes": load_simulator("bayes", data=world)}, window=0.3))
    good = {"model": "bayes", "messages": [{"role": "user", "content": example.context[0].content}]}
    bad = {"model": "bayes", "messages": [{"role": "user", "content": "A post from no synthetic world."}]}
    persona = {"persona": example.persona.to_dict()}
    with running(app) as url, ThreadPoolExecutor(8) as pool:
        before = httpx.get(url + "/v1/stats").json()["bayes"]["generate_calls"]
        answers = list(
            pool.map(lambda i: chat(url, good if i % 2 else bad, **persona, user=f"u{i}"), range(8))
        )
        calls = httpx.get(url + "/v1/stats").json()["bayes"]["generate_calls"] - before
    assert [a.status_code for a in answers] == [400, 200] * 4, [a.text for a in answers]
    assert "synthetic-world posts" in one_line(answers[0], 400)
    assert calls < 16  # the batch was tried whole first


# --------------------------------------------------------------------------- 3. client input, never a 500
def test_extreme_sampling_settings_and_text_that_is_not_text_are_answered_or_refused(example):
    base = load_simulator("world-tiny", name="tiny", max_new_tokens=8)
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": example.context[0].content}],
        "persona": example.persona.to_dict(),
    }
    with running(create_app(Served({"tiny": base}))) as url:
        greedy = chat(url, body, temperature=0)
        tiny_t = chat(url, body, temperature=1e-300, seed=3)
        assert tiny_t.status_code == 200, tiny_t.text
        assert tiny_t.json()["choices"][0]["message"] == greedy.json()["choices"][0]["message"]
        assert "seed" in one_line(chat(url, body, temperature=1.0, seed=2**64), 400)
        raw = json.dumps({**body, "messages": [{"role": "user", "content": "AITA \ud800?"}]})
        surrogate = httpx.post(
            url + "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        assert "surrogate" in one_line(surrogate, 400)


def test_the_explorer_takes_a_tiny_item_dropout(world, example, tmp_path):
    from personadrop.judges import make_judge
    from personadrop.serve.explore import StudyView, explorer_routes

    bayes = load_simulator("bayes", data=world)
    view = StudyView(tmp_path, "t", 0, {example.id: example}, {"bayes": bayes}, make_judge("exact"))
    app = create_app(Served(view.simulators), extra_routes=explorer_routes(view))
    with running(app) as url:
        answer = httpx.post(url + "/api/simulate", json={"example_id": example.id, "item_p": 1e-05})
    assert answer.status_code == 200, answer.text
    assert answer.json()["condition"] == "items:0.00001"


# --------------------------------------------------------------------------- 13. smaller points
def test_the_schema_needs_the_key_too(monkeypatch, world):
    app = create_app(Served({"bayes": load_simulator("bayes", data=world)}), api_key="s3cret")
    with running(app) as url:
        assert httpx.get(url + "/openapi.json").status_code in (401, 404)
        assert httpx.get(url + "/v1/models").status_code == 401


def test_sampled_requests_with_distinct_seeds_share_a_generation_call(example):
    tiny = load_simulator("world-tiny", name="tiny", max_new_tokens=12)
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": example.context[0].content}],
        "persona": example.persona.to_dict(),
        "temperature": 1.0,
        "user": "one",
    }
    with running(create_app(Served({"tiny": tiny}, window=0.5))) as url:
        with ThreadPoolExecutor(8) as pool:
            batched = list(pool.map(lambda s: chat(url, body, seed=s), range(8)))
        calls = httpx.get(url + "/v1/stats").json()["tiny"]["generate_calls"]
        alone = chat(url, body, seed=5)
    replies = [r.json()["choices"][0]["message"]["content"] for r in batched]
    assert calls < 4, f"{calls} generation calls for 8 requests"
    assert len(set(replies)) > 1  # each seed samples its own reply
    assert alone.json()["choices"][0]["message"]["content"] == replies[5]  # whatever shares the batch


class NoReply(Simulator):
    """Writes its states and never the reply."""

    name = "silent"
    inference_task = "states+response"

    def generate(self, items):
        return ["<stance>agrees</stance><value>honesty</value>" for _ in items]


def test_an_output_without_a_reply_is_said_not_sent_as_an_empty_message(example):
    body = {"model": "silent", "messages": [{"role": "user", "content": "AITA?"}], "condition": "none"}
    with running(create_app(Served({"silent": NoReply()}))) as url:
        response = chat(url, body)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "no_reply"
    assert "no readable reply" in response.json()["error"]["message"]
