"""Errors a user can cause. The CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations


class PersonadropError(Exception):
    """Base class of every error caused by input, configuration or environment rather than a bug."""

    exit_code = 2


class PersonaError(PersonadropError):
    """A persona that cannot be parsed; names the example and the field where known."""

    def __init__(self, message: str, *, example_id: str | None = None, field: str | None = None):
        self.reason = message
        self.example_id = example_id
        self.field = field
        super().__init__(message)

    def with_example(self, example_id: str) -> PersonaError:
        return PersonaError(self.reason, example_id=example_id, field=self.field)

    def __str__(self) -> str:
        where = []
        if self.example_id is not None:
            where.append(f"example {self.example_id}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = f"persona of {', '.join(where)}: " if where else "persona: "
        return prefix + self.reason


class DataError(PersonadropError):
    """A dataset, file or row that cannot be read as examples."""


class ConditionError(PersonadropError):
    """An unknown or malformed condition name."""


class ConfigError(PersonadropError):
    """A configuration file or option that is invalid."""


class RemoteError(PersonadropError):
    """A server personadrop talks to (a simulated user, an agent) failed, timed out or answered nonsense."""
