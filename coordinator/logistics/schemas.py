"""The logistics read models: what the routes answer (their `response_model`) and the board
shows. Each is built from table rows by its `of(...)`; `service` returns them.

The shapes are the public contract (API.md): field names and order are those the API has always
answered. Times are ISO 8601 with the UTC offset written out (`2026-02-02T08:00:00+00:00`, not
pydantic's `Z`), as every logistics answer has had them; dates are `YYYY-MM-DD`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, PlainSerializer, WithJsonSchema

from coordinator.common import aware
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    Fund,
    FundCharge,
    Item,
    Place,
    Plan,
    PlanLine,
    Shipment,
    ShipmentLine,
    StockMovement,
    manager_phones,
)


def _iso(value: dt.datetime) -> str:
    return (aware(value) or value).isoformat()


#: an aware time, answered as `isoformat()` (offset `+00:00`)
Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# -- catalogue and places ---------------------------------------------------------------------
class ItemPublic(BaseModel):
    id: int
    sku: str
    name_zh: str
    name_en: str
    short_name: str
    unit: str
    category: str
    unit_cost_fen: int
    batch: str | None
    expires_on: dt.date | None

    @classmethod
    def of(cls, item: Item) -> ItemPublic:
        return cls.model_validate(item, from_attributes=True)


class PlacePublic(BaseModel):
    """A station or a warehouse."""

    id: int
    kind: str
    code: str
    name_zh: str
    name_en: str
    district_code: str | None
    lat: float
    lon: float
    station_type: str | None
    opening_hours: str
    manager_phones: list[str]

    @classmethod
    def of(cls, place: Place) -> PlacePublic:
        return cls(
            id=place.id or 0,
            kind=place.kind,
            code=place.code,
            name_zh=place.name_zh,
            name_en=place.name_en,
            district_code=place.district_code,
            lat=place.lat,
            lon=place.lon,
            station_type=place.station_type,
            opening_hours=place.opening_hours,
            manager_phones=manager_phones(place),
        )


# -- stock ------------------------------------------------------------------------------------
class StockLine(ItemPublic):
    """One item at a place: the catalogue entry, then its stock against the target."""

    item_id: int
    quantity: int
    target: int | None
    reorder_point: int | None
    low: bool
    in_transit: int


class PlaceStock(BaseModel):
    place: PlacePublic
    items: list[StockLine]


class MovementPublic(BaseModel):
    """One movement of the ledger, with the balance right after it."""

    id: int
    place_id: int
    item_id: int
    sku: str | None
    delta: int
    kind: str
    balance_after: int
    actor: str
    reason: str
    shipment_id: int | None
    distribution_id: int | None
    at: Timestamp

    @classmethod
    def of(cls, m: StockMovement, items: dict[int, Item]) -> MovementPublic:
        item = items.get(m.item_id)
        return cls(
            id=m.id or 0,
            place_id=m.place_id,
            item_id=m.item_id,
            sku=item.sku if item else None,
            delta=m.delta,
            kind=m.kind,
            balance_after=m.balance_after,
            actor=m.actor,
            reason=m.reason,
            shipment_id=m.shipment_id,
            distribution_id=m.distribution_id,
            at=m.at,
        )


# -- shipments and discrepancies --------------------------------------------------------------
class DiscrepancyPublic(BaseModel):
    id: int
    shipment_id: int
    station_id: int
    item_id: int
    sku: str | None
    kind: str
    sent: int
    received: int
    quantity: int
    note: str
    created_at: Timestamp
    superseded: bool
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None

    @classmethod
    def of(cls, d: Discrepancy, items: dict[int, Item]) -> DiscrepancyPublic:
        item = items.get(d.item_id)
        return cls(
            id=d.id or 0,
            shipment_id=d.shipment_id,
            station_id=d.place_id,
            item_id=d.item_id,
            sku=item.sku if item else None,
            kind=d.kind,
            sent=d.sent,
            received=d.received,
            quantity=d.quantity,
            note=d.note,
            created_at=d.created_at,
            superseded=d.superseded,
            acknowledged_by=d.acknowledged_by,
            acknowledged_at=d.acknowledged_at,
        )


class DiscrepancyAcknowledged(BaseModel):
    id: int
    kind: str
    sku: str
    acknowledged_by: str | None


class ShipmentLinePublic(BaseModel):
    #: the item's SKU
    item: str
    item_id: int
    name_zh: str
    unit: str
    quantity: int
    received: int | None
    damaged: int
    note: str

    @classmethod
    def of(cls, line: ShipmentLine, item: Item) -> ShipmentLinePublic:
        return cls(
            item=item.sku,
            item_id=line.item_id,
            name_zh=item.name_zh,
            unit=item.unit,
            quantity=line.quantity,
            received=line.received,
            damaged=line.damaged,
            note=line.note,
        )


class ShipmentPublic(BaseModel):
    """A shipment with its lines and its current (not superseded) discrepancies."""

    id: int
    short_code: str | None
    from_id: int
    to_id: int
    status: str
    origin: str
    plan_id: int | None
    created_by: str
    dispatched_at: Timestamp
    received_at: Timestamp | None
    received_by: str | None
    received_via: str | None
    receipt_note: str
    corrected_at: Timestamp | None
    lines: list[ShipmentLinePublic]
    discrepancies: list[DiscrepancyPublic]

    @classmethod
    def of(
        cls,
        s: Shipment,
        lines: list[ShipmentLine],
        items: dict[int, Item],
        discrepancies: list[Discrepancy],
    ) -> ShipmentPublic:
        return cls(
            id=s.id or 0,
            short_code=s.short_code,
            from_id=s.from_id,
            to_id=s.to_id,
            status=s.status,
            origin=s.origin,
            plan_id=s.plan_id,
            created_by=s.created_by,
            dispatched_at=s.dispatched_at,
            received_at=s.received_at,
            received_by=s.received_by,
            received_via=s.received_via,
            receipt_note=s.receipt_note,
            corrected_at=s.corrected_at,
            lines=[ShipmentLinePublic.of(line, items[line.item_id]) for line in lines],
            discrepancies=[
                DiscrepancyPublic.of(d, items) for d in discrepancies if not d.superseded
            ],
        )


# -- hand-outs and the fund -------------------------------------------------------------------
class DistributionPublic(BaseModel):
    id: int
    station_id: int
    #: the item's SKU
    item: str
    quantity: int
    note: str
    destination: str | None
    cost_fen: int | None
    actor: str
    at: Timestamp
    #: when the manager took it back (within a minute of `at`), else null
    undone_at: Timestamp | None = None

    @classmethod
    def of(cls, d: Distribution, item: Item) -> DistributionPublic:
        return cls(
            id=d.id or 0,
            station_id=d.place_id,
            item=item.sku,
            quantity=d.quantity,
            note=d.note,
            destination=d.destination,
            cost_fen=d.cost_fen,
            actor=d.actor,
            at=d.at,
            undone_at=d.undone_at,
        )


class DistributionRecorded(DistributionPublic):
    """A hand-out just booked, with the station's balance of the item after it."""

    balance: int


