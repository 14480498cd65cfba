"""What judge tokens cost: a price table (USD per million input and output tokens) and lookups.

The built-in table holds list prices as we know them; prices change, so a study can override or extend
it with a YAML or JSON file (``{model: {input: USD, output: USD}}``, per million tokens) or a mapping.
A model not in the table costs 0 and logs one warning, so a local server never blocks a run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from personadrop.errors import ConfigError

log = logging.getLogger("personadrop.judges")


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


#: List prices, USD per million tokens (standard tier, no batch or prompt-cache discounts).
DEFAULT_PRICES: dict[str, Price] = {
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
}

_warned: set[str] = set()


def _as_price(model: str, value: object) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping) and {"input", "output"} <= value.keys():
        try:
            return Price(float(value["input"]), float(value["output"]))
        except (TypeError, ValueError):
            pass
    raise ConfigError(
        f"price of {model!r} must be {{input: USD, output: USD}} per million tokens, got {value!r}"
    )


def load_prices(source: str | Path | Mapping[str, object] | None = None) -> dict[str, Price]:
    """The built-in table, updated with ``source`` (a YAML/JSON file or a mapping) where given."""
    table = dict(DEFAULT_PRICES)
    if source is None:
        return table
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read judge price table {path}: {e.strerror}") from None
        if path.suffix == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
        if not isinstance(raw, Mapping):
            raise ConfigError(f"judge price table {path} must map model names to prices")
        source = raw
    table.update({str(model): _as_price(str(model), value) for model, value in source.items()})
    return table


def price_for(model: str, table: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with (dated snapshots)."""
    if model in table:
        return table[model]
    # "claude-haiku-4-5-20251001" is priced as "claude-haiku-4-5"; longest prefix so "gpt-5-mini-x"
    # is not priced as "gpt-5".
    matches = [name for name in table if model.startswith(name + "-")]
    return table[max(matches, key=len)] if matches else None


def cost_usd(model: str, input_tokens: int, output_tokens: int, table: Mapping[str, Price]) -> float:
    """USD for the tokens; 0 (and one warning per model) where the model has no price."""
    price = price_for(model, table)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            log.warning("no price for model %r: its cost is counted as 0 USD (add it with `prices`)", model)
        return 0.0
    return price.cost(input_tokens, output_tokens)
