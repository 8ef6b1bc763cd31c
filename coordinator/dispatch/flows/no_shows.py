"""No-shows: an accepted volunteer not checked in `remind_after` past the shift's start (or
their acceptance, when that came later) gets one SMS; one not checked in `release_after` past
it loses the slot, which goes to the next
best volunteer (a cancel `by="no_show"`: the dispatch consumer refills it as any freed
slot, `offers.refill_slot`), and the no-show is written to the hours ledger.

Each assignment is decided under its task's lock, re-read with its check-in: a volunteer who
checked in a moment before keeps the slot, whatever the order the two transactions run in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from coordinator.accounts.service import record_audit
from coordinator.common import aware, utcnow
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.attendance import local_time
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.transitions import SYSTEM, reload
from coordinator.dispatch.models import Assignment, RecordKind, ServiceRecord
from coordinator.dispatch.models import AssignmentStatus as S
from coordinator.dispatch.texts import task_params
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster

#: the template of the one reminder (also how the sweep knows it was sent)
WARNING = "no_show_warning"


@dataclass(frozen=True)
class Swept:
    warned: int
    released: int


def sweep(
    *,
    session: Session,
    remind_after: timedelta,
    release_after: timedelta,
    tz: str,
    now: datetime | None = None,
) -> Swept:
    """Remind and release every no-show due by `now` (in task order, as the solver locks)."""
    now = now or utcnow()
    warned = released = 0
    due = svc.not_checked_in(session=session, started_before=now - remind_after, now=now)
    for a, task in due:
        start = aware(task.starts_at)
        assert start is not None and a.id is not None
        anchor = late_anchor(start, a)
        if now < anchor + remind_after:
            continue
        if now >= anchor + release_after:
            released += release(session=session, assignment_id=a.id, now=now)
        elif not sms.was_queued(session=session, assignment_id=a.id, template=WARNING):
            volunteer = roster.get_volunteer(session=session, volunteer_id=a.volunteer_id)
            if volunteer is None or volunteer.opted_out:
                continue
            sms.queue_template(
                session=session,
                phone=volunteer.phone,
                template=WARNING,
                lang=volunteer.language,
                volunteer_id=volunteer.id,
                assignment_id=a.id,
                **task_params(task, volunteer.language, tz),
                code=a.short_code,
                start=local_time(start, tz),
            )
            warned += 1
    return Swept(warned, released)


def late_anchor(start: datetime, a: Assignment) -> datetime:
    """Where a volunteer's lateness counts from: the shift's start, or their acceptance when
    they took the slot after the start (a shift planned at 10:00 that began at 06:00 must not
    lose at 10:05 the volunteer who accepted at 10:01)."""
    accepted = aware(a.responded_at)
    return max(start, accepted) if accepted is not None else start


def release(*, session: Session, assignment_id: int, now: datetime) -> int:
    """Take the slot of a volunteer who did not come (1), unless they checked in or the
    assignment is no longer accepted meanwhile (0)."""
    svc.lock_task(session=session, task_id=reload(session, assignment_id).task_id)
    a = reload(session, assignment_id)
    if a.status != S.ACCEPTED:
        return 0
    if svc.record_of_kind(session=session, assignment_id=assignment_id, kind=RecordKind.CHECK_IN):
        return 0  # never re-offer a slot whose volunteer is there
    session.add(
        ServiceRecord(
            assignment_id=assignment_id,
            task_id=a.task_id,
            volunteer_id=a.volunteer_id,
            kind=RecordKind.NO_SHOW,
            at=now,
            source="system",
            actor=SYSTEM,
            reason="not checked in",
        )
    )
    cancel_assignment(
        session=session,
        assignment_id=assignment_id,
        actor=SYSTEM,
        reason="no-show: not checked in",
        by="no_show",
    )
    record_audit(
        session=session,
        actor=SYSTEM,
        action="assignment.no_show",
        subject=f"assignment:{assignment_id}",
        detail={"task_id": a.task_id, "volunteer_id": a.volunteer_id, "slot": a.slot},
    )
    return 1
