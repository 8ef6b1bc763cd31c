"""No-shows (issue 15, item 3): one SMS NUANLIU_NO_SHOW_REMIND_AFTER past the start, the slot
offered to the next best volunteer NUANLIU_NO_SHOW_AFTER past it (through the dispatch
consumer's refill, on the real broker), the no-show recorded, never a slot whose volunteer
checked in; the timers are stored jobs that survive a restart of the scheduler."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from consumers import CONSUMERS
from coordinator.common import utcnow
from coordinator.dispatch import jobs
from coordinator.dispatch.flows import attendance, no_shows
from coordinator.dispatch.models import Assignment, ServiceRecord
from coordinator.scheduling import JobContext, NoTimers
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from nuanliu.scheduler import SchedulerTimers, install_jobs, make_scheduler
from tests.conftest import wait_for
from tests.dispatch.helpers import add_assignment, add_task, handle_text

RULES = attendance.Rules.defaults()


def _late(engine: Any, started: timedelta, *, slots: int = 1) -> tuple[int, int, str]:
    """An accepted assignment (id, volunteer id, phone) in a task that started `started`
    ago, four hours long, with no skills needed (so the refill finds someone)."""
    now = utcnow()
    with Session(engine) as s:
        v = s.exec(
            select(Volunteer).where(Volunteer.status == "active").order_by(col(Volunteer.id))
        ).first()
        assert v is not None
        task = add_task(
            s, now=now, starts_in=-started, lasts=timedelta(hours=4), slots=slots, skills=[]
        )
        a = add_assignment(s, task, v.id, status="accepted", code="K4F")
        s.commit()
        return a.id or 0, v.id or 0, v.phone


def _sweep(engine: Any, settings: Any) -> int:
    return jobs.sweep_no_shows(JobContext(settings=settings, engine=engine, timers=NoTimers()))


def _texts(engine: Any, phone: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(SmsMessage.kind)
                .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
                .order_by(col(SmsMessage.id))
            ).all()
        )


def test_one_reminder_then_the_slot_goes(engine: Any, settings: Any, demo: None) -> None:
    aid, _, phone = _late(engine, timedelta(minutes=20))
    assert _sweep(engine, settings) == 0 and _texts(engine, phone) == []  # too soon
    with Session(engine) as s:
        now = utcnow()
        got = no_shows.sweep(
            session=s,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
            now=now + timedelta(minutes=11),  # 31 minutes in
        )
        assert (got.warned, got.released) == (1, 0)
        again = no_shows.sweep(
            session=s,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
            now=now + timedelta(minutes=12),
        )
        assert again.warned == 0  # one SMS, though the first is not sent yet
        s.commit()
    [warning] = _texts(engine, phone)
    assert warning == "no_show_warning"
    with Session(engine) as s:
        body = s.exec(select(SmsMessage.body).where(SmsMessage.kind == "no_show_warning")).one()
        assert "到 K4F" in body and "未签到" in body
        got = no_shows.sweep(
            session=s,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
            now=utcnow() + timedelta(minutes=26),  # 46 minutes in
        )
        assert got.released == 1
        s.commit()
        a = s.get(Assignment, aid)
        assert a is not None and a.status == "cancelled" and a.closed_reason.startswith("no-show")
        [record] = s.exec(select(ServiceRecord).where(ServiceRecord.assignment_id == aid)).all()
        assert record.kind == "no_show" and record.actor == "system:dispatch"


def test_lateness_counts_from_an_acceptance_after_the_start(
    engine: Any, settings: Any, demo: None
) -> None:
    aid, _, phone = _late(engine, timedelta(hours=2))  # a shift planned after it began
    with Session(engine) as s:
        a = s.get(Assignment, aid)
        assert a is not None
        a.responded_at = utcnow() - timedelta(minutes=5)  # they took it five minutes ago
        s.add(a)
        s.commit()
    assert _sweep(engine, settings) == 0 and _texts(engine, phone) == []
    with Session(engine) as s:
        got = no_shows.sweep(
            session=s,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
            now=utcnow() + timedelta(minutes=41),  # 46 minutes after accepting
        )
        assert got.released == 1
        s.rollback()


def test_a_no_show_counts_in_the_fairness_as_the_shift_served(
    engine: Any, settings: Any, demo: None
) -> None:
    from coordinator.dispatch import candidates

    aid, vid, _ = _late(engine, timedelta(minutes=50))
    with Session(engine) as s:
        assert candidates.served_hours(session=s, now=utcnow(), volunteer_ids=[vid]) == {vid: 4.0}
    assert _sweep(engine, settings) == 1  # cancelled: no longer "accepted", yet it still counts
    with Session(engine) as s:
        assert s.get(Assignment, aid).status == "cancelled"  # type: ignore[union-attr]
        assert candidates.served_hours(session=s, now=utcnow(), volunteer_ids=[vid]) == {vid: 4.0}
        everyone = candidates.served_hours(session=s, now=utcnow())
        assert everyone[vid] == 4.0


def test_a_volunteer_who_checked_in_keeps_the_slot(engine: Any, settings: Any, demo: None) -> None:
    aid, _, phone = _late(engine, timedelta(minutes=40))
    with Session(engine) as s:
        assert handle_text(s, phone, "到", rules=RULES) == "checked_in"  # 40 minutes late
        s.commit()
    assert _sweep(engine, settings) == 0
    with Session(engine) as s:
        later = utcnow() + timedelta(hours=2)
        got = no_shows.sweep(
            session=s,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
            now=later,
        )
        assert (got.warned, got.released) == (0, 0)
        # and the release itself, asked directly, refuses
        assert no_shows.release(session=s, assignment_id=aid, now=later) == 0
        assert s.get(Assignment, aid).status == "accepted"  # type: ignore[union-attr]
    assert "no_show_warning" not in _texts(engine, phone)


def test_a_no_show_is_refilled_by_the_dispatch_consumer(
    engine: Any, settings: Any, demo: None, make_runtime: Any
) -> None:
    make_runtime(consumers=CONSUMERS)
    aid, vid, phone = _late(engine, timedelta(minutes=50))
    assert _sweep(engine, settings) == 1
    with Session(engine) as s:
        task_id = s.get(Assignment, aid).task_id  # type: ignore[union-attr]

    def refilled() -> Assignment | None:
        with Session(engine) as s:
            return s.exec(
                select(Assignment).where(
                    Assignment.task_id == task_id, Assignment.status == "offered"
                )
            ).first()

    offer = wait_for(refilled, timeout=30)
    assert offer.volunteer_id != vid and offer.slot == 0 and offer.source == "refill"
    wait_for(lambda: "no_show_released" in _texts(engine, phone), timeout=30)
    assert "cancelled" not in _texts(engine, phone)  # told why, not "the task is cancelled"
    # the late one texting 到 now is told there is nothing to check in to
    with Session(engine) as s:
        assert handle_text(s, phone, "到 K4F", rules=RULES) == "attendance_refused"
        s.rollback()


def test_accepting_sets_stored_timers_that_survive_a_restart(
    engine: Any, settings: Any, demo: None
) -> None:
    quick = settings.model_copy(
        update={"no_show_remind_after": timedelta(seconds=1), "no_show_after": timedelta(seconds=3)}
    )
    aid, _, _ = _late(engine, timedelta(0))
    with Session(engine) as s:
        start = s.get(Assignment, aid)
        assert start is not None
        from coordinator.dispatch.models import Task

        task = s.get(Task, start.task_id)
        assert task is not None
        starts_at = task.starts_at
    first = make_scheduler(engine, quick)
    timers = SchedulerTimers(first)
    install_jobs(first, JobContext(settings=quick, engine=engine, timers=timers))
    first.start(paused=True)
    jobs.schedule_no_show_checks(timers, quick, starts_at)
    first.shutdown(wait=False)  # the process dies before either timer fires
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT id FROM scheduler_jobs"))}
    assert {k for k in stored if k.startswith("no-show-")} == {
        f"no-show-remind-{int(starts_at.timestamp())}",
        f"no-show-release-{int(starts_at.timestamp())}",
    }
    second = make_scheduler(engine, quick)  # a new process, the same database
    install_jobs(second, JobContext(settings=quick, engine=engine, timers=SchedulerTimers(second)))
    second.start()
    try:

        def released() -> bool:
            with Session(engine) as s:
                return s.get(Assignment, aid).status == "cancelled"  # type: ignore[union-attr]

        wait_for(released, timeout=20)
    finally:
        second.shutdown(wait=False)


def test_offers_made_set_the_no_show_checks_of_their_shifts(
    engine: Any, settings: Any, demo: None
) -> None:
    """Offers just made (a plan, a refill) set their expiry timers and the two no-show checks
    of their shift's start, after the commit: once per batch, not once per acceptance."""
    from consumers import dispatch as dispatch_consumer
    from consumers.registry import Context
    from coordinator.dispatch.flows.offers import Offer
    from coordinator.process import Services
    from events.envelope import Envelope
    from events.payloads.assignments import AssignmentAccepted

    class Timers:
        def __init__(self) -> None:
            self.keys: list[tuple[str, str]] = []

        def once(self, job_id: str, at: Any, *, key: str) -> None:
            self.keys.append((job_id, key))

    aid, vid, _ = _late(engine, -timedelta(hours=2))  # starts in two hours
    timers = Timers()
    with Session(engine) as s:
        a = s.get(Assignment, aid)
        assert a is not None
        made = [
            Offer(
                id=aid,
                task_id=a.task_id,
                volunteer_id=vid,
                slot=a.slot,
                short_code=a.short_code,
                expires_at=utcnow() + timedelta(minutes=10),
            )
        ] * 3  # three offers of one shift: one pair of checks
        event = AssignmentAccepted(
            assignment_id=aid, task_id=a.task_id, incident_id=a.incident_id, volunteer_id=vid
        )
        services = Services(settings=settings, engine=engine, timers=timers)
        ctx = Context(session=s, envelope=Envelope.wrap(event), services=services)
        dispatch_consumer.set_offer_timers(ctx, made)
        assert timers.keys == []  # nothing before the commit
        for fn in ctx._after_commit:  # type: ignore[attr-defined]
            fn()
    checks = sorted(key.split("-")[2] for job, key in timers.keys if job == jobs.NO_SHOWS)
    assert checks == ["release", "remind"]
    assert [job for job, _ in timers.keys].count(jobs.EXPIRE_OFFERS) == 1


