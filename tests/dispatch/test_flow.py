"""The whole dispatch path through the real broker and database: alert → tasks → offers →
SMS → replies → accepted / declined / expired → refill, and the replies that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session

from coordinator.accounts.models import AuditLog
from coordinator.common import utcnow
from coordinator.dispatch.flows import responses
from coordinator.dispatch.models import Assignment, Task
from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer, wait_for
from tests.dispatch.helpers import (
    assignments,
    outbound,
    phone_of,
    post_alert,
    reply,
    use_playbook,
    wait_offers,
)

pytestmark = pytest.mark.integration


def _sms_to(engine, volunteer_id: int, kind: str) -> list:
    return [m for m in outbound(engine, volunteer_id=volunteer_id) if m.kind == kind]


def test_alert_to_offers_replies_and_refills(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token)
    ids = post_alert(client, token)
    assert set(ids) == {"alert_id", "incident_id"}

    offers = wait_offers(engine, 3)
    assert len(offers) == 3 and {a.slot for a in offers} == {0, 1, 2}
    a, b, c = offers
    with Session(engine) as s:
        task = s.get(Task, a.task_id)
        assert task is not None and task.skills == ["de_icing"] and task.slots == 3
    # every offer reaches its volunteer's phone, with the code and how to reply
    for offer in offers:
        sms = wait_for(lambda o=offer: _sms_to(engine, o.volunteer_id, "offer"))
        assert offer.short_code in sms[0].body and "回复1接受" in sms[0].body

    # A accepts, B declines, C stays silent
    reply(client, token, phone_of(engine, a.volunteer_id), "１")  # full-width one
    reply(client, token, phone_of(engine, b.volunteer_id), "不")
    wait_for(lambda: assignments(engine, id=a.id)[0].status == "accepted")
    wait_for(lambda: _sms_to(engine, a.volunteer_id, "accepted"))
    wait_for(lambda: assignments(engine, id=b.id)[0].status == "declined")
    wait_for(lambda: _sms_to(engine, b.volunteer_id, "declined"))
    # B's slot went to someone new, never to anyone already asked
    refill_b = wait_for(
        lambda: [x for x in assignments(engine, slot=b.slot, status="offered") if x.id != b.id]
    )[0]
    assert refill_b.volunteer_id not in {a.volunteer_id, b.volunteer_id, c.volunteer_id}
    assert refill_b.source == "refill"
    wait_for(lambda: _sms_to(engine, refill_b.volunteer_id, "offer"))

    # C's offer runs out: the sweep expires it, C is told, the slot is offered again
    with Session(engine) as s:
        row = s.get(Assignment, c.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
        s.commit()
        assert responses.expire_overdue(session=s) == 1
        s.commit()
    wait_for(lambda: _sms_to(engine, c.volunteer_id, "expired"))
    refill_c = wait_for(
        lambda: [x for x in assignments(engine, slot=c.slot, status="offered") if x.id != c.id]
    )[0]
    assert refill_c.volunteer_id not in {a.volunteer_id, b.volunteer_id, c.volunteer_id}

    # C answers too late: a polite "closed", nothing changes
    reply(client, token, phone_of(engine, c.volunteer_id), "1")
    wait_for(lambda: _sms_to(engine, c.volunteer_id, "offer_closed"))
    assert assignments(engine, id=c.id)[0].status == "expired"

    # the refilled volunteer accepts and later reports done
    reply(client, token, phone_of(engine, refill_b.volunteer_id), f"1 {refill_b.short_code}")
    wait_for(lambda: assignments(engine, id=refill_b.id)[0].status == "accepted")
    reply(client, token, phone_of(engine, a.volunteer_id), "完成")
    wait_for(lambda: assignments(engine, id=a.id)[0].status == "completed")
    wait_for(lambda: _sms_to(engine, a.volunteer_id, "completed"))

    r = client.get(f"/api/incidents/{ids['incident_id']}", headers=bearer(token))
    assert r.status_code == 200
    detail = r.json()
    (t,) = detail["tasks"]
    assert (t["needed"], t["accepted"], t["done"], t["offered"]) == (3, 1, 1, 1)
    assert {x["status"] for x in detail["assignments"]} >= {"declined", "expired", "completed"}
    listed = client.get("/api/incidents", headers=bearer(token)).json()
    assert listed["count"] == 1 and listed["data"][0]["accepted"] == 1
    with Session(engine) as s:
        actions = {row.action for row in s.query(AuditLog).all()}
    assert {
        "alert.raised",
        "dispatch.offered",
        "assignment.accepted",
        "assignment.declined",
        "assignment.expired",
        "dispatch.refilled",
        "assignment.completed",
    } <= actions


def test_natural_chinese_replies_accept_and_decline(client, tokens, engine):
    """What volunteers actually type: "收到，去" takes the task, "来不了" gives it back, and
    "不知道去不去" is neither: it gets the help text and the offer stays open."""
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    a, b, c = wait_offers(engine, 3)

    reply(client, token, phone_of(engine, a.volunteer_id), f"收到，去 {a.short_code.lower()}")
    reply(client, token, phone_of(engine, b.volunteer_id), "来不了！")
    reply(client, token, phone_of(engine, c.volunteer_id), "不知道去不去")
    wait_for(lambda: assignments(engine, id=a.id)[0].status == "accepted")
    wait_for(lambda: _sms_to(engine, a.volunteer_id, "accepted"))
    wait_for(lambda: assignments(engine, id=b.id)[0].status == "declined")
    wait_for(lambda: _sms_to(engine, b.volunteer_id, "declined"))
    wait_for(lambda: _sms_to(engine, c.volunteer_id, "help"))
    assert assignments(engine, id=c.id)[0].status == "offered"


def test_replies_that_change_nothing(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    offers = wait_offers(engine, 3)
    a = offers[0]
    phone = phone_of(engine, a.volunteer_id)

    reply(client, token, "+8613900000001", "1")  # not on the roster
    wait_for(
        lambda: [m for m in outbound(engine, phone="+8613900000001") if m.kind == "unknown_number"]
    )
    reply(client, token, phone, "what is this?")
    wait_for(lambda: _sms_to(engine, a.volunteer_id, "help"))
    reply(client, token, phone, "1 ZZ9")  # a code that is not theirs
    wait_for(lambda: len(_sms_to(engine, a.volunteer_id, "help")) == 2)
    assert {x.status for x in assignments(engine)} == {"offered"}

    # accept twice: one acceptance, one confirmation
    reply(client, token, phone, "Y")
    reply(client, token, phone, "Y")
    wait_for(lambda: assignments(engine, id=a.id)[0].status == "accepted")
    wait_for(lambda: _sms_to(engine, a.volunteer_id, "accepted"))
    reply(client, token, phone, "?")  # replies are handled in order: this one comes last
    wait_for(lambda: len(_sms_to(engine, a.volunteer_id, "help")) == 3)
    assert len(_sms_to(engine, a.volunteer_id, "accepted")) == 1
    assert not _sms_to(engine, a.volunteer_id, "offer_closed")


def test_stop_opts_out_cancels_and_refills(client, tokens, engine):
    token = tokens["dispatcher"]
    with Session(engine) as s:  # everyone asked for English this time
        s.execute(update(Volunteer).values(language="en"))
        s.commit()
    use_playbook(client, token)
    post_alert(client, token)
    a = wait_offers(engine, 3)[0]
    offer = wait_for(lambda: _sms_to(engine, a.volunteer_id, "offer"))[0]
    assert "Road de-icing" in offer.body and "Reply 1 to accept" in offer.body
    reply(client, token, phone_of(engine, a.volunteer_id), "STOP")
    bye = wait_for(lambda: _sms_to(engine, a.volunteer_id, "opted_out"))[0]
    assert "unsubscribed" in bye.body
    assert assignments(engine, id=a.id)[0].status == "cancelled"
    wait_for(lambda: [x for x in assignments(engine, slot=a.slot, status="offered")])
    # the opted-out confirmation is their last message
    assert not _sms_to(engine, a.volunteer_id, "cancelled")
    reply(client, token, phone_of(engine, a.volunteer_id), "1")
    with Session(engine) as s:
        v = s.get(Volunteer, a.volunteer_id)
        assert v is not None and v.opted_out


def test_several_open_offers_need_the_code(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    a = wait_offers(engine, 3)[0]
    # a second incident, later in the day: the same volunteer may get a second offer
    with Session(engine) as s:
        task = s.get(Task, a.task_id)
        assert task is not None
        other = Task(
            incident_id=task.incident_id,
            plan_key="extra",
            kind="de_icing",
            title="桥面除冰",
            place="延安西路大桥",
            lat=task.lat,
            lon=task.lon,
            slots=1,
            skills=[],
            starts_at=task.ends_at + timedelta(hours=1),
            ends_at=task.ends_at + timedelta(hours=3),
        )
        s.add(other)
        s.flush()
        second = Assignment(
            task_id=other.id,
            incident_id=task.incident_id,
            volunteer_id=a.volunteer_id,
            slot=0,
            short_code="K7P" if a.short_code != "K7P" else "K7Q",
            expires_at=utcnow() + timedelta(minutes=10),
        )
        s.add(second)
        s.commit()
        second_id, second_code = second.id, second.short_code
    phone = phone_of(engine, a.volunteer_id)
    reply(client, token, phone, "1")
    sms = wait_for(lambda: _sms_to(engine, a.volunteer_id, "which_offer"))
    assert a.short_code in sms[0].body and second_code in sms[0].body
    reply(client, token, phone, f"{second_code} 1")
    wait_for(lambda: assignments(engine, id=second_id)[0].status == "accepted")
    assert assignments(engine, id=a.id)[0].status == "offered"
