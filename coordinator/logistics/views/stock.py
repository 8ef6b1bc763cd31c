"""Stock moved at a place outside a shipment: hand-outs and a dispatcher's adjustments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import Field

from coordinator.deps import Dispatcher, SessionDep, StationStaff, ensure_station
from coordinator.logistics import errors, flows, ledger, service
from coordinator.logistics.models import Distribution, Item
from coordinator.logistics.schemas import DistributionPublic, DistributionRecorded, PlaceStock
from coordinator.logistics.views.common import (
    Body,
    Note,
    Quantity,
    Sku,
    StationManager,
    flag_overdraft,
    write,
)
from coordinator.lookup import PathId

router = APIRouter(prefix="/api", tags=["logistics"])


class DistributionIn(Body):
    item: Sku
    quantity: Quantity
    note: Note = ""
    unit: str | None = None
    destination: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    cost_fen: Annotated[int, Field(gt=0, le=flows.MAX_TICKET_FEN)] | None = None


class AdjustmentIn(Body):
    item: Sku
    delta: Annotated[int, Field(ge=-ledger.MAX_MOVEMENT, le=ledger.MAX_MOVEMENT)]
    kind: str = "adjustment"
    reason: Annotated[str, Field(min_length=1, max_length=256)]


@router.get("/stations/{station_id}/distributions", response_model=list[DistributionPublic])
def distributions(
    station_id: PathId, session: SessionDep, actor: StationStaff
) -> list[DistributionPublic]:
    ensure_station(actor, station_id)
    return service.list_distributions(session=session, station_id=station_id)


@router.post(
    "/stations/{station_id}/distributions",
    status_code=status.HTTP_201_CREATED,
    response_model=DistributionRecorded,
)
def distribute(
    station_id: PathId,
    body: DistributionIn,
    request: Request,
    session: SessionDep,
    actor: StationManager,
) -> DistributionRecorded:
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
        row, item = write(session, act)
    except errors.FundExhausted as exc:
        flag_overdraft(request, actor, exc, f"station:{station_id}")
        raise
    # the committed row and item as this session holds them (it does not expire on commit)
    balance = ledger.balance(session=session, place_id=station_id, item_id=item.id or 0)
    return DistributionRecorded(**dict(DistributionPublic.of(row, item)), balance=balance)


@router.post(
    "/stations/{station_id}/distributions/{distribution_id}/undo",
    response_model=DistributionRecorded,
)
def undo_distribution(
    station_id: PathId, distribution_id: PathId, session: SessionDep, actor: StationManager
) -> DistributionRecorded:
    """Take a hand-out back within a minute of recording it (409 after, or twice)."""
    ensure_station(actor, station_id)

    def act() -> Distribution:
        return flows.undo_distribution(
            session=session, station_id=station_id, distribution_id=distribution_id, actor=actor
        )

    row = write(session, act)
    item = session.get(Item, row.item_id)
    assert item is not None and item.id is not None
    balance = ledger.balance(session=session, place_id=station_id, item_id=item.id)
    return DistributionRecorded(**dict(DistributionPublic.of(row, item)), balance=balance)


@router.post(
    "/stations/{station_id}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaceStock,
)
@router.post(
    "/warehouses/{station_id}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaceStock,
)
def adjust(
    station_id: PathId, body: AdjustmentIn, session: SessionDep, actor: Dispatcher
) -> PlaceStock:
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

    write(session, act)
    return service.place_stock(session=session, place_id=station_id)
