"""The whole SMS loop through the real broker: a Twilio webhook stores the text, the relay
publishes `SmsReceived`, the dispatch consumer answers, the sender delivers the answer and its
`SmsSent` is published in turn."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.config import Settings
from coordinator.sms.models import SmsMessage
from coordinator.sms.signature import twilio_signature
from events.outbox import OutboxEvent
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_reply_from_unknown_number_gets_a_polite_answer(
    client: Any, settings: Settings, engine: Engine
) -> None:
    settings.twilio_auth_token = SecretStr("12345")
    form = {"MessageSid": "SMflow1", "From": "+8613700137000", "To": "+15005550006", "Body": "1"}
    signature = twilio_signature("12345", "http://testserver/webhooks/sms/twilio", form.items())
    response = client.post(
        "/webhooks/sms/twilio",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200, response.text

    def answered() -> list[SmsMessage]:
        with Session(engine) as s:
            return list(
                s.exec(
                    select(SmsMessage).where(
                        SmsMessage.direction == "outbound", SmsMessage.status == "sent"
                    )
                ).all()
            )

    [answer] = wait_for(answered, timeout=30)
    assert answer.phone == "+8613700137000" and answer.gateway == "console"
    assert "未登记" in answer.body

    def published() -> set[str]:
        with Session(engine) as s:
            rows = s.exec(select(OutboxEvent).where(OutboxEvent.published_at != None)).all()  # noqa: E711
            return {r.type for r in rows}

    wait_for(lambda: {"nuanliu.sms.received", "nuanliu.sms.sent"} <= published(), timeout=30)
