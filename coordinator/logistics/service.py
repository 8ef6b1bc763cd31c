"""Logistics queries and small rules: the catalogue, places, stock, shipments, discrepancies,
the fund's summary, plans, targets. Rows for the flows, read models (`schemas`) for the API and
the board, so both render the same thing. No HTTP and no Kafka here.

Somewhat over 500 lines on purpose: the one surface other domains (the board, reports) may
read logistics through, since the contracts forbid them its models."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from coordinator.logistics.errors import (
    InvalidTarget,
    NoWarehouse,
    PlaceNotFound,
    PlanNotFound,
    ShipmentNotFound,
    UnknownItem,
    WrongUnit,
)
from coordinator.logistics.forecasts import store_forecast
from coordinator.logistics.fund import active_fund
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    Forecast,
    Fund,
    FundCharge,
    Plan,
    PlanLine,
    Shipment,
    ShipmentLine,
    StationTarget,
    StockBalance,
    StockMovement,
    manager_phones,
)

# The row types this service hands to other domains: they name them from here, never from models
from coordinator.logistics.models import Item as Item
from coordinator.logistics.models import Place as Place
from coordinator.logistics.rates import rate_for
from coordinator.logistics.schemas import (
    DiscrepancyPublic,
    DistributionPublic,
    FundSummary,
    ItemPublic,
    MovementPublic,
    PlacePublic,
    PlaceStock,
    PlanPublic,
    ShipmentPublic,
    StockLine,
)


# -- catalogue and places ---------------------------------------------------------------------
def items_by_id(*, session: Session) -> dict[int, Item]:
    return {i.id: i for i in session.exec(select(Item)).all() if i.id is not None}


def list_items(*, session: Session) -> list[ItemPublic]:
    """The item catalogue."""
    return [ItemPublic.of(i) for i in session.exec(select(Item).order_by(col(Item.id))).all()]


def item_for_sku(*, session: Session, sku: str, unit: str | None = None) -> Item:
    """The item with `sku`; 422 for an unknown SKU or a unit the item is not counted in."""
    item = session.exec(select(Item).where(Item.sku == sku)).first()
    if item is None:
        raise UnknownItem(f"unknown item SKU {sku!r}")
    if unit is not None and unit != item.unit:
        raise WrongUnit(f"{item.sku} is counted in {item.unit}, not {unit!r}")
    return item


def places_of_kind(*, session: Session, kind: str) -> list[Place]:
    """Stations or warehouses, by id."""
    return list(session.exec(select(Place).where(Place.kind == kind).order_by(col(Place.id))))


def station_districts(*, session: Session) -> set[str]:
    """The district codes that have a station."""
    rows = session.exec(select(Place.district_code).where(Place.kind == "station")).all()
    return {code for code in rows if code}


def is_station(*, session: Session, place_id: int) -> bool:
    """Whether `place_id` is a station (not the warehouse, not unknown)."""
    place = session.get(Place, place_id)
    return place is not None and place.kind == "station"


def list_places(
    *, session: Session, kind: str, only_ids: frozenset[int] | None = None
) -> list[PlacePublic]:
    """Stations or warehouses (optionally only those in `only_ids`)."""
    rows = places_of_kind(session=session, kind=kind)
    return [PlacePublic.of(p) for p in rows if only_ids is None or p.id in only_ids]


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


def place_stock(*, session: Session, place_id: int) -> PlaceStock:
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
            StockLine(
                **dict(ItemPublic.of(item)),
                item_id=item.id,
                quantity=quantity,
                target=target.target if target else None,
                reorder_point=target.reorder_point if target else None,
                low=bool(target and quantity < target.reorder_point),
                in_transit=coming.get(item.id, 0),
            )
        )
    return PlaceStock(place=PlacePublic.of(place), items=lines)


def station_stock(*, session: Session, station_id: int) -> PlaceStock:
    """A station's stock per item, with targets (404 if it is not a station)."""
    get_place(session=session, place_id=station_id, kind="station")
    return place_stock(session=session, place_id=station_id)


