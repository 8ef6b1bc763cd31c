"""Incidents, owned here: opened, updated by a later alert, closed (standing their volunteers
down). Alerts and the travel-rush calendar ask for these; nothing else writes an incident."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import utcnow
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.transitions import SYSTEM
from coordinator.dispatch.models import LIVE, Assignment, Incident, IncidentStatus
from events.outbox import stage
from events.payloads.incidents import IncidentClosed, IncidentOpened


def open_incident(
    *,
    session: Session,
    kind: str,
    level: str,
    title: str,
    districts: list[str],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Incident:
    """Open an incident and stage IncidentOpened, in the caller's transaction."""
    incident = Incident(
        kind=kind,
        level=level,
        title=title[:200],
        districts=list(districts),
        starts_at=starts_at,
        ends_at=ends_at,
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    stage(
        session,
        IncidentOpened(
            incident_id=incident.id,
            kind=kind,  # type: ignore[arg-type]
            level=level,  # type: ignore[arg-type]
            title=incident.title,
            districts=list(incident.districts),
        ),
    )
    return incident


def update_incident(
    *,
    session: Session,
    incident: Incident,
    kind: str,
    level: str,
    title: str,
    districts: list[str],
    ends_at: datetime | None,
) -> None:
    """A later alert about an open incident: it takes the new level, title and end, and any
    new districts (never fewer); its kind is kept unless it was "other". The alert's own
    AlertRaised then makes dispatch plan what is new."""
    incident.level = level
    incident.kind = kind if incident.kind == "other" else incident.kind
    incident.districts = list(dict.fromkeys([*incident.districts, *districts]))
    incident.title = title[:200]
    incident.ends_at = ends_at or incident.ends_at
    session.add(incident)


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
