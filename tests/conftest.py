"""Shared fixtures: hand-made HUMANUAL rows and the 79 real r/AmItheAsshole posts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REPO = Path(__file__).resolve().parents[1]
AITA_POSTS = next(
    (
        p
        for p in (REPO / "tests" / "data" / "aita_posts_79.json", SHARED / "data" / "aita_posts_79.json")
        if p.exists()
    ),
    None,
)

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Under pytest-xdist every worker is one process among several on the machine's cores: one math thread each
# (and in the processes a test starts), or two workers' thread pools fight over two cores and a test that
# takes 4 s takes 35.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def humanual_persona(**overrides: object) -> dict:
    persona = {
        "demographics": {
            "age group": "25-34",
            "gender": "female",
            "location": "NA",
            "occupation": "nurse",
            "nationality": "NA",
            "other": "",
        },
        "interests": ["gardening", "true crime podcasts", "board games"],
        "values": ["honesty above all", "family comes first", "fairness in chores"],
        "communication": ["blunt and direct", "short sentences", "uses 'NTA' often"],
        "statistics": ["typical length: 30-50 words", "often starts with a verdict"],
    }
    persona.update(overrides)
    return persona


def humanual_row(i: int = 0, *, post: str | None = None, **overrides: object) -> dict:
    """A row in HUMANUAL's processed schema (prompt as a JSON string, as in some dumps)."""
    messages = [
        {
            "role": "user",
            "content": post or f"AITA for refusing to lend my car to my brother? (post {i})",
            "metadata": {"author": "poster_a"},
        },
        {"role": "user", "content": "YTA, family helps family.", "metadata": {"author": "commenter_b"}},
    ]
    row = {
        "prompt": json.dumps(messages),
        "completion": f"NTA. Your car, your rules. ({i})",
        "user_id": f"user{i % 3}",
        "post_id": f"p{i}",
        "timestamp": 1_600_000_000 + i,
        "metadata": json.dumps({"score": i}),
        "turn_id": 2,
        "persona": json.dumps(humanual_persona()),
    }
    row.update(overrides)
    return row


@pytest.fixture
def aita_posts() -> dict[str, dict[str, str]]:
    if AITA_POSTS is None:
        pytest.skip("aita_posts_79.json not available")
    return json.loads(AITA_POSTS.read_text(encoding="utf-8"))


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from personadrop.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
