"""The repair sweep: a recurring job that mends what `nuanliu check` finds a crash left behind.

A process that dies with events in flight (kill -9 on the in-memory broker) loses them: an
incident never planned, a freed slot never refilled, a volunteer's "yes" never read. Each
repair goes through the same flow the lost event would have run, only for work older than
`Settings.repair_grace` (younger work may still be on the normal path), one transaction per
repair (one that fails is logged and tried again next sweep), each audited as `repair.*`.
Run on a healthy database, the sweep changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from coordinator.accounts.service import record_audit
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.dispatch import invariants as dispatch_invariants
from coordinator.dispatch import jobs
from coordinator.dispatch import service as dispatch_service
from coordinator.dispatch.flows import offers, planning
from coordinator.dispatch.models import Incident, Task
from coordinator.scheduling import JobContext, NoTimers, RecurringJob, Timers
from events.outbox import WAKE, OutboxEvent
from nuanliu import check

log = logging.getLogger(__name__)

ACTOR = "system:repair"


@dataclass
class Repairs:
    """What one sweep did (for the log and the tests)."""

    replanned: int = 0
    refilled: int = 0
    flagged: int = 0
    republished: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


#: what :func:`_attempt` returns for a repair that failed
FAILED: Any = object()


def _attempt(engine: Engine, what: str, fn: Callable[[Session], Any]) -> Any:
    """Run one repair in its own transaction; a failure (a race with the consumer on a unique
    key, a lock timeout) rolls back that repair alone, is logged, and returns FAILED."""
    try:
        with session_scope(engine) as session:
            return fn(session)
    except Exception:
        log.exception("repair of %s failed; the next sweep tries again", what)
        return FAILED


def replan_incident(
    *, session: Session, incident_id: int, settings: Settings, now: datetime
) -> list[offers.Offer] | None:
    """Plan and offer an open incident that still has no tasks, as its AlertRaised would
    have; None when there was nothing to do (closed, planned meanwhile, or the playbook makes
    no task for it). The caller schedules the offers' timers after commit."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.status != "open":
        return None
    if dispatch_service.tasks_of(session=session, incident_id=incident_id):
        return None  # the consumer planned it since the sweep looked
    made = planning.plan_and_offer(
        session=session,
        incident=incident,
        starts_at=aware(incident.starts_at),
        settings=settings,
        now=now,
    )
    tasks = dispatch_service.tasks_of(session=session, incident_id=incident_id)
    if not tasks:
        # nothing to plan (no districts or stations the playbook can use): a person must
        # look; auditing it every sweep would only fill the log
        log.warning("repair: incident %d has no tasks and its playbook makes none", incident_id)
        return None
    record_audit(
        session=session,
        actor=ACTOR,
        action="repair.replanned",
        subject=f"incident:{incident_id}",
        detail={"tasks": len(tasks), "offers": len(made)},
    )
    return made


def refill_empty_slot(
    *, session: Session, task_id: int, slot: int, settings: Settings, now: datetime
) -> tuple[str, offers.Offer | None] | None:
    """Offer a forgotten empty slot to the next volunteer, as the lost decline/expiry/cancel
    would have (`offers.refill_slot`, which flags the task unfillable when nobody is left).
    Returns ("refilled", the offer: the caller schedules its timer after commit),
    ("flagged", None), or None when there was nothing to do (the slot was taken again)."""
    offer = offers.refill_slot(
        session=session, task_id=task_id, slot=slot, settings=settings, now=now
    )
    if offer is not None:
        action, detail = "repair.refilled", {"assignment_id": offer.id}
    else:
        task = session.get(Task, task_id)
        if task is None or not task.unfillable:
            return None
        action, detail = "repair.flagged_unfillable", {}
    record_audit(
        session=session,
        actor=ACTOR,
        action=action,
        subject=f"task:{task_id}",
        detail={"slot": slot, **detail},
    )
    return ("refilled", offer) if offer is not None else ("flagged", None)


