"""A volunteer out of task messages and back in: by their own STOP text (the reply handler)
or through a dispatcher they asked (the roster page). Out means their open offers and
assignments are cancelled, and refilled by the dispatch consumer, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.models import LIVE
from coordinator.volunteers import service as roster
from coordinator.volunteers.errors import AlreadyOptedOut, NotOptedOut
from coordinator.volunteers.service import Volunteer


def opt_out(
    *,
    session: Session,
    volunteer: Volunteer,
    actor: Actor | str,
    by: str = "volunteer",
    detail: dict[str, Any] | None = None,
) -> int:
    """No more task messages for `volunteer`; their open assignments are cancelled (and
    refilled). Audited as `volunteer.opted_out`. Returns how many were cancelled."""
    roster.opt_out(session=session, volunteer=volunteer)
    open_ = svc.assignments_of(session=session, volunteer_id=volunteer.id or 0, statuses=LIVE)
    for a in open_:
        cancel_assignment(
            session=session,
            assignment_id=a.id or 0,
            actor=actor,
            reason="volunteer opted out",
            by=by,
        )
    record_audit(
        session=session,
        actor=actor,
        action="volunteer.opted_out",
        subject=f"volunteer:{volunteer.id}",
        detail={"cancelled": len(open_), **(detail or {})},
    )
    return len(open_)


def opt_out_for(*, session: Session, volunteer_id: int, actor: Actor, reason: str = "") -> int:
    """A dispatcher opts a volunteer out (they asked by phone or in person); the route has
    found the volunteer. Raises AlreadyOptedOut (409) for one who is out already."""
    volunteer = roster.lock_volunteer(session=session, volunteer_id=volunteer_id)
    assert volunteer is not None  # the route's lookup found it
    if volunteer.opted_out:
        raise AlreadyOptedOut(f"volunteer {volunteer_id} has opted out already")
    return opt_out(
        session=session,
        volunteer=volunteer,
        actor=actor,
        by="dispatcher",
        detail={"by": "dispatcher", "reason": reason},
    )


def opt_in_for(*, session: Session, volunteer_id: int, actor: Actor, reason: str = "") -> Volunteer:
    """A dispatcher takes a volunteer back in for task messages (they asked to be). Raises
    NotOptedOut (409) for one who never opted out. Audited as `volunteer.opted_in`."""
    volunteer = roster.lock_volunteer(session=session, volunteer_id=volunteer_id)
    assert volunteer is not None  # the route's lookup found it
    if not volunteer.opted_out:
        raise NotOptedOut(f"volunteer {volunteer_id} has not opted out")
    roster.opt_in(session=session, volunteer=volunteer)
    record_audit(
        session=session,
        actor=actor,
        action="volunteer.opted_in",
        subject=f"volunteer:{volunteer.id}",
        detail={"by": "dispatcher", "reason": reason},
    )
    return volunteer
