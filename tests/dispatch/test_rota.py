"""The travel-rush station rota (issue 15, item 7): shifts published ahead, picked, given
back by the page or by SMS until 24 h before, the slot refilled by the dispatch consumer;
the weekly SMS offer through the consumer's own plan-and-offer; the rota sign-in by SMS
code and its bad data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.config import Settings
from coordinator.dispatch import errors
from coordinator.dispatch.flows import rota
from coordinator.dispatch.flows.replies import ReplyResult, handle_reply
from coordinator.dispatch.models import Assignment, Incident, Task
from coordinator.sms.models import SmsMessage
from coordinator.sms.replies import parse_reply
from coordinator.volunteers.models import PhoneLoginCode, SkillExpiry, Volunteer
from events.outbox import OutboxEvent
from tests.conftest import bearer, wait_for
from tests.dispatch.helpers import reply

ZONE = ZoneInfo("Asia/Shanghai")


def _rush(session: Session) -> Incident:
    rush = Incident(
        kind="travel_rush", level="orange", title="春运", districts=["520103", "520102"]
    )
    session.add(rush)
    session.flush()
    return rush


def _ahead(days: int) -> date:
    return datetime.now(ZONE).date() + timedelta(days=days)


def _volunteers(session: Session, n: int) -> list[Volunteer]:
    return list(
        session.exec(
            select(Volunteer)
            .where(Volunteer.active == True, Volunteer.opted_out == False)  # noqa: E712
            .order_by(col(Volunteer.id))
            .limit(n)
        ).all()
    )


def _events(session: Session, kind: str) -> list[dict[str, Any]]:
    rows = session.exec(select(OutboxEvent).where(OutboxEvent.type == kind)).all()
    return [json.loads(r.data) for r in rows]


def _texts(session: Session, phone: str) -> list[SmsMessage]:
    return list(
        session.exec(
            select(SmsMessage)
            .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
            .order_by(col(SmsMessage.id))
        ).all()
    )


# -- publishing, picking, giving back ---------------------------------------------------------
def test_publish_plans_every_station_shift_once(
    session: Session, settings: Settings, demo: None
) -> None:
    rush = _rush(session)
    first = _ahead(3)
    tasks = rota.publish(
        session=session,
        incident=rush,
        first=first,
        last=first + timedelta(days=1),
        settings=settings,
    )
    stations = {t.plan_key.split(":")[1] for t in tasks}
    assert len(tasks) == len(stations) * 2 * 2 and len(stations) >= 2  # two shifts a day
    planned = len(_events(session, "nuanliu.task.planned"))
    again = rota.publish(
        session=session,
        incident=rush,
        first=first,
        last=first + timedelta(days=1),
        settings=settings,
    )
    assert {t.id for t in again} == {t.id for t in tasks}
    assert len(_events(session, "nuanliu.task.planned")) == planned  # nothing new
    with pytest.raises(errors.NotARotaShift):
        rota.publish(
            session=session,
            incident=rush,
            first=first,
            last=first - timedelta(days=1),
            settings=settings,
        )


def test_pick_then_give_back_in_time_and_too_late(
    session: Session, settings: Settings, demo: None
) -> None:
    rush = _rush(session)
    tasks = rota.publish(
        session=session, incident=rush, first=_ahead(3), last=_ahead(3), settings=settings
    )
    morning = sorted(tasks, key=lambda t: (t.starts_at, t.id))
    one, same_time = morning[0], morning[1]
    me, _other = _volunteers(session, 2)
    assert me.id is not None
    a = rota.pick(session=session, volunteer_id=me.id, task_id=one.id or 0, settings=settings)
    assert (a.status, a.source, a.volunteer_id) == ("accepted", "rota", me.id)
    assert [e["assignment_id"] for e in _events(session, "nuanliu.assignment.accepted")] == [a.id]
    with pytest.raises(errors.AlreadyInTask):
        rota.pick(session=session, volunteer_id=me.id, task_id=one.id or 0, settings=settings)
    with pytest.raises(errors.ShiftTaken):  # another station at the same hour
        rota.pick(session=session, volunteer_id=me.id, task_id=same_time.id or 0, settings=settings)
    shifts = rota.shifts_for(session=session, volunteer=me, settings=settings)
    mine = [s for s in shifts if s.assignment_id]
    assert [(s.task_id, s.code, s.can_give_back) for s in mine] == [(one.id, a.short_code, True)]
    assert next(s for s in shifts if s.task_id == same_time.id).blocked == "busy"
    # in time: cancelled by the volunteer (the consumer refills from this event), confirmed
    rota.give_back(
        session=session,
        volunteer_id=me.id,
        assignment_id=a.id or 0,
        settings=settings,
        source="page",
    )
    assert a.status == "cancelled"
    cancelled = _events(session, "nuanliu.assignment.cancelled")
    assert [(e["assignment_id"], e["by"]) for e in cancelled] == [(a.id, "volunteer")]
    assert _texts(session, me.phone)[-1].body.startswith("【暖流】已退班：")
    # too late: a shift picked and then moved to start in 5 hours
    b = rota.pick(session=session, volunteer_id=me.id, task_id=one.id or 0, settings=settings)
    one.starts_at = utcnow() + timedelta(hours=5)
    one.ends_at = one.starts_at + timedelta(hours=8)
    session.add(one)
    session.flush()
    with pytest.raises(errors.GiveBackTooLate, match="24 h"):
        rota.give_back(
            session=session,
            volunteer_id=me.id,
            assignment_id=b.id or 0,
            settings=settings,
            source="page",
        )
    assert session.get(Assignment, b.id).status == "accepted"
    # not theirs
    with pytest.raises(errors.AssignmentNotFound):
        rota.give_back(
            session=session,
            volunteer_id=_other.id or 0,
            assignment_id=b.id or 0,
            settings=settings,
            source="page",
        )


def test_a_shift_needing_a_lapsed_skill_cannot_be_picked(
    session: Session, settings: Settings, demo: None
) -> None:
    rush = _rush(session)
    (task, *_rest) = rota.publish(
        session=session, incident=rush, first=_ahead(4), last=_ahead(4), settings=settings
    )
    task.skills = ["first_aid"]
    session.add(task)
    (me,) = _volunteers(session, 1)
    me.skills = ["first_aid"]
    session.add(me)
    session.add(SkillExpiry(volunteer_id=me.id or 0, skill="first_aid", expires_on=_ahead(3)))
    session.flush()
    with pytest.raises(errors.MissingSkill):
        rota.pick(session=session, volunteer_id=me.id or 0, task_id=task.id or 0, settings=settings)
    row = session.exec(select(SkillExpiry)).one()
    row.expires_on = _ahead(30)
    session.add(row)
    session.flush()
    assert rota.pick(
        session=session, volunteer_id=me.id or 0, task_id=task.id or 0, settings=settings
    )


def test_give_back_by_sms_and_its_bad_data(
    session: Session, settings: Settings, demo: None
) -> None:
    rush = _rush(session)
    tasks = rota.publish(
        session=session, incident=rush, first=_ahead(3), last=_ahead(4), settings=settings
    )
    me, stranger_check = _volunteers(session, 2)
    assert me.id is not None
    day3 = sorted((t for t in tasks), key=lambda t: (t.starts_at, t.id))
    a = rota.pick(session=session, volunteer_id=me.id, task_id=day3[0].id or 0, settings=settings)
    b = rota.pick(session=session, volunteer_id=me.id, task_id=day3[-1].id or 0, settings=settings)

    def text(body: str, phone: str = me.phone) -> ReplyResult:
        return handle_reply(
            session=session,
            phone=phone,
            reply=parse_reply(body),
            auto_answer_limit=10,
            settings=settings,
        )

    def last_body() -> str:
        return _texts(session, me.phone)[-1].body

    # two shifts and no code: which one?
    assert text("退") == ReplyResult.WHICH_TASK
    assert "退" in last_body() and a.short_code in last_body() and b.short_code in last_body()
    # a wrong code, a code with full-width letters and spaces, a stranger
    assert text("退 ZZ9") == ReplyResult.GIVE_BACK_REFUSED
    assert "没有找到可退的班次" in last_body()
    assert text("退 K4F", phone="+8613000000999") == ReplyResult.UNKNOWN_NUMBER
    wide = "退　" + a.short_code.translate({ord(c): ord(c) + 0xFEE0 for c in a.short_code})
    assert text(wide) == ReplyResult.GAVE_BACK
    assert session.get(Assignment, a.id).status == "cancelled"
    assert last_body().startswith("【暖流】已退班：")
    # `退订` is still the opt-out, not a give-back; 退 inside a longer word is not a reply
    assert parse_reply("退订").intent == "stop" and parse_reply("我要退").intent == "unknown"
    # too late: refused with the reason, the shift kept
    task = session.get(Task, b.task_id)
    assert task is not None
    task.starts_at = utcnow() + timedelta(hours=3)
    task.ends_at = task.starts_at + timedelta(hours=8)
    session.add(task)
    session.flush()
    assert text(f" {b.short_code.lower()} 退班。") == ReplyResult.GIVE_BACK_REFUSED
    assert "24小时内开始，已不能退班" in last_body()
    assert session.get(Assignment, b.id).status == "accepted"
    assert stranger_check.id != me.id


# -- the sign-in by SMS code ------------------------------------------------------------------
@pytest.fixture
def web(make_runtime: Any, demo: None) -> Iterator[TestClient]:
    from nuanliu.app import create_app

    rt = make_runtime(relay=False, consumers=())
    with TestClient(create_app(runtime=rt), follow_redirects=False) as c:
        yield c


def _code_of(engine: Engine, phone: str) -> str:
    with Session(engine) as s:
        body = _texts(s, phone)[-1].body
    assert "排班登录验证码" in body, body
    return body.split("：", 1)[1][:6]


def test_sign_in_by_sms_code_and_its_bad_data(web: TestClient, engine: Engine) -> None:
    with Session(engine) as s:
        me = _volunteers(s, 1)[0]
    local = me.phone.removeprefix("+86")
    typed = " ".join([local[:3], local[3:7], local[7:]]).translate(
        {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}
    )  # full-width digits with spaces, as a phone keyboard may give them
    assert web.get("/api/rota/shifts").status_code == 401
    r = web.post("/api/rota/code", json={"phone": typed})
    assert r.status_code == 202, r.text
    code = _code_of(engine, me.phone)
    # wrong codes: each counts; after five the code is dead even when right
    for bad in ("000000", "12345", "abcdef", "１２３４５６７"):
        r = web.post("/api/rota/session", json={"phone": me.phone, "code": bad})
        assert r.status_code == 401 and r.json()["code"] == "rota_wrong_code", r.text
    wrong = "999999" if code != "999999" else "888888"
    assert web.post("/api/rota/session", json={"phone": me.phone, "code": wrong}).status_code == 401
    with Session(engine) as s:
        assert s.exec(select(PhoneLoginCode)).one().attempts == 2  # only six digits count
    for _ in range(3):
        web.post("/api/rota/session", json={"phone": me.phone, "code": wrong})
    assert web.post("/api/rota/session", json={"phone": me.phone, "code": code}).status_code == 401
    # a fresh code works, typed with full-width digits and spaces
    assert web.post("/api/rota/code", json={"phone": me.phone}).status_code == 202
    code = _code_of(engine, me.phone)
    spaced = " ".join(code).translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    r = web.post("/api/rota/session", json={"phone": me.phone, "code": spaced})
    assert r.status_code == 200, r.text
    assert "nuanliu_rota" in r.cookies and r.json()["volunteer_id"] == me.id
    csrf = r.json()["csrf_token"]
    assert web.get("/api/rota/shifts").json()["volunteer_id"] == me.id
    # a used code is no use twice
    assert web.post("/api/rota/session", json={"phone": me.phone, "code": code}).status_code == 401
    # writes need the session's CSRF token
    assert web.post("/api/rota/shifts/1/pick").status_code == 403
    assert (
        web.post("/api/rota/shifts/999999/pick", headers={"X-CSRF-Token": csrf}).status_code == 404
    )
    # the third code within the hour is the number's last
    assert web.post("/api/rota/code", json={"phone": me.phone}).status_code == 202
    r = web.post("/api/rota/code", json={"phone": me.phone})
    assert r.status_code == 429 and r.json()["code"] == "rota_too_many_codes"
    # a stranger's number: the same answer, no text; a landline and junk: 422
    assert web.post("/api/rota/code", json={"phone": "13000000999"}).status_code == 202
    with Session(engine) as s:
        assert _texts(s, "+8613000000999") == []
    for junk in ("0851-12345678", "not a phone", ""):
        assert web.post("/api/rota/code", json={"phone": junk}).status_code == 422, junk
    # signing out ends the session
    assert web.post("/api/rota/session/end").status_code == 204
    assert web.get("/api/rota/shifts").status_code == 401


def test_a_staff_token_is_not_a_rota_session(web: TestClient, tokens: dict[str, str]) -> None:
    assert web.get("/api/rota/shifts", headers=bearer(tokens["admin"])).status_code == 401
    web.cookies.set("nuanliu_rota", "forged-cookie")
    assert web.get("/api/rota/shifts").status_code == 401


# -- with the consumers: the refill and the weekly offer ---------------------------------------
@pytest.mark.integration
def test_a_shift_given_back_goes_to_the_next_volunteer(
    client: TestClient, engine: Engine, settings: Settings, tokens: dict[str, str]
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        rush = _rush(s)
        tasks = rota.publish(
            session=s, incident=rush, first=_ahead(3), last=_ahead(3), settings=settings
        )
        (me,) = _volunteers(s, 1)
        a = rota.pick(
            session=s, volunteer_id=me.id or 0, task_id=tasks[0].id or 0, settings=settings
        )
        s.commit()
        task_id, slot = a.task_id, a.slot

    # the confirmation goes out by the notify consumer, with the code
    def confirmed() -> bool:
        with Session(engine) as s:
            return any(m.template == "accepted" for m in _texts(s, me.phone))

    wait_for(confirmed, timeout=30)
    # the volunteer texts `退 <code>` (full-width, as a phone keyboard may send it)
    wide = a.short_code.translate({ord(c): ord(c) + 0xFEE0 for c in a.short_code})
    reply(client, tokens["dispatcher"], me.phone, f"退　{wide}")

    def refilled() -> Assignment | None:
        with Session(engine, expire_on_commit=False) as s:
            return s.exec(
                select(Assignment).where(
                    Assignment.task_id == task_id,
                    Assignment.slot == slot,
                    Assignment.status == "offered",
                    Assignment.source == "refill",
                )
            ).first()

    offer = wait_for(refilled, timeout=30)
    assert offer.volunteer_id != me.id
    with Session(engine) as s:
        assert s.get(Assignment, a.id).status == "cancelled"  # type: ignore[union-attr]
        assert any(m.body.startswith("【暖流】已退班：") for m in _texts(s, me.phone))


@pytest.mark.integration
def test_the_weekly_job_offers_next_weeks_shifts_through_the_consumer(
    client: TestClient, engine: Engine, settings: Settings, demo: None
) -> None:
    from coordinator.alerts.jobs import open_rota_week

    with Session(engine) as s:
        rush = _rush(s)
        rush_id = rush.id
        s.commit()
    today = datetime.now(ZONE).date()
    assert open_rota_week(engine=engine, settings=settings, today=today) == "opened"
    monday = today + timedelta(days=7 - today.weekday())

    def offered() -> list[Assignment]:
        with Session(engine) as s:
            return list(
                s.exec(
                    select(Assignment).where(
                        Assignment.incident_id == rush_id, Assignment.status == "offered"
                    )
                ).all()
            )

    offers = wait_for(offered, timeout=90)
    with Session(engine) as s:
        days = {
            s.get(Task, o.task_id).starts_at.astimezone(ZONE).date()  # type: ignore[union-attr]
            for o in offers
        }
        assert days <= {monday + timedelta(days=i) for i in range(7)} and len(days) == 7
        week = _events(s, "nuanliu.rota.week_opened")
    assert week == [
        {
            "incident_id": rush_id,
            "first_day": monday.isoformat(),
            "last_day": (monday + timedelta(days=6)).isoformat(),
        }
    ]
    # no rush open: the job says so and stages nothing
    with Session(engine) as s:
        s.get(Incident, rush_id).status = "closed"  # type: ignore[union-attr]
        s.commit()
    assert open_rota_week(engine=engine, settings=settings, today=today) == "idle"
