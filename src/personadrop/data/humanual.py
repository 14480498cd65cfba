"""Read and write data in HUMANUAL's processed schema (local jsonl / json / parquet, or a hub id).

A row holds ``prompt`` (the post and the chain of ancestor comments as ``{role, content, metadata}``
messages, possibly JSON-encoded), ``completion`` (the real response), ``user_id``, ``post_id``,
``timestamp``, ``metadata`` (JSON string), ``turn_id`` and ``persona``. Our synthetic worlds add
``states`` (true latent states) and ``unseen_user``. Every row is validated here, at the edge; a bad row
is reported by file, line and example id, and either stops the load (default) or is skipped and counted.

Who wrote a message: ``role`` is a chat role or, in some dumps, the author's name. A message is the
simulated user's own (speaker ``HUMAN``) when its role is ``assistant`` or its author is the row's user.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from personadrop.data.example import TARGET_SPEAKER, Example, Turn
from personadrop.errors import DataError, PersonaError
from personadrop.persona import Persona

OnBadRow = Literal["stop", "skip"]
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val", "validation", "valid", "dev"),
    "test": ("test",),
}
SUFFIXES = (".jsonl", ".json", ".parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_AUTHOR_KEYS = ("author", "username", "user_name", "name", "user_id")


@dataclass(frozen=True)
class BadRow:
    """A row that could not become an example, and why."""

    where: str
    example_id: str | None
    reason: str

    def __str__(self) -> str:
        ident = f" (example {self.example_id})" if self.example_id else ""
        return f"{self.where}{ident}: {self.reason}"


@dataclass
class LoadedExamples:
    """Examples read from one source, with the rows that were skipped."""

    source: str
    examples: list[Example] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]


class _RowError(Exception):
    def __init__(self, reason: str, example_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.example_id = example_id


# --------------------------------------------------------------------------- loading
def load_examples(
    source: str | Path,
    *,
    split: str | None = None,
    on_bad_row: OnBadRow = "stop",
    limit: int | None = None,
) -> LoadedExamples:
    """Load examples from a file, a directory of split files, or a Hugging Face hub dataset id.

    ``split`` picks one split (``train``, ``val``/``validation``, ``test``); None loads all.
    ``on_bad_row="stop"`` raises :class:`DataError` at the first bad row; ``"skip"`` records it and
    goes on. ``limit`` stops after that many good examples (per load, in file order).
    """
    if on_bad_row not in ("stop", "skip"):
        raise DataError(f"on_bad_row must be 'stop' or 'skip', got {on_bad_row!r}")
    out = LoadedExamples(source=str(source))
    seen_ids: dict[str, int] = {}
    for where, row, row_split in _raw_rows(source, split):
        try:
            if isinstance(row, _Unparsable):
                raise _RowError(row.reason)
            if not isinstance(row, Mapping):
                raise _RowError(f"a row must be an object, got {type(row).__name__}")
            example = example_from_row(row, split=row_split)
        except _RowError as err:
            bad = BadRow(where, err.example_id, err.reason)
            if on_bad_row == "stop":
                raise DataError(f"bad row at {bad} (use --on-bad-row skip to skip such rows)") from None
            out.bad_rows.append(bad)
            continue
        count = seen_ids.get(example.id, 0) + 1
        seen_ids[example.id] = count
        if count > 1:
            example = example.model_copy(update={"id": f"{example.id}#{count}"})
        out.examples.append(example)
        if limit is not None and len(out.examples) >= limit:
            break
    if not out.examples and not out.bad_rows:
        raise DataError(f"{source}: no rows" + (f" in split {split!r}" if split else ""))
    return out


def example_from_row(row: Mapping[str, Any], *, split: str | None = None) -> Example:
    """Validate one HUMANUAL-shaped row and build its :class:`Example` (raises ``_RowError``)."""
    user_id = _id_field(row, "user_id", required=True)
    messages = _messages(row.get("prompt"))
    post_id = _id_field(row, "post_id", required=False) or _content_id(messages[0][1])
    turn_id = row.get("turn_id")
    if turn_id is not None and (isinstance(turn_id, bool) or not isinstance(turn_id, int)):
        raise _RowError(f"'turn_id' must be an integer, got {type(turn_id).__name__}")
    example_id = _id_field(row, "id", required=False) or f"{post_id}/{user_id}/{turn_id if turn_id is not None else len(messages)}"

    try:
        completion = row.get("completion")
        if isinstance(completion, list) and len(completion) == 1 and isinstance(completion[0], Mapping):
            completion = completion[0].get("content")  # TRL-style [{"role": "assistant", "content": ...}]
        if not isinstance(completion, str) or not completion.strip():
            raise _RowError("'completion' (the real response) must be non-empty text")
        persona = Persona.from_raw(row.get("persona"))
        turns = tuple(_turn(i, role, content, meta, user_id) for i, (role, content, meta) in enumerate(messages))
        return Example(
            id=example_id,
            user_id=user_id,
            post_id=post_id,
            persona=persona,
            context=turns,
            response=completion.strip(),
            timestamp=_timestamp(row.get("timestamp")),
            metadata=_json_dict(row.get("metadata"), "metadata"),
            states=_states(row.get("states")),
            split=split,
            unseen_user=_unseen(row),
        )
    except PersonaError as err:
        raise _RowError(str(err.with_example(example_id)), example_id) from None
    except _RowError as err:
        raise _RowError(err.reason, example_id) from None


def _raw_rows(source: str | Path, split: str | None) -> Iterator[tuple[str, Any, str | None]]:
    path = Path(source)
    if path.is_dir():
        files = split_files(path)
        if not files:
            raise DataError(f"{path}: no data files (expected train/val/test .jsonl, .json or .parquet)")
        wanted = [_canonical_split(split)] if split else list(files)
        for name in wanted:
            if name not in files:
                raise DataError(f"{path}: no {split!r} split; found {', '.join(files)}")
            for f in files[name]:
                yield from ((w, r, name) for w, r in _file_rows(f))
    elif path.is_file():
        label = _canonical_split(split) if split else _split_of(path.name)
        yield from ((w, r, label) for w, r in _file_rows(path))
    elif _HUB_ID.match(str(source)) and not str(source).endswith(SUFFIXES):
        yield from _hub_rows(str(source), split)
    else:
        raise DataError(f"{source}: no such file or directory (and not a hub dataset id like owner/name)")


def split_files(directory: Path) -> dict[str, list[Path]]:
    """Data files of a directory by canonical split name (``name.ext``, ``name-*.ext``, ``data/...``)."""
    found: dict[str, list[Path]] = {}
    for base in (directory, directory / "data"):
        if not base.is_dir():
            continue
        for f in sorted(base.iterdir()):
            if f.is_file() and f.name.endswith(SUFFIXES):
                name = _split_of(f.name)
                if name:
                    found.setdefault(name, []).append(f)
    order = list(SPLIT_ALIASES)
    return dict(sorted(found.items(), key=lambda kv: order.index(kv[0])))


def _split_of(filename: str) -> str | None:
    stem = filename.split(".")[0].split("-")[0].lower()
    for name, aliases in SPLIT_ALIASES.items():
        if stem in aliases:
            return name
    return None


def _canonical_split(split: str) -> str:
    name = _split_of(split)
    if name is None:
        raise DataError(f"unknown split {split!r}; use train, val (validation) or test")
    return name


def _file_rows(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        yield f"{path.name}:{lineno}", json.loads(line)
                    except json.JSONDecodeError as err:
                        yield f"{path.name}:{lineno}", _Unparsable(f"not valid JSON ({err.msg})")
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, Mapping) and isinstance(data.get("rows"), list):
                data = data["rows"]
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a JSON list of rows (or {{'rows': [...]}})")
            for i, row in enumerate(data):
                yield f"{path.name}[{i}]", row
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            for i, row in enumerate(table.to_pylist()):
                yield f"{path.name}[{i}]", row
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    except Exception as err:  # pyarrow raises its own types for corrupt files
        if type(err).__module__.startswith("pyarrow"):
            raise DataError(f"{path}: cannot read parquet ({err})") from None
        raise


def _hub_rows(hub_id: str, split: str | None) -> Iterator[tuple[str, Any, str | None]]:
    import datasets

    try:
        loaded = datasets.load_dataset(hub_id, split=split)
    except Exception as err:  # network, auth, missing split: all user-facing here
        raise DataError(f"could not load hub dataset {hub_id!r}: {str(err).splitlines()[0][:300]}") from None
    parts = {split: loaded} if split else dict(loaded)
    for name, ds in parts.items():
        label = _split_of(name) or name
        for i, row in enumerate(ds):
            yield f"{hub_id}[{name}][{i}]", row, label


@dataclass(frozen=True)
class _Unparsable:
    """Stands in for a line that is not JSON, so it is reported like any other bad row."""

    reason: str


# --------------------------------------------------------------------------- field validation
def _id_field(row: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = row.get(name)
    if value is None or value == "":
        if required:
            raise _RowError(f"missing column {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _RowError(f"{name!r} must be text or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if not text or len(text) > 512:
        raise _RowError(f"{name!r} must be 1-512 characters")
    return text


def _content_id(text: str) -> str:
    return "post-" + hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _messages(raw: Any) -> list[tuple[str, str, dict[str, Any]]]:
    if raw is None:
        raise _RowError("missing column 'prompt' (the context messages)")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise _RowError(f"'prompt' is a string but not JSON ({err.msg})") from None
    if not isinstance(raw, list):
        raise _RowError(f"'prompt' must be a list of messages, got {type(raw).__name__}")
    out = []
    for i, msg in enumerate(raw):
        if not isinstance(msg, Mapping):
            raise _RowError(f"prompt message {i} must be an object, got {type(msg).__name__}")
        content = msg.get("content")
        if not isinstance(content, str):
            raise _RowError(f"prompt message {i} has no text 'content'")
        role = msg.get("role", "user")
        if not isinstance(role, str):
            raise _RowError(f"prompt message {i} has a non-text 'role'")
        if role == "system":
            continue
        out.append((role, content, _json_dict(msg.get("metadata"), f"prompt message {i} metadata")))
    if not out or not any(c.strip() for _, c, _ in out):
        raise _RowError("'prompt' has no non-empty message")
    return out


def _turn(i: int, role: str, content: str, meta: Mapping[str, Any], user_id: str) -> Turn:
    author = next((str(meta[k]) for k in _AUTHOR_KEYS if meta.get(k) not in (None, "")), None)
    is_target = role in ("assistant", user_id) or author in (user_id, TARGET_SPEAKER)
    if is_target:
        speaker = TARGET_SPEAKER
    else:
        speaker = author or (role if role not in ("user", "assistant") else None) or ("Poster" if i == 0 else "Commenter")
    return Turn(speaker=speaker, content=content.strip(), is_target=is_target)


def _json_dict(raw: Any, what: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise _RowError(f"{what} is a string but not JSON") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _RowError(f"{what} must be an object, got {type(raw).__name__}")
    return dict(raw)


def _timestamp(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise _RowError("'timestamp' must be an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    raise _RowError(f"'timestamp' must be an integer, got {raw!r:.40}")


def _states(raw: Any) -> dict[str, str] | None:
    if raw is None or raw == "":
        return None
    states = _json_dict(raw, "'states'")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in states.items()):
        raise _RowError("'states' must map dimension names to text")
    return states


def _unseen(row: Mapping[str, Any]) -> bool:
    value = row.get("unseen_user", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _RowError(f"'unseen_user' must be true or false, got {value!r:.20}")
    return value


# --------------------------------------------------------------------------- writing
def example_to_row(example: Example) -> dict[str, Any]:
    """The example as a HUMANUAL processed row (plus ``states`` and ``unseen_user`` where known)."""
    prompt = [
        {
            "role": "assistant" if t.is_target else "user",
            "content": t.content,
            "metadata": {"author": t.speaker},
        }
        for t in example.context
    ]
    row: dict[str, Any] = {
        "id": example.id,
        "prompt": prompt,
        "completion": example.response,
        "user_id": example.user_id,
        "post_id": example.post_id,
        "timestamp": example.timestamp,
        "metadata": json.dumps(example.metadata, ensure_ascii=False, sort_keys=True),
        "turn_id": len(prompt),
        "persona": example.persona.to_json() if not example.persona.is_text else example.persona.text,
    }
    if example.states is not None:
        row["states"] = example.states
    row["unseen_user"] = example.unseen_user
    return row


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write rows as JSON lines (UTF-8, sorted keys so equal data gives equal bytes); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    tmp.replace(path)
    return n
