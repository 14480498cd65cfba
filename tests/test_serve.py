"""Serving simulators: the OpenAI-compatible API as the official client meets it, multi-turn simulation, and
the persona explorer in a real (headless) browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from fastapi import FastAPI

from personadrop.data.humanual import load_examples
from personadrop.data.world import generate_world, world_config, write_world
from personadrop.models.base import Simulator
from personadrop.serve import Served, create_app, running
from personadrop.serve.server import free_port
from personadrop.simulators import load_simulator


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(generate_world(world_config(seed=6, users=40, posts=120)), out)
    return out


@pytest.fixture(scope="module")
def example(world):
    return load_examples(world, split="test").examples[0]


@pytest.fixture(scope="module")
def server(world):
    app = create_app(Served({"bayes": load_simulator("bayes", data=world)}, window=0.05))
    with running(app) as url:
        yield url


def ask(url: str, example, **extra):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(
        model="bayes",
        messages=[{"role": "user", "content": example.context[0].content}],
        extra_body={"persona": example.persona.to_dict(), **extra.pop("extra_body", {})},
        **extra,
    )


def test_a_persona_gets_a_reply_and_a_condition_changes_what_the_model_sees(server, world, example):
    models = openai.OpenAI(base_url=server + "/v1", api_key="unused").models.list()
    assert [m.id for m in models] == ["bayes"]
    full = ask(server, example, seed=1)
    reply = full.choices[0].message.content
    assert reply and full.model_extra["condition"] == "full" and full.usage.completion_tokens > 0
    values = [ask(server, example, seed=1, extra_body={"condition": "only:values"}) for _ in range(2)]
    assert values[0].model_extra["condition"] == "only:values"
    assert (
        values[0].choices[0].message.content == values[1].choices[0].message.content
    )  # same seed, same reply
    # Only the Values field reaches the model: the same as a persona that has nothing else.
    only = {k: v for k, v in example.persona.to_dict().items() if k == "values"}
    direct = ask(server, example, seed=1, extra_body={"persona": only})
    assert direct.choices[0].message.content == values[0].choices[0].message.content
    # The persona may also come rendered, in the system message.
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    system = client.chat.completions.create(
        model="bayes",
        seed=1,
        messages=[
            {"role": "system", "content": example.persona.render()},
            {"role": "user", "content": example.context[0].content},
        ],
    )
    assert system.choices[0].message.content == reply


def test_streaming_yields_the_same_text(server, example):
    whole = ask(server, example, seed=2).choices[0].message.content
    stream = ask(server, example, seed=2, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == whole


def test_concurrent_requests_are_answered_in_fewer_generation_calls(server, example):
    before = httpx.get(server + "/v1/stats").json()["bayes"]
    with ThreadPoolExecutor(16) as pool:
        replies = list(
            pool.map(lambda i: ask(server, example, user=f"u{i}").choices[0].message.content, range(16))
        )
    after = httpx.get(server + "/v1/stats").json()["bayes"]
    assert all(replies) and after["requests"] - before["requests"] == 16
    assert after["generate_calls"] - before["generate_calls"] < 16


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": "nope"}, 404, "does not exist"),
        ({"condition": "bogus:x"}, 400, "unknown condition"),
        ({"persona": None, "messages": [{"role": "user", "content": "AITA?"}]}, 400, "persona"),
        ({"messages": [{"role": "system", "content": "x"}]}, 400, "no turn"),
        ({"messages": [{"role": "user", "content": "x" * 250_000}]}, 400, "limit"),
        ({"messages": "not a list"}, 400, "messages"),
        ({"n": 3}, 400, "n"),
        ({"persona": {"values": "not a list"}}, 400, "values"),
    ],
)
def test_each_bad_request_gets_its_openai_style_error(server, example, body, status, needle):
    request = {
        "model": "bayes",
        "messages": [{"role": "user", "content": "AITA for this?"}],
        "persona": example.persona.to_dict(),
        **body,
    }
    response = httpx.post(server + "/v1/chat/completions", json=request)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"] and error["type"] in ("invalid_request_error",)


def test_a_body_that_is_not_json_is_a_400(server):
    response = httpx.post(
        server + "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


class StatesEcho(Simulator):
    """Answers like a HumanLM model: its states, then the reply."""

    name = "echo"
    inference_task = "states+response"

    def generate(self, items):
        return [
            f"<stance>agrees</stance><value>honesty</value><response>{it.visible.visible_fields}</response>"
            for it in items
        ]


def test_a_humanlm_model_returns_its_latent_states(example):
    with running(create_app(Served({"echo": StatesEcho()}))) as url:
        response = openai.OpenAI(base_url=url + "/v1", api_key="k").chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "AITA?"}],
            extra_body={"persona": example.persona.to_dict(), "condition": "only:values"},
        )
    choice = response.choices[0]
    assert choice.model_extra["states"] == {"stance": "agrees", "value": "honesty"}
    assert choice.message.content == "('values',)"


def test_the_serve_command_binds_locally_and_checks_a_bearer_token(world, example):
    port = free_port()
    env = {**os.environ, "PD_TEST_KEY": "s3cret"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "personadrop",
            "serve",
            "bayes",
            "--data",
            str(world),
            "--port",
            str(port),
            "--api-key-env",
            "PD_TEST_KEY",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                httpx.get(url + "/v1/models")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        refused = httpx.get(url + "/v1/models")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret")
        reply = client.chat.completions.create(
            model="bayes",
            messages=[{"role": "user", "content": example.context[0].content}],
            extra_body={"persona": example.persona.to_dict()},
        )
        assert reply.choices[0].message.content
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "Traceback" not in stderr and "s3cret" not in stderr


# --------------------------------------------------------------------------- simulate
def stub_agent() -> FastAPI:
    """A tiny OpenAI-compatible assistant: it numbers its turns."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> dict:
        turn = sum(m["role"] == "assistant" for m in body["messages"]) + 1
        return {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"Agent turn {turn}: tell me more."},
                }
            ],
        }

    return app


