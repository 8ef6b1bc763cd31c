"""What the logistics routes share: the quantity types of their bodies, the station manager's
role, the rows their paths name (`Station`, `Warehouse`, `ShipmentRow`, `PlanRow`: fetched or
404) and `write` (run a flow, commit, roll back on a refusal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.deps import ensure_station, require
from coordinator.logistics import errors, ledger, service
from coordinator.logistics.models import Place, Plan, Shipment
from coordinator.lookup import fetch_or_404

#: receipts and hand-outs are the station manager's (admins may act for anyone)
StationManager = Annotated[Actor, Depends(require("station_manager"))]

Quantity = Annotated[int, Field(gt=0, le=ledger.MAX_MOVEMENT)]
Count = Annotated[int, Field(ge=0, le=ledger.MAX_MOVEMENT)]
Sku = Annotated[str, Field(min_length=1, max_length=32)]
Note = Annotated[str, Field(max_length=500)]

T = TypeVar("T")


def _station(session: Session, station_id: int) -> Place:
    return service.get_place(session=session, place_id=station_id, kind="station")


def _warehouse(session: Session, warehouse_id: int) -> Place:
    return service.get_place(session=session, place_id=warehouse_id, kind="warehouse")


def _shipment(session: Session, shipment_id: int) -> Shipment:
    return service.get_shipment(session=session, shipment_id=shipment_id)


def _plan(session: Session, plan_id: int) -> Plan:
    return service.get_plan(session=session, plan_id=plan_id)


#: the station in the path; a manager of another station is refused before it is looked up
Station = Annotated[Place, fetch_or_404("station_id", _station, guard=ensure_station)]
Warehouse = Annotated[Place, fetch_or_404("warehouse_id", _warehouse)]
#: the shipment in the path (who may see it depends on its destination: the route checks)
ShipmentRow = Annotated[Shipment, fetch_or_404("shipment_id", _shipment)]
PlanRow = Annotated[Plan, fetch_or_404("plan_id", _plan)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def engine_of(request: Request) -> Engine:
    return request.app.state.services.engine  # type: ignore[no-any-return]


def write(session: Session, action: Callable[[], T]) -> T:
    """Run `action` and commit; roll back whatever it did if it raises (a refusal is answered
    by the app's handler)."""
    try:
        result = action()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def flag_overdraft(request: Request, actor: Actor, exc: errors.FundExhausted, what: str) -> None:
    """A refused overdraft is flagged in the audit log even though its request rolled back."""
    with Session(engine_of(request)) as s:
        record_audit(
            session=s,
            actor=actor,
            action="fund.overdraw_refused",
            subject=what,
            detail={"reason": str(exc)},
        )
        s.commit()
