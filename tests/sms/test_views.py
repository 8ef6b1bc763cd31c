"""The SMS routes: Twilio webhooks (signature, TwiML, retries, status callbacks), replies
entered by hand, the log; with bad data of every kind."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.accounts.models import AuditLog
from coordinator.sms.models import SmsMessage
from coordinator.sms.service import queue_outbound
from coordinator.sms.signature import twilio_signature
from events.outbox import OutboxEvent
from tests.sms.conftest import TWILIO_TOKEN, Api

WEBHOOK = "http://testserver/webhooks/sms/twilio"
FORM = {
    "MessageSid": "SM" + "1" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+8613800138000",
    "To": "+15005550006",
    "Body": "１",
    "NumSegments": "1",
    "SomeFieldTwilioAddsLater": "x",
}


def signed_post(api: Api, form: dict[str, str], url: str = WEBHOOK, **kw: Any) -> Any:
    signature = twilio_signature(TWILIO_TOKEN, url, form.items())
    path = url.removeprefix("http://testserver")
    return api.client.post(
        path,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            **kw.get("headers", {}),
        },
    )


def messages(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as s:
        return list(s.exec(select(SmsMessage).order_by(SmsMessage.id)).all())


def outbox(engine: Engine) -> list[OutboxEvent]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEvent)).all())


def test_twilio_inbound_is_stored_with_event_and_audit(api: Api, engine: Engine) -> None:
    response = signed_post(api, FORM)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    [message] = messages(engine)
    assert (message.direction, message.phone, message.body, message.gateway) == (
        "inbound",
        "+8613800138000",
        "１",
        "twilio",
    )
    assert message.provider_sid == FORM["MessageSid"]
    [event] = outbox(engine)
    assert event.type == "nuanliu.sms.received"
    with Session(engine) as s:
        [audit] = s.exec(select(AuditLog).where(AuditLog.action == "sms.received")).all()
    assert audit.actor == "sms:twilio" and audit.subject == f"sms:{message.id}"


def test_twilio_retry_of_the_same_message_changes_nothing(api: Api, engine: Engine) -> None:
    assert signed_post(api, FORM).status_code == 200
    assert signed_post(api, FORM).status_code == 200
    assert len(messages(engine)) == 1 and len(outbox(engine)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
        {"X-Twilio-Signature": "签名".encode()},
    ],
)
def test_bad_or_missing_signature_is_403_and_stores_nothing(
    api: Api, engine: Engine, headers: dict[str, Any]
) -> None:
    response = api.client.post(
        "/webhooks/sms/twilio",
        content=urlencode(FORM),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    assert response.status_code == 403
    assert messages(engine) == [] and outbox(engine) == []


def test_tampered_body_is_403(api: Api, engine: Engine) -> None:
    signature = twilio_signature(TWILIO_TOKEN, WEBHOOK, FORM.items())
    response = api.client.post(
        "/webhooks/sms/twilio",
        content=urlencode({**FORM, "Body": "2"}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 403 and messages(engine) == []


def test_signature_uses_the_public_url_when_configured(api: Api, engine: Engine) -> None:
    api.settings.public_base_url = "https://nuanliu.example.org/"
    public = "https://nuanliu.example.org/webhooks/sms/twilio?tenant=gy"
    form = dict(FORM)
    signature = twilio_signature(TWILIO_TOKEN, public, form.items())
    response = api.client.post(
        "/webhooks/sms/twilio?tenant=gy",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200, response.text
    # the URL the app sees is not what Twilio signed
    assert signed_post(api, {**form, "MessageSid": "SM2"}).status_code == 403


def test_webhook_refused_when_no_auth_token_is_configured(api: Api, engine: Engine) -> None:
    api.settings.twilio_auth_token = None
    assert signed_post(api, FORM).status_code == 403
    assert messages(engine) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"From": "not a number"}, "invalid_phone"),
        ({"From": ""}, "invalid_phone"),
        ({"From": "+86" + "1" * 40}, "invalid_phone"),
        ({"Body": "x" * 1601}, "invalid_message"),
        ({"Body": "esc\x1b[31m"}, "invalid_message"),
        # longer than any provider's id (64)
        ({"MessageSid": "SM" + "1" * 100}, "invalid_message"),
    ],
)
def test_signed_but_bad_fields_are_422(
    api: Api, engine: Engine, change: dict[str, str], code: str
) -> None:
    response = signed_post(api, {**FORM, **change})
    assert response.status_code == 422 and response.json()["code"] == code
    assert messages(engine) == [] and outbox(engine) == []


def test_signed_without_body_is_422(api: Api, engine: Engine) -> None:
    form = {k: v for k, v in FORM.items() if k != "Body"}
    assert signed_post(api, form).status_code == 422


def test_not_a_form_is_403(api: Api, engine: Engine) -> None:
    response = api.client.post(
        "/webhooks/sms/twilio",
        content=b"\xff\xfe{",
        headers={"Content-Type": "application/json", "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 403 and messages(engine) == []


def test_invalid_utf8_in_form_is_not_stored_garbled(api: Api, engine: Engine) -> None:
    raw = b"From=%2B8613800138000&Body=%FF%FE&MessageSid=SM9"
    response = api.client.post(
        "/webhooks/sms/twilio",
        content=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert response.status_code in (403, 422)
    assert messages(engine) == []


def _outbound(engine: Engine, sid: str, status: str = "sent") -> int:
    with Session(engine) as s:
        row = queue_outbound(session=s, phone="+8613800138000", body="offer", kind="offer")
        row.status, row.provider_sid = status, sid
        s.commit()
        assert row.id is not None
        return row.id


STATUS_URL = "http://testserver/webhooks/sms/twilio/status"


def test_status_callback_moves_forward_only(api: Api, engine: Engine) -> None:
    _outbound(engine, "SMabc")
    report = {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": "AC1"}
    assert signed_post(api, report, STATUS_URL).status_code == 204
    assert messages(engine)[0].status == "delivered"
    late = {**report, "MessageStatus": "sent"}
    assert signed_post(api, late, STATUS_URL).status_code == 204
    assert messages(engine)[0].status == "delivered"
    assert outbox(engine) == []


def test_status_callback_failure_records_reason_and_event(api: Api, engine: Engine) -> None:
    message_id = _outbound(engine, "SMdef")
    report = {
        "MessageSid": "SMdef",
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "ErrorMessage": "Unreachable destination handset",
    }
    assert signed_post(api, report, STATUS_URL).status_code == 204
    [row] = messages(engine)
    assert row.status == "undelivered" and "30003" in (row.error or "")
    [event] = outbox(engine)
    assert event.type == "nuanliu.sms.failed"
    assert json.loads(event.data)["message_id"] == message_id


def test_status_callback_unknown_sid_or_state_changes_nothing(api: Api, engine: Engine) -> None:
    _outbound(engine, "SMxyz")
    assert (
        signed_post(
            api, {"MessageSid": "SMnope", "MessageStatus": "delivered"}, STATUS_URL
        ).status_code
        == 204
    )
    assert (
        signed_post(api, {"MessageSid": "SMxyz", "MessageStatus": "read"}, STATUS_URL).status_code
        == 204
    )
    assert messages(engine)[0].status == "sent"
    assert signed_post(api, {"MessageSid": "SMxyz"}, STATUS_URL).status_code == 422


def test_status_callback_needs_signature(api: Api, engine: Engine) -> None:
    _outbound(engine, "SMsig")
    response = api.client.post(
        "/webhooks/sms/twilio/status", data={"MessageSid": "SMsig", "MessageStatus": "failed"}
    )
    assert response.status_code == 403
    assert messages(engine)[0].status == "sent"


# -- the dispatcher's API --------------------------------------------------------------------
def test_inbound_api_records_reply(api: Api, engine: Engine) -> None:
    response = api.client.post(
        "/api/sms/inbound", json={"from": "138 0013 8000", "body": "是"}, headers=api.headers
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["phone"] == "+8613800138000" and data["direction"] == "inbound"
    assert data["status"] == "received"
    assert [e.type for e in outbox(engine)] == ["nuanliu.sms.received"]
    with Session(engine) as s:
        [audit] = s.exec(select(AuditLog).where(AuditLog.action == "sms.received")).all()
    assert audit.actor.startswith("dispatcher:")


@pytest.mark.parametrize(
    "payload",
    [
        {"from": "12", "body": "1"},
        {"from": "+8613800138000"},
        {"body": "1"},
        {"from": "+8613800138000", "body": "x" * 1601},
        {"from": "+8613800138000", "body": "nul\u0000"},
        {"from": "+8613800138000", "body": 5},
        {"from": ["+8613800138000"], "body": "1"},
        {"from": "+8613800138000", "body": "1", "extra": True},
    ],
)
def test_inbound_api_bad_data_is_422(api: Api, engine: Engine, payload: dict[str, Any]) -> None:
    response = api.client.post("/api/sms/inbound", json=payload, headers=api.headers)
    assert response.status_code == 422, response.text
    assert messages(engine) == []


def test_inbound_api_invalid_utf8_is_422(api: Api, engine: Engine) -> None:
    response = api.client.post(
        "/api/sms/inbound",
        content=b'{"from": "+8613800138000", "body": "\xff\xfe"}',
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and messages(engine) == []


def test_inbound_api_needs_a_dispatcher(api: Api, engine: Engine) -> None:
    payload = {"from": "+8613800138000", "body": "1"}
    assert api.client.post("/api/sms/inbound", json=payload).status_code == 401
    assert api.client.post("/api/sms/inbound", content=b"\xff").status_code == 401
    with Session(engine) as s:
        from coordinator.accounts.service import create_token

        manager = create_token(session=s, role="station_manager", station_ids=[1], label="m")
        s.commit()
    response = api.client.post(
        "/api/sms/inbound", json=payload, headers={"Authorization": f"Bearer {manager}"}
    )
    assert response.status_code == 403 and messages(engine) == []


def test_log_is_paginated_newest_first_and_filtered(api: Api, engine: Engine) -> None:
    with Session(engine) as s:
        for i in range(5):
            queue_outbound(session=s, phone="+8613800138000", body=f"out {i}")
        queue_outbound(session=s, phone="+8613900139000", body="other")
        s.commit()
    api.client.post(
        "/api/sms/inbound", json={"from": "+8613800138000", "body": "1"}, headers=api.headers
    )
    page = api.client.get("/api/sms?limit=3", headers=api.headers).json()
    assert page["count"] == 7 and [m["body"] for m in page["items"]] == ["1", "other", "out 4"]
    page = api.client.get("/api/sms?limit=3&offset=3", headers=api.headers).json()
    assert [m["body"] for m in page["items"]] == ["out 3", "out 2", "out 1"]
    inbound = api.client.get("/api/sms?direction=inbound", headers=api.headers).json()
    assert [m["body"] for m in inbound["items"]] == ["1"]
    queued = api.client.get("/api/sms?status=queued&limit=1", headers=api.headers).json()
    assert queued["count"] == 6 and queued["items"][0]["body"] == "other"
    mine = api.client.get("/api/sms", params={"phone": "13900139000"}, headers=api.headers)
    assert [m["body"] for m in mine.json()["items"]] == ["other"]


@pytest.mark.parametrize(
    "query", ["status=lost", "direction=sideways", "phone=abc", "limit=0", "limit=501", "offset=-1"]
)
def test_log_bad_query_is_422(api: Api, query: str) -> None:
    assert api.client.get(f"/api/sms?{query}", headers=api.headers).status_code == 422


def test_log_needs_a_token(api: Api) -> None:
    assert api.client.get("/api/sms").status_code == 401


def test_a_flooding_number_is_recorded_but_not_acted_on(api: Api, engine: Engine) -> None:
    from coordinator.sms.flows import FLOOD_LIMIT

    for i in range(FLOOD_LIMIT + 2):
        assert signed_post(api, {**FORM, "MessageSid": f"SMf{i}"}).status_code == 200
    stored = messages(engine)
    assert len(stored) == FLOOD_LIMIT + 2
    assert [m.kind for m in stored[-2:]] == ["flood", "flood"]
    assert len(outbox(engine)) == FLOOD_LIMIT  # only those get an answer
    with Session(engine) as s:
        flagged = s.exec(select(AuditLog).where(AuditLog.action == "sms.flood_suppressed")).all()
    assert len(flagged) == 2
    # a dispatcher typing replies by hand is never throttled
    response = api.client.post(
        "/api/sms/inbound", json={"from": FORM["From"], "body": "1"}, headers=api.headers
    )
    assert response.status_code == 201 and response.json()["kind"] == "reply"
