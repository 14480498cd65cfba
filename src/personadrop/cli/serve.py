"""`personadrop serve | simulate | explore`: use simulators over HTTP, in conversations, and in a browser."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from personadrop.cli.app import app, condition_option, seed_option, within
from personadrop.cli.console import clean, err, say
from personadrop.dropout import Policy
from personadrop.errors import ConfigError, PersonadropError, PersonaError, RemoteError
from personadrop.limits import MAX_BATCH_WINDOW_MS

HostOpt = Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


WindowOpt = Annotated[
    float,
    typer.Option(
        "--batch-window-ms",
        callback=within(0.0, MAX_BATCH_WINDOW_MS),
        help=f"How long a request waits for others to join its generation batch (at most "
        f"{MAX_BATCH_WINDOW_MS:g} ms).",
    ),
]


def _api_key(env: str | None) -> str | None:
    if env is None:
        return None
    key = os.environ.get(env, "").strip()
    if not key:
        raise ConfigError(f"--api-key-env {env}: the variable is not set (or empty)")
    return key


@app.command("serve")
def serve_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="A training run directory, a local checkpoint or model name "
            "(smollm2-135m), or `bayes` (with --data)."
        ),
    ],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The synthetic world, for `bayes`.")
    ] = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    condition: Annotated[
        Policy,
        condition_option(
            "What of each request's persona is shown, unless the request says (`condition` body field).",
            "--condition",
        ),
    ] = "full",
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="Require `Authorization: Bearer <key>`, the key read from this environment variable.",
        ),
    ] = None,
    window_ms: WindowOpt = 10.0,
) -> None:
    """Serve a simulator behind an OpenAI-compatible chat API (`/v1/models`, `/v1/chat/completions`).

    The messages are the thread the simulated user answers; the persona comes in the system message
    (HUMANUAL JSON or rendered text) or the `persona` body field. Concurrent requests are batched.
    """
    from personadrop.serve import Served, create_app, run
    from personadrop.simulators import describe_simulator, load_simulator

    key = _api_key(api_key_env)
    name = describe_simulator(model)[0]
    served = Served(
        {name: load_simulator(model, data=data, name=name)}, condition=condition, window=window_ms / 1000
    )
    say(
        clean(f"serving {name} on http://{host}:{port}/v1 (condition {condition.name}); Ctrl-C stops"),
        console=err,
    )
    run(create_app(served, api_key=key), host, port)


@app.command("explore")
def explore_cmd(
    study_dir: Annotated[Path, typer.Argument(help="A study directory (after `personadrop study`).")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    window_ms: WindowOpt = 10.0,
) -> None:
    """The persona explorer: a web page to hide fields or items and compare every variant's answer.

    Open the printed address in a browser. The study's variants are also served on the chat API (/v1).
    """
    from personadrop.serve import Served, create_app, run
    from personadrop.serve.explore import StudyView, explorer_routes

    view = StudyView.load(study_dir)
    served = Served(view.simulators, window=window_ms / 1000)
    say(clean(f"explorer for {view.name}: http://{host}:{port}/  (Ctrl-C stops)"), console=err)
    run(create_app(served, extra_routes=explorer_routes(view)), host, port)


@app.command("annotate")
def annotate_cmd(
    evaluation: Annotated[
        Path, typer.Argument(help="An evaluation (or study) directory holding scored generations.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The ratings directory: sample.json (the items) and ratings.jsonl (every rating given). "
            "An existing one is resumed, with its own sample.",
        ),
    ],
    n: Annotated[int, typer.Option("--n", min=1, max=10_000, help="Items in a new sample.")] = 100,
    rater: Annotated[
        str, typer.Option(help="Your name: several raters rate the same sample, each under a name.")
    ] = "rater-1",
    seed: Annotated[int, seed_option("Sampling seed of a new sample.")] = 0,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
) -> None:
    """A rating page in the browser: score simulated replies against the real ones, blind, by keyboard.

    The sample is drawn with a seed, stratified over variants and conditions; each item is a thread, the real
    reply and one simulated reply (which variant wrote it, and what it was shown, stay hidden). Each
    dimension the judge scores is rated on the judge's scale, 0 to 1, with the judge's rubric text shown.
    Ratings are saved as they are given: close the page any time and come back. Then
    `personadrop judge-agreement EVAL_DIR --human RATINGS_DIR` says how the judge agrees with people.
    """
    from personadrop.evaluate.directory import EvaluationDir
    from personadrop.evaluate.ratings import RatingsDir
    from personadrop.serve import Served, create_app, run
    from personadrop.serve.annotate import annotate_routes

    rater = rater.strip()
    if not rater or len(rater) > 64:
        raise ConfigError("--rater takes a name of 1 to 64 characters")
    ev = EvaluationDir.open(evaluation / "eval" if (evaluation / "study.yaml").exists() else evaluation)
    ratings = RatingsDir.create(out, ev, n=n, seed=seed)
    done = len(ratings.given(rater))
    say(
        clean(
            f"rating page for {rater} ({done} of {len(ratings.sample.items)} items rated so far): "
            f"http://{host}:{port}/  (Ctrl-C stops; ratings are in {out})"
        ),
        console=err,
    )
    run(create_app(Served({}), extra_routes=annotate_routes(ratings, rater)), host, port)


@app.command("simulate")
def simulate_cmd(
    user: Annotated[
        str,
        typer.Option(
            "--user",
            help="The simulated user: the URL of a `personadrop serve` "
            "(http://host:port/v1[#model]), or a run directory, checkpoint, model name, `bayes`, "
            "openai:<model>[@base_url] or anthropic:<model> (a prompted API model), served here for the "
            "conversation.",
        ),
    ],
    agent: Annotated[
        str,
        typer.Option(
            "--agent",
            help="The assistant: openai:MODEL[@BASE_URL] (key from "
            "OPENAI_API_KEY; none needed for a local URL).",
        ),
    ],
    persona: Annotated[
        Path,
        typer.Option(
            "--persona", help="The user's persona: a HUMANUAL persona as JSON, or the rendered text layout."
        ),
    ],
    opening: Annotated[
        str,
        typer.Option(
            "--opening",
            help="The agent's first message (a greeting, a question, "
            "a post), which the simulated user answers.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="JSON lines, one turn each; an existing file is resumed.")
    ],
    turns: Annotated[int, typer.Option(min=1, help="How many times the simulated user speaks, at most.")] = 4,
    condition: Annotated[
        Policy, condition_option("What of the persona the user simulator sees.", "--condition")
    ] = "full",
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The synthetic world, for `--user bayes`.")
    ] = None,
    seed: Annotated[int, seed_option("Mask seed (and sampling seed).")] = 0,
    agent_system: Annotated[
        str | None, typer.Option("--agent-system", help="A system prompt for the agent.")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            callback=within(0.1, 3600.0),
            help="Seconds to wait for each answer from either side, up to an hour (a request is tried up "
            "to 3 times).",
        ),
    ] = 120.0,
) -> None:
    """A multi-turn conversation between a simulated user and an assistant; ends at --turns or when the
    simulated user writes an end marker (###STOP###)."""
    from contextlib import nullcontext

    from personadrop.judges import parse_llm_spec
    from personadrop.serve import Served, create_app, running
    from personadrop.serve.simulate import Endpoint, simulate
    from personadrop.simulators import REPLIES, describe_simulator, is_external, load_simulator

    backend, agent_model, agent_url = parse_llm_spec(agent)
    if backend != "openai":
        raise PersonadropError(
            f"--agent {agent!r}: use openai:MODEL[@BASE_URL] (any OpenAI-compatible server)"
        )
    agent_key = os.environ.get("OPENAI_API_KEY") or "no-key-needed"
    persona_value = _read_persona(persona)
    if user.startswith(("http://", "https://")):
        base, _, user_model = user.partition("#")
        server = nullcontext(base.rstrip("/"))
    else:  # a local simulator: served here, on a free port, for the length of the conversation
        if user.startswith(REPLIES):
            raise ConfigError(
                f"--user {user!r}: a replies file answers the prompts it was made for, not a conversation"
            )
        user_model = describe_simulator(user)[0]
        simulator = load_simulator(
            user, data=data, name=user_model, api={"seed": seed} if is_external(user) else None
        )
        simulator.check_ready()
        server = running(create_app(Served({user_model: simulator})))
    with server as base_url:
        url = base_url if base_url.endswith("/v1") else base_url + "/v1"
        user_model = user_model or _served_model(url, timeout)
        history = simulate(
            Endpoint(url, user_model, timeout=timeout),
            Endpoint(agent_url or "https://api.openai.com/v1", agent_model, agent_key, timeout=timeout),
            persona=persona_value,
            opening=opening,
            turns=turns,
            out=out,
            condition=condition,
            seed=seed,
            agent_system=agent_system,
            on_turn=lambda t: say(clean(f"{t['speaker']:>5}: {t['content']}")),
        )
    users = sum(t["speaker"] == "user" for t in history)
    say(clean(f"{len(history)} turns ({users} by the simulated user) in {out}"), console=err)


def _read_persona(path: Path) -> dict | str:
    """The persona a --persona file holds, checked here rather than refused by the server mid-run."""
    from personadrop.persona import Persona

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--persona {path}: cannot read ({error})") from None
    try:
        Persona.from_raw(text)
    except PersonaError as error:
        raise ConfigError(f"--persona {path}: {error}") from None
    return json.loads(text) if text.lstrip().startswith("{") else text


def _served_model(url: str, timeout: float) -> str:
    """The first model a `personadrop serve` at ``url`` lists (a --user URL without #model)."""
    import openai

    try:
        models = openai.OpenAI(base_url=url, api_key="no-key-needed", timeout=timeout).models.list().data
    except (openai.OpenAIError, ValueError) as error:
        reason = " ".join(str(error).split())[:300]
        raise RemoteError(f"the simulated user ({url}): cannot list its models ({reason})") from None
    if not models:
        raise RemoteError(f"the simulated user ({url}) serves no model")
    return models[0].id