class FundChargePublic(BaseModel):
    id: int
    amount_fen: int
    kind: str
    reason: str
    actor: str
    distribution_id: int | None
    plan_id: int | None
    at: Timestamp

    @classmethod
    def of(cls, c: FundCharge) -> FundChargePublic:
        return cls.model_validate(c, from_attributes=True)


class FundSummary(BaseModel):
    """The open fund: budget, spent and left (fen), spending by kind, recent charges."""

    id: int
    name: str
    year: int
    budget_fen: int
    spent_fen: int
    remaining_fen: int
    by_kind: dict[str, int]
    charges: list[FundChargePublic]

    @classmethod
    def of(cls, fund: Fund, by_kind: dict[str, int], recent: list[FundCharge]) -> FundSummary:
        return cls(
            id=fund.id or 0,
            name=fund.name,
            year=fund.year,
            budget_fen=fund.budget_fen,
            spent_fen=fund.spent_fen,
            remaining_fen=fund.budget_fen - fund.spent_fen,
            by_kind=by_kind,
            charges=[FundChargePublic.of(c) for c in recent],
        )


# -- plans and forecasts ----------------------------------------------------------------------
class PlanLinePublic(BaseModel):
    station_id: int
    #: the item's SKU
    item: str
    allocate: int
    purchase: int
    daily_demand: float
    coverage_days: float

    @classmethod
    def of(cls, line: PlanLine, item: Item) -> PlanLinePublic:
        return cls(
            station_id=line.place_id,
            item=item.sku,
            allocate=line.allocate,
            purchase=line.purchase,
            daily_demand=round(line.daily_demand, 3),
            coverage_days=round(line.coverage_days, 3),
        )


class PlanPublic(BaseModel):
    id: int
    status: str
    trigger: str
    incident_id: int | None
    as_of: dt.date
    target_days: float
    worst_coverage_days: float
    baseline_worst_coverage_days: float
    purchase_fen: int
    created_at: Timestamp
    approved_by: str | None
    approved_at: Timestamp | None
    lines: list[PlanLinePublic]

    @classmethod
    def of(cls, plan: Plan, lines: list[PlanLine], items: dict[int, Item]) -> PlanPublic:
        return cls(
            id=plan.id or 0,
            status=plan.status,
            trigger=plan.trigger,
            incident_id=plan.incident_id,
            as_of=plan.as_of,
            target_days=plan.target_days,
            worst_coverage_days=plan.worst_coverage_days,
            baseline_worst_coverage_days=plan.baseline_worst_coverage_days,
            purchase_fen=plan.purchase_fen,
            created_at=plan.created_at,
            approved_by=plan.approved_by,
            approved_at=plan.approved_at,
            lines=[PlanLinePublic.of(line, items[line.item_id]) for line in lines],
        )


class PlanApproval(PlanPublic):
    """A plan just approved, with the short codes of the shipments it sent."""

    shipments: list[str]


class ForecastStored(BaseModel):
    rows: int


class ForecastDay(BaseModel):
    date: dt.date
    travellers: float


class ForecastPublic(BaseModel):
    """Expected travellers per day at a station."""

    station_id: int
    days: list[ForecastDay]
