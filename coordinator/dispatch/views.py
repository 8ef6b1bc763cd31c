"""Incidents, tasks, assignments and playbooks for dispatchers; overrides of the automatic
decisions (cancel an assignment, assign a named volunteer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlmodel import Session

from coordinator.accounts.service import record_audit
from coordinator.alerts.service import KINDS, LEVELS
from coordinator.deps import Dispatcher, SessionDep
from coordinator.dispatch import errors, service
from coordinator.dispatch.flows import incidents, overrides
from coordinator.dispatch.models import (
    Assignment,
    AssignmentPublic,
    AssignVolunteer,
    CancelAssignment,
    Incident,
    IncidentDetail,
    IncidentList,
)
from coordinator.dispatch.playbooks import PlaybookData
from coordinator.lookup import PathId, fetch_or_404

router = APIRouter(prefix="/api", tags=["dispatch"])


def _incident(session: Session, incident_id: int) -> Incident | None:
    return service.get_incident(session=session, incident_id=incident_id)


def _no_incident(incident_id: int) -> errors.IncidentNotFound:
    return errors.IncidentNotFound(f"incident {incident_id} does not exist")


#: the incident in the path, or 404
IncidentRow = Annotated[Incident, fetch_or_404("incident_id", _incident, missing=_no_incident)]


@router.get("/incidents", response_model=IncidentList)
def list_incidents(
    session: SessionDep,
    _actor: Dispatcher,
    status_: str | None = Query(default=None, alias="status", pattern="^(open|closed)$"),
    offset: int = Query(default=0, ge=0),
    limit: int = Query(default=50, ge=1, le=500),
) -> IncidentList:
    rows, total = service.list_incidents(
        session=session, status=status_, offset=offset, limit=limit
    )
    return IncidentList(data=service.summarise(session=session, incidents=rows), count=total)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
def get_incident(session: SessionDep, _actor: Dispatcher, incident: IncidentRow) -> IncidentDetail:
    return service.incident_detail(session=session, incident=incident)


@router.post("/incidents/{incident_id}/close", response_model=IncidentDetail)
def close_incident(session: SessionDep, actor: Dispatcher, incident: IncidentRow) -> IncidentDetail:
    """Close an incident by hand; its volunteers are stood down by SMS."""
    if not incidents.close_incident(
        session=session, incident=incident, reason=f"closed by {actor.name}", actor=actor
    ):
        raise errors.IncidentClosed("the incident is already closed")
    session.commit()
    return service.incident_detail(session=session, incident=incident)


def _public(session: SessionDep, assignment_id: int) -> AssignmentPublic:
    detail = None
    a = session.get(Assignment, assignment_id)
    assert a is not None
    incident = service.get_incident(session=session, incident_id=a.incident_id)
    assert incident is not None
    detail = service.incident_detail(session=session, incident=incident)
    return next(x for x in detail.assignments if x.id == assignment_id)


@router.post("/assignments/{assignment_id}/cancel", response_model=AssignmentPublic)
def cancel_assignment(
    session: SessionDep,
    actor: Dispatcher,
    assignment_id: PathId,
    body: CancelAssignment | None = None,
) -> AssignmentPublic:
    """Withdraw an offer or an accepted assignment; the volunteer gets an SMS and the slot is
    offered to the next best volunteer."""
    # a refusal (DispatchError) is answered by the app's handler; closing the session rolls
    # back what the flow did
    overrides.cancel_assignment(
        session=session,
        assignment_id=assignment_id,
        actor=actor,
        reason=body.reason if body else "",
    )
    session.commit()
    return _public(session, assignment_id)


@router.post(
    "/tasks/{task_id}/assign",
    response_model=AssignmentPublic,
    status_code=status.HTTP_201_CREATED,
)
def assign(
    body: AssignVolunteer, session: SessionDep, actor: Dispatcher, task_id: PathId
) -> AssignmentPublic:
    """Put a named volunteer into a task (accepted at once); they get an SMS."""
    a = overrides.assign_volunteer(
        session=session, task_id=task_id, volunteer_id=body.volunteer_id, actor=actor
    )
    session.commit()
    assert a.id is not None
    return _public(session, a.id)


@router.get("/playbooks")
def list_playbooks(session: SessionDep, _actor: Dispatcher) -> list[dict[str, Any]]:
    return service.list_playbooks(session=session)


@router.put("/playbooks/{kind}")
def put_playbook(
    kind: str,
    body: PlaybookData,
    session: SessionDep,
    actor: Dispatcher,
    level: str | None = Query(default=None),
) -> dict[str, Any]:
    """Replace the playbook of `kind` (for every level, or for `?level=` only)."""
    if kind not in KINDS:
        raise errors.UnknownPlaybookKind(f"unknown kind {kind!r}")
    if level is not None and level not in LEVELS:
        raise errors.UnknownLevel(f"unknown level {level!r}")
    row = service.save_playbook(
        session=session, kind=kind, level=level or "", data=body, by=actor.name
    )
    record_audit(
        session=session,
        actor=actor,
        action="playbook.saved",
        subject=f"playbook:{kind}:{level or '*'}",
        detail={"tasks": len(body.tasks)},
    )
    session.commit()
    return {"kind": row.kind, "level": row.level or None, "data": row.data}
