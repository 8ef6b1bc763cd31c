"""The provider webhooks: a forged or tampered request is refused (403) and stores nothing; a
replay of a genuine request changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.sms.models import SmsMessage
from coordinator.sms.signature import twilio_signature
from events.outbox import OutboxEvent
from tests.security.conftest import TWILIO_TOKEN, World

URL = "http://testserver/webhooks/sms/twilio"
STATUS_URL = "http://testserver/webhooks/sms/twilio/status"


def _form(phone: str, body: str = "1", sid: str = "SM" + "a" * 32) -> dict[str, str]:
    return {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": body}


def _post(world: World, url: str, form: dict[str, str], signature: str | None) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return world.client.post(
        url.removeprefix("http://testserver"), content=urlencode(form), headers=headers
    )


def _counts(world: World) -> tuple[int, int]:
    engine = world.client.app.state.services.engine
    with Session(engine) as s:
        sms = s.exec(select(func.count()).select_from(SmsMessage)).one()
        out = s.exec(select(func.count()).select_from(OutboxEvent)).one()
    return int(sms), int(out)


def _forgeries(phone: str) -> list[tuple[str, dict[str, str], str | None]]:
    genuine = _form(phone)
    signed = twilio_signature(TWILIO_TOKEN, URL, genuine.items())
    return [
        ("no signature", genuine, None),
        ("empty signature", genuine, ""),
        ("garbage signature", genuine, "not base64 at all!"),
        ("signed with another token", genuine, twilio_signature("guess", URL, genuine.items())),
        (
            "signed for another URL",
            genuine,
            twilio_signature(
                TWILIO_TOKEN, "http://evil.example/webhooks/sms/twilio", genuine.items()
            ),
        ),
        ("replay with a changed body", {**genuine, "Body": "2"}, signed),
        ("replay from another phone", {**genuine, "From": "+8613900139000"}, signed),
        ("replay with an added field", {**genuine, "Extra": "1"}, signed),
        ("replay with a field removed", {k: v for k, v in genuine.items() if k != "To"}, signed),
        ("signature of the empty form", genuine, twilio_signature(TWILIO_TOKEN, URL, [])),
    ]


def test_a_forged_or_tampered_inbound_is_refused_and_stores_nothing(world: World):
    for name, form, signature in _forgeries(world.ids["phone"]):
        before = _counts(world)
        response = _post(world, URL, form, signature)
        assert response.status_code == 403, (name, response.text)
        assert "invalid signature" in response.text, name
        assert _counts(world) == before, name


def test_a_genuine_inbound_is_accepted_and_its_exact_replay_changes_nothing(world: World):
    form = _form(world.ids["phone"])
    signature = twilio_signature(TWILIO_TOKEN, URL, form.items())
    before = _counts(world)
    assert _post(world, URL, form, signature).status_code == 200
    after_first = _counts(world)
    assert after_first[0] == before[0] + 1
    # the provider retries, or an attacker replays the captured request: no second reply
    assert _post(world, URL, form, signature).status_code == 200
    assert _counts(world) == after_first


def test_a_forged_delivery_report_cannot_move_a_message(world: World):
    from coordinator.sms.service import queue_outbound

    engine = world.client.app.state.services.engine
    with Session(engine) as s:
        row = queue_outbound(session=s, phone=world.ids["phone"], body="hello", kind="info")
        row.provider_sid = "SM" + "b" * 32
        row.status = "sent"
        s.add(row)
        s.commit()
        message_id = row.id
    genuine = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    forged = {**genuine, "MessageStatus": "failed"}
    signed = twilio_signature(TWILIO_TOKEN, STATUS_URL, genuine.items())
    assert _post(world, STATUS_URL, forged, signed).status_code == 403
    assert _post(world, STATUS_URL, genuine, None).status_code == 403
    with Session(engine) as s:
        assert s.get(SmsMessage, message_id).status == "sent"  # type: ignore[union-attr]
    assert _post(world, STATUS_URL, genuine, signed).status_code == 204
    with Session(engine) as s:
        assert s.get(SmsMessage, message_id).status == "delivered"  # type: ignore[union-attr]
