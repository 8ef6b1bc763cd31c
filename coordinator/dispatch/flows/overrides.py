"""A dispatcher's overrides: cancel an open assignment, put a named volunteer into a task."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from coordinator.accounts.service import Actor
from coordinator.common import aware, utcnow
from coordinator.dispatch import candidates as eligible
from coordinator.dispatch import errors
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.transitions import assigned, move, reload
from coordinator.dispatch.models import LIVE, Assignment, Incident, IncidentStatus
from coordinator.dispatch.models import AssignmentStatus as S
from coordinator.volunteers import service as roster


def cancel_assignment(
    *,
    session: Session,
    assignment_id: int,
    actor: Actor | str,
    reason: str = "",
    by: str = "dispatcher",
) -> Assignment:
    """Cancel an open (offered or accepted) assignment; the volunteer is told and the slot is
    refilled by the dispatch consumer. Raises AssignmentNotFound (404), AssignmentNotOpen (409)."""
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise errors.AssignmentNotFound(f"assignment {assignment_id} does not exist")
    svc.lock_task(session=session, task_id=a.task_id)
    a = reload(session, assignment_id)
    if a.status not in LIVE:
        raise errors.AssignmentNotOpen(f"assignment {assignment_id} is {a.status}, not open")
    move(
        session,
        a,
        S.CANCELLED,
        actor=actor,
        detail={"by": by, "reason": reason},
        event_fields={"by": by, "reason": reason[:200]},
        closed_reason=(reason or f"cancelled by {by}")[:200],
    )
    return a


def assign_volunteer(
    *, session: Session, task_id: int, volunteer_id: int, actor: Actor, now: datetime | None = None
) -> Assignment:
    """A dispatcher puts a named volunteer into a task: a free slot, or else one only offered
    (that offer is withdrawn). Raises a DispatchError: 404 unknown task/volunteer, 409 when the
    task is full or over, the volunteer cannot be asked or is busy in that shift."""
    now = now or utcnow()
    task = svc.lock_task(session=session, task_id=task_id)
    if task is None:
        raise errors.TaskNotFound(f"task {task_id} does not exist")
    volunteer = roster.get_volunteer(session=session, volunteer_id=volunteer_id)
    if volunteer is None:
        raise errors.UnknownVolunteer(f"volunteer {volunteer_id} does not exist")
    incident = session.get(Incident, task.incident_id)
    if incident is None or incident.status != IncidentStatus.OPEN:
        raise errors.IncidentClosed("the incident is closed")
    if (aware(task.ends_at) or now) <= now:
        raise errors.TaskOver("the task is over")
    if not volunteer.active or volunteer.opted_out:
        raise errors.VolunteerUnavailable("the volunteer is inactive or opted out of messages")
    held = svc.holding_slots(session=session, task_id=task_id)
    if any(a.volunteer_id == volunteer_id for a in held.values()):
        raise errors.AlreadyInTask("the volunteer is already in this task")
    s, e = aware(task.starts_at), aware(task.ends_at)
    assert s is not None and e is not None
    if eligible.busy_windows(session=session, start=s, end=e, volunteer_ids=[volunteer_id]):
        raise errors.ShiftTaken("the volunteer holds another task in this shift")
    free = [n for n in range(task.slots) if n not in held]
    if not free:
        bumpable = sorted((a for a in held.values() if a.status == S.OFFERED), key=lambda a: a.slot)
        if not bumpable:
            raise errors.TaskFull("the task is full")
        bumped = bumpable[-1]
        cancel_assignment(
            session=session,
            assignment_id=bumped.id or 0,
            actor=actor,
            reason=f"slot given to volunteer {volunteer_id} by a dispatcher",
        )
        session.flush()
        free = [bumped.slot]
    code = svc.fresh_code(
        svc.open_codes(session=session, volunteer_ids=[volunteer_id])[volunteer_id]
    )
    a = Assignment(
        task_id=task_id,
        incident_id=task.incident_id,
        volunteer_id=volunteer_id,
        slot=free[0],
        status=S.ACCEPTED,
        short_code=code,
        source="dispatcher",
        reason=f"assigned by {actor.name}",
        offered_at=now,
        responded_at=now,
    )
    session.add(a)
    if task.unfillable and len(held) + 1 >= task.slots:
        task.unfillable = False  # the dispatcher found the people the matching could not
        task.unfillable_since = None
        session.add(task)
    assigned(
        session,
        a,
        actor=actor,
        detail={"task_id": task_id, "volunteer_id": volunteer_id, "slot": a.slot},
    )
    return a
