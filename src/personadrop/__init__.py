"""personadrop: train and evaluate user simulators that stay faithful when persona information is missing.

The public surface, in the order data flows through it::

    Persona.from_raw(...)             parse a HUMANUAL persona          (personadrop.persona)
    parse_condition("only:values")    a dropout policy                  (personadrop.dropout)
    load_examples(path)               validated examples                (personadrop.data)
    simulator_messages(ex, visible)   the prompt a simulator sees       (personadrop.prompts)
"""

from personadrop.dropout import (
    Compose,
    Drop,
    FieldDropout,
    Full,
    ItemDropout,
    KeepOnly,
    MaskKey,
    NoPersona,
    Policy,
    VisiblePersona,
    parse_condition,
    parse_conditions,
)
from personadrop.errors import ConditionError, DataError, PersonadropError, PersonaError
from personadrop.persona import FIELD_NAMES, Persona, PersonaField

__version__ = "0.1.0"

__all__ = [
    "FIELD_NAMES",
    "Compose",
    "ConditionError",
    "DataError",
    "Drop",
    "FieldDropout",
    "Full",
    "ItemDropout",
    "KeepOnly",
    "MaskKey",
    "NoPersona",
    "Persona",
    "PersonaError",
    "PersonaField",
    "PersonadropError",
    "Policy",
    "VisiblePersona",
    "parse_condition",
    "parse_conditions",
]
