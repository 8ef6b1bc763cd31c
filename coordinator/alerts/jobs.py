"""Scheduler jobs of alerts: the travel-rush calendar and the CAP feed poller. Each job takes
the :class:`~coordinator.scheduling.JobContext` its process hands it."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.alerts import calendar, flows
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.dispatch import service as dispatch_service
from coordinator.dispatch.flows import incidents
from coordinator.dispatch.service import Incident
from coordinator.geo.outlines import Outlines, guiyang
from coordinator.logistics import service as logistics
from coordinator.scheduling import JobContext, RecurringJob
from events.outbox import stage
from events.payloads.incidents import TravelRushDayBegan
from events.payloads.rota import RotaWeekOpened

log = logging.getLogger(__name__)

CALENDAR_SENDER = "nuanliu:calendar"
FEED_ACTOR = "system:cap-feed"


# -- travel rush -------------------------------------------------------------------------------
def travel_rush_calendar(context: JobContext) -> str:
    """The daily job: open the travel-rush incident on the window's first day (once), plan
    each day's station shifts while it lasts, close it after the last day."""
    return run_travel_rush(engine=context.engine, settings=context.settings)


def run_travel_rush(*, engine: Engine, settings: Settings, today: date | None = None) -> str:
    """What the calendar job does on `today` (local date); returns what happened: opened,
    planned, closed or idle."""
    zone = ZoneInfo(settings.timezone)
    today = today or utcnow().astimezone(zone).date()
    window = calendar.window_containing(
        today,
        days_before=settings.travel_rush_days_before,
        length_days=settings.travel_rush_length_days,
    )
    with session_scope(engine) as session:
        open_rushes = dispatch_service.open_incident_of_kind(session=session, kind="travel_rush")
        if window is None:
            closed = 0
            for incident in open_rushes:
                if _last_day(incident, settings, zone) >= today:
                    continue  # opened ahead of its window: it has not even begun
                closed += incidents.close_incident(
                    session=session,
                    incident=incident,
                    reason="the travel rush is over",
                    actor=CALENDAR_SENDER,
                )
            return "closed" if closed else "idle"
        year, first, last = window
        opens_at = datetime.combine(first, time(0, 0), tzinfo=zone)
        ends_at = datetime.combine(last, time(23, 59), tzinfo=zone)
        districts = sorted(logistics.station_districts(session=session))
        # a rush a dispatcher opened ahead of the window is this rush: plan on it, do not
        # open a second one beside it
        adopted = next(
            (i for i in open_rushes if _last_day(i, settings, zone) >= first),
            None,
        )
        if adopted is not None:
            return _plan_day(session, adopted, today, zone)
        raised = flows.raise_alert(
            session=session,
            data=flows.AlertInput(
                sender=CALENDAR_SENDER,
                identifier=f"travel-rush-{year}",
                sent=opens_at,
                kind="travel_rush",
                level="yellow",
                districts=districts,
                headline=f"{year}年春运 {first:%m-%d}至{last:%m-%d}：平安返乡服务站开放",
                source="calendar",
                starts_at=max(opens_at, utcnow()),
                ends_at=ends_at,
            ),
            actor=CALENDAR_SENDER,
            # the job acts for `today` (a restart catching up, a test replaying a season):
            # the rush has not ended on a day inside its window
            now=datetime.combine(today, time(0, 0), tzinfo=zone),
        )
        if raised.created:
            return "opened"  # dispatch plans today's shifts from the AlertRaised event
        rush = dispatch_service.get_incident(session=session, incident_id=raised.incident_id or 0)
        if rush is None or rush.status != "open":
            return "idle"
        return _plan_day(session, rush, today, zone)


def _plan_day(session: Session, rush: Incident, today: date, zone: ZoneInfo) -> str:
    """Say that `today` of the open rush began: the dispatch consumer plans its station
    shifts, offers them and sets their timers, as for any alert."""
    midnight = datetime.combine(today, time(0, 0), tzinfo=zone)
    now = utcnow()
    start = now if midnight <= now < midnight + timedelta(days=1) else midnight
    assert rush.id is not None
    stage(session, TravelRushDayBegan(incident_id=rush.id, day=today, starts_at=start))
    return "planned"


def _last_day(incident: Incident, settings: Settings, zone: ZoneInfo) -> date:
    """The local date a travel-rush incident ends: its own end when it has one, else the last
    day of the rush its start falls in or comes before (a rush opened by hand in November is
    January's rush)."""
    ends = aware(incident.ends_at)
    if ends is not None:
        return ends.astimezone(zone).date()
    began = aware(incident.starts_at) or aware(incident.opened_at) or utcnow()
    _, _, last = calendar.window_ending_on_or_after(
        began.astimezone(zone).date(),
        days_before=settings.travel_rush_days_before,
        length_days=settings.travel_rush_length_days,
    )
    return last


