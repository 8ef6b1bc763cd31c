"""The base of every event payload: frozen, typed, versioned, named in the past tense."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from events.topics import Topic


class EventPayload(BaseModel):
    """A fact that happened. Subclasses set the CloudEvents `type`, the topic it travels on,
    the field whose value is the Kafka key (order is kept per key) and a schema version that
    is bumped on any incompatible change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    TOPIC: ClassVar[Topic]
    KEY_FIELD: ClassVar[str | None] = None
    SCHEMA_VERSION: ClassVar[int] = 1

    def partition_key(self) -> str | None:
        if self.KEY_FIELD is None:
            return None
        value = getattr(self, self.KEY_FIELD)
        return None if value is None else str(value)

    def subject(self) -> str | None:
        """The CloudEvents `subject`: what the event is about, for filtering on the board."""
        return self.partition_key()
