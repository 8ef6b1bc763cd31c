"""Discrepancies found at receipt, and the campaign fund."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.deps import Dispatcher, SessionDep
from coordinator.logistics import flows, service
from coordinator.logistics.schemas import DiscrepancyAcknowledged, DiscrepancyPublic, FundSummary
from coordinator.logistics.views.common import write
from coordinator.lookup import PathId, QueryId

router = APIRouter(prefix="/api", tags=["logistics"])


@router.get("/discrepancies", response_model=list[DiscrepancyPublic])
def discrepancies(
    session: SessionDep,
    actor: Dispatcher,
    open_only: Annotated[bool, Query(alias="open")] = False,
    station_id: QueryId | None = None,
) -> list[DiscrepancyPublic]:
    return service.list_discrepancies(session=session, open_only=open_only, station_id=station_id)


@router.post("/discrepancies/{discrepancy_id}/acknowledge", response_model=DiscrepancyAcknowledged)
def acknowledge(
    discrepancy_id: PathId, session: SessionDep, actor: Dispatcher
) -> DiscrepancyAcknowledged:
    row = write(
        session,
        lambda: flows.acknowledge_discrepancy(
            session=session, discrepancy_id=discrepancy_id, actor=actor
        ),
    )
    items = service.items_by_id(session=session)
    return DiscrepancyAcknowledged(
        id=row.id or 0,
        kind=row.kind,
        sku=items[row.item_id].sku,
        acknowledged_by=row.acknowledged_by,
    )


@router.get("/fund", response_model=FundSummary)
def fund(session: SessionDep, actor: Dispatcher) -> FundSummary:
    return service.fund_summary(session=session)
