"""Shipments: listed, dispatched, received and corrected by the destination's manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import Field
from sqlmodel import Session

from coordinator.accounts.service import Actor
from coordinator.deps import Dispatcher, SessionDep, StationStaff, ensure_station
from coordinator.logistics import errors, flows, service
from coordinator.logistics.flows import LineCount
from coordinator.logistics.models import Shipment
from coordinator.logistics.schemas import ShipmentPublic
from coordinator.logistics.views.common import (
    Body,
    Count,
    Note,
    Quantity,
    ShipmentRow,
    Sku,
    StationManager,
    write,
)
from coordinator.lookup import BodyId, QueryId

router = APIRouter(prefix="/api", tags=["logistics"])


class ShipmentLineIn(Body):
    item: Sku
    quantity: Quantity
    unit: str | None = None


class ShipmentIn(Body):
    from_id: BodyId
    to_id: BodyId
    lines: Annotated[list[ShipmentLineIn], Field(min_length=1, max_length=200)]


class ReceiptLineIn(Body):
    item: Sku
    received: Count
    damaged: Count = 0
    note: Note = ""
    unit: str | None = None


class ReceiptIn(Body):
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=200)]
    note: Note = ""


def _counts(session: Session, lines: list[ReceiptLineIn]) -> dict[int, LineCount]:
    counts: dict[int, LineCount] = {}
    for line in lines:
        item = service.item_for_sku(session=session, sku=line.item, unit=line.unit)
        assert item.id is not None
        if item.id in counts:
            raise errors.InvalidReceipt(f"{item.sku} appears twice")
        counts[item.id] = LineCount(line.received, line.damaged, line.note)
    return counts


@router.get("/shipments", response_model=list[ShipmentPublic])
def shipments(
    session: SessionDep,
    actor: StationStaff,
    station_id: QueryId | None = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(in_transit|received)$")] = None,
) -> list[ShipmentPublic]:
    if station_id is not None:
        ensure_station(actor, station_id)
    only = None if actor.role in ("admin", "dispatcher") else actor.station_ids
    return service.list_shipments(
        session=session, station_id=station_id, station_ids=only, status=status_
    )


@router.get("/shipments/{shipment_id}", response_model=ShipmentPublic)
def shipment(session: SessionDep, actor: StationStaff, found: ShipmentRow) -> ShipmentPublic:
    ensure_station(actor, found.to_id)
    return service.shipment_detail(session=session, shipment_id=found.id or 0)


@router.post("/shipments", status_code=status.HTTP_201_CREATED, response_model=ShipmentPublic)
def create_shipment(body: ShipmentIn, session: SessionDep, actor: Dispatcher) -> ShipmentPublic:
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

    shipment_id = write(session, act)
    return service.shipment_detail(session=session, shipment_id=shipment_id)


@router.post("/shipments/{shipment_id}/receipt", response_model=ShipmentPublic)
def receive(
    body: ReceiptIn, session: SessionDep, actor: StationManager, found: ShipmentRow
) -> ShipmentPublic:
    return _book_receipt(flows.receive_shipment, body, session, actor, found)


@router.post("/shipments/{shipment_id}/receipt/correction", response_model=ShipmentPublic)
@router.put("/shipments/{shipment_id}/receipt", response_model=ShipmentPublic)
def correct(
    body: ReceiptIn, session: SessionDep, actor: StationManager, found: ShipmentRow
) -> ShipmentPublic:
    return _book_receipt(flows.correct_receipt, body, session, actor, found)


def _book_receipt(
    book: Callable[..., Any], body: ReceiptIn, session: SessionDep, actor: Actor, found: Shipment
) -> ShipmentPublic:
    """A receipt or its correction, by the manager of the receiving station."""
    ensure_station(actor, found.to_id)
    shipment_id = found.id or 0
    write(
        session,
        lambda: book(
            session=session,
            shipment_id=shipment_id,
            counts=_counts(session, body.lines),
            actor=actor,
            note=body.note,
        ),
    )
    return service.shipment_detail(session=session, shipment_id=shipment_id)
