"""Resupply: a station below its reorder points is topped up from the central warehouse, and
what the warehouse lacks is bought with the fund (keeping back what tickets will need)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from coordinator.accounts.service import Actor
from coordinator.logistics import fund, ledger, planning, service
from coordinator.logistics.flows.common import actor_label
from coordinator.logistics.flows.shipments import dispatch_shipment
from coordinator.logistics.models import Item, Place, Shipment


def buy_into_warehouse(
    *,
    session: Session,
    warehouse_id: int,
    item: Item,
    quantity: int,
    actor: Actor | str,
    reason: str,
    plan_id: int | None = None,
) -> None:
    """Buy `quantity` of `item` with the fund (refused if it would overdraw it) and book it
    into the warehouse."""
    assert item.id is not None
    cost = quantity * item.unit_cost_fen
    if cost:
        fund.charge_fund(
            session=session,
            amount_fen=cost,
            kind="purchase",
            actor=actor_label(actor),
            reason=f"{quantity} {item.sku}: {reason}",
            plan_id=plan_id,
        )
    ledger.record_movement(
        session=session,
        place_id=warehouse_id,
        item_id=item.id,
        delta=quantity,
        kind="receipt",
        actor=actor_label(actor),
        reason=f"purchase: {reason}",
    )


def resupply_station(
    *,
    session: Session,
    station_id: int,
    today: date,
    actor: Actor | str = "provision",
    buy: bool = True,
) -> Shipment | None:
    """Top up every item below its reorder point at `station_id` to its target, from the
    central warehouse, unless that item is already on the way. What the warehouse lacks is
    bought with the fund (`buy`), keeping back what emergency tickets will need for the rest
    of the rush. None when nothing is needed or nothing can be had."""
    station = service.get_place(session=session, place_id=station_id, kind="station")
    warehouse = service.central_warehouse(session=session)
    assert warehouse.id is not None and station.id is not None
    coming = service.in_transit(session=session, to_id=station.id)
    budget: int | None = None
    lines: list[tuple[int, int]] = []
    for item_id, target in sorted(service.targets(session=session, station_id=station.id).items()):
        have = ledger.balance(session=session, place_id=station.id, item_id=item_id)
        if have >= target.reorder_point or coming.get(item_id, 0) > 0:
            continue
        need = target.target - have
        available = ledger.balance(session=session, place_id=warehouse.id, item_id=item_id)
        item = session.get(Item, item_id)
        assert item is not None
        if buy and available < need and item.unit_cost_fen > 0:
            if budget is None:
                # tickets home at every station come first: keep their expected cost back
                everyone = session.exec(select(Place.id).where(Place.kind == "station")).all()
                reserve = planning.ticket_reserve_fen(
                    session=session,
                    station_ids=[i for i in everyone if i is not None],
                    as_of=today,
                )
                budget = max(fund.fund_remaining(session=session) - reserve, 0)
            units = min(need - available, budget // item.unit_cost_fen)
            if units > 0:
                buy_into_warehouse(
                    session=session,
                    warehouse_id=warehouse.id,
                    item=item,
                    quantity=units,
                    actor=actor,
                    reason=f"resupply of {station.code}",
                )
                budget -= units * item.unit_cost_fen
                available += units
        quantity = min(need, available)
        if quantity > 0:
            lines.append((item_id, quantity))
    if not lines:
        return None
    return dispatch_shipment(
        session=session,
        from_id=warehouse.id,
        to_id=station.id,
        lines=lines,
        actor=actor,
        origin="resupply",
    )