def stock_history(
    *,
    session: Session,
    place_id: int | None = None,
    item_id: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[MovementPublic]:
    """Movements, newest first (balance after each, for charts and exports)."""
    query = select(StockMovement)
    if place_id is not None:
        query = query.where(StockMovement.place_id == place_id)
    if item_id is not None:
        query = query.where(StockMovement.item_id == item_id)
    if since is not None:
        query = query.where(col(StockMovement.at) >= since)
    rows = session.exec(query.order_by(col(StockMovement.id).desc()).limit(limit)).all()
    items = items_by_id(session=session)
    return [MovementPublic.of(m, items) for m in rows]


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


def list_shipments(
    *,
    session: Session,
    station_id: int | None = None,
    station_ids: frozenset[int] | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[ShipmentPublic]:
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
    items = items_by_id(session=session)
    return [
        ShipmentPublic.of(s, lines.get(s.id or 0, []), items, discrepancies.get(s.id or 0, []))
        for s in shipments
    ]


def shipment_detail(*, session: Session, shipment_id: int) -> ShipmentPublic:
    shipment = get_shipment(session=session, shipment_id=shipment_id)
    found = session.exec(select(Discrepancy).where(Discrepancy.shipment_id == shipment_id)).all()
    lines = shipment_lines(session=session, shipment_id=shipment_id)
    return ShipmentPublic.of(shipment, lines, items_by_id(session=session), list(found))


def list_discrepancies(
    *, session: Session, open_only: bool = False, station_id: int | None = None
) -> list[DiscrepancyPublic]:
    """Current discrepancies (newest first); `open_only` leaves out acknowledged ones."""
    query = select(Discrepancy).where(col(Discrepancy.superseded).is_(False))
    if open_only:
        query = query.where(col(Discrepancy.acknowledged_at).is_(None))
    if station_id is not None:
        query = query.where(Discrepancy.place_id == station_id)
    items = items_by_id(session=session)
    rows = session.exec(query.order_by(col(Discrepancy.id).desc())).all()
    return [DiscrepancyPublic.of(d, items) for d in rows]


# -- the fund ---------------------------------------------------------------------------------
def fund_summary(*, session: Session) -> FundSummary:
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
    return FundSummary.of(fund, by_kind, list(recent))


# -- distributions ----------------------------------------------------------------------------
def list_distributions(
    *, session: Session, station_id: int, limit: int = 200
) -> list[DistributionPublic]:
    items = items_by_id(session=session)
    rows = session.exec(
        select(Distribution)
        .where(Distribution.place_id == station_id)
        .order_by(col(Distribution.id).desc())
        .limit(limit)
    ).all()
    return [DistributionPublic.of(d, items[d.item_id]) for d in rows]


# -- plans ------------------------------------------------------------------------------------
def list_plans(
    *, session: Session, limit: int = 100, plan_id: int | None = None
) -> list[PlanPublic]:
    """Supply plans, newest first, with their lines (only `plan_id`, when given)."""
    query = select(Plan)
    if plan_id is not None:
        query = query.where(Plan.id == plan_id)
    plans = session.exec(query.order_by(col(Plan.id).desc()).limit(limit)).all()
    ids = [p.id for p in plans]
    lines: dict[int, list[PlanLine]] = {}
    if ids:
        for line in session.exec(
            select(PlanLine).where(col(PlanLine.plan_id).in_(ids)).order_by(col(PlanLine.id))
        ):
            lines.setdefault(line.plan_id, []).append(line)
    items = items_by_id(session=session)
    return [PlanPublic.of(p, lines.get(p.id or 0, []), items) for p in plans]


def plan_detail(*, session: Session, plan_id: int) -> PlanPublic:
    """One plan with its lines (404 if there is none)."""
    get_plan(session=session, plan_id=plan_id)
    return list_plans(session=session, plan_id=plan_id)[0]


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


# -- a season's facts, for the campaign report --------------------------------------------------
class HandOut(NamedTuple):
    """A hand-out as a season's report reads it (a tuple: tens of thousands a season)."""

    place_id: int
    item_id: int
    quantity: int
    destination: str | None
    cost_fen: int | None
    at: datetime


def distributions_between(*, session: Session, since: datetime, until: datetime) -> list[HandOut]:
    """Hand-outs recorded in [since, until) and not taken back, oldest first."""
    # more columns than sqlmodel's typed select() takes: SQLAlchemy's own
    rows = session.execute(
        sql_select(
            col(Distribution.place_id),
            col(Distribution.item_id),
            col(Distribution.quantity),
            col(Distribution.destination),
            col(Distribution.cost_fen),
            col(Distribution.at),
        )
        .where(
            col(Distribution.at) >= since,
            col(Distribution.at) < until,
            col(Distribution.undone_at).is_(None),
        )
        .order_by(col(Distribution.at), col(Distribution.id))
    ).all()
    return [HandOut(*row) for row in rows]


def fund_charges_between(*, session: Session, since: datetime, until: datetime) -> list[FundCharge]:
    """Charges to any fund in [since, until), oldest first."""
    return list(
        session.exec(
            select(FundCharge)
            .where(col(FundCharge.at) >= since, col(FundCharge.at) < until)
            .order_by(col(FundCharge.at), col(FundCharge.id))
        ).all()
    )


def funds_for(*, session: Session, fund_ids: set[int], year: int) -> list[Fund]:
    """The funds charged in a season (`fund_ids`) and those opened for its `year`."""
    query = select(Fund).where(
        col(Fund.id).in_(fund_ids) | (col(Fund.year) == year)
        if fund_ids
        else col(Fund.year) == year
    )
    return list(session.exec(query.order_by(col(Fund.id))).all())


def discrepancies_between(
    *, session: Session, since: datetime, until: datetime
) -> list[Discrepancy]:
    """Discrepancies found at receipt in [since, until), a correction's replacing the first."""
    return list(
        session.exec(
            select(Discrepancy)
            .where(
                col(Discrepancy.superseded).is_(False),
                col(Discrepancy.created_at) >= since,
                col(Discrepancy.created_at) < until,
            )
            .order_by(col(Discrepancy.id))
        ).all()
    )


def balances_before(*, session: Session, at: datetime) -> dict[tuple[int, int], int]:
    """(place id, item id) → the balance after its last movement before `at`: what a place
    held when a season began (a pair never moved before is absent)."""
    last = (
        select(func.max(StockMovement.id))
        .where(col(StockMovement.at) < at)
        .group_by(col(StockMovement.place_id), col(StockMovement.item_id))
    )
    return {
        (m.place_id, m.item_id): m.balance_after
        for m in session.exec(select(StockMovement).where(col(StockMovement.id).in_(last))).all()
    }


class Move(NamedTuple):
    """A ledger movement as a season's report walks them."""

    place_id: int
    item_id: int
    delta: int
    balance_after: int
    at: datetime


def movements_between(*, session: Session, since: datetime, until: datetime) -> list[Move]:
    """Every movement in [since, until), in the order the ledger booked them."""
    # more columns than sqlmodel's typed select() takes: SQLAlchemy's own
    rows = session.execute(
        sql_select(
            col(StockMovement.place_id),
            col(StockMovement.item_id),
            col(StockMovement.delta),
            col(StockMovement.balance_after),
            col(StockMovement.at),
        )
        .where(col(StockMovement.at) >= since, col(StockMovement.at) < until)
        .order_by(col(StockMovement.id))
    ).all()
    return [Move(*row) for row in rows]


# -- travellers: the rates hand-outs are read back with, forecasts per day -----------------------
def traveller_rates(*, session: Session) -> dict[int, float]:
    """Item id → items a traveller served takes, for the goods a station stocks (tickets are
    bought to order, not taken from a shelf)."""
    return {
        i.id: rate_for(i)
        for i in session.exec(select(Item)).all()
        if i.id is not None and i.category != "ticket" and rate_for(i) > 0
    }


def forecasts_between(*, session: Session, first: date, last: date) -> dict[tuple[int, date], int]:
    """(station id, day) → the travellers forecast for it, for days first..last."""
    return {
        (f.place_id, f.day): f.travellers
        for f in session.exec(
            select(Forecast).where(col(Forecast.day) >= first, col(Forecast.day) <= last)
        ).all()
    }


def save_forecast(*, session: Session, rows: list[tuple[int, date, int]]) -> int:
    """Store (station id, day, travellers) rows, replacing a day's earlier forecast."""
    return store_forecast(session=session, rows=rows)
