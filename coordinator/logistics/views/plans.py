"""Supply plans (proposed, approved) and the travellers forecasts they are made from."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import Field

from coordinator.accounts.service import record_audit
from coordinator.common import local_date
from coordinator.deps import Dispatcher, SessionDep, SettingsDep
from coordinator.logistics import errors, flows, forecasts, planning, service
from coordinator.logistics.schemas import (
    ForecastDay,
    ForecastPublic,
    ForecastStored,
    PlanApproval,
    PlanPublic,
)
from coordinator.logistics.views.common import Body, PlanRow, flag_overdraft, write
from coordinator.lookup import BodyId, PathId, QueryId

router = APIRouter(prefix="/api", tags=["logistics"])


class PlanIn(Body):
    station_ids: list[BodyId] | None = None
    as_of: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    target_days: Annotated[float, Field(gt=0, le=60)] = planning.DEFAULT_TARGET_DAYS


@router.get("/plans", response_model=list[PlanPublic])
def plans(session: SessionDep, actor: Dispatcher) -> list[PlanPublic]:
    return service.list_plans(session=session)


@router.get("/plans/{plan_id}", response_model=PlanPublic)
def plan(session: SessionDep, actor: Dispatcher, found: PlanRow) -> PlanPublic:
    return service.plan_detail(session=session, plan_id=found.id or 0)


@router.post("/plans", status_code=status.HTTP_201_CREATED, response_model=PlanPublic)
def create_plan(
    body: PlanIn, session: SessionDep, actor: Dispatcher, settings: SettingsDep
) -> PlanPublic:
    """A plan on demand (the provision consumer makes them for alerts), dated `as_of` or
    today where the people are (`settings.timezone`)."""

    def act() -> int:
        ids = (
            body.station_ids
            if body.station_ids is not None
            else [p.id or 0 for p in service.places_of_kind(session=session, kind="station")]
        )
        try:
            as_of = date.fromisoformat(body.as_of) if body.as_of else local_date(settings.timezone)
        except ValueError as exc:
            raise errors.InvalidDate(f"not a date: {body.as_of}") from exc
        made = flows.propose_plan(
            session=session,
            trigger="manual",
            station_ids=ids,
            as_of=as_of,
            actor=actor,
            target_days=body.target_days,
        )
        assert made.id is not None
        return made.id

    plan_id = write(session, act)
    return service.plan_detail(session=session, plan_id=plan_id)


@router.post("/plans/{plan_id}/approve", response_model=PlanApproval)
def approve(
    plan_id: PathId, request: Request, session: SessionDep, actor: Dispatcher
) -> PlanApproval:
    try:
        made = write(
            session, lambda: flows.approve_plan(session=session, plan_id=plan_id, actor=actor)
        )
    except errors.FundExhausted as exc:
        flag_overdraft(request, actor, exc, f"plan:{plan_id}")
        raise
    approved = service.plan_detail(session=session, plan_id=plan_id)
    return PlanApproval(**dict(approved), shipments=[s.short_code or "" for s in made])


MAX_CSV_BYTES = 2 * 1024 * 1024


@router.post("/forecasts", response_model=ForecastStored)
async def upload_forecast(
    request: Request, session: SessionDep, actor: Dispatcher
) -> ForecastStored:
    """CSV `station,date,travellers` (station by code or id) as the body, or as the `file`
    field of a form. Every bad row is listed in the 422; nothing is stored unless all are good."""
    raw: bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise errors.InvalidForecastFile("send the CSV as the form field 'file'")
        raw = await upload.read(MAX_CSV_BYTES + 1)
    else:
        raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise errors.ForecastTooLarge(f"a forecast may be at most {MAX_CSV_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidForecastFile("the CSV must be UTF-8 text") from exc
    stations: dict[str, int] = {}
    for p in service.places_of_kind(session=session, kind="station"):
        assert p.id is not None
        stations[p.code] = p.id
        stations[str(p.id)] = p.id
    rows = forecasts.parse_forecast_csv(text, stations=stations)
    count = write(session, lambda: forecasts.store_forecast(session=session, rows=rows))
    record_audit(session=session, actor=actor, action="forecast.uploaded", detail={"rows": count})
    session.commit()
    return ForecastStored(rows=count)


@router.get("/forecasts", response_model=ForecastPublic)
def forecast(
    session: SessionDep,
    actor: Dispatcher,
    settings: SettingsDep,
    station_id: QueryId,
    start: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$"),
    days: Annotated[int, Query(ge=1, le=60)] = 40,
) -> ForecastPublic:
    """Expected travellers per day at a station (uploaded rows, else the default curve)."""
    place = service.get_place(session=session, place_id=station_id, kind="station")
    try:
        first = date.fromisoformat(start) if start else local_date(settings.timezone)
    except ValueError as exc:
        raise errors.InvalidDate(f"not a date: {start}") from exc
    if not start:
        first = planning.rush_start(first.year)
    dates = [first + timedelta(days=k) for k in range(days)]
    stations = service.places_of_kind(session=session, kind="station")
    values = planning.travellers_per_day(session=session, stations=stations, days=dates)
    index = [p.id for p in stations].index(place.id)
    return ForecastPublic(
        station_id=station_id,
        days=[
            ForecastDay(date=d, travellers=round(float(values[index, k]), 1))
            for k, d in enumerate(dates)
        ],
    )