def republish_replies(*, session: Session, now: datetime, grace: timedelta) -> int:
    """Mark unpublished again the events of stored texts a consumer never applied, so the
    relay publishes them once more (consumers dedupe on `processed_events`, so a text applied
    meanwhile changes nothing). The texts are never applied here: that would race the
    consumer. Rows still waiting for the relay, or published again within `grace`, are left
    alone, so a sweep does not republish what is already on its way."""
    cutoff = now - grace
    due = [
        r
        for r in check.find_unapplied_replies(session, older_than=cutoff)
        if r.published_at is not None and r.published_at < cutoff
    ]
    if not due:
        return 0
    session.execute(
        update(OutboxEvent)
        .where(col(OutboxEvent.id).in_([r.outbox_id for r in due]))
        .where(col(OutboxEvent.published_at).is_not(None))
        .values(published_at=None)
    )
    for r in due:
        record_audit(
            session=session,
            actor=ACTOR,
            action="repair.republished",
            subject=f"outbox:{r.outbox_id}",
            detail={"sms_id": r.message_id, "consumers": list(r.consumers)},
        )
    return len(due)


def sweep(
    *,
    engine: Engine,
    settings: Settings,
    timers: Timers | None = None,
    now: datetime | None = None,
) -> Repairs:
    """Find and repair every lost piece of work older than `settings.repair_grace`: incidents
    without tasks (unless their AlertRaised still waits in the outbox), empty unflagged slots,
    texts never applied. Idempotent; sets new offers' expiry timers after each commit (none
    without `timers`: the expiry sweep expires them then)."""
    timers = timers or NoTimers()
    now = now or utcnow()
    grace = settings.repair_grace
    before = now - grace
    done = Repairs()
    with Session(engine) as session:
        incidents = dispatch_invariants.open_incidents_without_tasks(session, before=before)
        waiting = dispatch_invariants.alerts_waiting(session, incidents)
        slots = dispatch_invariants.empty_slots(session, now=now, before=before)
    for incident_id in incidents:
        if incident_id in waiting:
            continue  # the relay will publish its alert and the consumer will plan it

        def replan(s: Session, i: int = incident_id) -> list[offers.Offer] | None:
            return replan_incident(session=s, incident_id=i, settings=settings, now=now)

        made = _attempt(engine, f"incident {incident_id}", replan)
        if made is FAILED:
            done.failed += 1
        elif made is not None:
            done.replanned += 1
            jobs.schedule_expiries(timers, made)
    for task_id, slot in slots:

        def refill(
            s: Session, t: int = task_id, n: int = slot
        ) -> tuple[str, offers.Offer | None] | None:
            return refill_empty_slot(session=s, task_id=t, slot=n, settings=settings, now=now)

        result = _attempt(engine, f"task {task_id} slot {slot}", refill)
        if result is FAILED:
            done.failed += 1
        elif result is not None:
            _, offer = result
            if offer is not None:
                done.refilled += 1
                jobs.schedule_expiries(timers, [offer])
            else:
                done.flagged += 1
    republished = _attempt(
        engine, "texts never applied", lambda s: republish_replies(session=s, now=now, grace=grace)
    )
    if republished is FAILED:
        done.failed += 1
    elif republished:
        done.republished = republished
        WAKE.set()  # the relay in this process publishes them now rather than on its poll
    return done


# -- the scheduler job -------------------------------------------------------------------------
def repair_sweep(context: JobContext) -> Repairs:
    """The recurring job: :func:`sweep` with the job's engine, settings and timers."""
    done = sweep(engine=context.engine, settings=context.settings, timers=context.timers)
    if done:
        log.warning("repair sweep: %s", done)
    return done


def recurring(settings: Settings) -> list[RecurringJob]:
    """The repair sweep, every `settings.repair_interval_s`."""
    return [("repair-sweep", repair_sweep, "interval", {"seconds": settings.repair_interval_s})]
