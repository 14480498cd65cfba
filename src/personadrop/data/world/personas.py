"""Hidden traits of a user and the persona written from them.

Each item is drawn from ONE trait: with the signal cell's reliability r it shows the trait's true value,
otherwise a uniformly random value of that trait. That single rule is the whole persona model, which is
what makes the Bayes reference's posterior exact: it is a product of one likelihood per visible item.
"""

from __future__ import annotations

import random
from typing import Any

from personadrop.data.world.config import ITEM_BOUNDS, WorldConfig
from personadrop.data.world.lexicon import (
    DEMOGRAPHIC_KEY,
    DEMOGRAPHIC_NOISE,
    NOISE_PHRASES,
    item_text,
    phrasings,
)
from personadrop.data.world.vocab import GROUP_VALUES, GROUPS, TRAITS, VALUES, group_of, value_trait
from personadrop.persona import DEMOGRAPHIC_KEYS

Traits = dict[str, str]


def sample_traits(config: WorldConfig, rng: random.Random) -> Traits:
    """One user's hidden traits, each drawn independently from its group's prior."""
    return {t: rng.choices(GROUP_VALUES[group_of(t)], weights=config.prior(group_of(t)))[0] for t in TRAITS}


def _show(value: str, group: str, reliability: float, rng: random.Random) -> str:
    return value if rng.random() < reliability else rng.choice(GROUP_VALUES[group])


def write_persona(traits: Traits, config: WorldConfig, rng: random.Random) -> dict[str, Any]:
    """The HUMANUAL-shaped persona dict (demographics with its six keys, some "NA"; four lists)."""
    demographics = dict.fromkeys(DEMOGRAPHIC_KEYS, "NA")
    all_unknown = rng.random() < config.demographics_all_na
    for group, key in DEMOGRAPHIC_KEY.items():
        cell = config.cell("demographics", group)
        # A key with no signal still gets a value, drawn uniformly: it looks informative but is not.
        shown = _show(traits[group], group, cell.reliability if cell.items else 0.0, rng)
        demographics[key] = rng.choice(phrasings("demographics", group, shown))
    for key, options in DEMOGRAPHIC_NOISE.items():
        demographics[key] = rng.choice(options)
    for key in DEMOGRAPHIC_KEYS:
        if all_unknown or rng.random() < config.demographics_na:
            demographics[key] = "NA"

    persona: dict[str, Any] = {"demographics": demographics}
    for field in ITEM_BOUNDS:
        items: list[str] = []
        for group in GROUPS:
            cell = config.cell(field, group)
            if not cell.items:
                continue
            about = (
                [value_trait(v) for v in rng.sample(VALUES, cell.items)]
                if group == "values"
                else [group] * cell.items
            )
            for trait in about:
                shown = _show(traits[trait], group, cell.reliability, rng)
                options = [item_text(field, trait, p) for p in phrasings(field, trait, shown)]
                fresh = [o for o in options if o not in items]
                items.append(rng.choice(fresh or options))
        lo, hi = config.noise_items.get(field, (0, 0))
        items.extend(rng.sample(NOISE_PHRASES[field], rng.randint(lo, hi)))
        rng.shuffle(items)  # position carries no information
        persona[field] = items
    return persona
