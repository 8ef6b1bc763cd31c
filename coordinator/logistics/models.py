"""Places (stations and warehouses) and the item catalogue. Stock, shipments, plans and the
fund live beside them in this package."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from coordinator.common import tz_column, utcnow

PlaceKind = Literal["station", "warehouse"]
ItemCategory = Literal["food", "drink", "medicine", "ticket", "other"]


class Place(SQLModel, table=True):
    """A homeward-journey service station or a warehouse: anywhere stock is held."""

    __tablename__ = "places"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    code: str = Field(max_length=32, unique=True)
    name_zh: str = Field(max_length=64)
    name_en: str = Field(max_length=96)
    district_code: str | None = Field(default=None, foreign_key="districts.code", max_length=6)
    lat: float
    lon: float
    #: "bus" or "rail" for stations
    station_type: str | None = Field(default=None, max_length=8)
    opening_hours: str = Field(default="06:00-22:00", max_length=32)
    #: managers' phones (E.164, comma-separated) allowed to confirm receipts by SMS
    manager_phones: str = Field(default="", max_length=256)


def manager_phones(place: Place) -> list[str]:
    """The place's manager phones as a list (E.164)."""
    return [p.strip() for p in (place.manager_phones or "").split(",") if p.strip()]


class Item(SQLModel, table=True):
    __tablename__ = "items"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=32, unique=True, index=True)
    name_zh: str = Field(max_length=64)
    name_en: str = Field(max_length=96)
    #: one or two characters a station manager can type in an SMS (面, 水, 晕)
    short_name: str = Field(max_length=8, unique=True)
    unit: str = Field(max_length=16)  # piece, box, bottle, ticket
    category: str = Field(max_length=16)
    unit_cost_fen: int = Field(ge=0)
    batch: str | None = Field(default=None, max_length=32)
    expires_on: date | None = None


# -- the stock ledger --------------------------------------------------------------------
MovementKind = Literal[
    "receipt",
    "distribution",
    "handout_undo",
    "transfer_out",
    "transfer_in",
    "adjustment",
    "write_off",
]
MOVEMENT_KINDS: tuple[str, ...] = (
    "receipt",
    "distribution",
    # a hand-out taken back within the undo window: the goods are back on the shelf
    "handout_undo",
    "transfer_out",
    "transfer_in",
    "adjustment",
    "write_off",
)