def test_simulate_writes_the_conversation_and_resumes_it(tmp_path, world, example):
    persona = tmp_path / "persona.json"
    persona.write_text(json.dumps(example.persona.to_dict()))
    out = tmp_path / "conversation.jsonl"
    with running(stub_agent()) as agent:
        base = [
            sys.executable,
            "-m",
            "personadrop",
            "simulate",
            "--user",
            "bayes",
            "--data",
            str(world),
            "--agent",
            f"openai:stub@{agent}/v1",
            "--persona",
            str(persona),
            "--opening",
            example.context[0].content,
            "--out",
            str(out),
            "--condition",
            "only:values",
        ]
        first = subprocess.run([*base, "--turns", "2"], capture_output=True, text=True, timeout=180)
        assert first.returncode == 0, first.stderr
        turns = [json.loads(line) for line in out.read_text().splitlines()]
        assert [t["speaker"] for t in turns] == ["agent", "user", "agent", "user"]
        assert turns[2]["content"] == "Agent turn 2: tell me more."  # the opening was its first
        assert all(t["condition"] == "only:values" for t in turns if t["speaker"] == "user")
        resumed = subprocess.run([*base, "--turns", "3"], capture_output=True, text=True, timeout=180)
        assert resumed.returncode == 0, resumed.stderr
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert again[:4] == turns and [t["speaker"] for t in again[4:]] == ["agent", "user"]


# --------------------------------------------------------------------------- the explorer, in a browser
@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Path:
    from personadrop.study import Study, load_study_config

    out = tmp_path_factory.mktemp("study") / "s"
    cfg = load_study_config(
        None,
        "quick",
        variants=["sft", "bayes"],
        data={"world": {"users": 40, "posts": 120}, "max_eval_examples": 8},
        evaluation={"conditions": ["full", "none", "only:values"]},
    )
    Study(cfg, out, progress=False).run()
    return out


@pytest.mark.slow
def test_the_explorer_page_reacts_to_a_hidden_field(small_study, tmp_path):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("headless Chromium is not installed (.ci/run installs chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from personadrop.serve.explore import StudyView, explorer_routes

    view = StudyView.load(small_study)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    with running(create_app(Served(view.simulators), extra_routes=explorer_routes(view))) as url:
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        try:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 60)

            def card(variant: str) -> tuple[str, str]:
                node = driver.find_element(By.CSS_SELECTOR, f'.card[data-variant="{variant}"]')
                return node.find_element(By.CLASS_NAME, "reply").text, node.find_element(
                    By.CLASS_NAME, "score"
                ).text

            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-variant="bayes"]'))
            changed = False
            for index in range(len(driver.find_elements(By.CSS_SELECTOR, "#examples li"))):
                driver.find_elements(By.CSS_SELECTOR, "#examples li")[index].click()
                wait.until(lambda d: d.find_element(By.ID, "condition").text == "full" and card("bayes")[0])
                before = card("bayes")
                driver.find_element(By.ID, "field-values").click()  # hide the Values field
                wait.until(lambda d: d.find_element(By.ID, "condition").text == "drop:values")
                after = card("bayes")
                if after != before:
                    changed = True
                    break
                driver.find_element(By.ID, "field-values").click()  # show it again, try the next example
                wait.until(lambda d: d.find_element(By.ID, "condition").text == "full")
            assert changed, "hiding Values never changed the reference's reply or score"
            assert "Values: Missing" in driver.find_element(By.ID, "persona").text
            assert driver.find_elements(By.CSS_SELECTOR, '.card[data-variant="sft"]')
            screenshot = tmp_path / "explore.png"
            driver.save_screenshot(str(screenshot))
            assert screenshot.stat().st_size > 10_000
            if os.environ.get("PERSONADROP_SCREENSHOT"):
                shutil.copy(screenshot, os.environ["PERSONADROP_SCREENSHOT"])
        finally:
            driver.quit()
