"""The Aliyun and Tencent Cloud push endpoints: their documented payloads, batched, applied to
the messages they name and stored through the intake; duplicates change nothing; a wrong token
or a body of another shape is refused with a 4xx, logged, and stores nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.config import Settings
from coordinator.sms.models import SmsMessage
from coordinator.sms.service import queue_template
from events.embedded import EmbeddedBroker
from events.outbox import OutboxEvent

TOKEN = "push-token-0123456789abcdef"
ALIYUN = f"/webhooks/sms/aliyun/{TOKEN}"
TENCENT = f"/webhooks/sms/tencent/{TOKEN}"
PHONE = "+8613812345678"


@pytest.fixture
def client(settings: Settings, engine: Engine, broker: EmbeddedBroker) -> Iterator[TestClient]:
    from coordinator.process import Services
    from nuanliu.app import create_app

    settings = settings.model_copy(update={"sms_webhook_token": SecretStr(TOKEN)})
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as c:
        yield c


def sent(engine: Engine, sid: str, *, kind: str = "offer", assignment_id: int | None = 7) -> int:
    """An offer handed to the provider under `sid`, as the sender leaves it."""
    with Session(engine) as s:
        row = queue_template(
            session=s,
            phone=PHONE,
            template="expired",
            kind=kind,
            assignment_id=assignment_id,
            task="路面除冰",
        )
        row.status, row.provider_sid, row.gateway = "sent", sid, "aliyun"
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def message(engine: Engine, message_id: int) -> SmsMessage:
    with Session(engine) as s:
        row = s.get(SmsMessage, message_id)
        assert row is not None
        return row


def events(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(OutboxEvent).where(OutboxEvent.type == f"nuanliu.{kind}")).all()
    return [json.loads(r.data) for r in rows]


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        sms = s.exec(select(func.count()).select_from(SmsMessage)).one()
        out = s.exec(select(func.count()).select_from(OutboxEvent)).one()
    return int(sms), int(out)


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the app logged (the test client's own httpx lines name the URL it called)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))


def inbound(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as s:
        return list(s.exec(select(SmsMessage).where(SmsMessage.direction == "inbound")).all())


def aliyun_report(biz_id: str, *, success: bool = True, code: str = "DELIVERED") -> dict[str, Any]:
    return {
        "phone_number": "13812345678",
        "send_time": "2026-12-04 08:00:00",
        "report_time": "2026-12-04 08:00:03",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "用户停机",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": "",
    }


def aliyun_up(sequence_id: int, content: str = "1") -> dict[str, Any]:
    return {
        "phone_number": "13812345678",
        "send_time": "2026-12-04 08:01:00",
        "content": content,
        "sign_name": "暖流",
        "dest_code": "1234",
        "sequence_id": sequence_id,
    }


def test_aliyun_reports_move_messages_once(client: TestClient, engine: Engine) -> None:
    good, bad = sent(engine, "900619746936498440^0"), sent(engine, "900619746936498441^0")
    body = [
        aliyun_report("900619746936498440^0"),
        aliyun_report("900619746936498441^0", success=False, code="MK:0001"),
    ]
    answer = client.post(ALIYUN, json=body)
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "接收成功"}
    assert message(engine, good).status == "delivered"
    failed = message(engine, bad)
    assert failed.status == "undelivered" and "MK:0001" in (failed.error or "")
    [event] = events(engine, "sms.failed")
    assert event["message_id"] == bad and event["code"] == "MK:0001"
    assert (event["kind"], event["assignment_id"]) == ("offer", 7)
    before = counts(engine)
    assert client.post(ALIYUN, json=body).status_code == 200  # the provider pushes again
    assert counts(engine) == before and len(events(engine, "sms.failed")) == 1


def test_aliyun_batch_report_names_the_number(client: TestClient, engine: Engine) -> None:
    """A text sent in a SendBatchSms is known by the batch's BizId and its number."""
    mid = sent(engine, "900619746936498442^0:13812345678")
    assert client.post(ALIYUN, json=[aliyun_report("900619746936498442^0")]).status_code == 200
    assert message(engine, mid).status == "delivered"


def test_aliyun_texts_are_stored_once_and_read(client: TestClient, engine: Engine) -> None:
    body = [aliyun_up(1234567890, "1"), aliyun_up(1234567891, "退订")]
    assert client.post(ALIYUN, json=body).status_code == 200
    rows = inbound(engine)
    assert [(r.phone, r.body, r.gateway) for r in rows] == [
        (PHONE, "1", "aliyun"),
        (PHONE, "退订", "aliyun"),
    ]
    assert [e["intent"] for e in events(engine, "sms.received")] == ["accept", "stop"]
    assert client.post(ALIYUN, json=[aliyun_up(1234567890, "1")]).status_code == 200
    assert len(inbound(engine)) == 2  # the same sequence_id again: nothing new


def test_aliyun_reports_and_texts_in_one_push(client: TestClient, engine: Engine) -> None:
    mid = sent(engine, "1^1")
    answer = client.post(ALIYUN, json=[aliyun_report("1^1"), aliyun_up(77, "2")])
    assert answer.status_code == 200
    assert message(engine, mid).status == "delivered" and len(inbound(engine)) == 1


