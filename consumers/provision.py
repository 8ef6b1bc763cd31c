"""The provision consumer: an opened travel rush, or an ice storm near stations, becomes a
supply plan (approved at once when NUANLIU_PLAN_AUTO_APPROVE is set); stock below a station's
reorder point becomes a resupply shipment unless one is already on the way."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from consumers.registry import Context, Handlers
from coordinator.common import local_date, utcnow
from coordinator.config import Settings
from coordinator.logistics import flows
from coordinator.logistics.errors import LogisticsError
from coordinator.logistics.models import Place
from coordinator.logistics.planning import CalendarError
from events.payloads.alerts import AlertRaised
from events.payloads.logistics import StockLow

log = logging.getLogger(__name__)

handlers = Handlers("provision")

#: alert kinds that strand travellers at stations, and how much more they need then
STORM_KINDS = {"ice_storm": 1.5, "freezing_rain": 1.5}


def _local_day(moment: datetime | None, settings: Settings) -> datetime:
    return (moment or utcnow()).astimezone(ZoneInfo(settings.timezone))


@handlers.on(AlertRaised)
def on_alert_raised(ctx: Context, event: AlertRaised) -> None:
    """Plan supplies for every station (travel rush) or the stations in the storm's
    districts; once per incident."""
    if event.kind == "travel_rush":
        trigger, factor = "travel_rush", 1.0
        query = select(Place.id).where(Place.kind == "station")
    elif event.kind in STORM_KINDS:
        trigger, factor = "ice_storm", STORM_KINDS[event.kind]
        query = select(Place.id).where(
            Place.kind == "station", col(Place.district_code).in_(event.districts)
        )
    else:
        return
    station_ids = [int(i) for i in ctx.session.exec(query).all() if i is not None]
    if not station_ids:
        return
    if flows.plan_for_incident(session=ctx.session, incident_id=event.incident_id):
        return
    settings = ctx.services.settings
    savepoint = ctx.session.begin_nested()  # a refused plan leaves nothing behind
    try:
        plan = flows.propose_plan(
            session=ctx.session,
            trigger=trigger,
            station_ids=station_ids,
            as_of=_local_day(event.starts_at, settings).date(),
            actor="provision",
            incident_id=event.incident_id,
            demand_factor=factor,
        )
    except (LogisticsError, CalendarError) as exc:  # a plan cannot be made: say why, go on
        savepoint.rollback()
        log.warning("no supply plan for incident %s: %s", event.incident_id, exc)
        return
    savepoint.commit()
    if settings.plan_auto_approve:
        assert plan.id is not None
        flows.approve_plan(session=ctx.session, plan_id=plan.id, actor="provision:auto-approve")


@handlers.on(StockLow)
def on_stock_low(ctx: Context, event: StockLow) -> None:
    """Top the station up to its targets, unless what it lacks is already on the way."""
    savepoint = ctx.session.begin_nested()
    try:
        shipment = flows.resupply_station(
            session=ctx.session,
            station_id=event.place_id,
            actor="provision",
            today=local_date(ctx.services.settings.timezone),
        )
    except LogisticsError as exc:  # not a station, no warehouse: nothing to resupply from
        savepoint.rollback()
        log.warning("no resupply for place %s: %s", event.place_id, exc)
        return
    savepoint.commit()
    if shipment is not None:
        log.info("resupply %s for station %s", shipment.short_code, event.place_id)
