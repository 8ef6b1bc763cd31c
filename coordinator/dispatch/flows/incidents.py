"""Closing an incident and standing its volunteers down."""

from __future__ import annotations

from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import utcnow
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.transitions import SYSTEM
from coordinator.dispatch.models import LIVE, Assignment, Incident, IncidentStatus
from events.outbox import stage
from events.payloads.incidents import IncidentClosed


def close_incident(
    *, session: Session, incident: Incident, reason: str, actor: Actor | str
) -> bool:
    """Close an open incident and stage IncidentClosed; False if it was closed already. The
    dispatch consumer stands its volunteers down when the event arrives."""
    if incident.status == IncidentStatus.CLOSED:
        return False
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = utcnow()
    incident.close_reason = reason[:200]
    session.add(incident)
    assert incident.id is not None
    stage(session, IncidentClosed(incident_id=incident.id, reason=reason[:200]))
    record_audit(
        session=session,
        actor=actor,
        action="incident.closed",
        subject=f"incident:{incident.id}",
        detail={"reason": reason},
    )
    return True


def stand_down(*, session: Session, incident_id: int) -> int:
    """Cancel every open assignment of a closed incident (the volunteers are told)."""
    rows = session.exec(
        select(Assignment)
        .where(
            Assignment.incident_id == incident_id,
            col(Assignment.status).in_(LIVE),
        )
        .order_by(col(Assignment.task_id), col(Assignment.id))  # lock order, as everywhere
    ).all()
    for a in rows:
        cancel_assignment(
            session=session,
            assignment_id=a.id or 0,
            actor=SYSTEM,
            reason="incident closed",
            by="system",
        )
    return len(rows)
