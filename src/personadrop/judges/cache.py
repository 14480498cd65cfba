"""A persistent cache of API answers in SQLite, so re-judging or re-simulating the same inputs makes no call.

Two tables, one row per successful call. ``judgements``: the key is the SHA-256 of a canonical JSON of
everything that decides the answer (backend, model, rubric version, decoding settings, dimension, context,
real reply and the candidate set in order); the value is the scores in candidate order and the tokens the
call used. ``replies`` (prompted simulators): keyed the same way by model, messages, decoding and seed; the
value is the reply's text and its tokens. Failures are never stored: they must be retried next time, not
remembered. Nothing about credentials, headers or endpoints is ever written.

Where it lives: ``<cache_dir>/judge-cache.sqlite`` when a directory is given (a run directory), else
under ``$PERSONADROP_CACHE_DIR``, ``$XDG_CACHE_HOME/personadrop`` or ``~/.cache/personadrop``.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from personadrop.files import default_cache_dir

CACHE_FILE = "judge-cache.sqlite"
_SCHEMA_VERSION = 1


def cache_key(fields: Mapping[str, object]) -> str:
    """SHA-256 of a canonical JSON of ``fields`` (sorted keys, no whitespace, UTF-8)."""
    blob = json.dumps(
        {"cache_schema": _SCHEMA_VERSION, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedJudgement:
    """A stored answer: one score per candidate (in the caller's order) and what the call cost."""

    scores: tuple[float, ...]
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CachedReply:
    """A stored simulator reply and what the call cost."""

    text: str
    input_tokens: int
    output_tokens: int


class JudgeCache:
    """SQLite key-value store of judgements and replies; safe to share between threads of one process.

    WAL journaling lets several processes (e.g. parallel evaluations) read while one writes.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS judgements ("
                " key TEXT PRIMARY KEY, scores TEXT NOT NULL,"
                " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS replies ("
                " key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )

    @classmethod
    def in_dir(cls, directory: str | Path | None) -> JudgeCache:
        """The cache file in ``directory``, or in :func:`default_cache_dir` when it is None."""
        return cls(Path(directory if directory is not None else default_cache_dir()) / CACHE_FILE)

    def get(self, key: str) -> CachedJudgement | None:
        with self._lock:
            row = self._db.execute(
                "SELECT scores, input_tokens, output_tokens FROM judgements WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return CachedJudgement(tuple(float(s) for s in json.loads(row[0])), int(row[1]), int(row[2]))

    def put(self, key: str, scores: Sequence[float], input_tokens: int, output_tokens: int) -> None:
        """Store a successful judgement; refuses NaN, because failures must not be remembered."""
        if any(math.isnan(s) for s in scores):
            raise ValueError("a judgement with missing scores must not be cached")
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?)",
                (key, json.dumps(list(scores)), input_tokens, output_tokens, time.time()),
            )

    def get_reply(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, input_tokens, output_tokens FROM replies WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else CachedReply(str(row[0]), int(row[1]), int(row[2]))

    def put_reply(self, key: str, text: str, input_tokens: int, output_tokens: int) -> None:
        """Store a simulator's reply (only a call that succeeded is ever stored)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                (key, text, input_tokens, output_tokens, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM judgements").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
