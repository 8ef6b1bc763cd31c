"""A volunteer's responses to an offer (accept, decline, done) and the clock's (expiry), each
under the task's lock, through `transitions.move`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from coordinator.common import aware, utcnow
from coordinator.dispatch import candidates as eligible
from coordinator.dispatch import errors
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.transitions import SYSTEM, move, reload
from coordinator.dispatch.models import LIVE, Assignment, Incident, IncidentStatus, Task
from coordinator.dispatch.models import AssignmentStatus as S


def expire(*, session: Session, assignment: Assignment, now: datetime) -> None:
    """An offer nobody answered in time; the caller holds the task's lock."""
    move(session, assignment, S.EXPIRED, actor=SYSTEM, closed_reason="no answer in time")


def offer_not_delivered(
    *, session: Session, assignment_id: int, error: str, now: datetime | None = None
) -> bool:
    """The text of an offer never reached the volunteer (the provider refused it for good, or
    reported it undelivered): the offer expires now instead of at its deadline, so its slot
    goes to the next best volunteer at once (`AssignmentExpired` → refill). Returns whether
    it did; an offer answered, expired or withdrawn meanwhile is left as it is."""
    if session.get(Assignment, assignment_id) is None:
        return False
    a = reload(session, assignment_id)
    svc.lock_task(session=session, task_id=a.task_id)
    a = reload(session, assignment_id)
    if a.status != S.OFFERED:
        return False
    move(
        session,
        a,
        S.EXPIRED,
        actor=SYSTEM,
        closed_reason=f"offer text not delivered: {error}"[:200],
        detail={"reason": "sms_failed", "error": error[:200]},
    )
    return True


class Result(StrEnum):
    """What a response did."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    #: the offer is no longer open (taken, expired, cancelled, the incident closed)
    CLOSED = "closed"
    #: nothing to do, e.g. a repeated accept
    ALREADY = "already"


@dataclass(frozen=True)
class Outcome:
    result: Result
    assignment: Assignment


def accept(
    *,
    session: Session,
    assignment_id: int,
    now: datetime | None = None,
    actor: str = "volunteer",
    answered_at: datetime | None = None,
) -> Outcome:
    """Accept an offer. The task row is locked and the counts re-checked, so accepting the last
    slot concurrently fills it exactly once.

    `answered_at` is when the volunteer's answer arrived (`now` by default): an answer sent
    before the deadline counts even when it is applied after it. If the offer was expired
    meanwhile (the expiry runs on the clock while the answer waits its turn), it is accepted
    after all, provided its slot is free or only offered to someone else since (that offer is
    withdrawn) and the volunteer has not been asked for another task in that shift since. A
    slot someone has accepted since stays theirs."""
    now = now or utcnow()
    answered = answered_at or now
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise errors.AssignmentNotFound("no such assignment")
    task = svc.lock_task(session=session, task_id=a.task_id)
    a = reload(session, assignment_id)
    if a.status == S.ACCEPTED:
        return Outcome(Result.ALREADY, a)
    answered_in_time = in_time(a, answered)
    late_expired = a.status == S.EXPIRED and answered_in_time
    if (a.status != S.OFFERED and not late_expired) or task is None:
        return Outcome(Result.CLOSED, a)
    if not answered_in_time:
        expire(session=session, assignment=a, now=now)
        return Outcome(Result.CLOSED, a)
    incident = session.get(Incident, a.incident_id)
    if incident is None or incident.status != IncidentStatus.OPEN:
        return Outcome(Result.CLOSED, a)
    if svc.filled_count(session=session, task_id=task.id or 0) >= task.slots:
        return Outcome(Result.CLOSED, a)
    if late_expired and (_asked_elsewhere(session, a, task) or not _reclaim_slot(session, a)):
        return Outcome(Result.CLOSED, a)
    move(
        session,
        a,
        S.ACCEPTED,
        actor=actor,
        detail={"answered_at": answered.isoformat(), "after_expiry": True}
        if late_expired
        else None,
        responded_at=answered,
        closed_reason="",
    )
    return Outcome(Result.ACCEPTED, a)


def in_time(a: Assignment, answered: datetime) -> bool:
    """Whether an answer that arrived at `answered` beat the offer's deadline."""
    expires = aware(a.expires_at)
    return expires is None or answered < expires


def _asked_elsewhere(session: Session, a: Assignment, task: Task) -> bool:
    """Whether `a`'s volunteer holds another task in `task`'s shift (offered or accepted):
    once `a` expired they could be asked again, and a late "yes" must not give them two."""
    busy = eligible.busy_windows(
        session=session, start=task.starts_at, end=task.ends_at, volunteer_ids=[a.volunteer_id]
    )
    return bool(busy)


def _reclaim_slot(session: Session, a: Assignment) -> bool:
    """Free `a`'s slot for it: withdraw an offer made for that slot since `a` expired. False
    when someone holds it for good (accepted or done)."""
    holder = svc.holding_slots(session=session, task_id=a.task_id).get(a.slot)
    if holder is None or holder.id == a.id:
        return True
    if holder.status != S.OFFERED:
        return False
    cancel_assignment(
        session=session,
        assignment_id=holder.id or 0,
        actor=SYSTEM,
        reason="the slot went back to the volunteer offered it before, who answered in time",
        by="system",
    )
    session.flush()  # the slot's one holder changes before `a` takes it (a unique index)
    return True


def decline(
    *, session: Session, assignment_id: int, now: datetime | None = None, actor: str = "volunteer"
) -> Outcome:
    """Decline an offer, or step back from an accepted assignment; the slot is refilled."""
    now = now or utcnow()
    a = reload(session, assignment_id)
    svc.lock_task(session=session, task_id=a.task_id)
    a = reload(session, assignment_id)
    if a.status not in LIVE:
        return Outcome(Result.CLOSED, a)
    move(session, a, S.DECLINED, actor=actor, responded_at=now)
    return Outcome(Result.DECLINED, a)


def complete(
    *, session: Session, assignment_id: int, now: datetime | None = None, actor: str = "volunteer"
) -> Outcome:
    """The volunteer says the work is done."""
    now = now or utcnow()
    a = reload(session, assignment_id)
    if a.status == S.COMPLETED:
        return Outcome(Result.ALREADY, a)
    if a.status != S.ACCEPTED:
        return Outcome(Result.CLOSED, a)
    move(session, a, S.COMPLETED, actor=actor, responded_at=now)
    return Outcome(Result.COMPLETED, a)


def expire_overdue(*, session: Session, now: datetime | None = None) -> int:
    """Expire every offer past its deadline (the sweep behind the per-offer timers)."""
    now = now or utcnow()
    count = 0
    # task order, as the solver locks them, so a sweep and a solve cannot deadlock
    for a in sorted(svc.overdue_offers(session=session, now=now), key=lambda a: a.task_id):
        svc.lock_task(session=session, task_id=a.task_id)
        a = reload(session, a.id or 0)
        if a.status == S.OFFERED:
            expire(session=session, assignment=a, now=now)
            count += 1
    return count
