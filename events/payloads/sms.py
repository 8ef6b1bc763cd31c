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
    TYPE = "nuanliu.sms.received"
    TOPIC = Topic.SMS
    KEY_FIELD = "phone"

    message_id: int
    phone: str
    body: str


class SmsFailed(EventPayload):
    TYPE = "nuanliu.sms.failed"
    TOPIC = Topic.SMS
    KEY_FIELD = "phone"

    message_id: int
    phone: str
    error: str
