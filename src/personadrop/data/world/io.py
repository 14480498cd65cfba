"""Write a world to a directory in HUMANUAL's processed schema, and read its model back.

Files: ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (rows with a ``states`` column and ``unseen_user``),
``traits.jsonl`` (each user's hidden traits, for analysis; no loader reads it) and ``world.json`` (the
config with its seed, and counts). The world model is rebuilt from ``world.json`` alone: generation is
deterministic, so the config is the world.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from personadrop.data.humanual import write_jsonl
from personadrop.data.rows import example_to_row
from personadrop.data.world.config import WorldConfig, load_world_config, world_config
from personadrop.data.world.generate import SPLITS, World, generate_world
from personadrop.data.world.model import WorldModel
from personadrop.errors import DataError
from personadrop.settings import merge_settings

WORLD_FILE = "world.json"
FORMAT = "personadrop-world"
FORMAT_VERSION = 1


def world_counts(world: World) -> dict[str, Any]:
    """Users, posts and rows per split, as stored in world.json and printed by the CLI."""
    rows = Counter(e.split for e in world.examples)
    unseen = Counter(e.split for e in world.examples if e.unseen_user)
    return {
        "users": len({e.user_id for e in world.examples}),
        "unseen_users": len({e.user_id for e in world.examples if e.unseen_user}),
        "posts": len({e.post_id for e in world.examples}),
        "rows": {s: rows.get(s, 0) for s in SPLITS},
        "unseen_user_rows": {s: unseen.get(s, 0) for s in SPLITS},
        "posts_per_split": {s: len({e.post_id for e in world.examples if e.split == s}) for s in SPLITS},
    }


def write_world(world: World, out_dir: str | Path) -> dict[str, Any]:
    """Write ``world`` under ``out_dir`` (created if needed); returns what world.json records."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        write_jsonl((example_to_row(e) for e in world.examples if e.split == split), out / f"{split}.jsonl")
    write_jsonl(
        ({"user_id": u.user_id, "unseen_user": u.unseen, "traits": u.traits} for u in world.users),
        out / "traits.jsonl",
    )
    record = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "seed": world.config.seed,
        "config": world.config.to_json_dict(),
        "counts": world_counts(world),
        "files": [f"{s}.jsonl" for s in SPLITS] + ["traits.jsonl"],
    }
    tmp = out / (WORLD_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / WORLD_FILE)
    return record


def generate_world_dir(
    out_dir: str | Path,
    *,
    seed: int | None = None,
    users: int | None = None,
    posts: int | None = None,
    config: str | Path | WorldConfig | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Generate a world and write it to ``out_dir``; returns what world.json records.

    ``config`` is a config file (YAML/JSON) or a :class:`WorldConfig`; ``seed``/``users``/``posts`` and
    ``options`` (any WorldConfig field, merged leaf by leaf) override it.
    """
    base = (
        config
        if isinstance(config, WorldConfig)
        else load_world_config(config)
        if config is not None
        else None
    )
    settings = merge_settings(base.to_json_dict(), options) if base is not None else options
    cfg = world_config(settings, seed=seed, users=users, posts=posts)
    return write_world(generate_world(cfg), out_dir)


def is_world_dir(data_dir: str | Path) -> bool:
    """Whether ``data_dir`` holds a synthetic world (a world.json of ours)."""
    path = Path(data_dir) / WORLD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def load_world_config_from_dir(data_dir: str | Path) -> WorldConfig:
    """The config (seed included) a world directory was generated from."""
    path = Path(data_dir) / WORLD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{data_dir}: no {WORLD_FILE}; this is not a synthetic world directory") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} file")
    if record.get("version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: world format version {record.get('version')} (this code reads {FORMAT_VERSION})"
        )
    try:
        return WorldConfig.model_validate(record["config"])
    except (KeyError, ValidationError) as err:
        raise DataError(f"{path}: invalid world config ({str(err).splitlines()[0]})") from None


def load_world_model(data_dir: str | Path) -> WorldModel:
    """The generative model of the world in ``data_dir`` (what the Bayes reference reasons with)."""
    return WorldModel(load_world_config_from_dir(data_dir))
