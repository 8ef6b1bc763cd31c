"""Handlers registered by event type, one table per consumer (FastStream-style)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlmodel import Session

from coordinator.process import Services
from events.base import EventPayload
from events.envelope import Envelope
from events.outbox import stage
from events.topics import Topic

P = TypeVar("P", bound=EventPayload)


@dataclass
class Context:
    """What a handler gets besides its event: the open transaction, the services of its
    process (settings, timers, the board's hub: built by `nuanliu.runtime`, never looked up)
    and a way to emit events (staged in the same transaction) or to act once it has
    committed."""

    session: Session
    envelope: Envelope
    services: Services
    #: what the table's `prepare` function for this event type read for the whole batch
    prepared: Any = None
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, payload: EventPayload) -> None:
        stage(self.session, payload)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` after the transaction commits (never if it rolls back)."""
        self._after_commit.append(action)


Handler = Callable[[Context, Any], None]


class Watch(Protocol):
    """Who watches a consumer's output (the board's hub): the runner consumes only while
    someone does, and says when it stops and starts again."""

    def wanted(self) -> bool:
        """Whether anyone needs the events now."""
        ...

    def paused(self) -> None:
        """The runner holds its partitions: nothing is consumed until `wanted()` again."""
        ...

    def resumed(self) -> None:
        """The runner consumes again, from the newest events: what happened meanwhile is not
        delivered (watchers start from a snapshot taken after this call)."""
        ...


class Handlers:
    """A consumer's handler table. ``@handlers.on(AlertRaised)`` registers a function."""

    def __init__(
        self,
        consumer: str,
        *,
        exactly_once: bool = True,
        per_process: bool = False,
        fetch_max_wait_ms: int | None = None,
        watch: Callable[[Services], Watch] | None = None,
    ) -> None:
        """`exactly_once=False` is for consumers whose effects live outside the database
        (the board's push to browsers): they skip the `(consumer, event id)` bookkeeping.
        `per_process=True`: every process needs every event (the browsers connected to it),
        so each runs a group of its own and commits no offsets (no other member will ever
        read them). `watch` finds, among the process's services, who watches the output: see
        `Watch`."""
        self.consumer = consumer
        self.exactly_once = exactly_once
        self.per_process = per_process
        self.watch = watch
        #: a consumer that people watch live (the board) may poll more eagerly than the rest
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.by_type: dict[str, Handler] = {}
        self.payload_types: dict[str, type[EventPayload]] = {}
        self.conditions: dict[str, Callable[[Any], bool]] = {}
        self.preparers: dict[str, Callable[[Session, list[Any]], Any]] = {}

    def on(
        self, payload_type: type[P], *, when: Callable[[P], bool] | None = None
    ) -> Callable[[Callable[[Context, P], None]], Callable[[Context, P], None]]:
        """Register a handler for `payload_type`. `when` looks at the event alone (never at
        the database, so its answer is the same on every delivery): events it refuses are
        skipped before any transaction, with no bookkeeping (most texts are not receipts)."""

        def register(fn: Callable[[Context, P], None]) -> Callable[[Context, P], None]:
            if payload_type.TYPE in self.by_type:
                raise RuntimeError(f"{self.consumer} handles {payload_type.TYPE} twice")
            self.by_type[payload_type.TYPE] = fn
            self.payload_types[payload_type.TYPE] = payload_type
            if when is not None:
                self.conditions[payload_type.TYPE] = when
            return fn

        return register

    def prepare(
        self, payload_type: type[P]
    ) -> Callable[[Callable[[Session, list[P]], Any]], Callable[[Session, list[P]], Any]]:
        """Register `fn(session, events)`, run once per batch before the handlers of
        `payload_type`, in their transaction: it reads what they need about all the batch's
        events at once (one query instead of one per event); each handler finds what it
        returned in `ctx.prepared`. Applied one by one, each event gets its own call."""

        def register(fn: Callable[[Session, list[P]], Any]) -> Callable[[Session, list[P]], Any]:
            self.preparers[payload_type.TYPE] = fn
            return fn

        return register

    @property
    def topics(self) -> list[Topic]:
        return sorted({cls.TOPIC for cls in self.payload_types.values()})
