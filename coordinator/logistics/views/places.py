"""The catalogue, warehouses and stations: stock, movements, targets, manager phones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from coordinator.accounts.service import record_audit
from coordinator.deps import Dispatcher, SessionDep, StationStaff
from coordinator.logistics import errors, service
from coordinator.logistics.schemas import ItemPublic, MovementPublic, PlacePublic, PlaceStock
from coordinator.logistics.views.common import Body, Count, Sku, Station, Warehouse, write
from coordinator.volunteers.service import normalise_phone

router = APIRouter(prefix="/api", tags=["logistics"])


class TargetIn(Body):
    item: Sku
    target: Count
    reorder_point: Count


@router.get("/items", response_model=list[ItemPublic])
def items(session: SessionDep, actor: Dispatcher) -> list[ItemPublic]:
    return service.list_items(session=session)


@router.get("/warehouses", response_model=list[PlacePublic])
def warehouses(session: SessionDep, actor: Dispatcher) -> list[PlacePublic]:
    return service.list_places(session=session, kind="warehouse")


@router.get("/warehouses/{warehouse_id}/stock", response_model=PlaceStock)
def warehouse_stock(session: SessionDep, actor: Dispatcher, warehouse: Warehouse) -> PlaceStock:
    assert warehouse.id is not None
    return service.place_stock(session=session, place_id=warehouse.id)


@router.get("/stations", response_model=list[PlacePublic])
def stations(session: SessionDep, actor: StationStaff) -> list[PlacePublic]:
    only = None if actor.role in ("admin", "dispatcher") else actor.station_ids
    return service.list_places(session=session, kind="station", only_ids=only)


@router.get("/stations/{station_id}/stock", response_model=PlaceStock)
def station_stock(session: SessionDep, actor: StationStaff, station: Station) -> PlaceStock:
    assert station.id is not None
    return service.place_stock(session=session, place_id=station.id)


@router.get("/stations/{station_id}/movements", response_model=list[MovementPublic])
def station_movements(
    session: SessionDep,
    actor: StationStaff,
    station: Station,
    item: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[MovementPublic]:
    station_id = station.id
    item_id = service.item_for_sku(session=session, sku=item).id if item else None
    return service.stock_history(session=session, place_id=station_id, item_id=item_id, limit=limit)


@router.put("/stations/{station_id}/targets", response_model=PlaceStock)
def set_targets(
    body: list[TargetIn], session: SessionDep, actor: Dispatcher, station: Station
) -> PlaceStock:
    station_id = station.id
    assert station_id is not None

    def act() -> None:
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

    write(session, act)
    return service.place_stock(session=session, place_id=station_id)


class ManagersIn(Body):
    phones: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=8)]


@router.put("/stations/{station_id}/managers", response_model=PlacePublic)
def set_managers(
    body: ManagersIn, session: SessionDep, actor: Dispatcher, station: Station
) -> PlacePublic:
    """The manager phones that may confirm this station's receipts by SMS (mobile numbers,
    stored as E.164)."""

    def act() -> None:
        phones: list[str] = []
        for raw in body.phones:
            try:
                phone = normalise_phone(raw)
            except ValueError as exc:
                raise errors.InvalidManagerPhones(f"{raw!r}: {exc}") from exc
            if phone not in phones:
                phones.append(phone)
        if len(",".join(phones)) > 256:
            raise errors.InvalidManagerPhones("too many phone numbers")
        station.manager_phones = ",".join(phones)
        session.add(station)
        record_audit(
            session=session,
            actor=actor,
            action="station.managers_set",
            subject=f"station:{station.id}",
            detail={"phones": len(phones)},
        )

    write(session, act)
    return PlacePublic.of(station)
