"""Scheduler jobs of logistics: the nightly stock check. Each job takes the
:class:`~coordinator.scheduling.JobContext` its process hands it."""

from __future__ import annotations

import logging
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from coordinator.common import utcnow
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.logistics import flows
from coordinator.logistics.models import Item, Place, StockBalance
from coordinator.scheduling import JobContext, RecurringJob

log = logging.getLogger(__name__)


def nightly_stock_check(context: JobContext) -> dict[str, int]:
    """The nightly job (see :func:`run_stock_check`)."""
    return run_stock_check(engine=context.engine, settings=context.settings)


def run_stock_check(
    *, engine: Engine, settings: Settings, today: date | None = None
) -> dict[str, int]:
    """Write off expired medicine everywhere, then top up every station still below a reorder
    point with nothing on the way (a safety net for a `stock.low` that was never acted on).
    Returns how many write-offs and resupplies it made."""
    today = today or utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    written_off = resupplied = 0
    with session_scope(engine) as session:
        expired = session.exec(
            select(Item).where(col(Item.expires_on).is_not(None), col(Item.expires_on) < today)
        ).all()
        for item in expired:
            for row in session.exec(
                select(StockBalance).where(
                    StockBalance.item_id == item.id, col(StockBalance.quantity) > 0
                )
            ).all():
                flows.adjust_stock(
                    session=session,
                    place_id=row.place_id,
                    item_id=row.item_id,
                    delta=row.quantity,
                    kind="write_off",
                    reason=f"expired {item.expires_on} (batch {item.batch or '-'})",
                    actor="system:stock-check",
                )
                written_off += 1
    with session_scope(engine) as session:
        stations = session.exec(select(Place.id).where(Place.kind == "station")).all()
        for station_id in stations:
            if station_id is None:
                continue
            if flows.resupply_station(
                session=session, station_id=station_id, actor="system:stock-check", today=today
            ):
                resupplied += 1
    log.info("stock check: %d write-offs, %d resupplies", written_off, resupplied)
    return {"written_off": written_off, "resupplied": resupplied}


def recurring(settings: Settings) -> list[RecurringJob]:
    """The stock check runs every night at 02:30 local time."""
    return [("logistics-stock-check", nightly_stock_check, "cron", {"hour": 2, "minute": 30})]
