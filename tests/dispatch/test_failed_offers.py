"""An offer whose text could not reach its volunteer (the provider refused it for good, or
the carrier reported it undelivered) goes to the next best volunteer at once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.standins import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    SIGN_NAME,
    AliyunStandIn,
    approved_codes,
    approved_variables,
    serving,
)
from consumers import dispatch as dispatch_consumer
from consumers.registry import Context
from coordinator.config import Settings
from coordinator.dispatch.models import Assignment
from coordinator.process import Services
from coordinator.sms import flows as sms_flows
from coordinator.sms.aliyun import AliyunGateway
from coordinator.sms.models import SmsMessage
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_template
from coordinator.volunteers.models import Volunteer
from events.envelope import Envelope
from events.outbox import OutboxEvent
from events.payloads.assignments import AssignmentExpired
from events.payloads.sms import SmsFailed
from tests.dispatch.helpers import add_assignment, add_task


@pytest.fixture
def aliyun() -> Iterator[AliyunStandIn]:
    with serving(AliyunStandIn(approved_variables("aliyun"))) as server:
        yield server  # type: ignore[misc]


def _ctx(session: Session, settings: Settings, engine: Engine, payload: object) -> Context:
    services = Services(settings=settings, engine=engine)
    return Context(session=session, envelope=Envelope.wrap(payload), services=services)  # type: ignore[arg-type]


def _offer(engine: Engine) -> tuple[int, int, int]:
    """An open offer of a one-slot task, its text queued: (assignment, volunteer, task)."""
    with Session(engine) as s:
        volunteer = s.exec(select(Volunteer).order_by(col(Volunteer.id))).first()
        assert volunteer is not None and volunteer.id is not None
        task = add_task(s, slots=1)
        a = add_assignment(s, task, volunteer.id)
        queue_template(
            session=s,
            phone=volunteer.phone,
            template="expired",
            kind="offer",
            assignment_id=a.id,
            volunteer_id=volunteer.id,
            task="除冰",
        )
        s.commit()
        assert a.id is not None and task.id is not None
        return a.id, volunteer.id, task.id


def _staged(engine: Engine, type_: str) -> list[dict]:
    with Session(engine) as s:
        rows = s.exec(select(OutboxEvent).where(OutboxEvent.type == type_)).all()
        return [json.loads(r.data) for r in rows]


def test_a_refused_offer_text_goes_to_the_next_volunteer(
    engine: Engine, demo: None, settings: Settings, aliyun: AliyunStandIn
) -> None:
    assignment_id, first, task_id = _offer(engine)
    aliyun.mode = "bad_number"
    gateway = AliyunGateway(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name=SIGN_NAME,
        codes=approved_codes("aliyun"),
        endpoint=aliyun.endpoint,
    )
    Sender(engine, gateway, batch_size=1).run_once()
    [failed] = _staged(engine, "nuanliu.sms.failed")
    assert failed["code"] == "isv.MOBILE_NUMBER_ILLEGAL" and failed["kind"] == "offer"
    event = SmsFailed.model_validate(failed)
    with Session(engine) as s:
        dispatch_consumer.on_offer_text_failed(_ctx(s, settings, engine, event), event)
        s.commit()
        a = s.get(Assignment, assignment_id)
        assert a is not None and a.status == "expired"
        assert "isv.MOBILE_NUMBER_ILLEGAL" in a.closed_reason
    [expired] = _staged(engine, "nuanliu.assignment.expired")
    expiry = AssignmentExpired.model_validate(expired)
    with Session(engine) as s:
        dispatch_consumer.on_assignment_expired(_ctx(s, settings, engine, expiry), expiry)
        s.commit()
        offers = s.exec(select(Assignment).where(Assignment.task_id == task_id)).all()
    refill = [o for o in offers if o.id != assignment_id]
    assert len(refill) == 1 and refill[0].status == "offered"
    assert refill[0].volunteer_id != first  # the next best, never the one we could not reach


def test_an_undelivered_report_re_offers_and_an_answered_offer_stays(
    engine: Engine, demo: None, settings: Settings
) -> None:
    assignment_id, _, _ = _offer(engine)
    with Session(engine) as s:
        row = s.exec(select(SmsMessage).where(SmsMessage.assignment_id == assignment_id)).one()
        row.status, row.provider_sid = "sent", "biz^1"
        s.add(row)
        s.commit()
    with Session(engine) as s:
        sms_flows.apply_delivery_reports(
            session=s,
            reports=[
                sms_flows.DeliveryReport(("biz^1",), "undelivered", "MK:0001: 关机", "MK:0001")
            ],
        )
    [failed] = _staged(engine, "nuanliu.sms.failed")
    event = SmsFailed.model_validate(failed)
    assert dispatch_consumer._an_offer(event)
    # the volunteer said yes before the report came: the answer stands
    with Session(engine) as s:
        a = s.get(Assignment, assignment_id)
        assert a is not None
        a.status = "accepted"
        s.add(a)
        s.commit()
    with Session(engine) as s:
        dispatch_consumer.on_offer_text_failed(_ctx(s, settings, engine, event), event)
        s.commit()
        assert s.get(Assignment, assignment_id).status == "accepted"  # type: ignore[union-attr]
    assert _staged(engine, "nuanliu.assignment.expired") == []


def test_only_offers_are_acted_on() -> None:
    other = SmsFailed(message_id=1, phone="+8613800138000", error="x", kind="reminder")
    gone = SmsFailed(message_id=1, phone="+8613800138000", error="x", kind="offer")
    old = SmsFailed(message_id=1, phone="+8613800138000", error="x")  # version 1
    assert not dispatch_consumer._an_offer(other)
    assert not dispatch_consumer._an_offer(gone)  # no assignment named
    assert not dispatch_consumer._an_offer(old)
