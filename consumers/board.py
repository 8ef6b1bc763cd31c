"""The board consumer: every event, as a compact JSON, to the browsers connected to this
process. Its effects live outside the database, so it skips exactly-once bookkeeping
(`exactly_once=False`); a redelivered event is pushed again and the browser ignores an event id
it has already shown. Each API process runs it in its own consumer group (see
`Runtime._group_suffix`), so every process sees every event. A new group reads from the start
of the log (so nothing that happens while it joins is missed) but pushes nothing from well
before the process started: a browser's snapshot already has it, and a restarted API process
must not replay the day's events to the boards watching it.

Nobody watching this process's boards (no stream for `hub.LINGER_S`), the feed holds its
partitions and decodes nothing; the next board to attach waits until it has moved to the
newest events (`Hub.resumed`), then takes its snapshot, so nothing falls in between."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from consumers.registry import Context, Handlers
from coordinator.board.hub import Hub
from coordinator.process import Services
from events.base import EventPayload
from events.registry import EVENT_TYPES


def _hub(services: Services) -> Hub:
    return services.board_hub


# People watch the board live: poll eagerly (the embedded broker does not wake a waiting fetch),
# but only while someone does (the hub says when)
handlers = Handlers("board", exactly_once=False, per_process=True, fetch_max_wait_ms=20, watch=_hub)


def compact(ctx: Context) -> dict[str, Any]:
    """What the browser gets: type, CloudEvents id, time, subject and data."""
    env = ctx.envelope
    return {
        "type": env.type,
        "id": env.id,
        "time": env.time.isoformat(),
        "subject": env.subject,
        "data": env.data,
    }


#: covers a transaction that staged an event before the process started and committed after
#: it, and clocks a little apart
HISTORY_MARGIN = timedelta(minutes=1)


def on_any_event(ctx: Context, payload: EventPayload) -> None:
    """Push after the (empty) transaction commits, through this process's hub."""
    hub = ctx.services.board_hub
    if ctx.envelope.time < hub.started_at - HISTORY_MARGIN:
        return
    data = compact(ctx)

    def push() -> None:
        hub.publish(data)

    ctx.after_commit(push)


# One registration per type, so the table lists exactly what the board follows: everything.
for _payload_type in EVENT_TYPES.values():
    handlers.on(_payload_type)(on_any_event)
