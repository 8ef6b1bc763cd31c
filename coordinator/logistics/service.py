"""Logistics queries and small rules: the catalogue, places, stock, shipments, discrepancies,
the fund. Plain data out (dicts and lists), so the API and the board render the same thing.
No HTTP and no Kafka here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.common import aware
from coordinator.logistics.errors import (
    InvalidTarget,
    NoWarehouse,
    PlaceNotFound,
    PlanNotFound,
    ShipmentNotFound,
    UnknownItem,
    WrongUnit,
)
from coordinator.logistics.fund import active_fund
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    FundCharge,
    Item,
    Place,
    Plan,
    PlanLine,
    Shipment,
    ShipmentLine,
    StationTarget,
    StockBalance,
    StockMovement,
)


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value else None


# -- catalogue and places ---------------------------------------------------------------------
def item_dict(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "sku": item.sku,
        "name_zh": item.name_zh,
        "name_en": item.name_en,
        "short_name": item.short_name,
        "unit": item.unit,
        "category": item.category,
        "unit_cost_fen": item.unit_cost_fen,
        "batch": item.batch,
        "expires_on": item.expires_on.isoformat() if item.expires_on else None,
    }


def list_items(*, session: Session) -> list[dict[str, Any]]:
    """The item catalogue."""
    return [item_dict(i) for i in session.exec(select(Item).order_by(col(Item.id))).all()]


def items_by_sku(*, session: Session) -> dict[str, Item]:
    return {i.sku: i for i in session.exec(select(Item)).all()}


def item_for_sku(*, session: Session, sku: str, unit: str | None = None) -> Item:
    """The item with `sku`; 422 for an unknown SKU or a unit the item is not counted in."""
    item = session.exec(select(Item).where(Item.sku == sku)).first()
    if item is None:
        raise UnknownItem(f"unknown item SKU {sku!r}")
    if unit is not None and unit != item.unit:
        raise WrongUnit(f"{item.sku} is counted in {item.unit}, not {unit!r}")
    return item


def place_dict(place: Place) -> dict[str, Any]:
    return {
        "id": place.id,
        "kind": place.kind,
        "code": place.code,
        "name_zh": place.name_zh,
        "name_en": place.name_en,
        "district_code": place.district_code,
        "lat": place.lat,
        "lon": place.lon,
        "station_type": place.station_type,
        "opening_hours": place.opening_hours,
        "manager_phones": manager_phones(place),
    }


def manager_phones(place: Place) -> list[str]:
    return [p.strip() for p in (place.manager_phones or "").split(",") if p.strip()]


def list_places(
    *, session: Session, kind: str, only_ids: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """Stations or warehouses (optionally only those in `only_ids`)."""
    query = select(Place).where(Place.kind == kind).order_by(col(Place.id))
    rows = session.exec(query).all()
    return [place_dict(p) for p in rows if only_ids is None or p.id in only_ids]


def get_place(*, session: Session, place_id: int, kind: str | None = None) -> Place:
    place = session.get(Place, place_id)
    if place is None or (kind is not None and place.kind != kind):
        raise PlaceNotFound(f"no {kind or 'place'} with id {place_id}")
    return place


def central_warehouse(*, session: Session) -> Place:
    """The warehouse shipments leave from (the first one, in the demo the central one)."""
    place = session.exec(
        select(Place).where(Place.kind == "warehouse").order_by(col(Place.id))
    ).first()
    if place is None:
        raise NoWarehouse("there is no warehouse")
    return place


def manager_phone_set(*, session: Session) -> set[str]:
    """Every phone registered as a station manager's (E.164)."""
    return {
        phone
        for place in session.exec(select(Place).where(Place.kind == "station")).all()
        for phone in manager_phones(place)
    }


def station_for_phone(*, session: Session, phone: str) -> Place | None:
    """The station whose registered manager phones include `phone` (E.164)."""
    for place in session.exec(select(Place).where(Place.kind == "station")).all():
        if phone in manager_phones(place):
            return place
    return None


# -- stock ------------------------------------------------------------------------------------
def in_transit(*, session: Session, to_id: int) -> dict[int, int]:
    """Item id → quantity on the road to `to_id`."""
    rows = session.exec(
        select(ShipmentLine.item_id, func.sum(ShipmentLine.quantity))
        .join(Shipment, col(Shipment.id) == col(ShipmentLine.shipment_id))
        .where(Shipment.to_id == to_id, Shipment.status == "in_transit")
        .group_by(col(ShipmentLine.item_id))
    ).all()
    return {int(i): int(q) for i, q in rows}