def _race(engine: Any, aid: int, phone: str) -> dict[str, Any]:
    """A volunteer's `到` and the no-show release of their assignment, at the same moment."""
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def check_in() -> None:
        with Session(engine) as s:
            barrier.wait()
            results["text"] = str(handle_text(s, phone, "到 K4F", rules=RULES))
            s.commit()

    def release() -> None:
        with Session(engine) as s:
            barrier.wait()
            results["released"] = no_shows.release(session=s, assignment_id=aid, now=utcnow())
            s.commit()

    threads = [threading.Thread(target=check_in), threading.Thread(target=release)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_check_in_and_the_release_at_once_never_both_win(
    engine: Any, settings: Any, demo: None, on_postgres: None
) -> None:
    for _ in range(4):
        aid, _, phone = _late(engine, timedelta(minutes=46))
        results = _race(engine, aid, phone)
        with Session(engine) as s:
            a = s.get(Assignment, aid)
            rows = s.exec(select(ServiceRecord).where(ServiceRecord.assignment_id == aid))
            kinds = [r.kind for r in rows]
            assert a is not None
            if results["text"] == "checked_in":
                assert results["released"] == 0 and a.status == "accepted"
                assert kinds == ["check_in"]
            else:
                assert results["released"] == 1 and a.status == "cancelled"
                assert kinds == ["no_show"]
            a.status = "completed"  # out of the way of the next round's `到 K4F`
            s.add(a)
            s.commit()
