"""The rota's JSON API (issue 15): a signed-in volunteer's shifts, picks and give-backs (the
rota cookie, never a staff login), and the stations' publishing of shifts ahead (staff)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import Session

from coordinator.accounts.service import record_audit
from coordinator.accounts.web import tokens_match
from coordinator.deps import EngineDep, SessionDep, SettingsDep, StationStaff
from coordinator.dispatch import errors
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows import rota
from coordinator.logistics import service as logistics
from coordinator.volunteers import service as roster
from coordinator.volunteers.service import ROTA_COOKIE, RotaSignIn

router = APIRouter(prefix="/api/rota", tags=["rota"])
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _signed_in(request: Request, engine: EngineDep) -> RotaSignIn:
    with Session(engine, expire_on_commit=False) as session:
        found = roster.rota_session(session=session, cookie=request.cookies.get(ROTA_COOKIE))
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in with the code we text you")
    if request.method not in SAFE and not tokens_match(
        found.csrf_token, request.headers.get("x-csrf-token")
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
    return found


async def rota_volunteer(request: Request, engine: EngineDep) -> RotaSignIn:
    """The volunteer the rota cookie signs in (401 without one; 403 for a write without the
    session's CSRF token)."""
    return await run_in_threadpool(_signed_in, request, engine)


RotaVolunteer = Annotated[RotaSignIn, Depends(rota_volunteer)]


class ShiftPublic(BaseModel):
    task_id: int
    title: str
    title_en: str
    place: str
    place_en: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    free: int
    assignment_id: int | None
    code: str | None
    can_give_back: bool
    blocked: str


class RotaPage(BaseModel):
    volunteer_id: int
    name: str
    csrf_token: str
    #: hours before a shift's start after which it can no longer be given back
    give_back_hours: float
    shifts: list[ShiftPublic]


class Picked(BaseModel):
    assignment_id: int
    task_id: int
    code: str


class GivenBack(BaseModel):
    assignment_id: int
    status: str


@router.get("/shifts", response_model=RotaPage)
def get_shifts(me: RotaVolunteer, session: SessionDep, settings: SettingsDep) -> RotaPage:
    """The rota shifts still to come, the volunteer's own among them."""
    shifts = rota.shifts_for(session=session, volunteer=me.volunteer, settings=settings)
    return RotaPage(
        volunteer_id=me.volunteer.id or 0,
        name=me.volunteer.name,
        csrf_token=me.csrf_token,
        give_back_hours=settings.rota_give_back_notice.total_seconds() / 3600,
        shifts=[ShiftPublic.model_validate(s, from_attributes=True) for s in shifts],
    )


@router.post("/shifts/{task_id}/pick", status_code=status.HTTP_201_CREATED, response_model=Picked)
def pick_shift(
    task_id: int, me: RotaVolunteer, session: SessionDep, settings: SettingsDep
) -> Picked:
    """Take a free place in a shift (confirmed by SMS with its code). 409 when full, when
    the volunteer holds another shift then or lacks a skill it needs."""
    a = rota.pick(
        session=session, volunteer_id=me.volunteer.id or 0, task_id=task_id, settings=settings
    )
    session.commit()
    return Picked(assignment_id=a.id or 0, task_id=a.task_id, code=a.short_code)


@router.post("/assignments/{assignment_id}/give-back", response_model=GivenBack)
def give_back(
    assignment_id: int, me: RotaVolunteer, session: SessionDep, settings: SettingsDep
) -> GivenBack:
    """Give a shift back; its place goes to the next best volunteer. 409 with the reason
    inside the notice (24 h by default) before the start."""
    a = rota.give_back(
        session=session,
        volunteer_id=me.volunteer.id or 0,
        assignment_id=assignment_id,
        settings=settings,
        source="page",
    )
    session.commit()
    return GivenBack(assignment_id=a.id or 0, status=a.status)


class PublishBody(BaseModel):
    first_day: date
    last_day: date
    #: a station manager publishes for their station's rush; checked against their stations
    station_id: int | None = Field(default=None, gt=0)


class Published(BaseModel):
    incident_id: int
    shifts: int


@router.post("/publish", response_model=Published)
def publish(
    body: PublishBody, actor: StationStaff, session: SessionDep, settings: SettingsDep
) -> Published:
    """Publish the open travel rush's station shifts for the days given (at most 60), so
    volunteers can pick them ahead. Planning twice adds nothing. A station manager names
    their station (the rush's plan covers every station, theirs among them)."""
    if actor.role == "station_manager" and (
        body.station_id is None or not actor.may_manage(body.station_id)
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not your station")
    if body.station_id is not None:
        logistics.get_place(session=session, place_id=body.station_id, kind="station")  # or 404
    rushes = svc.open_incident_of_kind(session=session, kind=rota.RUSH)
    if not rushes:
        raise errors.NotARotaShift("no travel rush is open")
    rush = rushes[0]
    tasks = rota.publish(
        session=session, incident=rush, first=body.first_day, last=body.last_day, settings=settings
    )
    record_audit(
        session=session,
        actor=actor,
        action="rota.published",
        subject=f"incident:{rush.id}",
        detail={"first": str(body.first_day), "last": str(body.last_day), "shifts": len(tasks)},
    )
    session.commit()
    return Published(incident_id=rush.id or 0, shifts=len(tasks))
