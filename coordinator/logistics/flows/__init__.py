"""Logistics use cases, one module per job. Each writes state, stages its events and audits in
the caller's transaction; none commits.

- `shipments`: a shipment dispatched (stock leaves the origin; the station is texted).
- `receipts`: a station's receipt, its one correction, a discrepancy acknowledged.
- `stock`: hand-outs (and emergency tickets charged to the fund), their undo within a minute,
  adjustments, write-offs.
- `resupply`: a station topped up from the warehouse, buying what the warehouse lacks.
- `plans`: supply plans proposed and approved.

The package re-exports every use case, so callers write `flows.receive_shipment`."""

from coordinator.logistics.flows.common import MAX_QUANTITY, actor_label, check_quantity
from coordinator.logistics.flows.plans import approve_plan, plan_for_incident, propose_plan
from coordinator.logistics.flows.receipts import (
    CORRECTION_WINDOW,
    LineCount,
    acknowledge_discrepancy,
    correct_receipt,
    receive_shipment,
)
from coordinator.logistics.flows.resupply import buy_into_warehouse, resupply_station
from coordinator.logistics.flows.shipments import dispatch_shipment
from coordinator.logistics.flows.stock import (
    MAX_TICKET_FEN,
    UNDO_WINDOW,
    adjust_stock,
    record_distribution,
    undo_distribution,
)

__all__ = [
    "CORRECTION_WINDOW",
    "MAX_QUANTITY",
    "MAX_TICKET_FEN",
    "UNDO_WINDOW",
    "LineCount",
    "acknowledge_discrepancy",
    "actor_label",
    "adjust_stock",
    "approve_plan",
    "buy_into_warehouse",
    "check_quantity",
    "correct_receipt",
    "dispatch_shipment",
    "plan_for_incident",
    "propose_plan",
    "receive_shipment",
    "record_distribution",
    "resupply_station",
    "undo_distribution",
]