def place_stock(*, session: Session, place_id: int) -> dict[str, Any]:
    """Stock per item at a place, with targets, reorder points and what is on the way."""
    place = get_place(session=session, place_id=place_id)
    balances = {
        b.item_id: b.quantity
        for b in session.exec(select(StockBalance).where(StockBalance.place_id == place_id)).all()
    }
    targets = {
        t.item_id: t
        for t in session.exec(select(StationTarget).where(StationTarget.place_id == place_id))
    }
    coming = in_transit(session=session, to_id=place_id)
    lines = []
    for item in session.exec(select(Item).order_by(col(Item.id))).all():
        assert item.id is not None
        target = targets.get(item.id)
        quantity = balances.get(item.id, 0)
        lines.append(
            {
                **item_dict(item),
                "item_id": item.id,
                "quantity": quantity,
                "target": target.target if target else None,
                "reorder_point": target.reorder_point if target else None,
                "low": bool(target and quantity < target.reorder_point),
                "in_transit": coming.get(item.id, 0),
            }
        )
    return {"place": place_dict(place), "items": lines}


def station_stock(*, session: Session, station_id: int) -> dict[str, Any]:
    """A station's stock per item, with targets (404 if it is not a station)."""
    get_place(session=session, place_id=station_id, kind="station")
    return place_stock(session=session, place_id=station_id)


def warehouse_stock(*, session: Session, warehouse_id: int) -> dict[str, Any]:
    get_place(session=session, place_id=warehouse_id, kind="warehouse")
    return place_stock(session=session, place_id=warehouse_id)


def movement_dict(m: StockMovement, items: dict[int, Item]) -> dict[str, Any]:
    item = items.get(m.item_id)
    return {
        "id": m.id,
        "place_id": m.place_id,
        "item_id": m.item_id,
        "sku": item.sku if item else None,
        "delta": m.delta,
        "kind": m.kind,
        "balance_after": m.balance_after,
        "actor": m.actor,
        "reason": m.reason,
        "shipment_id": m.shipment_id,
        "distribution_id": m.distribution_id,
        "at": _iso(m.at),
    }


