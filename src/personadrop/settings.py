"""Layered settings, shared by the world, training and study configs: read a mapping, merge layers, name
errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from personadrop.errors import ConfigError


def merge_settings(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in leaf by leaf: nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_settings(out[key], value)
        else:
            out[key] = value
    return out


def read_settings(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML (or JSON) file holding a mapping; any problem is one :class:`ConfigError` naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8); a {what} is YAML or JSON") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML/JSON{where}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a {what} must be a mapping of settings")
    return dict(raw)


def first_error(err: ValidationError) -> str:
    """The first validation problem as ``where: what`` (one line for a user)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    msg = first["msg"].removeprefix("Value error, ")  # pydantic's wrapper around a validator's own words
    return f"{where}: {msg}"
