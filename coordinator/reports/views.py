"""The reports for dispatchers: an incident's after-action report and a travel rush's campaign
report as PDF or XLSX (Chinese unless `?lang=en`); next season's proposed forecast and an
incident's playbook suggestions, as JSON, and accepting them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import Session

from coordinator.common import aware, utcnow
from coordinator.deps import Dispatcher, SessionDep, SettingsDep
from coordinator.dispatch import errors as dispatch_errors
from coordinator.dispatch import service as dispatch
from coordinator.geo import service as geo
from coordinator.lookup import fetch_or_404
from coordinator.reports import flows, pdf, service, xlsx
from coordinator.reports.document import Document
from coordinator.reports.schemas import (
    DistrictName,
    ForecastAccept,
    ForecastAccepted,
    ForecastProposalPublic,
    IncidentFigures,
    IncidentHistory,
    SuggestionPublic,
    SuggestionsAccept,
    SuggestionsAccepted,
)

router = APIRouter(prefix="/api", tags=["reports"])

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
Format = Literal["pdf", "xlsx"]
Lang = Annotated[Literal["zh", "en"], Query(description="zh (the default) or en")]


def _incident(session: Session, incident_id: int) -> dispatch.Incident | None:
    return dispatch.get_incident(session=session, incident_id=incident_id)


def _no_incident(incident_id: int) -> dispatch_errors.IncidentNotFound:
    return dispatch_errors.IncidentNotFound(f"incident {incident_id} does not exist")


IncidentRow = Annotated[
    dispatch.Incident, fetch_or_404("incident_id", _incident, missing=_no_incident)
]


def _file(document: Document, fmt: Format, filename: str, settings: SettingsDep) -> Response:
    body = (
        pdf.render(document, font_path=settings.report_font)
        if fmt == "pdf"
        else xlsx.render(document)
    )
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'},
    )


_FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {media_type: {} for media_type in MEDIA_TYPES.values()}}
}


@router.get("/incidents/{incident_id}/report.{fmt}", response_class=Response, responses=_FILES)
def incident_report(
    fmt: Format,
    session: SessionDep,
    settings: SettingsDep,
    _actor: Dispatcher,
    incident: IncidentRow,
    lang: Lang = "zh",
) -> Response:
    """The incident's after-action report: timeline, fill per task and district, replies,
    volunteers and hours, texts, with charts."""
    document = service.incident_document(
        session=session, settings=settings, incident=incident, lang=lang, now=utcnow()
    )
    return _file(document, fmt, f"nuanliu-incident-{incident.id}-report", settings)


@router.get("/reports/incidents", response_model=IncidentHistory)
def incident_history(
    session: SessionDep,
    settings: SettingsDep,
    _actor: Dispatcher,
    status_: Annotated[
        Literal["open", "closed"] | None, Query(alias="status", description="open or closed")
    ] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=50, description="each row is a report's figures")] = 20,
) -> IncidentHistory:
    """Past (or open) incidents, newest first, with their figures: slots, filled, volunteers,
    hours served, no-shows, and why each was closed; `count` is the total, for paging."""
    rows, total = service.incident_history(
        session=session,
        settings=settings,
        status=status_,
        offset=offset,
        limit=limit,
        now=utcnow(),
    )
    names = {d.code: d for d in geo.list_districts(session=session)}
    return IncidentHistory(
        data=[
            IncidentFigures(
                id=report.incident_id,
                kind=incident.kind,
                level=incident.level,
                title=incident.title,
                status=incident.status,
                districts=[
                    DistrictName(
                        code=code,
                        name_zh=names[code].name_zh if code in names else code,
                        name_en=names[code].name_en if code in names else code,
                    )
                    for code in incident.districts
                ],
                opened_at=aware(incident.opened_at) or incident.opened_at,
                closed_at=aware(incident.closed_at),
                close_reason=incident.close_reason,
                slots=report.needed,
                filled=report.filled,
                fill_rate=round(report.fill_rate, 4),
                volunteers=report.volunteers,
                hours_served=round(report.hours_served, 2),
                no_shows=report.no_shows,
            )
            for incident, report in rows
        ],
        count=total,
    )


#: the season before must be one the calendar knows too
Year = Annotated[int, Path(ge=1952, le=2099, description="the year of the Lunar New Year")]


@router.get("/reports/travel-rush/{year}.{fmt}", response_class=Response, responses=_FILES)
def travel_rush_report(
    year: Year,
    fmt: Format,
    session: SessionDep,
    settings: SettingsDep,
    _actor: Dispatcher,
    lang: Lang = "zh",
) -> Response:
    """The season's campaign report: hand-outs per station and day, tickets, the fund,
    discrepancies, stock-outs, volunteers, with last season's figures beside."""
    document = service.season_document(
        session=session, settings=settings, year=year, lang=lang, now=utcnow()
    )
    return _file(document, fmt, f"nuanliu-travel-rush-{year}-report", settings)


@router.get("/reports/travel-rush/{year}/forecast", response_model=ForecastProposalPublic)
def next_season_forecast(
    year: Year, session: SessionDep, settings: SettingsDep, _actor: Dispatcher
) -> ForecastProposalPublic:
    """Next season's travellers per station and day, proposed from this season's hand-outs
    aligned by days from Lunar New Year, with what this season served and forecast beside."""
    report = service.season(session=session, settings=settings, year=year, now=utcnow())
    return ForecastProposalPublic.of(service.proposal(session=session, report=report))


@router.post("/reports/travel-rush/{year}/forecast", response_model=ForecastAccepted)
def accept_next_season_forecast(
    year: Year,
    body: ForecastAccept,
    session: SessionDep,
    settings: SettingsDep,
    actor: Dispatcher,
) -> ForecastAccepted:
    """Accept the proposal as next season's forecast, with a dispatcher's edits in place."""
    report = service.season(session=session, settings=settings, year=year, now=utcnow())
    proposal = service.proposal(session=session, report=report)
    edits = {(e.station_id, e.date): e.travellers for e in body.edits}
    stored, edited = flows.accept_forecast(
        session=session, proposal=proposal, edits=edits, actor=actor
    )
    session.commit()
    return ForecastAccepted(next_year=proposal.next_year, stored=stored, edited=edited)


@router.get("/incidents/{incident_id}/playbook-suggestions", response_model=list[SuggestionPublic])
def playbook_suggestions(
    session: SessionDep, _actor: Dispatcher, incident: IncidentRow
) -> list[SuggestionPublic]:
    """What the incident suggests changing in its playbook, with the figures behind each."""
    offered, _ = service.incident_suggestions(session=session, incident=incident, now=utcnow())
    return [SuggestionPublic.of(s) for s in offered]


@router.post("/incidents/{incident_id}/playbook-suggestions", response_model=SuggestionsAccepted)
def accept_playbook_suggestions(
    body: SuggestionsAccept, session: SessionDep, actor: Dispatcher, incident: IncidentRow
) -> SuggestionsAccepted:
    """Make the named suggestions in the playbook (the same save as `PUT /api/playbooks`)."""
    offered, playbook = service.incident_suggestions(
        session=session, incident=incident, now=utcnow()
    )
    level, saved = flows.accept_suggestions(
        session=session,
        incident=incident,
        offered=offered,
        playbook=playbook,
        keys=body.keys,
        actor=actor,
    )
    session.commit()
    return SuggestionsAccepted(
        kind=incident.kind,
        level=level or None,
        accepted=list(dict.fromkeys(body.keys)),
        playbook=saved.model_dump(mode="json"),
    )
