"""SMS use cases that write state, stage events and audit in one transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import utcnow
from coordinator.sms import service
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.service import normalise_phone
from events.outbox import stage
from events.payloads.sms import SmsFailed

#: no volunteer sends ten replies in ten minutes; an auto-responder does
FLOOD_LIMIT = 10
FLOOD_WINDOW = timedelta(minutes=10)


def receive_sms(
    *,
    session: Session,
    actor: Actor | str,
    phone: str,
    body: str,
    provider_sid: str | None = None,
    gateway: str = "api",
) -> tuple[SmsMessage, bool]:
    """Store an inbound text with its `SmsReceived` event and an audit entry; commits.

    Returns the message and whether it is new: a provider retrying a webhook with the same
    message id gets the stored row back and nothing happens twice. A number that sends more
    than FLOOD_LIMIT texts in FLOOD_WINDOW (an auto-responder answering our answers, a stuck
    phone) through the provider has the excess recorded but not acted on, so no reply loop
    can run up a bill.
    Raises InvalidPhone/InvalidMessage (nothing is stored then)."""
    if provider_sid:
        seen = service.inbound_seen(session=session, provider_sid=provider_sid)
        if seen is not None:
            return seen, False
    e164 = normalise_phone(phone, mobile_only=False)
    # only the phone network can loop; a dispatcher (or the demo phone) types on purpose
    flood = (
        gateway != "api"
        and service.inbound_count_since(session=session, phone=e164, since=utcnow() - FLOOD_WINDOW)
        >= FLOOD_LIMIT
    )
    message = service.record_inbound(
        session=session,
        phone=e164,
        body=body,
        provider_sid=provider_sid,
        gateway=gateway,
        announce=not flood,
    )
    record_audit(
        session=session,
        actor=actor,
        action="sms.flood_suppressed" if flood else "sms.received",
        subject=f"sms:{message.id}",
        detail={
            "phone": message.phone,
            "volunteer_id": message.volunteer_id,
            "gateway": gateway,
            "provider_sid": provider_sid,
            "chars": len(body),
        },
    )
    session.commit()
    return message, True


def apply_delivery_report(
    *, session: Session, provider_sid: str, status: str, error: str | None = None
) -> SmsMessage | None:
    """A provider's status callback: move the message on (never back); a failure after it
    was handed over stages `SmsFailed` so dispatch can re-offer. Commits. Returns the message,
    or None when no outbound message has that provider id."""
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
