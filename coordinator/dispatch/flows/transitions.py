"""Every change of an assignment's status after its offer, in one place: `move` checks the
change is allowed, sets the status, stages the event and writes the audit row, so no path can
do one without the others. (Offers themselves are inserted in bulk by `dispatch.offers`.)"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.dispatch.models import LIVE, Assignment
from coordinator.dispatch.models import AssignmentStatus as S
from events.base import EventPayload
from events.outbox import stage
from events.payloads.assignments import (
    AssignmentAccepted,
    AssignmentCancelled,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
)

#: the audit log's actor for what dispatch decides by itself
SYSTEM = "system:dispatch"

_EVENTS: dict[S, type[EventPayload]] = {
    S.ACCEPTED: AssignmentAccepted,
    S.DECLINED: AssignmentDeclined,
    S.EXPIRED: AssignmentExpired,
    S.COMPLETED: AssignmentCompleted,
    S.CANCELLED: AssignmentCancelled,
}
#: the statuses each status may be reached from; an expired offer may still be accepted
#: (a "yes" sent in time that waited while the offer expired, see `responses.accept`)
ALLOWED_FROM: dict[S, frozenset[S]] = {
    S.ACCEPTED: frozenset({S.OFFERED, S.EXPIRED}),
    S.DECLINED: frozenset(LIVE),
    S.EXPIRED: frozenset({S.OFFERED}),
    S.COMPLETED: frozenset({S.ACCEPTED}),
    S.CANCELLED: frozenset(LIVE),
}


class IllegalTransition(RuntimeError):
    """A bug: a caller moved an assignment along a path the lifecycle does not have."""


def ids(a: Assignment) -> dict[str, int]:
    """The fields every assignment event carries."""
    assert a.id is not None
    return {
        "assignment_id": a.id,
        "task_id": a.task_id,
        "incident_id": a.incident_id,
        "volunteer_id": a.volunteer_id,
    }


def reload(session: Session, assignment_id: int) -> Assignment:
    """The assignment as the database has it now (after taking its task's lock)."""
    return session.exec(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .execution_options(populate_existing=True)
    ).one()


def move(
    session: Session,
    a: Assignment,
    to: S,
    *,
    actor: Actor | str,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
    event_fields: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Move `a` to `to` in the caller's transaction: status and `fields` (e.g. `responded_at`,
    `closed_reason`) set, the event for `to` staged (with `event_fields`), the audit row
    written (`action`, by default `assignment.<status>`). The caller holds the task's lock."""
    if a.status not in ALLOWED_FROM[to]:
        raise IllegalTransition(f"assignment {a.id}: {a.status} → {to} is not a transition")
    a.status = to
    for name, value in fields.items():
        setattr(a, name, value)
    session.add(a)
    stage(session, _EVENTS[to](**ids(a), **(event_fields or {})))
    record_audit(
        session=session,
        actor=actor,
        action=action or f"assignment.{to.value}",
        subject=f"assignment:{a.id}",
        detail=detail,
    )


def assigned(
    session: Session, a: Assignment, *, actor: Actor | str, detail: dict[str, Any]
) -> None:
    """A dispatcher's assignment, or a volunteer's pick of a rota shift, created accepted:
    the same event as an accepted offer."""
    if a.status != S.ACCEPTED:
        raise IllegalTransition(f"an assignment made by hand is accepted, not {a.status}")
    session.flush()
    stage(session, AssignmentAccepted(**ids(a)))
    record_audit(
        session=session,
        actor=actor,
        action="assignment.assigned",
        subject=f"assignment:{a.id}",
        detail=detail,
    )
