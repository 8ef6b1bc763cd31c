"""Incidents, tasks, assignments and playbooks for dispatchers; overrides of the automatic
decisions (cancel an assignment, assign a named volunteer); check-in and check-out by hand,
the hours ledger and its corrections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.alerts.service import KINDS, LEVELS
from coordinator.common import utcnow
from coordinator.deps import Dispatcher, SessionDep, SettingsDep, StationStaff
from coordinator.dispatch import errors, service
from coordinator.dispatch.flows import attendance, incidents, opting, overrides
from coordinator.dispatch.models import (
    Assignment,
    AssignmentPublic,
    AssignVolunteer,
    AttendancePublic,
    CancelAssignment,
    CheckBody,
    CloseIncident,
    CorrectionBody,
    HoursPublic,
    Incident,
    IncidentDetail,
    IncidentList,
    OptChange,
    OptChangePublic,
    ServedPublic,
    ServiceRecordPublic,
)
from coordinator.dispatch.playbooks import PlaybookData
from coordinator.logistics import service as logistics
from coordinator.lookup import PathId, fetch_or_404
from coordinator.volunteers import service as roster

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
def close_incident(
    session: SessionDep,
    actor: Dispatcher,
    incident: IncidentRow,
    body: CloseIncident | None = None,
) -> IncidentDetail:
    """Close an incident by hand, saying why (`reason`, kept and audited; without a body it
    says who closed it); its volunteers are stood down by SMS."""
    given = body.reason.strip() if body and body.reason else ""
    reason = given or f"closed by {actor.name}"
    if not incidents.close_incident(session=session, incident=incident, reason=reason, actor=actor):
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


# -- check-in, check-out and the hours ledger (issue 15) ---------------------------------------
def _may_check(session: Session, actor: Actor, assignment_id: int) -> None:
    """Dispatchers check anyone in or out; a station manager only the volunteers of a shift
    at their own station (404 for an assignment that does not exist, 403 for another's)."""
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise errors.AssignmentNotFound(f"assignment {assignment_id} does not exist")
    if actor.role in ("admin", "dispatcher"):
        return
    task = service.get_task(session=session, task_id=a.task_id)
    code = service.station_code_of(task) if task else None
    stations = {p.code: p.id for p in logistics.places_of_kind(session=session, kind="station")}
    station_id = stations.get(code or "")
    if station_id is None or not actor.may_manage(station_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not a shift at your station")


def _refuse(outcome: attendance.Outcome) -> None:
    """A check-in or check-out that did not happen, as a 409 saying why."""
    why = {
        attendance.Attendance.ALREADY_IN: "already checked in",
        attendance.Attendance.ALREADY_OUT: "already checked out",
        attendance.Attendance.NOT_CHECKED_IN: "not checked in",
        attendance.Attendance.TOO_EARLY: "too early: the window has not opened yet",
        attendance.Attendance.NOT_OPEN: f"the assignment is {outcome.assignment.status}"
        " or its task is over",
    }.get(outcome.result)
    if why is not None:
        raise errors.AttendanceRefused(f"assignment {outcome.assignment.id}: {why}")


@router.post("/assignments/{assignment_id}/check-in", response_model=AttendancePublic)
def check_in(
    session: SessionDep,
    settings: SettingsDep,
    actor: StationStaff,
    assignment_id: PathId,
    body: CheckBody | None = None,
) -> AttendancePublic:
    """Check a volunteer in by hand (one without a phone at hand), now or at `at` (at most a
    day back). 409 when already checked in, too early, or the assignment is not accepted."""
    _may_check(session, actor, assignment_id)
    outcome = attendance.check_in(
        session=session,
        assignment_id=assignment_id,
        actor=actor,
        source="api",
        early=settings.check_in_early,
        at=body.at if body else None,
        note=body.note if body else "",
    )
    _refuse(outcome)
    session.commit()
    return AttendancePublic(result=outcome.result, assignment_id=assignment_id, at=outcome.at)


@router.post("/assignments/{assignment_id}/check-out", response_model=AttendancePublic)
def check_out(
    session: SessionDep,
    settings: SettingsDep,
    actor: StationStaff,
    assignment_id: PathId,
    body: CheckBody | None = None,
) -> AttendancePublic:
    """Check a volunteer out by hand, now or at `at`; completes the assignment. 409 when
    not checked in or checked out already; 422 for a time before the check-in."""
    _may_check(session, actor, assignment_id)
    outcome = attendance.check_out(
        session=session,
        assignment_id=assignment_id,
        actor=actor,
        source="api",
        tolerance=settings.hours_tolerance,
        at=body.at if body else None,
        note=body.note if body else "",
    )
    _refuse(outcome)
    session.commit()
    hours = outcome.served.hours() if outcome.served else None
    return AttendancePublic(
        result=outcome.result, assignment_id=assignment_id, at=outcome.at, hours=hours
    )


@router.post(
    "/assignments/{assignment_id}/corrections",
    response_model=ServiceRecordPublic,
    status_code=status.HTTP_201_CREATED,
)
def correct_hours(
    body: CorrectionBody,
    session: SessionDep,
    settings: SettingsDep,
    actor: Dispatcher,
    assignment_id: PathId,
) -> ServiceRecordPublic:
    """Correct an assignment's hours: a new ledger row with the interval served and a
    reason (the rows before it stay; the audit log says who and why)."""
    row = attendance.correct(
        session=session,
        assignment_id=assignment_id,
        started_at=body.started_at,
        ended_at=body.ended_at,
        reason=body.reason,
        actor=actor,
        tolerance=settings.hours_tolerance,
    )
    session.commit()
    return ServiceRecordPublic.model_validate(row, from_attributes=True)


def _volunteer_row(session: Session, volunteer_id: int) -> roster.Volunteer | None:
    return roster.get_volunteer(session=session, volunteer_id=volunteer_id)


def _no_volunteer(volunteer_id: int) -> errors.UnknownVolunteer:
    return errors.UnknownVolunteer(f"volunteer {volunteer_id} does not exist")


#: the volunteer in the path, or 404
VolunteerRow = Annotated[
    roster.Volunteer, fetch_or_404("volunteer_id", _volunteer_row, missing=_no_volunteer)
]


@router.post("/volunteers/{volunteer_id}/opt-out", response_model=OptChangePublic)
def opt_out_volunteer(
    session: SessionDep, actor: Dispatcher, volunteer: VolunteerRow, body: OptChange | None = None
) -> OptChangePublic:
    """Opt a volunteer out of task messages for them (they asked by phone or in person): as
    their STOP text does, their open offers and assignments are cancelled and refilled. 409
    when they are out already. Audited, with the reason."""
    cancelled = opting.opt_out_for(
        session=session,
        volunteer_id=volunteer.id or 0,
        actor=actor,
        reason=body.reason if body else "",
    )
    session.commit()
    return OptChangePublic(volunteer_id=volunteer.id or 0, opted_out=True, cancelled=cancelled)


@router.post("/volunteers/{volunteer_id}/opt-in", response_model=OptChangePublic)
def opt_in_volunteer(
    session: SessionDep, actor: Dispatcher, volunteer: VolunteerRow, body: OptChange | None = None
) -> OptChangePublic:
    """Take a volunteer back in for task messages (they asked to be). 409 when they never
    opted out. Audited, with the reason."""
    opting.opt_in_for(
        session=session,
        volunteer_id=volunteer.id or 0,
        actor=actor,
        reason=body.reason if body else "",
    )
    session.commit()
    return OptChangePublic(volunteer_id=volunteer.id or 0, opted_out=False)


@router.get("/volunteers/{volunteer_id}/hours", response_model=HoursPublic)
def volunteer_hours(
    session: SessionDep,
    settings: SettingsDep,
    _actor: Dispatcher,
    volunteer_id: PathId,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> HoursPublic:
    """A volunteer's service records in a year (local time; this year by default) and the
    hours they add up to, per assignment and in total."""
    if roster.get_volunteer(session=session, volunteer_id=volunteer_id) is None:
        raise errors.UnknownVolunteer(f"volunteer {volunteer_id} does not exist")
    now = utcnow()
    rules = attendance.Rules.of(settings)
    got = attendance.year_hours(
        session=session,
        volunteer_id=volunteer_id,
        year=year or attendance.local_year(now, rules.tz),
        tz=rules.tz,
        tolerance=rules.tolerance,
        now=now,
    )
    return HoursPublic(
        volunteer_id=volunteer_id,
        year=got.year,
        hours=got.total(now),
        tasks=got.tasks,
        assignments=[
            ServedPublic(
                assignment_id=a.id or 0,
                task_id=task.id or 0,
                task=task.title,
                status=a.status,
                window_start=served.window_start,
                window_end=served.window_end,
                checked_in_at=served.checked_in_at,
                checked_out_at=served.checked_out_at,
                started_at=served.started_at,
                ended_at=served.ended_at,
                hours=served.hours(now),
                flags=list(served.flags),
            )
            for a, task, served in got.served
        ],
        records=[ServiceRecordPublic.model_validate(r, from_attributes=True) for r in got.records],
    )
