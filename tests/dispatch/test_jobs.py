"""Time turned into events: offer expiry (per-deadline timers and the recurring sweep) and
shift reminders."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.dispatch import jobs
from coordinator.dispatch.models import Assignment
from coordinator.scheduling import JobContext, NoTimers
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from events.outbox import OutboxEvent
from nuanliu.scheduler import SchedulerTimers, install_jobs, make_scheduler, recurring_jobs, run_job
from tests.dispatch.helpers import add_assignment, add_task


def _setup(engine, *, starts_in: timedelta, status: str, expires_in: timedelta) -> int:
    now = utcnow()
    with Session(engine) as s:
        vid = s.exec(select(Volunteer.id).order_by(col(Volunteer.id))).first()
        task = add_task(
            s,
            now=now,
            starts_in=starts_in,
            title="路面除冰",
            title_en="Road de-icing",
            place="解放桥",
            place_en="Jiefang bridge",
        )
        a = add_assignment(s, task, vid, status=status, expires_at=now + expires_in)
        s.commit()
        assert a.id is not None
        return a.id


def test_recurring_jobs_include_the_sweeps(settings, engine):
    ids = {job_id for job_id, *_ in recurring_jobs(settings)}
    assert {"dispatch-expire-offers", "dispatch-reminders"} <= ids
    scheduler = make_scheduler(engine, settings)  # every job must be storable in the database
    timers = SchedulerTimers(scheduler)
    install_jobs(scheduler, JobContext(settings=settings, engine=engine, timers=timers))
    scheduler.start(paused=True)
    try:
        assert ids <= {j.id for j in scheduler.get_jobs()}
        jobs.schedule_expiry(timers, utcnow() + timedelta(minutes=10))
        (timer,) = [j for j in scheduler.get_jobs() if j.id.startswith("offer-expiry-")]
        assert timer.args == ("dispatch-expire-offers",)  # a listed job, run by the trampoline
    finally:
        scheduler.shutdown(wait=False)


def test_the_trampoline_runs_a_listed_job_with_the_context(settings, engine, demo):
    overdue = _setup(
        engine, starts_in=timedelta(hours=1), status="offered", expires_in=-timedelta(seconds=1)
    )
    context = JobContext(settings=settings, engine=engine, timers=NoTimers())
    assert run_job("dispatch-expire-offers", context) == 1
    assert run_job("no-such-job", context) is None  # a stored job since unlisted is skipped
    with Session(engine) as s:
        assert s.get(Assignment, overdue).status == "expired"


def _context(settings, engine) -> JobContext:
    return JobContext(settings=settings, engine=engine, timers=NoTimers())


def test_sweep_expires_only_overdue_offers(settings, engine, demo):
    overdue = _setup(
        engine, starts_in=timedelta(hours=1), status="offered", expires_in=-timedelta(seconds=1)
    )
    assert jobs.expire_due(_context(settings, engine)) == 1
    assert jobs.expire_due(_context(settings, engine)) == 0  # twice changes nothing
    with Session(engine) as s:
        assert s.get(Assignment, overdue).status == "expired"
        types = s.exec(select(OutboxEvent.type).where(OutboxEvent.type.like("%assignment%"))).all()
    assert types == ["nuanliu.assignment.expired"]


def test_reminder_goes_once_before_an_accepted_shift(settings, engine, demo):
    soon = _setup(
        engine, starts_in=timedelta(minutes=30), status="accepted", expires_in=timedelta(minutes=5)
    )
    later = _setup(
        engine, starts_in=timedelta(hours=5), status="accepted", expires_in=timedelta(minutes=5)
    )
    assert jobs.send_reminders(_context(settings, engine)) == 1
    assert jobs.send_reminders(_context(settings, engine)) == 0
    with Session(engine) as s:
        sms = s.exec(select(SmsMessage).where(SmsMessage.kind == "reminder")).all()
        assert len(sms) == 1 and sms[0].assignment_id == soon
        assert "路面除冰" in sms[0].body and "解放桥" in sms[0].body
        assert s.get(Assignment, later).reminded_at is None
