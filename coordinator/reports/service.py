"""The reports' figures for a route: a season with the one before, next season's proposal. No
HTTP here; other domains are read through their services."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from coordinator.alerts import calendar
from coordinator.config import Settings
from coordinator.logistics import service as logistics
from coordinator.reports import forecast, seasons


def season(
    *, session: Session, settings: Settings, year: int, now: datetime
) -> seasons.SeasonReport:
    return seasons.build(
        session=session,
        year=year,
        days_before=settings.travel_rush_days_before,
        length_days=settings.travel_rush_length_days,
        tz=settings.timezone,
        now=now,
    )


def proposal(*, session: Session, report: seasons.SeasonReport) -> forecast.Proposal:
    """Next season's travellers from `report`'s hand-outs, with this season's forecast beside."""
    return forecast.propose(
        report,
        rates=logistics.traveller_rates(session=session),
        next_lunar_new_year=calendar.lunar_new_year(report.year + 1),
        stored=logistics.forecasts_between(
            session=session,
            first=report.first_day,
            last=report.first_day + timedelta(days=(report.last_day - report.first_day).days),
        ),
    )