def stock_history(
    *,
    session: Session,
    place_id: int | None = None,
    item_id: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Movements, newest first (balance after each, for charts and exports)."""
    query = select(StockMovement)
    if place_id is not None:
        query = query.where(StockMovement.place_id == place_id)
    if item_id is not None:
        query = query.where(StockMovement.item_id == item_id)
    if since is not None:
        query = query.where(col(StockMovement.at) >= since)
    rows = session.exec(query.order_by(col(StockMovement.id).desc()).limit(limit)).all()
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    return [movement_dict(m, items) for m in rows]


# -- shipments and discrepancies --------------------------------------------------------------
def get_shipment(*, session: Session, shipment_id: int, lock: bool = False) -> Shipment:
    query = select(Shipment).where(Shipment.id == shipment_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    shipment = session.exec(query).first()
    if shipment is None:
        raise ShipmentNotFound(f"no shipment with id {shipment_id}")
    return shipment


def shipment_by_code(*, session: Session, short_code: str) -> Shipment | None:
    return session.exec(select(Shipment).where(Shipment.short_code == short_code.upper())).first()


def shipment_lines(*, session: Session, shipment_id: int) -> list[ShipmentLine]:
    return list(
        session.exec(
            select(ShipmentLine)
            .where(ShipmentLine.shipment_id == shipment_id)
            .order_by(col(ShipmentLine.id))
        ).all()
    )


def discrepancy_dict(d: Discrepancy, items: dict[int, Item]) -> dict[str, Any]:
    item = items.get(d.item_id)
    return {
        "id": d.id,
        "shipment_id": d.shipment_id,
        "station_id": d.place_id,
        "item_id": d.item_id,
        "sku": item.sku if item else None,
        "kind": d.kind,
        "sent": d.sent,
        "received": d.received,
        "quantity": d.quantity,
        "note": d.note,
        "created_at": _iso(d.created_at),
        "superseded": d.superseded,
        "acknowledged_by": d.acknowledged_by,
        "acknowledged_at": _iso(d.acknowledged_at),
    }


def shipment_dict(
    s: Shipment,
    lines: list[ShipmentLine],
    items: dict[int, Item],
    discrepancies: list[Discrepancy],
) -> dict[str, Any]:
    return {
        "id": s.id,
        "short_code": s.short_code,
        "from_id": s.from_id,
        "to_id": s.to_id,
        "status": s.status,
        "origin": s.origin,
        "plan_id": s.plan_id,
        "created_by": s.created_by,
        "dispatched_at": _iso(s.dispatched_at),
        "received_at": _iso(s.received_at),
        "received_by": s.received_by,
        "received_via": s.received_via,
        "receipt_note": s.receipt_note,
        "corrected_at": _iso(s.corrected_at),
        "lines": [
            {
                "item": items[line.item_id].sku,
                "item_id": line.item_id,
                "name_zh": items[line.item_id].name_zh,
                "unit": items[line.item_id].unit,
                "quantity": line.quantity,
                "received": line.received,
                "damaged": line.damaged,
                "note": line.note,
            }
            for line in lines
        ],
        "discrepancies": [discrepancy_dict(d, items) for d in discrepancies if not d.superseded],
    }


def list_shipments(
    *,
    session: Session,
    station_id: int | None = None,
    station_ids: frozenset[int] | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Shipments (newest first) with their lines and open discrepancies."""
    query = select(Shipment)
    if station_id is not None:
        query = query.where(Shipment.to_id == station_id)
    if station_ids is not None:
        query = query.where(col(Shipment.to_id).in_(station_ids))
    if status is not None:
        query = query.where(Shipment.status == status)
    shipments = session.exec(query.order_by(col(Shipment.id).desc()).limit(limit)).all()
    ids = [s.id for s in shipments]
    lines: dict[int, list[ShipmentLine]] = {}
    discrepancies: dict[int, list[Discrepancy]] = {}
    if ids:
        for line in session.exec(
            select(ShipmentLine)
            .where(col(ShipmentLine.shipment_id).in_(ids))
            .order_by(col(ShipmentLine.id))
        ):
            lines.setdefault(line.shipment_id, []).append(line)
        for d in session.exec(select(Discrepancy).where(col(Discrepancy.shipment_id).in_(ids))):
            discrepancies.setdefault(d.shipment_id, []).append(d)
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    return [
        shipment_dict(s, lines.get(s.id or 0, []), items, discrepancies.get(s.id or 0, []))
        for s in shipments
    ]


def shipment_detail(*, session: Session, shipment_id: int) -> dict[str, Any]:
    shipment = get_shipment(session=session, shipment_id=shipment_id)
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    found = session.exec(select(Discrepancy).where(Discrepancy.shipment_id == shipment_id)).all()
    lines = shipment_lines(session=session, shipment_id=shipment_id)
    return shipment_dict(shipment, lines, items, list(found))


def list_discrepancies(
    *, session: Session, open_only: bool = False, station_id: int | None = None
) -> list[dict[str, Any]]:
    """Current discrepancies (newest first); `open_only` leaves out acknowledged ones."""
    query = select(Discrepancy).where(col(Discrepancy.superseded).is_(False))
    if open_only:
        query = query.where(col(Discrepancy.acknowledged_at).is_(None))
    if station_id is not None:
        query = query.where(Discrepancy.place_id == station_id)
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    rows = session.exec(query.order_by(col(Discrepancy.id).desc())).all()
    return [discrepancy_dict(d, items) for d in rows]


# -- the fund ---------------------------------------------------------------------------------
def fund_summary(*, session: Session) -> dict[str, Any]:
    """The open fund: budget, spent and left (fen), spending by kind, recent charges."""
    fund = active_fund(session=session)
    by_kind = {
        str(k): int(v)
        for k, v in session.exec(
            select(FundCharge.kind, func.sum(FundCharge.amount_fen))
            .where(FundCharge.fund_id == fund.id)
            .group_by(col(FundCharge.kind))
        ).all()
    }
    recent = session.exec(
        select(FundCharge)
        .where(FundCharge.fund_id == fund.id)
        .order_by(col(FundCharge.id).desc())
        .limit(50)
    ).all()
    return {
        "id": fund.id,
        "name": fund.name,
        "year": fund.year,
        "budget_fen": fund.budget_fen,
        "spent_fen": fund.spent_fen,
        "remaining_fen": fund.budget_fen - fund.spent_fen,
        "by_kind": by_kind,
        "charges": [
            {
                "id": c.id,
                "amount_fen": c.amount_fen,
                "kind": c.kind,
                "reason": c.reason,
                "actor": c.actor,
                "distribution_id": c.distribution_id,
                "plan_id": c.plan_id,
                "at": _iso(c.at),
            }
            for c in recent
        ],
    }


# -- distributions ----------------------------------------------------------------------------
def distribution_dict(d: Distribution, item: Item) -> dict[str, Any]:
    return {
        "id": d.id,
        "station_id": d.place_id,
        "item": item.sku,
        "quantity": d.quantity,
        "note": d.note,
        "destination": d.destination,
        "cost_fen": d.cost_fen,
        "actor": d.actor,
        "at": _iso(d.at),
    }


def list_distributions(
    *, session: Session, station_id: int, limit: int = 200
) -> list[dict[str, Any]]:
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    rows = session.exec(
        select(Distribution)
        .where(Distribution.place_id == station_id)
        .order_by(col(Distribution.id).desc())
        .limit(limit)
    ).all()
    return [distribution_dict(d, items[d.item_id]) for d in rows]


# -- plans ------------------------------------------------------------------------------------
def plan_dict(plan: Plan, lines: list[PlanLine], items: dict[int, Item]) -> dict[str, Any]:
    return {
        "id": plan.id,
        "status": plan.status,
        "trigger": plan.trigger,
        "incident_id": plan.incident_id,
        "as_of": plan.as_of.isoformat(),
        "target_days": plan.target_days,
        "worst_coverage_days": plan.worst_coverage_days,
        "baseline_worst_coverage_days": plan.baseline_worst_coverage_days,
        "purchase_fen": plan.purchase_fen,
        "created_at": _iso(plan.created_at),
        "approved_by": plan.approved_by,
        "approved_at": _iso(plan.approved_at),
        "lines": [
            {
                "station_id": line.place_id,
                "item": items[line.item_id].sku,
                "allocate": line.allocate,
                "purchase": line.purchase,
                "daily_demand": round(line.daily_demand, 3),
                "coverage_days": round(line.coverage_days, 3),
            }
            for line in lines
        ],
    }


def list_plans(*, session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Supply plans, newest first, with their lines."""
    plans = session.exec(select(Plan).order_by(col(Plan.id).desc()).limit(limit)).all()
    ids = [p.id for p in plans]
    lines: dict[int, list[PlanLine]] = {}
    if ids:
        for line in session.exec(
            select(PlanLine).where(col(PlanLine.plan_id).in_(ids)).order_by(col(PlanLine.id))
        ):
            lines.setdefault(line.plan_id, []).append(line)
    items = {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}
    return [plan_dict(p, lines.get(p.id or 0, []), items) for p in plans]


def get_plan(*, session: Session, plan_id: int, lock: bool = False) -> Plan:
    query = select(Plan).where(Plan.id == plan_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    plan = session.exec(query).first()
    if plan is None:
        raise PlanNotFound(f"no plan with id {plan_id}")
    return plan


def plan_lines(*, session: Session, plan_id: int) -> list[PlanLine]:
    return list(
        session.exec(
            select(PlanLine).where(PlanLine.plan_id == plan_id).order_by(col(PlanLine.id))
        ).all()
    )


def targets(*, session: Session, station_id: int) -> dict[int, StationTarget]:
    return {
        t.item_id: t
        for t in session.exec(select(StationTarget).where(StationTarget.place_id == station_id))
    }


def set_target(
    *, session: Session, station_id: int, item_id: int, target: int, reorder_point: int
) -> StationTarget:
    if reorder_point > target:
        raise InvalidTarget("the reorder point must not be above the target")
    row = session.exec(
        select(StationTarget).where(
            StationTarget.place_id == station_id, StationTarget.item_id == item_id
        )
    ).first()
    if row is None:
        row = StationTarget(
            place_id=station_id, item_id=item_id, target=target, reorder_point=reorder_point
        )
    else:
        row.target, row.reorder_point = target, reorder_point
    session.add(row)
    return row
