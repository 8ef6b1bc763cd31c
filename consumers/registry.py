"""Handlers registered by event type, one table per consumer (FastStream-style)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session

from events.base import EventPayload
from events.envelope import Envelope
from events.outbox import stage
from events.topics import Topic

P = TypeVar("P", bound=EventPayload)


@dataclass
class Context:
    """What a handler gets besides its event: the open transaction and a way to emit events
    (staged in the same transaction) or to act once it has committed."""

    session: Session
    envelope: Envelope
    services: dict[str, Any] = field(default_factory=dict)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, payload: EventPayload) -> None:
        stage(self.session, payload)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` after the transaction commits (never if it rolls back)."""
        self._after_commit.append(action)


Handler = Callable[[Context, Any], None]


class Handlers:
    """A consumer's handler table. ``@handlers.on(AlertRaised)`` registers a function."""

    def __init__(
        self, consumer: str, *, exactly_once: bool = True, fetch_max_wait_ms: int | None = None
    ) -> None:
        """`exactly_once=False` is for consumers whose effects live outside the database
        (the board's push to browsers): they skip the `(consumer, event id)` bookkeeping."""
        self.consumer = consumer
        self.exactly_once = exactly_once
        #: a consumer that people watch live (the board) may poll more eagerly than the rest
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.by_type: dict[str, Handler] = {}
        self.payload_types: dict[str, type[EventPayload]] = {}

    def on(
        self, payload_type: type[P]
    ) -> Callable[[Callable[[Context, P], None]], Callable[[Context, P], None]]:
        def register(fn: Callable[[Context, P], None]) -> Callable[[Context, P], None]:
            if payload_type.TYPE in self.by_type:
                raise RuntimeError(f"{self.consumer} handles {payload_type.TYPE} twice")
            self.by_type[payload_type.TYPE] = fn
            self.payload_types[payload_type.TYPE] = payload_type
            return fn

        return register

    @property
    def topics(self) -> list[Topic]:
        return sorted({cls.TOPIC for cls in self.payload_types.values()})
