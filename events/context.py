"""What is being handled right now, for the audit log: the event a consumer is applying.
Set by the consumer runner around each handler; read by whoever records who did what."""

from __future__ import annotations

from contextvars import ContextVar

current_event_id: ContextVar[str | None] = ContextVar("current_event_id", default=None)
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
