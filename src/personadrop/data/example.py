"""The unit of data: one real response by one user to one context, with that user's persona."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from personadrop.persona import Persona

#: The six latent state dimensions HumanLM generates, in the order it generates them.
STATE_DIMENSIONS: tuple[str, ...] = ("stance", "emotion", "belief", "value", "goal", "communication")

#: The simulated user's name in prompts: their own earlier turns are labelled with it.
TARGET_SPEAKER = "HUMAN"


class Turn(BaseModel):
    """One message of the context: a post or a comment, with who wrote it."""

    model_config = ConfigDict(frozen=True)

    speaker: str
    content: str
    is_target: bool = False  # written by the simulated user


class Example(BaseModel):
    """One training or test example; validated once when loaded, trusted everywhere after."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str = Field(min_length=1)
    user_id: str
    post_id: str
    persona: Persona
    context: tuple[Turn, ...] = Field(min_length=1)
    response: str = Field(min_length=1)
    timestamp: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    states: dict[str, str] | None = None  # true latent states, where the data knows them (synthetic world)
    split: str | None = None
    unseen_user: bool = False  # the user has no example in the training split

    def context_text(self) -> str:
        """The thread as plain text, as a judge reads it (no persona)."""
        return "\n\n".join(f"{t.speaker}: {t.content}" for t in self.context)
