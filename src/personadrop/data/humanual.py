"""Read and write data in HUMANUAL's processed schema (local jsonl / json / parquet, or a hub id).

Every row is validated at the edge (:mod:`personadrop.data.rows`); a bad row is reported by file, line
and example id, and either stops the load (default) or is skipped and counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from personadrop.data.example import Example
from personadrop.data.rows import RowError, example_from_row
from personadrop.errors import DataError
from personadrop.files import read_lines
from personadrop.limits import MAX_LINE_BYTES

log = logging.getLogger(__name__)

OnBadRow = Literal["stop", "skip"]
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val", "validation", "valid", "dev"),
    "test": ("test",),
}
SUFFIXES = (".jsonl", ".json", ".parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class BadRow:
    """A row that could not become an example, and why."""

    where: str
    example_id: str | None
    reason: str

    def __str__(self) -> str:
        ident = f" (example {self.example_id})" if self.example_id else ""
        return f"{self.where}{ident}: {self.reason}"


class BadRowError(DataError):
    """A bad row stopped the load; ``hint`` says how to skip such rows where the caller reads its data."""

    def __init__(self, bad: BadRow, hint: str = "use --on-bad-row skip to skip such rows"):
        self.bad, self.hint = bad, hint
        super().__init__(f"bad row at {bad} ({hint})")

    def with_hint(self, hint: str) -> BadRowError:
        return BadRowError(self.bad, hint)

    def __reduce__(self) -> tuple[type, tuple[BadRow, str]]:  # crosses from a training worker intact
        return (BadRowError, (self.bad, self.hint))


@dataclass
class LoadedExamples:
    """Examples read from one source, with the rows that were skipped."""

    source: str
    examples: list[Example] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    repeated_rows: int = 0  # rows identical to an earlier row of the same split: dropped
    renamed_ids: list[str] = field(default_factory=list)  # ids given to rows whose own id was taken

    def __len__(self) -> int:
        return len(self.examples)

    def split(self, name: str) -> list[Example]:
        return [e for e in self.examples if e.split == name]


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
    seen_rows: set[bytes] = set()
    for where, row, row_split in _raw_rows(source, split):
        try:
            if isinstance(row, _Unparsable):
                raise RowError(row.reason)
            example = example_from_row(row, split=row_split)
        except RowError as err:
            bad = BadRow(where, err.example_id, err.reason)
            if on_bad_row == "stop":
                raise BadRowError(bad) from None
            out.bad_rows.append(bad)
            continue
        # A row written twice would be trained on and scored twice: the copy is dropped. Distinct rows that
        # share an id (a dump without turn ids) are both kept, the later one renamed ``id#2``.
        digest = _row_digest(row, row_split)
        if digest in seen_rows:
            out.repeated_rows += 1
            continue
        seen_rows.add(digest)
        count = seen_ids.get(example.id, 0) + 1
        seen_ids[example.id] = count
        if count > 1:
            example = example.model_copy(update={"id": f"{example.id}#{count}"})
            out.renamed_ids.append(example.id)
        out.examples.append(example)
        if limit is not None and len(out.examples) >= limit:
            break
    if not out.examples and not out.bad_rows:
        raise DataError(f"{source}: no rows" + (f" in split {split!r}" if split else ""))
    if out.repeated_rows or out.renamed_ids:
        log.warning(
            "%s: %d rows repeat an earlier row and were dropped; %d rows share an earlier row's id and were "
            "renamed (e.g. %s)",
            source,
            out.repeated_rows,
            len(out.renamed_ids),
            out.renamed_ids[0] if out.renamed_ids else "-",
        )
    return out


def _row_digest(row: Any, split: str | None) -> bytes:
    text = json.dumps([split, row], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def file_split(source: str | Path) -> str | None:
    """The split a data file's name says it holds (``test.jsonl`` -> ``test``); None for anything else."""
    path = Path(source)
    return _split_of(path.name) if path.is_file() else None


def _raw_rows(source: str | Path, split: str | None) -> Iterator[tuple[str, Any, str | None]]:
    path = Path(source)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataError(f"{path}: cannot read the directory (permission denied)")
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
    elif os.path.lexists(path):
        kind = (
            "a symbolic link that leads nowhere (dangling, or a loop)"
            if path.is_symlink()
            else "not a regular file"
        )
        raise DataError(f"{source}: {kind}; give a data file, a directory of split files or a hub id")
    elif _HUB_ID.match(str(source)) and not str(source).endswith(SUFFIXES) and not _looks_local(path):
        yield from _hub_rows(str(source), split)
    else:
        raise DataError(f"{source}: no such file or directory")


def _looks_local(path: Path) -> bool:
    """A missing path whose parent directory exists here is a mistyped local path, not a hub id."""
    return path.parent != Path(".") and path.parent.is_dir()


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
            with path.open("rb") as fh:
                for lineno, raw in read_lines(fh, MAX_LINE_BYTES):
                    if raw is None:
                        reason = f"line longer than {MAX_LINE_BYTES:,} bytes"
                        yield f"{path.name}:{lineno}", _Unparsable(reason)
                        continue
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as err:
                        raise DataError(
                            f"{path}:{lineno}: not UTF-8 text ({err.reason} at byte {err.start})"
                        ) from None
                    if not line.strip():
                        continue
                    try:
                        yield f"{path.name}:{lineno}", json.loads(line)
                    except json.JSONDecodeError as err:
                        yield f"{path.name}:{lineno}", _Unparsable(f"not valid JSON ({err.msg})")
                    except RecursionError:
                        yield f"{path.name}:{lineno}", _Unparsable("JSON nested too deeply")
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
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
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
        first = (str(err).splitlines() or [type(err).__name__])[0][:300]
        raise DataError(
            f"{hub_id}: no such local path, and the hub dataset could not be loaded ({first})"
        ) from None
    parts = {split: loaded} if split else dict(loaded)
    for name, ds in parts.items():
        label = _split_of(name) or name
        for i, row in enumerate(ds):
            yield f"{hub_id}[{name}][{i}]", row, label


@dataclass(frozen=True)
class _Unparsable:
    """Stands in for a line that is not JSON, so it is reported like any other bad row."""

    reason: str


# --------------------------------------------------------------------------- writing
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