def tencent_report(sid: str, *, ok: bool = True) -> dict[str, Any]:
    return {
        "user_receive_time": "2026-12-04 08:03:04",
        "nationcode": "86",
        "mobile": "13812345678",
        "report_status": "SUCCESS" if ok else "FAIL",
        "errmsg": "DELIVRD" if ok else "MN:0017",
        "description": "用户短信送达成功" if ok else "用户关机",
        "sid": sid,
    }


def test_tencent_status_callback(client: TestClient, engine: Engine) -> None:
    good, bad = sent(engine, "1400000001:11"), sent(engine, "1400000001:12")
    body = [tencent_report("1400000001:11"), tencent_report("1400000001:12", ok=False)]
    answer = client.post(TENCENT, json=body)
    assert answer.status_code == 200 and answer.json() == {"result": 0, "errmsg": "OK"}
    assert message(engine, good).status == "delivered"
    assert message(engine, bad).status == "undelivered"
    assert "MN:0017" in (message(engine, bad).error or "")
    assert client.post(TENCENT, json=body).status_code == 200
    assert len(events(engine, "sms.failed")) == 1


def test_tencent_reply_callback_is_one_object_stored_once(
    client: TestClient, engine: Engine
) -> None:
    reply = {
        "extend": "",
        "mobile": "13812345678",
        "nationcode": "86",
        "sign": "暖流",
        "text": "接受",
        "time": 1764835200,
    }
    assert client.post(TENCENT, json=reply).status_code == 200
    assert client.post(TENCENT, json=reply).status_code == 200  # retried: no second text
    assert client.post(TENCENT, json={**reply, "time": 1764835260}).status_code == 200
    rows = inbound(engine)
    assert [(r.phone, r.body) for r in rows] == [(PHONE, "接受"), (PHONE, "接受")]
    assert len({r.provider_sid for r in rows}) == 2


def test_a_report_for_no_message_of_ours_changes_nothing(
    client: TestClient, engine: Engine
) -> None:
    before = counts(engine)
    assert client.post(ALIYUN, json=[aliyun_report("unknown^0")]).status_code == 200
    assert client.post(TENCENT, json=[tencent_report("nobody")]).status_code == 200
    assert counts(engine) == before


def test_a_wrong_token_is_refused_and_stores_nothing(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = counts(engine)
    for path in (
        "/webhooks/sms/aliyun/wrong-token-0123456789",
        "/webhooks/sms/tencent/" + TOKEN[:-1],
        "/webhooks/sms/aliyun/" + TOKEN + "x",
    ):
        answer = client.post(path, json=[aliyun_up(1)])
        assert answer.status_code == 403, path
    assert client.post("/webhooks/sms/aliyun/", json=[aliyun_up(1)]).status_code in (404, 405)
    assert counts(engine) == before
    assert "wrong token" in server_log(caplog) and TOKEN not in server_log(caplog)


def test_without_a_token_set_every_push_is_refused(
    settings: Settings, engine: Engine, broker: EmbeddedBroker
) -> None:
    from coordinator.process import Services
    from nuanliu.app import create_app

    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as c:
        assert c.post(ALIYUN, json=[aliyun_up(1)]).status_code == 403
        assert c.post(TENCENT, json={"text": "1"}).status_code == 403
    assert counts(engine) == (0, 0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (ALIYUN, b"not json"),
        (ALIYUN, b"\xff\xfe["),
        (ALIYUN, b"42"),
        (ALIYUN, b"[]"),
        (ALIYUN, b'["a", "b"]'),
        (ALIYUN, b'[{"phone_number": "13812345678"}]'),
        (ALIYUN, json.dumps([{**aliyun_report("1^1"), "success": "yes"}]).encode()),
        (ALIYUN, json.dumps([{**aliyun_up(1), "content": None}]).encode()),
        (ALIYUN, json.dumps([aliyun_up(1), {"hello": "world"}]).encode()),
        (ALIYUN, json.dumps([aliyun_up(i) for i in range(1001)]).encode()),
        (TENCENT, b"{}"),
        (TENCENT, json.dumps([{**tencent_report("x"), "report_status": "MAYBE"}]).encode()),
        (TENCENT, json.dumps({"mobile": "13812345678", "text": "1"}).encode()),
        (TENCENT, json.dumps({"mobile": "1", "text": "1", "time": "soon"}).encode()),
    ],
)
def test_garbage_is_a_4xx_logged_and_stores_nothing(
    client: TestClient,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: bytes,
) -> None:
    caplog.set_level(logging.WARNING)
    before = counts(engine)
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json().get("code", answer.json().get("result")) == 1
    assert counts(engine) == before
    assert "push refused" in server_log(caplog) and TOKEN not in server_log(caplog)


def test_a_text_from_a_number_we_cannot_read_is_skipped_not_the_batch(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    body = [{**aliyun_up(5), "phone_number": "12"}, aliyun_up(6, "1")]
    assert client.post(ALIYUN, json=body).status_code == 200
    assert [r.body for r in inbound(engine)] == ["1"]
    assert "13812345678" not in server_log(caplog)
