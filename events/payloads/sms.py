"""Text messages in and out."""

from __future__ import annotations

from events.base import EventPayload
from events.topics import Topic


class SmsSent(EventPayload):
    TYPE = "nuanliu.sms.sent"
    TOPIC = Topic.SMS
    KEY_FIELD = "phone"

    message_id: int
    phone: str
    body: str
    segments: int
    gateway: str
    volunteer_id: int | None = None
    assignment_id: int | None = None


class SmsReceived(EventPayload):
    """A text arrived. Version 2 carries what the reply parser read in it when it arrived
    (`intent`: accept, decline, done, stop, receipt or unknown; the offer or shipment `code`
    it names; for a receipt the `rest` after the code), so every consumer acts on one
    reading; a version-1 event has `intent` None and is read again from `body`."""

    TYPE = "nuanliu.sms.received"
    TOPIC = Topic.SMS
    KEY_FIELD = "phone"
    SCHEMA_VERSION = 2

    message_id: int
    phone: str
    body: str
    intent: str | None = None
    code: str | None = None
    rest: str = ""


class SmsFailed(EventPayload):
    """A text the provider refused for good or could not deliver. Version 2 says what it
    was about (`assignment_id`, `kind`: a failed offer goes to the next volunteer) and the
    provider's own `code` (also inside `error`, which the board shows)."""

    TYPE = "nuanliu.sms.failed"
    TOPIC = Topic.SMS
    KEY_FIELD = "phone"
    SCHEMA_VERSION = 2

    message_id: int
    phone: str
    error: str
    code: str | None = None
    kind: str | None = None
    assignment_id: int | None = None