# -- the rota's weekly offer (issue 15) ---------------------------------------------------------
def rota_week(context: JobContext) -> str:
    """The weekly job: open the coming week of the rush's station rota to volunteers."""
    return open_rota_week(engine=context.engine, settings=context.settings)


def open_rota_week(*, engine: Engine, settings: Settings, today: date | None = None) -> str:
    """Say that the week from next Monday (local dates), as far as it lies inside the open
    travel rush, is open: the dispatch consumer publishes its station shifts and offers
    their free slots by SMS. Returns "opened" or "idle" (no rush open, or none that week)."""
    zone = ZoneInfo(settings.timezone)
    today = today or utcnow().astimezone(zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    sunday = monday + timedelta(days=6)
    with session_scope(engine) as session:
        for rush in dispatch_service.open_incident_of_kind(session=session, kind="travel_rush"):
            # from the rush's own start (a rush a dispatcher opened ahead starts when they
            # said) to its last day
            began = aware(rush.starts_at) or aware(rush.opened_at) or utcnow()
            first_of_rush = began.astimezone(zone).date()
            first, last = max(monday, first_of_rush), min(sunday, _last_day(rush, settings, zone))
            if first > last:
                continue
            assert rush.id is not None
            stage(session, RotaWeekOpened(incident_id=rush.id, first_day=first, last_day=last))
            return "opened"
    return "idle"


# -- CAP feeds ---------------------------------------------------------------------------------
def poll_feeds(context: JobContext) -> int:
    """Fetch every NUANLIU_CAP_FEEDS URL and take the alerts that concern us."""
    # the packaged outlines (static data, read once per process)
    return poll(engine=context.engine, settings=context.settings, outlines=guiyang())


def poll(
    *,
    engine: Engine,
    settings: Settings,
    outlines: Outlines,
    client: httpx.Client | None = None,
) -> int:
    """One round of feed polling; returns how many new alerts were raised (one that had
    expired when it was fetched is recorded, not raised). A feed that fails
    (network, size, XML) is logged and skipped; the others still count."""
    own = client is None
    http = client or httpx.Client(timeout=10.0, follow_redirects=True)
    raised = 0
    try:
        for url in settings.cap_feeds:
            try:
                body = _fetch(http, url, settings.max_body_bytes)
                with session_scope(engine) as session:
                    result = flows.ingest_cap(
                        session=session,
                        data=body,
                        actor=FEED_ACTOR,
                        outlines=outlines,
                        source="feed",
                    )
                raised += sum(1 for r in result.raised if r.created and not r.expired)
                for r in result.raised:
                    if r.created and r.expired:
                        log.info(
                            "CAP feed %s: alert %s had expired; recorded only", url, r.alert.id
                        )
                for reason in result.skipped:
                    log.info("CAP feed %s: skipped %s", url, reason)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("CAP feed %s: %s", url, exc)
    finally:
        if own:
            http.close()
    return raised


def _fetch(http: httpx.Client, url: str, limit: int) -> bytes:
    with http.stream("GET", url) as response:
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ValueError(f"feed larger than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def prune_alert_claims(context: JobContext) -> int:
    """The hourly job: forget the dedupe claims no copy can match any more."""
    with session_scope(context.engine) as session:
        return flows.prune_claims(
            session=session, now=utcnow(), window=context.settings.alert_dedupe_window
        )


def recurring(settings: Settings) -> list[RecurringJob]:
    """The calendar runs daily just after midnight and once at start (a restart mid-day
    catches up); old dedupe claims are pruned hourly; the feed poller runs only when feeds
    are configured."""
    jobs: list[RecurringJob] = [
        (
            "alerts-travel-rush",
            travel_rush_calendar,
            "cron",
            {"hour": 0, "minute": 5, "next_run_time": datetime.now(ZoneInfo(settings.timezone))},
        ),
        ("alerts-prune-claims", prune_alert_claims, "interval", {"hours": 1}),
        # the rota's weekly SMS offer: Friday morning, for the week from Monday
        ("alerts-rota-week", rota_week, "cron", {"day_of_week": "fri", "hour": 10, "minute": 0}),
    ]
    if settings.cap_feeds:
        jobs.append(
            ("alerts-cap-feeds", poll_feeds, "interval", {"seconds": settings.cap_poll_interval_s})
        )
    return jobs
