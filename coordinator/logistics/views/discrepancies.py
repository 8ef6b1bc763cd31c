"""Discrepancies found at receipt, and the campaign fund."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from coordinator.deps import Dispatcher, SessionDep
from coordinator.logistics import flows, service
from coordinator.logistics.views.common import write
from coordinator.lookup import PathId, QueryId

router = APIRouter(prefix="/api", tags=["logistics"])


@router.get("/discrepancies")
def discrepancies(
    session: SessionDep,
    actor: Dispatcher,
    open_only: Annotated[bool, Query(alias="open")] = False,
    station_id: QueryId | None = None,
) -> list[dict[str, Any]]:
    return service.list_discrepancies(session=session, open_only=open_only, station_id=station_id)


@router.post("/discrepancies/{discrepancy_id}/acknowledge")
def acknowledge(discrepancy_id: PathId, session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    row = write(
        session,
        lambda: flows.acknowledge_discrepancy(
            session=session, discrepancy_id=discrepancy_id, actor=actor
        ),
    )
    items = {i["id"]: i for i in service.list_items(session=session)}
    out = {
        "id": row.id,
        "kind": row.kind,
        "sku": items[row.item_id]["sku"],
        "acknowledged_by": row.acknowledged_by,
    }
    return out


@router.get("/fund")
def fund(session: SessionDep, actor: Dispatcher) -> dict[str, Any]:
    return service.fund_summary(session=session)
