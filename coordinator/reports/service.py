"""The reports for a route: an incident's, a season's with the one before and next season's
proposal, as the `Document` the downloads and the board's pages all show. No HTTP here; other
domains are read through their services."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from coordinator.alerts import calendar
from coordinator.config import Settings
from coordinator.dispatch import service as dispatch
from coordinator.logistics import service as logistics
from coordinator.reports import (
    forecast,
    incident_doc,
    incidents,
    season_doc,
    seasons,
    suggestions,
)
from coordinator.reports.document import Document


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
            session=session, first=report.first_day, last=report.last_day
        ),
    )


def playbook_suggestions(
    *, session: Session, incident: dispatch.Incident, report: incidents.IncidentReport
) -> tuple[list[suggestions.Suggestion], dispatch.PlaybookData]:
    """What `report` suggests changing in the playbook the incident was planned from, and
    that playbook as it is now."""
    playbook = dispatch.playbook_for(session=session, kind=incident.kind, level=incident.level)
    factor = dispatch.level_factor(data=playbook, level=incident.level)
    return suggestions.suggest(report, playbook=playbook, factor=factor), playbook


def incident_suggestions(
    *, session: Session, incident: dispatch.Incident, now: datetime
) -> tuple[list[suggestions.Suggestion], dispatch.PlaybookData]:
    report = incidents.build(session=session, incident=incident, now=now)
    return playbook_suggestions(session=session, incident=incident, report=report)


def incident_history(
    *,
    session: Session,
    settings: Settings,
    status: str | None,
    offset: int,
    limit: int,
    now: datetime,
) -> tuple[list[tuple[dispatch.Incident, incidents.IncidentReport]], int]:
    """A page of incidents, newest first (`status` open or closed, or both), each with its
    after-action figures as the report computes them, and how many there are in all. The
    figures are the report's, not the board's live counts: once an incident is closed its
    volunteers are stood down, and only the report still counts the slots they had filled."""
    rows, total = dispatch.list_incidents(
        session=session, status=status, offset=offset, limit=limit
    )
    return [
        (
            incident,
            incidents.build(
                session=session, incident=incident, now=now, tolerance=settings.hours_tolerance
            ),
        )
        for incident in rows
    ], total


def incident_document(
    *, session: Session, settings: Settings, incident: dispatch.Incident, lang: str, now: datetime
) -> Document:
    report = incidents.build(
        session=session, incident=incident, now=now, tolerance=settings.hours_tolerance
    )
    advice, _ = playbook_suggestions(session=session, incident=incident, report=report)
    return incident_doc.document(
        report, advice, lang=lang, tz=settings.timezone, font_path=settings.report_font
    )


def season_document(
    *, session: Session, settings: Settings, year: int, lang: str, now: datetime
) -> Document:
    """The campaign report of `year`'s rush, last season's figures and next season's
    proposal beside it."""
    report = season(session=session, settings=settings, year=year, now=now)
    previous = season(session=session, settings=settings, year=year - 1, now=now)
    return season_doc.document(
        report,
        previous,
        proposal(session=session, report=report),
        lang=lang,
        font_path=settings.report_font,
    )
