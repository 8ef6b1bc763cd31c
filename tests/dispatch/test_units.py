"""Dispatch pieces without the broker: texts, playbook validation, unfillable tasks, handlers
given events about things that do not exist, odd reply senders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel import Session, select

from consumers import dispatch as dispatch_consumer
from consumers import notify as notify_consumer
from consumers.registry import Context
from coordinator.accounts.models import AuditLog
from coordinator.common import aware, utcnow
from coordinator.config import get_settings
from coordinator.dispatch.flows import incidents, offers, overrides, planning, replies, responses
from coordinator.dispatch.models import Assignment, Task
from coordinator.dispatch.playbooks import DEFAULT_PLAYBOOKS, PlaybookData
from coordinator.dispatch.texts import task_params, window
from coordinator.process import Services
from coordinator.sms.replies import parse_reply
from events.envelope import Envelope
from events.payloads.assignments import AssignmentDeclined, AssignmentOffered
from events.payloads.sms import SmsReceived
from tests.dispatch.helpers import add_assignment, add_task, handle_text


def test_window_and_task_texts_in_both_languages():
    s = datetime(2014, 1, 4, 23, 0, tzinfo=UTC)  # 07:00 in Guiyang
    assert window(s, s + timedelta(hours=4), "zh", "Asia/Shanghai") == "1月5日07:00-11:00"
    assert window(s, s + timedelta(hours=4), "en", "Asia/Shanghai") == "5 Jan 07:00-11:00"
    task = Task(
        incident_id=1,
        plan_key="k",
        kind="de_icing",
        title="路面除冰",
        title_en="Road de-icing",
        place="解放桥",
        place_en="Jiefang bridge",
        lat=0,
        lon=0,
        slots=1,
        starts_at=s,
        ends_at=s + timedelta(hours=4),
    )
    assert task_params(task, "en", "Asia/Shanghai")["place"] == "Jiefang bridge"
    assert task_params(task, "zh", "Asia/Shanghai")["task"] == "路面除冰"


@pytest.mark.parametrize(
    "data",
    [
        {"tasks": []},
        {
            "tasks": [
                {"key": "Bad Key", "kind": "x", "title_zh": "x", "per": "district", "slots": 1}
            ]
        },
        {"tasks": [{"key": "a", "kind": "x", "title_zh": "x", "per": "planet", "slots": 1}]},
        {"tasks": [{"key": "a", "kind": "x", "title_zh": "x", "per": "district", "slots": 0}]},
        {
            "tasks": [
                {
                    "key": "a",
                    "kind": "x",
                    "title_zh": "x",
                    "per": "district",
                    "slots": 1,
                    "hours": 100,
                }
            ]
        },
        {"scale": {"purple": 2}, "tasks": DEFAULT_PLAYBOOKS["other"]["tasks"]},
        {"tasks": DEFAULT_PLAYBOOKS["other"]["tasks"], "surprise": True},
    ],
)
def test_bad_playbooks_are_refused(data):
    with pytest.raises(ValidationError):
        PlaybookData.model_validate(data)


def test_every_default_playbook_is_valid():
    for data in DEFAULT_PLAYBOOKS.values():
        PlaybookData.model_validate(data)


def test_a_skill_nobody_has_flags_the_task_unfillable(engine, settings, demo):
    now = utcnow()
    with Session(engine) as s:
        task = add_task(
            s, now=now, slots=2, kind="diving", title="潜水", skills=["deep_sea_diving"]
        )
        assert offers.offer_open_slots(session=s, tasks=[task], settings=settings) == []
        assert task.unfillable
        assert (
            offers.refill_slot(session=s, task_id=task.id or 0, slot=0, settings=settings) is None
        )
        s.commit()
        audits = s.exec(select(AuditLog).where(AuditLog.action == "task.unfillable")).all()
        assert audits and audits[0].detail["missing"] == 2
        # a dispatcher who finds the people clears the flag once the task is full
        from coordinator.accounts.service import Actor
        from coordinator.volunteers.models import Volunteer

        people = s.exec(select(Volunteer.id).limit(2)).all()
        boss = Actor(name="d", role="dispatcher")
        overrides.assign_volunteer(
            session=s, task_id=task.id or 0, volunteer_id=people[0], actor=boss
        )
        assert task.unfillable
        overrides.assign_volunteer(
            session=s, task_id=task.id or 0, volunteer_id=people[1], actor=boss
        )
        assert not task.unfillable


def _ctx(session: Session, payload) -> Context:
    services = Services(settings=get_settings(), engine=session.get_bind())
    return Context(session=session, envelope=Envelope.wrap(payload), services=services)


def _written(s: Session) -> dict[str, int]:
    from coordinator.sms.models import SmsMessage
    from events.outbox import OutboxEvent

    return {
        "events": len(s.exec(select(OutboxEvent)).all()),
        "texts": len(s.exec(select(SmsMessage)).all()),
        "assignments": len(s.exec(select(Assignment)).all()),
    }


def test_handlers_shrug_at_events_about_missing_rows(engine, settings, demo):
    """Events about rows that do not exist (deleted, or another deployment's) neither raise
    (which would dead-letter them) nor write anything."""
    declined = AssignmentDeclined(assignment_id=999, task_id=999, incident_id=999, volunteer_id=1)
    offered = AssignmentOffered(
        assignment_id=999,
        task_id=999,
        incident_id=999,
        volunteer_id=1,
        short_code="A2A",
        expires_at=utcnow(),
    )
    with Session(engine) as s:
        before = _written(s)
        dispatch_consumer.on_assignment_declined(_ctx(s, declined), declined)
        notify_consumer.on_assignment_offered(_ctx(s, offered), offered)
        notify_consumer.on_assignment_declined(_ctx(s, declined), declined)
        for phone in ("10086", "not a phone"):
            event = SmsReceived(message_id=1, phone=phone, body="1")
            dispatch_consumer.on_sms_received(_ctx(s, event), event)
        s.flush()
        assert _written(s) == before
        s.rollback()


def test_station_managers_and_receipts_are_left_to_logistics(engine, demo):
    from coordinator.logistics.models import Place

    with Session(engine) as s:
        station = s.exec(select(Place).where(Place.kind == "station")).first()
        assert station is not None
        station.manager_phones = "+8613900000077"
        s.add(station)
        s.commit()
        assert handle_text(s, "+8613900000077", "hello") == "ignored"
        assert handle_text(s, "+8613900000078", "收 S123 全") == "ignored"
        s.rollback()


def test_planning_twice_adds_nothing_and_a_higher_level_grows_tasks(engine, settings, demo):
    from events.outbox import OutboxEvent

    with Session(engine) as s:
        incident = incidents.open_incident(
            session=s, kind="ice_storm", level="yellow", title="t", districts=["520103"]
        )
        start = utcnow()
        first = planning.plan_incident(session=s, incident=incident, start=start, settings=settings)
        again = planning.plan_incident(session=s, incident=incident, start=start, settings=settings)
        assert [t.id for t in first] == [t.id for t in again]
        yellow = {t.plan_key: t.slots for t in again}
        incident.level = "red"
        grown = planning.plan_incident(session=s, incident=incident, start=start, settings=settings)
        assert len(grown) == len(first)
        assert all(t.slots > yellow[t.plan_key] for t in grown)  # red = 1.5 × orange
        planned = s.exec(select(OutboxEvent).where(OutboxEvent.type == "nuanliu.task.planned"))
        assert len(planned.all()) == 2 * len(first)  # new tasks, then each grown one
        s.rollback()


@hyp_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=80))
def test_any_reply_text_is_handled_without_crashing(engine, settings, demo, text):
    now = utcnow()
    with Session(engine) as s:
        from coordinator.volunteers.models import Volunteer

        volunteer = s.exec(select(Volunteer)).first()
        assert volunteer is not None
        task = add_task(s, now=now, kind="x", lasts=timedelta(hours=1))
        add_assignment(s, task, volunteer.id, expires_at=now + timedelta(minutes=5))
        result = handle_text(s, volunteer.phone, text)
        assert result in {
            "help",
            "which_offer",
            "offer_closed",
            "accepted",
            "declined",
            "completed",
            "already",
            "opted_out",
            "ignored",
        }
        s.rollback()


def test_replies_read_together_see_the_decisions_made_before_them(engine, demo):
    """The dispatch consumer answers a batch of texts from one context read for all of them:
    a text must see what an earlier text of the same batch decided, exactly as if each had
    been read alone."""
    from coordinator.dispatch.models import Assignment
    from coordinator.logistics.models import Place
    from coordinator.sms.models import SmsMessage
    from coordinator.volunteers.models import Volunteer

    now = utcnow()

    def answer_all(s: Session, texts: list[tuple[str, str]], *, batched: bool) -> list[str]:
        context = (
            replies.reply_context(session=s, texts=[(p, parse_reply(b)) for p, b in texts])
            if batched
            else None
        )
        return [handle_text(s, p, b, now=now, context=context) for p, b in texts]

    outcomes = {}
    for batched in (True, False):
        with Session(engine) as s:
            a, b, c = s.exec(select(Volunteer).order_by(Volunteer.id).limit(3)).all()
            station = s.exec(select(Place).where(Place.kind == "station")).first()
            assert station is not None
            station.manager_phones = "+8613900000077"
            task = add_task(s, slots=3, now=now)
            for n, (v, code) in enumerate(((a, "A2A"), (b, "B3B"), (c, "C4C"))):
                add_assignment(
                    s, task, v.id, slot=n, code=code, expires_at=now + timedelta(minutes=5)
                )
            texts = [
                (a.phone, "1 A2A"),
                (a.phone, "1"),  # again: already confirmed by the text before
                (b.phone, "2"),
                (b.phone, "1 B3B"),  # declined a moment ago: that offer is closed
                (c.phone, "完成"),  # nothing accepted to complete
                ("+8613900000099", "1"),
                ("+8613900000077", "hello"),
            ]
            outcomes[batched] = answer_all(s, texts, batched=batched)
            statuses = s.exec(select(Assignment.status).order_by(Assignment.slot)).all()
            answered = s.exec(
                select(SmsMessage.template).where(SmsMessage.direction == "outbound")
            ).all()
            outcomes[batched] = (outcomes[batched], statuses, sorted(answered))
            s.rollback()
    assert outcomes[True][0] == [
        "accepted",
        "already",
        "declined",
        "offer_closed",
        "help",
        "unknown_number",
        "ignored",
    ]
    assert outcomes[True][1] == ["accepted", "declined", "offered"]
    assert outcomes[True] == outcomes[False]


@pytest.mark.parametrize("elsewhere", ["offered", "accepted"])
def test_a_late_yes_never_gives_a_volunteer_two_tasks_in_one_shift(engine, demo, elsewhere):
    """Once their offer expired, the volunteer could be asked for another task in the same
    shift; their "yes" to the first, sent in time but read after that, must not book them
    twice: the first offer stays closed and the second is theirs to answer (or already theirs).
    (Found by the crash test: 30 volunteers held two tasks at once.)"""
    from coordinator.dispatch.models import Assignment
    from coordinator.volunteers.models import Volunteer

    deadline = utcnow() - timedelta(minutes=2)
    with Session(engine) as s:
        v = s.exec(select(Volunteer).order_by(Volunteer.id)).first()
        first = add_task(s, slots=1, now=deadline)
        second = add_task(s, slots=1, now=deadline, starts_in=timedelta(hours=2))
        mine = add_assignment(s, first, v.id, code="A2A", expires_at=deadline)
        assert responses.expire_overdue(session=s, now=deadline + timedelta(seconds=1)) == 1
        later = deadline + timedelta(minutes=10)
        other = add_assignment(s, second, v.id, code="B3B", status=elsewhere, expires_at=later)
        result = handle_text(s, v.phone, "1 A2A", answered_at=deadline - timedelta(minutes=1))
        assert result == "offer_closed"
        assert s.get(Assignment, mine.id).status == "expired"
        assert s.get(Assignment, other.id).status == elsewhere
        s.rollback()


@pytest.mark.parametrize(
    ("since", "answered", "outcome"),
    [
        ("offered", timedelta(minutes=-1), "accepted"),  # the refill's offer is withdrawn
        ("nobody", timedelta(minutes=-1), "accepted"),  # nobody else was asked yet
        ("accepted", timedelta(minutes=-1), "offer_closed"),  # the slot is someone's for good
        ("offered", timedelta(minutes=1), "offer_closed"),  # the "yes" itself came too late
    ],
)
def test_a_yes_sent_in_time_counts_though_the_offer_expired_before_it_was_read(
    engine, demo, since, answered, outcome
):
    """Replies wait in the queue while the expiry runs on the clock: an answer that arrived
    before the deadline takes the slot back unless someone has accepted it since."""
    from coordinator.dispatch.models import Assignment
    from coordinator.volunteers.models import Volunteer
    from events.outbox import OutboxEvent

    deadline = utcnow() - timedelta(minutes=2)
    with Session(engine) as s:
        a, b = s.exec(select(Volunteer).order_by(Volunteer.id).limit(2)).all()
        task = add_task(s, slots=1, now=deadline)
        mine = add_assignment(s, task, a.id, expires_at=deadline)
        assert responses.expire_overdue(session=s, now=deadline + timedelta(seconds=1)) == 1
        other = None
        if since != "nobody":
            later = deadline + timedelta(minutes=10)
            other = add_assignment(s, task, b.id, code="B3B", status=since, expires_at=later)
        s.flush()
        result = handle_text(s, a.phone, "1", answered_at=deadline + answered)
        assert result == outcome
        mine = s.get(Assignment, mine.id)
        if outcome == "accepted":
            assert mine.status == "accepted"
            assert mine.responded_at == deadline + answered
            if other is not None:
                assert s.get(Assignment, other.id).status == "cancelled"
        else:
            assert mine.status == "expired"
            if other is not None:
                assert s.get(Assignment, other.id).status == since
        types = [e.type for e in s.exec(select(OutboxEvent)).all() if "assignment" in e.type]
        if outcome == "accepted":
            assert types[-1] == "nuanliu.assignment.accepted"
            assert ("nuanliu.assignment.cancelled" in types) == (other is not None)
        s.rollback()


@pytest.mark.parametrize("ended", ["expired", "declined", "cancelled"])
def test_a_no_to_an_offer_that_is_over_is_not_answered_as_not_understood(engine, demo, ended):
    """A "2" that reaches us after the offer ended (it expired while the text waited, or a
    second "no") changes nothing and sends nothing: the volunteer was told when it ended."""
    from coordinator.sms.models import SmsMessage
    from coordinator.volunteers.models import Volunteer

    with Session(engine) as s:
        v = s.exec(select(Volunteer).order_by(Volunteer.id)).first()
        task = add_task(s, slots=1)
        mine = add_assignment(s, task, v.id, code="K4F", status=ended)
        s.flush()
        for body in ("2", "2 K4F", "否"):
            assert handle_text(s, v.phone, body) == "already", body
        assert s.get(Assignment, mine.id).status == ended
        outbound = select(SmsMessage).where(SmsMessage.direction == "outbound")
        assert s.exec(outbound).all() == []
        s.rollback()


def _auto_answers(s: Session, phone: str) -> list[str]:
    from coordinator.sms.models import SmsMessage

    rows = s.exec(
        select(SmsMessage.kind).where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
    ).all()
    return list(rows)


def test_an_auto_responder_gets_three_answers_an_hour_and_no_more(engine, demo, caplog):
    """Two machines answering each other's answers would text forever: after three automatic
    answers in an hour a number gets none, across transactions and processes (the count is
    read from the stored messages), while its texts are still acted on."""
    import logging

    from coordinator.sms.models import SmsMessage
    from coordinator.volunteers.models import Volunteer

    now = utcnow()
    stranger = "+8613900000099"
    with Session(engine) as s:
        volunteer = s.exec(select(Volunteer).order_by(Volunteer.id)).first()
        assert volunteer is not None
        phone, vid = volunteer.phone, volunteer.id
        # an hour and a minute ago: outside the window, it does not count
        s.add(
            SmsMessage(
                direction="outbound",
                phone=phone,
                body="old",
                status="sent",
                kind="help",
                created_at=now - timedelta(minutes=61),
            )
        )
        s.commit()
    outcomes = []
    with caplog.at_level(logging.INFO):
        for n in range(5):
            # a fresh session each time, as if each text reached another worker process
            with Session(engine) as s:
                outcomes.append(handle_text(s, phone, "自动回复：您好"))
                outcomes.append(handle_text(s, stranger, "收到"))
                if n == 4:  # two in one transaction, the first still unflushed
                    handle_text(s, phone, "?")
                s.commit()
    assert outcomes == ["help", "unknown_number"] * 5  # the outcome is the same
    with Session(engine) as s:
        assert sorted(_auto_answers(s, phone)) == ["help"] * 4  # the old one + three
        assert _auto_answers(s, stranger) == ["unknown_number"] * 3
        # answers to real actions are never held back: the volunteer can still take a task
        task = add_task(s, now=now)
        offer = add_assignment(s, task, vid, code="K4F", expires_at=now + timedelta(minutes=5))
        assert handle_text(s, phone, "接受 K4F", now=now) == "accepted"
        assert offer.status == "accepted"  # its confirmation is notify's, never limited
        # and an opt-out past the limit still opts out, though it is not confirmed
        assert handle_text(s, phone, "TD", now=now) == "opted_out"
        assert s.get(Volunteer, vid).opted_out  # type: ignore[union-attr]
        assert "opted_out" not in _auto_answers(s, phone)
        s.rollback()
    held = [r.getMessage() for r in caplog.records if "not answering" in r.getMessage()]
    assert len(held) == 6  # the 4th and 5th text of each number, the "?" and the TD
    assert all(phone not in line and stranger not in line for line in held)
    assert any("+86 139****0099" in line for line in held)


def test_the_auto_answer_limit_is_a_setting(engine, demo):
    stranger = "+8613900000098"
    with Session(engine) as s:
        for _ in range(3):
            handle_text(s, stranger, "hi", auto_answer_limit=1)
        assert _auto_answers(s, stranger) == ["unknown_number"]
        s.rollback()
    from coordinator.config import Settings

    assert Settings().auto_answer_limit == 3
    assert Settings(NUANLIU_AUTO_ANSWER_LIMIT="0").auto_answer_limit == 0


class _Timers:
    def __init__(self) -> None:
        self.set: dict[str, datetime] = {}

    def once(self, job_id: str, at: datetime, *, key: str) -> None:
        self.set[key] = at


def test_a_travel_rush_day_is_planned_offered_and_timed_by_the_dispatch_consumer(
    engine, settings, demo
):
    """The calendar's copy of planning never set the offers' expiry timers; the day's
    planning now goes through the dispatch consumer like every alert's."""
    from events.payloads.incidents import TravelRushDayBegan

    timers = _Timers()
    start = utcnow()
    with Session(engine) as s:
        rush = incidents.open_incident(
            session=s, kind="travel_rush", level="yellow", title="春运", districts=["520103"]
        )
        event = TravelRushDayBegan(
            incident_id=rush.id or 0,
            day=start.astimezone(ZoneInfo(settings.timezone)).date(),
            starts_at=start,
        )
        ctx = Context(
            session=s,
            envelope=Envelope.wrap(event),
            services=Services(settings=settings, engine=engine, timers=timers),
        )
        dispatch_consumer.on_travel_rush_day_began(ctx, event)
        offered = s.exec(select(Assignment).where(Assignment.incident_id == rush.id)).all()
        assert offered, "the day's shifts were planned and offered"
        for action in ctx._after_commit:  # what the runner does after its commit
            action()
        deadlines = {aware(a.expires_at) for a in offered}
        expiries = [k for k in timers.set if k.startswith("offer-expiry-")]
        assert len(expiries) == len(deadlines) >= 1
        # and the no-show checks of the day's shifts, a pair per start time
        starts = {
            aware(t.starts_at) for t in s.exec(select(Task)).all() if t.incident_id == rush.id
        }
        no_shows = [k for k in timers.set if k.startswith("no-show-")]
        assert len(no_shows) <= 2 * len(starts) and no_shows
        s.rollback()
