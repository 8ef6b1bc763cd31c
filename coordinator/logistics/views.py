"""Logistics routes: catalogue, places and stock, shipments and receipts, hand-outs,
discrepancies, the fund, supply plans. Thin: parse, check who may act, call a flow, commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as FPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.deps import Dispatcher, SessionDep, StationStaff, ensure_station, require
from coordinator.logistics import exports, flows, ledger, planning, service
from coordinator.logistics.flows import LineCount
from coordinator.logistics.models import Distribution, Item, Place

router = APIRouter(prefix="/api", tags=["logistics"])

#: receipts and hand-outs are the station manager's (admins may act for anyone)
StationManager = Annotated[Actor, Depends(require("station_manager"))]

Quantity = Annotated[int, Field(gt=0, le=ledger.MAX_MOVEMENT)]
Count = Annotated[int, Field(ge=0, le=ledger.MAX_MOVEMENT)]
Sku = Annotated[str, Field(min_length=1, max_length=32)]
Note = Annotated[str, Field(max_length=500)]

T = TypeVar("T")

#: ids are PostgreSQL `integer`s: anything larger is a 422, never a database error
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, FPath(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ShipmentLineIn(_Body):
    item: Sku
    quantity: Quantity
    unit: str | None = None


class ShipmentIn(_Body):
    from_id: Id
    to_id: Id
    lines: Annotated[list[ShipmentLineIn], Field(min_length=1, max_length=200)]


class ReceiptLineIn(_Body):
    item: Sku
    received: Count
    damaged: Count = 0
    note: Note = ""
    unit: str | None = None


class ReceiptIn(_Body):
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=200)]
    note: Note = ""


class DistributionIn(_Body):
    item: Sku
    quantity: Quantity
    note: Note = ""
    unit: str | None = None
    destination: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    cost_fen: Annotated[int, Field(gt=0, le=flows.MAX_TICKET_FEN)] | None = None


class AdjustmentIn(_Body):
    item: Sku
    delta: Annotated[int, Field(ge=-ledger.MAX_MOVEMENT, le=ledger.MAX_MOVEMENT)]
    kind: str = "adjustment"
    reason: Annotated[str, Field(min_length=1, max_length=256)]


class TargetIn(_Body):
    item: Sku
    target: Count
    reorder_point: Count


def _engine(request: Request) -> Engine:
    return request.app.state.services.engine  # type: ignore[no-any-return]


@contextmanager
def _refusals() -> Iterator[None]:
    """Domain refusals become HTTP answers with the domain's own message."""
    try:
        yield
    except service.LogisticsError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except (ledger.LedgerError, planning.CalendarError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def _write(session: Session, action: Callable[[], T]) -> T:
    with _refusals():
        try:
            result = action()
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return result


def _flag_overdraft(request: Request, actor: Actor, exc: service.FundExhausted, what: str) -> None:
    """A refused overdraft is flagged in the audit log even though its request rolled back."""
    with Session(_engine(request)) as s:
        record_audit(
            session=s,
            actor=actor,
            action="fund.overdraw_refused",
            subject=what,
            detail={"reason": str(exc)},
        )
        s.commit()


def _counts(session: Session, lines: list[ReceiptLineIn]) -> dict[int, LineCount]:
    counts: dict[int, LineCount] = {}
    for line in lines:
        item = service.item_for_sku(session=session, sku=line.item, unit=line.unit)
        assert item.id is not None
        if item.id in counts:
            raise service.LogisticsError(f"{item.sku} appears twice")
        counts[item.id] = LineCount(line.received, line.damaged, line.note)
    return counts


# -- catalogue, places, stock -------------------------------------------------------------------
@router.get("/items")
def items(session: SessionDep, actor: Dispatcher) -> list[dict[str, Any]]:
    return service.list_items(session=session)


@router.get("/warehouses")
def warehouses(session: SessionDep, actor: Dispatcher) -> list[dict[str, Any]]:
    return service.list_places(session=session, kind="warehouse")


@router.get("/warehouses/{warehouse_id}/stock")
def warehouse_stock(warehouse_id: PathId, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    with _refusals():
        return service.warehouse_stock(session=session, warehouse_id=warehouse_id)


@router.get("/stations")
def stations(session: SessionDep, actor: StationStaff) -> list[dict[str, Any]]:
    only = None if actor.role in ("admin", "dispatcher") else actor.station_ids
    return service.list_places(session=session, kind="station", only_ids=only)


@router.get("/stations/{station_id}/stock")
def station_stock(station_id: PathId, session: SessionDep, actor: StationStaff) -> dict[str, Any]:
    ensure_station(actor, station_id)
    with _refusals():
        return service.station_stock(session=session, station_id=station_id)


@router.get("/stations/{station_id}/movements")
def station_movements(
    station_id: PathId,
    session: SessionDep,
    actor: StationStaff,
    item: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    ensure_station(actor, station_id)
    with _refusals():
        service.get_place(session=session, place_id=station_id, kind="station")
        item_id = service.item_for_sku(session=session, sku=item).id if item else None
        return service.stock_history(
            session=session, place_id=station_id, item_id=item_id, limit=limit
        )


@router.put("/stations/{station_id}/targets")
def set_targets(
    station_id: PathId, body: list[TargetIn], session: SessionDep, actor: Dispatcher
) -> dict[str, Any]:
    def act() -> None:
        service.get_place(session=session, place_id=station_id, kind="station")
        for line in body:
            item = service.item_for_sku(session=session, sku=line.item)
            assert item.id is not None
            service.set_target(
                session=session,
                station_id=station_id,
                item_id=item.id,
                target=line.target,
                reorder_point=line.reorder_point,
            )

    _write(session, act)
    return service.station_stock(session=session, station_id=station_id)


# -- shipments ----------------------------------------------------------------------------------
@router.get("/shipments")
def shipments(
    session: SessionDep,
    actor: StationStaff,
    station_id: QueryId | None = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(in_transit|received)$")] = None,
) -> list[dict[str, Any]]:
    if station_id is not None:
        ensure_station(actor, station_id)
    only = None if actor.role in ("admin", "dispatcher") else actor.station_ids
    return service.list_shipments(
        session=session, station_id=station_id, station_ids=only, status=status_
    )


@router.get("/shipments/{shipment_id}")
def shipment(shipment_id: PathId, session: SessionDep, actor: StationStaff) -> dict[str, Any]:
    with _refusals():
        found = service.get_shipment(session=session, shipment_id=shipment_id)
        ensure_station(actor, found.to_id)
        return service.shipment_detail(session=session, shipment_id=shipment_id)


@router.post("/shipments", status_code=status.HTTP_201_CREATED)
def create_shipment(body: ShipmentIn, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    def act() -> int:
        lines = []
        for line in body.lines:
            item = service.item_for_sku(session=session, sku=line.item, unit=line.unit)
            assert item.id is not None
            lines.append((item.id, line.quantity))
        made = flows.dispatch_shipment(
            session=session, from_id=body.from_id, to_id=body.to_id, lines=lines, actor=actor
        )
        assert made.id is not None
        return made.id

    shipment_id = _write(session, act)
    return service.shipment_detail(session=session, shipment_id=shipment_id)


def _destination_manager(session: Session, actor: Actor, shipment_id: int) -> None:
    with _refusals():
        found = service.get_shipment(session=session, shipment_id=shipment_id)
    ensure_station(actor, found.to_id)


@router.post("/shipments/{shipment_id}/receipt")
def receive(
    shipment_id: PathId, body: ReceiptIn, session: SessionDep, actor: StationManager
) -> dict[str, Any]:
    _destination_manager(session, actor, shipment_id)
    _write(
        session,
        lambda: flows.receive_shipment(
            session=session,
            shipment_id=shipment_id,
            counts=_counts(session, body.lines),
            actor=actor,
            note=body.note,
        ),
    )
    return service.shipment_detail(session=session, shipment_id=shipment_id)


@router.post("/shipments/{shipment_id}/receipt/correction")
@router.put("/shipments/{shipment_id}/receipt")
def correct(
    shipment_id: PathId, body: ReceiptIn, session: SessionDep, actor: StationManager
) -> dict[str, Any]:
    _destination_manager(session, actor, shipment_id)
    _write(
        session,
        lambda: flows.correct_receipt(
            session=session,
            shipment_id=shipment_id,
            counts=_counts(session, body.lines),
            actor=actor,
            note=body.note,
        ),
    )
    return service.shipment_detail(session=session, shipment_id=shipment_id)


# -- hand-outs and adjustments --------------------------------------------------------------------
@router.get("/stations/{station_id}/distributions")
def distributions(
    station_id: PathId, session: SessionDep, actor: StationStaff
) -> list[dict[str, Any]]:
    ensure_station(actor, station_id)
    return service.list_distributions(session=session, station_id=station_id)


@router.post("/stations/{station_id}/distributions", status_code=status.HTTP_201_CREATED)
def distribute(
    station_id: PathId,
    body: DistributionIn,
    request: Request,
    session: SessionDep,
    actor: StationManager,
) -> dict[str, Any]:
    ensure_station(actor, station_id)

    def act() -> tuple[Distribution, Item]:
        item = service.item_for_sku(session=session, sku=body.item, unit=body.unit)
        assert item.id is not None
        row = flows.record_distribution(
            session=session,
            station_id=station_id,
            item_id=item.id,
            quantity=body.quantity,
            actor=actor,
            note=body.note,
            destination=body.destination,
            cost_fen=body.cost_fen,
        )
        return row, item

    try:
        row, item = _write(session, act)
    except HTTPException as exc:
        if isinstance(exc.__cause__, service.FundExhausted):
            _flag_overdraft(request, actor, exc.__cause__, f"station:{station_id}")
        raise
    # the committed row and item as this session holds them (it does not expire on commit)
    balance = ledger.balance(session=session, place_id=station_id, item_id=item.id or 0)
    return {**service.distribution_dict(row, item), "balance": balance}


@router.post("/stations/{station_id}/adjustments", status_code=status.HTTP_201_CREATED)
@router.post("/warehouses/{station_id}/adjustments", status_code=status.HTTP_201_CREATED)
def adjust(
    station_id: PathId, body: AdjustmentIn, session: SessionDep, actor: Dispatcher
) -> dict[str, Any]:
    def act() -> None:
        item = service.item_for_sku(session=session, sku=body.item)
        assert item.id is not None
        flows.adjust_stock(
            session=session,
            place_id=station_id,
            item_id=item.id,
            delta=body.delta,
            reason=body.reason,
            actor=actor,
            kind=body.kind,
        )

    _write(session, act)
    return service.place_stock(session=session, place_id=station_id)


# -- discrepancies and the fund -------------------------------------------------------------------
@router.get("/discrepancies")
def discrepancies(
    session: SessionDep,
    actor: Dispatcher,
    open_only: Annotated[bool, Query(alias="open")] = False,
    station_id: QueryId | None = None,
) -> list[dict[str, Any]]:
    return service.list_discrepancies(session=session, open_only=open_only, station_id=station_id)


@router.post("/discrepancies/{discrepancy_id}/acknowledge")
def acknowledge(discrepancy_id: PathId, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    row = _write(
        session,
        lambda: flows.acknowledge_discrepancy(
            session=session, discrepancy_id=discrepancy_id, actor=actor
        ),
    )
    items = {i["id"]: i for i in service.list_items(session=session)}
    out = {
        "id": row.id,
        "kind": row.kind,
        "sku": items[row.item_id]["sku"],
        "acknowledged_by": row.acknowledged_by,
    }
    return out


@router.get("/fund")
def fund(session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    with _refusals():
        return service.fund_summary(session=session)


# -- supply plans and forecasts -------------------------------------------------------------------
class PlanIn(_Body):
    station_ids: list[Id] | None = None
    as_of: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    target_days: Annotated[float, Field(gt=0, le=60)] = planning.DEFAULT_TARGET_DAYS


@router.get("/plans")
def plans(session: SessionDep, actor: Dispatcher) -> list[dict[str, Any]]:
    return service.list_plans(session=session)


@router.get("/plans/{plan_id}")
def plan(plan_id: PathId, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    with _refusals():
        service.get_plan(session=session, plan_id=plan_id)
    return next(p for p in service.list_plans(session=session, limit=10_000) if p["id"] == plan_id)


@router.post("/plans", status_code=status.HTTP_201_CREATED)
def create_plan(body: PlanIn, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    """A plan on demand (the provision consumer makes them for alerts)."""

    def act() -> int:
        ids = (
            body.station_ids
            if body.station_ids is not None
            else [p["id"] for p in service.list_places(session=session, kind="station")]
        )
        try:
            as_of = date.fromisoformat(body.as_of) if body.as_of else date.today()
        except ValueError as exc:
            raise service.LogisticsError(f"not a date: {body.as_of}") from exc
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

    plan_id = _write(session, act)
    return plan(plan_id, session, actor)


@router.post("/plans/{plan_id}/approve")
def approve(
    plan_id: PathId, request: Request, session: SessionDep, actor: Dispatcher
) -> dict[str, Any]:
    try:
        made = _write(
            session, lambda: flows.approve_plan(session=session, plan_id=plan_id, actor=actor)
        )
    except HTTPException as exc:
        if isinstance(exc.__cause__, service.FundExhausted):
            _flag_overdraft(request, actor, exc.__cause__, f"plan:{plan_id}")
        raise
    return {**plan(plan_id, session, actor), "shipments": [s.short_code for s in made]}


MAX_CSV_BYTES = 2 * 1024 * 1024


@router.post("/forecasts")
async def upload_forecast(
    request: Request, session: SessionDep, actor: Dispatcher
) -> dict[str, Any]:
    """CSV `station,date,travellers` (station by code or id) as the body, or as the `file`
    field of a form. Every bad row is listed in the 422; nothing is stored unless all are good."""
    raw: bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "send the CSV as the form field 'file'")
        raw = await upload.read(MAX_CSV_BYTES + 1)
    else:
        raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise HTTPException(413, f"a forecast may be at most {MAX_CSV_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, "the CSV must be UTF-8 text") from exc
    stations: dict[str, int] = {}
    for p in service.list_places(session=session, kind="station"):
        stations[p["code"]] = p["id"]
        stations[str(p["id"])] = p["id"]
    try:
        rows = planning.parse_forecast_csv(text, stations=stations)
    except planning.ForecastError as exc:
        raise HTTPException(422, {"message": str(exc), "errors": exc.errors[:100]}) from exc
    count = _write(session, lambda: planning.store_forecast(session=session, rows=rows))
    record_audit(session=session, actor=actor, action="forecast.uploaded", detail={"rows": count})
    session.commit()
    return {"rows": count}


@router.get("/forecasts")
def forecast(
    session: SessionDep,
    actor: Dispatcher,
    station_id: QueryId,
    start: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$"),
    days: Annotated[int, Query(ge=1, le=60)] = 40,
) -> dict[str, Any]:
    """Expected travellers per day at a station (uploaded rows, else the default curve)."""
    with _refusals():
        place = service.get_place(session=session, place_id=station_id, kind="station")
    with _refusals():
        try:
            first = date.fromisoformat(start) if start else date.today()
        except ValueError as exc:
            raise service.LogisticsError(f"not a date: {start}") from exc
        if not start:
            first = planning.rush_start(first.year)
        dates = [first + timedelta(days=k) for k in range(days)]
        values = planning.travellers_per_day(
            session=session, stations=_all_stations(session), days=dates
        )
    index = [p.id for p in _all_stations(session)].index(place.id)
    return {
        "station_id": station_id,
        "days": [
            {"date": d.isoformat(), "travellers": round(float(values[index, k]), 1)}
            for k, d in enumerate(dates)
        ],
    }


def _all_stations(session: Session) -> list[Place]:
    return list(
        session.exec(select(Place).where(Place.kind == "station").order_by(col(Place.id))).all()
    )


# -- exports --------------------------------------------------------------------------------------
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/exports/{filename}")
def download(filename: str, session: SessionDep, actor: Dispatcher) -> Response:
    """`stock|movements|discrepancies` `.csv|.xlsx`, formula injection escaped."""
    name, _, fmt = filename.rpartition(".")
    with _refusals():
        body = exports.export(session=session, name=name, fmt=fmt)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="nuanliu-{name}.{fmt}"'},
    )


class ManagersIn(_Body):
    phones: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=8)]


@router.put("/stations/{station_id}/managers")
def set_managers(
    station_id: PathId, body: ManagersIn, session: SessionDep, actor: Dispatcher
) -> dict[str, Any]:
    """The manager phones that may confirm this station's receipts by SMS (mobile numbers,
    stored as E.164)."""
    from coordinator.volunteers.service import normalise_phone

    def act() -> None:
        place = service.get_place(session=session, place_id=station_id, kind="station")
        phones: list[str] = []
        for raw in body.phones:
            try:
                phone = normalise_phone(raw)
            except ValueError as exc:
                raise service.LogisticsError(f"{raw!r}: {exc}") from exc
            if phone not in phones:
                phones.append(phone)
        if len(",".join(phones)) > 256:
            raise service.LogisticsError("too many phone numbers")
        place.manager_phones = ",".join(phones)
        session.add(place)
        record_audit(
            session=session,
            actor=actor,
            action="station.managers_set",
            subject=f"station:{station_id}",
            detail={"phones": len(phones)},
        )

    _write(session, act)
    return service.place_dict(service.get_place(session=session, place_id=station_id))
