"""SMS use cases that write state, stage events and audit in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlmodel import Session

from coordinator.accounts.service import record_audit_many
from coordinator.common import utcnow
from coordinator.sms import service
from coordinator.sms.models import SmsMessage
from events.outbox import stage
from events.payloads.sms import SmsFailed

#: no volunteer sends ten replies in ten minutes; an auto-responder does
FLOOD_LIMIT = 10
FLOOD_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Received:
    """A text as it reaches us, with who passed it on (the audit log's actor) and the request
    it came in (the audit log's request id)."""

    text: service.Inbound
    actor: str
    request_id: str | None = None


def receive_many(*, session: Session, received: list[Received]) -> list[tuple[SmsMessage, bool]]:
    """Store inbound texts with their `SmsReceived` events and an audit entry each, in one
    transaction; commits. Returns, in order, each message and whether it is new.

    A provider retrying a webhook with the same message id gets the stored row back and
    nothing happens twice. A number that sends more than FLOOD_LIMIT texts in FLOOD_WINDOW
    (an auto-responder answering our answers, a stuck phone) through the provider has the
    excess recorded but not acted on, so no reply loop can run up a bill; a dispatcher (or
    the demo phone) types on purpose, so texts entered through the API are never a flood."""
    seen = service.inbound_seen_many(
        session=session,
        provider_sids={r.text.provider_sid for r in received if r.text.provider_sid},
    )
    counts = service.inbound_counts_since(
        session=session,
        phones={r.text.phone for r in received if r.text.gateway != "api"},
        since=utcnow() - FLOOD_WINDOW,
    )
    fresh: list[Received] = []
    firsts: dict[str, int] = {}  # provider id → its text's index in `fresh`
    #: per text, in order: the stored message, or the index of the new one in `fresh`; and
    #: whether it is new (a retry within the batch is not)
    answers: list[tuple[SmsMessage | int, bool]] = []
    for r in received:
        sid = r.text.provider_sid
        if sid and sid in seen:
            answers.append((seen[sid], False))
            continue
        if sid and sid in firsts:
            answers.append((firsts[sid], False))
            continue
        if sid:
            firsts[sid] = len(fresh)
        flood = False
        if r.text.gateway != "api":
            counts[r.text.phone] = counts.get(r.text.phone, 0) + 1
            flood = counts[r.text.phone] > FLOOD_LIMIT
        answers.append((len(fresh), True))
        fresh.append(replace(r, text=replace(r.text, announce=not flood)))
    rows = service.record_inbound_many(session=session, texts=[r.text for r in fresh])
    record_audit_many(
        session=session,
        entries=[
            {
                "actor": r.actor,
                "action": "sms.received" if r.text.announce else "sms.flood_suppressed",
                "subject": f"sms:{message.id}",
                "detail": {
                    "phone": message.phone,
                    "volunteer_id": message.volunteer_id,
                    "gateway": r.text.gateway,
                    "provider_sid": r.text.provider_sid,
                    "chars": len(r.text.body),
                },
                "request_id": r.request_id,
            }
            for r, message in zip(fresh, rows, strict=True)
        ],
    )
    session.commit()
    return [(rows[m] if isinstance(m, int) else m, new) for m, new in answers]


def apply_delivery_report(
    *, session: Session, provider_sid: str, status: str, error: str | None = None
) -> SmsMessage | None:
    """A provider's status callback: move the message on (never back); a failure after it
    was handed over stages `SmsFailed`, which the board shows (nothing re-offers on it: an
    offer nobody answers expires on its timer and goes to the next volunteer). Commits.
    Returns the message, or None when no outbound message has that provider id."""
    message = service.get_by_provider_sid(session=session, provider_sid=provider_sid)
    if message is None or message.direction != "outbound":
        return None
    if service.apply_status(session=session, message=message, status=status, error=error):
        if status in ("failed", "undelivered"):
            assert message.id is not None
            stage(
                session,
                SmsFailed(
                    message_id=message.id, phone=message.phone, error=message.error or status
                ),
            )
        session.commit()
    return message
