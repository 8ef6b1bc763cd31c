"""Event type → payload model, for every event Nuanliu knows. Decoders look types up here;
a type that is not here is not an event of ours and goes to the dead-letter topic."""

from __future__ import annotations

from events.base import EventPayload
from events.payloads import alerts, assignments, incidents, logistics, rota, sms


def _collect() -> dict[str, type[EventPayload]]:
    found: dict[str, type[EventPayload]] = {}
    for module in (alerts, incidents, assignments, sms, logistics, rota):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, EventPayload)
                and "TYPE" in vars(value)
            ):
                if value.TYPE in found and found[value.TYPE] is not value:
                    raise RuntimeError(f"event type {value.TYPE} declared twice")
                found[value.TYPE] = value
    return found


EVENT_TYPES: dict[str, type[EventPayload]] = _collect()


def payload_class(event_type: str) -> type[EventPayload] | None:
    return EVENT_TYPES.get(event_type)