class StockMovement(SQLModel, table=True):
    """One change of stock, never updated or deleted: the ledger's source of truth."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_place_item", "place_id", "item_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(foreign_key="places.id")
    item_id: int = Field(foreign_key="items.id")
    delta: int
    kind: str = Field(max_length=16, index=True)
    #: the balance right after this movement (handy for history charts and audits)
    balance_after: int
    actor: str = Field(max_length=64)
    reason: str = Field(default="", max_length=256)
    shipment_id: int | None = Field(default=None, foreign_key="shipments.id", index=True)
    distribution_id: int | None = Field(default=None, foreign_key="distributions.id")
    at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False, index=True))


class StockBalance(SQLModel, table=True):
    """The running balance per place and item, updated under a row lock in the same
    transaction as its movement, so reads are cheap and writers never lose an update."""

    __tablename__ = "stock_balances"
    __table_args__ = (
        UniqueConstraint("place_id", "item_id", name="uq_stock_balance_place_item"),
        CheckConstraint("quantity >= 0", name="ck_stock_balance_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(foreign_key="places.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    quantity: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))


class StationTarget(SQLModel, table=True):
    """How much of an item a station should hold, and the level that triggers a resupply."""

    __tablename__ = "station_targets"
    __table_args__ = (UniqueConstraint("place_id", "item_id", name="uq_station_target"),)

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(foreign_key="places.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    target: int = Field(ge=0)
    reorder_point: int = Field(ge=0)


# -- shipments --------------------------------------------------------------------
ShipmentStatus = Literal["in_transit", "received"]


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"

    id: int | None = Field(default=None, primary_key=True)
    #: what a station manager types in an SMS: "S" + id
    short_code: str | None = Field(default=None, max_length=16, unique=True, index=True)
    from_id: int = Field(foreign_key="places.id")
    to_id: int = Field(foreign_key="places.id", index=True)
    status: str = Field(default="in_transit", max_length=16, index=True)
    #: manual, plan or resupply
    origin: str = Field(default="manual", max_length=16)
    plan_id: int | None = Field(default=None, foreign_key="plans.id")
    created_by: str = Field(max_length=64)
    dispatched_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))
    received_at: datetime | None = Field(default=None, sa_column=tz_column())
    received_by: str | None = Field(default=None, max_length=64)
    receipt_note: str = Field(default="", max_length=500)
    #: how the receipt was booked: page or sms
    received_via: str | None = Field(default=None, max_length=8)
    corrected_at: datetime | None = Field(default=None, sa_column=tz_column())
    corrected_by: str | None = Field(default=None, max_length=64)


class ShipmentLine(SQLModel, table=True):
    __tablename__ = "shipment_lines"
    __table_args__ = (UniqueConstraint("shipment_id", "item_id", name="uq_shipment_line_item"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    quantity: int = Field(gt=0)
    received: int | None = None
    damaged: int = 0
    note: str = Field(default="", max_length=500)


DiscrepancyKind = Literal["short", "over", "damaged"]


class Discrepancy(SQLModel, table=True):
    """A difference between what was sent and what arrived, for a dispatcher to look at."""

    __tablename__ = "discrepancies"

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", index=True)
    place_id: int = Field(foreign_key="places.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    kind: str = Field(max_length=8)
    sent: int
    received: int
    #: units short, over or damaged (always positive)
    quantity: int
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))
    #: a manager's correction replaces the discrepancies of the first receipt
    superseded: bool = False
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_column=tz_column())


# -- hand-outs and the fund --------------------------------------------------------------------
class Distribution(SQLModel, table=True):
    """Items handed out at a station; for an emergency ticket also where to and what it cost."""

    __tablename__ = "distributions"

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(foreign_key="places.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    quantity: int
    note: str = Field(default="", max_length=500)
    destination: str | None = Field(default=None, max_length=64)
    cost_fen: int | None = None
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False, index=True))
    #: set when the manager took the hand-out back within the undo window (the ledger holds
    #: the reversing movement or refund; this row stays as it was recorded)
    undone_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    undone_by: str | None = Field(default=None, max_length=64)


class Fund(SQLModel, table=True):
    """The campaign fund; `spent_fen` is kept under a row lock like a stock balance."""

    __tablename__ = "funds"
    __table_args__ = (CheckConstraint("spent_fen <= budget_fen", name="ck_fund_not_overdrawn"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    year: int
    budget_fen: int = Field(ge=0)
    spent_fen: int = 0
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))


class FundCharge(SQLModel, table=True):
    __tablename__ = "fund_charges"

    id: int | None = Field(default=None, primary_key=True)
    fund_id: int = Field(foreign_key="funds.id", index=True)
    amount_fen: int
    #: purchase, ticket or adjustment; a negative amount refunds a charge of its kind (a
    #: ticket's hand-out undone)
    kind: str = Field(max_length=16)
    reason: str = Field(default="", max_length=256)
    actor: str = Field(max_length=64)
    distribution_id: int | None = Field(default=None, foreign_key="distributions.id")
    plan_id: int | None = Field(default=None, foreign_key="plans.id")
    at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))


# -- planning --------------------------------------------------------------------
class Plan(SQLModel, table=True):
    """A supply plan: warehouse stock allocated across stations, and purchases."""

    __tablename__ = "plans"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="proposed", max_length=16, index=True)
    #: travel_rush, ice_storm, manual
    trigger: str = Field(max_length=16)
    incident_id: int | None = None
    as_of: date
    target_days: float
    worst_coverage_days: float
    baseline_worst_coverage_days: float = 0.0
    purchase_fen: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_column=tz_column())


class PlanLine(SQLModel, table=True):
    __tablename__ = "plan_lines"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    place_id: int = Field(foreign_key="places.id")
    item_id: int = Field(foreign_key="items.id")
    #: from the warehouse's stock
    allocate: int = 0
    #: bought with the fund and shipped too
    purchase: int = 0
    daily_demand: float = 0.0
    coverage_days: float = 0.0


class Forecast(SQLModel, table=True):
    """Travellers a station expects to serve on a day (uploaded by a dispatcher; days without a
    row follow the default curve)."""

    __tablename__ = "forecasts"
    __table_args__ = (UniqueConstraint("place_id", "day", name="uq_forecast_place_day"),)

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(foreign_key="places.id", index=True)
    day: date
    travellers: int = Field(ge=0)
