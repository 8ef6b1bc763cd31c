"""SMS use cases that write state, stage events and audit in one transaction."""

from __future__ import annotations

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.sms import service
from coordinator.sms.models import SmsMessage
from events.outbox import stage
from events.payloads.sms import SmsFailed


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
    message id gets the stored row back and nothing happens twice.
    Raises InvalidPhone/InvalidMessage (nothing is stored then)."""
    if provider_sid:
        seen = service.inbound_seen(session=session, provider_sid=provider_sid)
        if seen is not None:
            return seen, False
    message = service.record_inbound(
        session=session, phone=phone, body=body, provider_sid=provider_sid, gateway=gateway
    )
    record_audit(
        session=session,
        actor=actor,
        action="sms.received",
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
