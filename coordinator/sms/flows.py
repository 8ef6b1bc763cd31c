"""SMS use cases that write state, stage events and audit in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlmodel import Session

from coordinator.accounts.service import record_audit_many
from coordinator.common import utcnow
from coordinator.sms import service
from coordinator.sms.models import SmsMessage
from events.base import EventPayload
from events.outbox import stage_many
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
    was handed over stages `SmsFailed`, which the board shows and dispatch acts on (a failed
    offer goes to the next volunteer). Commits. Returns the message, or None when no outbound
    message has that provider id."""
    report = DeliveryReport((provider_sid,), status, error)
    found = apply_delivery_reports(session=session, reports=[report])
    return found[0]


@dataclass(frozen=True)
class DeliveryReport:
    """A report about the outbound message that has any of `provider_sids` (a text sent in
    a batch is known by the batch's id and its number)."""

    provider_sids: tuple[str, ...]
    status: str
    error: str | None = None
    #: the provider's code for a failure (carriers' codes have colons: "MK:0001")
    code: str | None = None


def apply_delivery_reports(
    *, session: Session, reports: list[DeliveryReport]
) -> list[SmsMessage | None]:
    """Apply many reports in one transaction (a provider pushes them in batches) with one
    query for their messages; commits. A report applied again changes nothing (statuses only
    move forward), so a provider's retried push is harmless. Returns, per report, its
    message or None when none has its id."""
    messages = service.outbound_by_provider_sids(
        session=session, provider_sids={sid for r in reports for sid in r.provider_sids}
    )
    found: list[SmsMessage | None] = []
    events: list[EventPayload] = []
    for report in reports:
        message = next((messages[s] for s in report.provider_sids if s in messages), None)
        found.append(message)
        if message is None:
            continue
        if service.apply_status(
            session=session, message=message, status=report.status, error=report.error
        ) and report.status in ("failed", "undelivered"):
            assert message.id is not None
            events.append(failed_event(message, code=report.code))
    stage_many(session, events)
    session.commit()
    return found


def failed_event(message: SmsMessage, *, code: str | None = None) -> SmsFailed:
    """The `SmsFailed` of an outbound message, with what dispatch needs to act on it."""
    assert message.id is not None
    return SmsFailed(
        message_id=message.id,
        phone=message.phone,
        error=message.error or message.status,
        code=code,
        kind=message.kind,
        assignment_id=message.assignment_id,
    )
