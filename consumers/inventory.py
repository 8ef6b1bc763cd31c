"""The inventory consumer: station managers' receipt texts (`收 S123 全`) are booked into the
stock ledger exactly as the station page books them, and answered."""

from __future__ import annotations

from consumers.registry import Context, Handlers
from coordinator.logistics.sms_receipts import handle_receipt_sms
from coordinator.sms.replies import reply_of
from events.payloads.sms import SmsReceived

handlers = Handlers("inventory")


def _is_receipt(event: SmsReceived) -> bool:
    return reply_of(event).intent == "receipt"


@handlers.on(SmsReceived, when=_is_receipt)
def on_sms_received(ctx: Context, event: SmsReceived) -> None:
    """Book a receipt text; every other text belongs to the dispatch consumer."""
    handle_receipt_sms(session=ctx.session, phone=event.phone, reply=reply_of(event))
