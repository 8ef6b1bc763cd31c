"""The SMS intake: texts arriving together are stored together (one transaction for all that
wait), each answered only once committed, with its own row, event and audit entry; one bad
text does not fail the others; a stopped intake refuses cleanly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.serving import serve
from coordinator.accounts.models import AuditLog
from coordinator.sms import flows, intake, service
from coordinator.sms.intake import Intake, IntakeClosed
from coordinator.sms.models import SmsMessage
from events.outbox import OutboxEvent
from tests.conftest import bearer

pytestmark = pytest.mark.integration

PHONES = [f"+86139{n:08d}" for n in range(60)]


def test_replies_arriving_together_are_written_together(
    make_runtime: Any, engine: Engine, tokens: dict[str, str]
) -> None:
    served = serve(make_runtime(relay=False))
    try:

        async def send_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/api/sms/inbound",
                            json={"from": phone, "body": f"{n} 好"},
                            headers={**bearer(tokens["dispatcher"]), "X-Request-ID": f"r{n}"},
                        )
                        for n, phone in enumerate(PHONES)
                    )
                )

        answers = asyncio.run(send_all())
        the_intake: Intake = served.app.state.sms_intake
    finally:
        served.stop()
    assert [a.status_code for a in answers] == [201] * len(PHONES)
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == len(PHONES)
    assert [a.json()["phone"] for a in answers] == PHONES  # each its own text
    assert the_intake.texts == len(PHONES) and the_intake.batches < len(PHONES)
    with Session(engine) as s:
        rows = {m.id: m for m in s.exec(select(SmsMessage)).all()}
        events = s.exec(select(OutboxEvent).where(OutboxEvent.type == "nuanliu.sms.received"))
        by_message = {json.loads(e.data)["message_id"]: e for e in events}
        audits = {
            a.subject: a
            for a in s.exec(select(AuditLog).where(AuditLog.action == "sms.received")).all()
        }
    for n, (answer, message_id) in enumerate(zip(answers, ids, strict=True)):
        row = rows[message_id]
        assert (row.phone, row.body, row.direction) == (PHONES[n], f"{n} 好", "inbound")
        assert message_id in by_message
        audit = audits[f"sms:{message_id}"]
        assert audit.request_id == f"r{n}" and audit.actor == "dispatcher:test-dispatcher"
        assert answer.headers["X-Request-ID"] == f"r{n}"


def test_one_text_that_cannot_be_stored_does_not_fail_the_others(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = flows.receive_many

    def fussy(*, session: Any, received: list[flows.Received]) -> Any:
        if any(r.text.body == "boom" for r in received):
            raise RuntimeError("this text breaks the transaction")
        return real(session=session, received=received)

    monkeypatch.setattr(intake.flows, "receive_many", fussy)
    the_intake = Intake(engine).start()

    async def send() -> list[Any]:
        texts = [
            flows.Received(service.inbound(phone=PHONES[n], body=body), "test")
            for n, body in enumerate(["1", "boom", "2", "3"])
        ]
        return await asyncio.gather(*(the_intake.receive(t) for t in texts), return_exceptions=True)

    try:
        results = asyncio.run(send())
    finally:
        the_intake.stop()
    assert isinstance(results[1], RuntimeError)
    stored = [r[0].body for r in results if not isinstance(r, BaseException)]
    assert stored == ["1", "2", "3"]
    with Session(engine) as s:
        assert sorted(m.body for m in s.exec(select(SmsMessage)).all()) == ["1", "2", "3"]


def test_a_stopped_intake_refuses_and_the_route_says_503(
    make_runtime: Any, engine: Engine, tokens: dict[str, str]
) -> None:
    the_intake = Intake(engine).start()
    the_intake.stop()
    text = flows.Received(service.inbound(phone=PHONES[0], body="1"), "test")
    with pytest.raises(IntakeClosed):
        asyncio.run(the_intake.receive(text))

    served = serve(make_runtime(relay=False))
    try:
        served.app.state.sms_intake.stop()
        r = httpx.post(
            f"{served.url}/api/sms/inbound",
            json={"from": PHONES[0], "body": "1"},
            headers=bearer(tokens["dispatcher"]),
        )
    finally:
        served.stop()
    assert r.status_code == 503
    with Session(engine) as s:
        assert s.exec(select(SmsMessage)).all() == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_intake_whose_writer_died_refuses_instead_of_hanging(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Intake, batch: list[Any]) -> None:
        raise SystemExit("a bug outside the batch's own error handling")

    monkeypatch.setattr(Intake, "_write", broken)
    the_intake = Intake(engine).start()
    text = flows.Received(service.inbound(phone=PHONES[0], body="1"), "test")

    async def send() -> Any:
        return await asyncio.wait_for(the_intake.receive(text), timeout=10)

    with pytest.raises(IntakeClosed):
        asyncio.run(send())  # the one in flight when it died
    with pytest.raises(IntakeClosed):
        asyncio.run(send())  # and any after
    the_intake.stop()
