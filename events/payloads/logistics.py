"""Shipments, stock and supply plans."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from events.base import EventPayload
from events.topics import Topic


class ShipmentLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sku: str
    quantity: int
    received: int | None = None


class ShipmentDispatched(EventPayload):
    TYPE = "nuanliu.shipment.dispatched"
    TOPIC = Topic.SHIPMENTS
    KEY_FIELD = "to_id"

    shipment_id: int
    short_code: str
    from_id: int
    to_id: int
    lines: list[ShipmentLine]
    origin: str = "manual"
    plan_id: int | None = None


class ShipmentReceived(EventPayload):
    TYPE = "nuanliu.shipment.received"
    TOPIC = Topic.SHIPMENTS
    KEY_FIELD = "to_id"

    shipment_id: int
    short_code: str
    from_id: int
    to_id: int
    lines: list[ShipmentLine]
    discrepancies: int = 0
    via: str = "page"
    corrected: bool = False


class StockChanged(EventPayload):
    TYPE = "nuanliu.stock.changed"
    TOPIC = Topic.STOCK
    KEY_FIELD = "place_id"

    place_id: int
    sku: str
    delta: int
    balance: int
    kind: str
    movement_id: int


class StockLow(EventPayload):
    TYPE = "nuanliu.stock.low"
    TOPIC = Topic.STOCK
    KEY_FIELD = "place_id"

    place_id: int
    sku: str
    balance: int
    reorder_point: int
    target: int


class PlanProposed(EventPayload):
    TYPE = "nuanliu.plan.proposed"
    TOPIC = Topic.PLANS
    KEY_FIELD = "plan_id"

    plan_id: int
    incident_id: int | None = None
    stations: int
    worst_coverage_days: float
    trigger: str = "manual"
    purchase_fen: int = 0


class PlanApproved(EventPayload):
    TYPE = "nuanliu.plan.approved"
    TOPIC = Topic.PLANS
    KEY_FIELD = "plan_id"

    plan_id: int
    by: str
    shipments: list[int] = []


class DiscrepancyRecorded(EventPayload):
    """What a station found different from what was sent (short, over or damaged)."""

    TYPE = "nuanliu.discrepancy.recorded"
    TOPIC = Topic.SHIPMENTS
    KEY_FIELD = "station_id"

    discrepancy_id: int
    shipment_id: int
    short_code: str
    station_id: int
    sku: str
    kind: str
    sent: int
    received: int
    quantity: int


class DistributionUndone(EventPayload):
    """A hand-out taken back within the undo window: its goods are on the shelf again (for
    an emergency ticket, its cost is back in the fund)."""

    TYPE = "nuanliu.distribution.undone"
    TOPIC = Topic.STOCK
    KEY_FIELD = "station_id"

    distribution_id: int
    station_id: int
    sku: str
    quantity: int
    refunded_fen: int | None = None


class DistributionRecorded(EventPayload):
    """Items handed out at a station (for an emergency ticket also where to and the cost)."""

    TYPE = "nuanliu.distribution.recorded"
    TOPIC = Topic.STOCK
    KEY_FIELD = "station_id"

    distribution_id: int
    station_id: int
    sku: str
    quantity: int
    cost_fen: int | None = None
    destination: str | None = None
