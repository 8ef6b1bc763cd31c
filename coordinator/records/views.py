"""Service records and certificates over HTTP: a volunteer's certificate as a PDF, an
incident's (or a year's) as a zip, the records as CSV/XLSX (dispatchers; phone numbers
unmasked for admins only), and the public `/verify/{serial}` page that confirms a
certificate with nothing about its holder but the masked name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.accounts.service import Actor
from coordinator.board.pages import page
from coordinator.common import local_date, utcnow
from coordinator.config import Settings
from coordinator.deps import Dispatcher, EngineDep, SessionDep, SettingsDep
from coordinator.dispatch import errors as dispatch_errors
from coordinator.lookup import PathId
from coordinator.records import batch, certificate_pdf, exports, flows, service
from coordinator.records.errors import BadPeriod, VolunteerNotFound
from coordinator.records.service import FIRST_YEAR, LAST_YEAR, Period
from coordinator.reports.pdf import register_font

router = APIRouter(prefix="/api", tags=["records"])
public = APIRouter(tags=["records"])

Year = Annotated[
    int | None,
    Query(ge=FIRST_YEAR, le=LAST_YEAR, description="a calendar year (local time); default: this"),
]
_PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}
_ZIP: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}}}}


def _base_url(settings: Settings, request: Request) -> str:
    """Where the verify page is reached from outside: the configured public address, else
    the address this request came to."""
    return settings.public_base_url or str(request.base_url)


def _year(year: int | None, settings: Settings) -> Period:
    return service.year_period(year or local_date(settings.timezone).year, settings.timezone)


def _attachment(filename: str) -> dict[str, str]:
    # RFC 6266: an ASCII fallback, and the UTF-8 name for the Chinese one
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "Content-Disposition": f'attachment; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(filename)}"
    }


@router.get("/volunteers/{volunteer_id}/certificate.pdf", response_class=Response, responses=_PDF)
def certificate(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Dispatcher,
    volunteer_id: PathId,
    year: Year = None,
) -> Response:
    """The volunteer's 志愿服务证明 of a year: 404 for an unknown volunteer, 409 when they
    served no hours in it, 422 for a year outside 2000–2100. Asked again with the hours
    unchanged, the same certificate (serial) comes back."""
    period = _year(year, settings)
    holder = service.holder(session=session, volunteer_id=volunteer_id)
    if holder is None:
        raise VolunteerNotFound(f"volunteer {volunteer_id} does not exist")
    register_font(settings.report_font)  # a missing font stops here, before any row is written
    now = utcnow()
    mine = service.lines(
        session=session,
        period=period,
        tolerance=settings.hours_tolerance,
        now=now,
        volunteer_ids=[volunteer_id],
    ).get(volunteer_id, [])
    got = flows.issue(
        session=session,
        holder=holder,
        period=period,
        lines=mine,
        organisation=settings.organisation_name,
        actor=actor,
        now=now,
    )
    session.commit()
    body = certificate_pdf.render(
        certificate=got.certificate,
        holder=holder,
        lines=got.lines,
        font_path=settings.report_font,
        tz=settings.timezone,
        base_url=_base_url(settings, request),
    )
    name = f"志愿服务证明-{period.key}-{got.certificate.serial}.pdf"
    return Response(body, media_type="application/pdf", headers=_attachment(name))


#: what a file name in a zip may not hold: a path separator in a name someone texted us
#: would otherwise unpack outside the folder (zip slip)
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]|^\.+')


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name.strip())[:32] or "_"


#: volunteers read, issued and rendered per transaction in a batch: memory holds one chunk's
#: rows and one PDF, whatever the batch's size
BATCH_CHUNK = 200


def _batch(
    request: Request,
    session: SessionDep,
    engine: Engine,
    settings: Settings,
    actor: Actor,
    period: Period,
    subject: str,
    name: str,
) -> StreamingResponse:
    """The zip of a period's certificates, streamed: audited first, then a chunk of
    volunteers at a time read, issued (committed) and rendered in a session of its own (the
    request's is closed before the answer is sent)."""
    register_font(settings.report_font)  # a missing font is a 503 before anything is sent
    volunteer_ids = service.candidates(session=session, period=period)
    flows.record_batch(
        session=session, actor=actor, period=period, subject=subject, volunteers=len(volunteer_ids)
    )
    session.commit()
    zone = ZoneInfo(settings.timezone)
    base_url = _base_url(settings, request)

    def issued() -> Iterator[flows.Issued]:
        for i in range(0, len(volunteer_ids), BATCH_CHUNK):
            chunk = volunteer_ids[i : i + BATCH_CHUNK]
            with Session(engine, expire_on_commit=False) as s:
                now = utcnow()
                lines = service.lines(
                    session=s,
                    period=period,
                    tolerance=settings.hours_tolerance,
                    now=now,
                    volunteer_ids=chunk,
                )
                got = flows.issue_many(
                    session=s,
                    period=period,
                    lines=lines,
                    holders=service.holders(session=s, volunteer_ids=lines),
                    organisation=settings.organisation_name,
                    actor=actor,
                    now=now,
                )
                s.commit()
            yield from got

    def member(got: flows.Issued) -> tuple[str, datetime, Callable[[], bytes]]:
        c = got.certificate

        def make() -> bytes:
            return certificate_pdf.render(
                certificate=c,
                holder=got.holder,
                lines=got.lines,
                font_path=settings.report_font,
                tz=settings.timezone,
                base_url=base_url,
            )

        return f"{_safe(got.holder.name)}-{c.serial}.pdf", c.issued_at.astimezone(zone), make

    chunks = batch.zip_stream(member(got) for got in issued())
    return StreamingResponse(chunks, media_type="application/zip", headers=_attachment(name))


@router.get("/incidents/{incident_id}/certificates.zip", response_class=Response, responses=_ZIP)
def incident_certificates(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    actor: Dispatcher,
    incident_id: PathId,
) -> StreamingResponse:
    """One certificate per volunteer who served on the incident (hours > 0), as a zip
    streamed one PDF at a time; an incident nobody served on gives an empty zip."""
    period = service.incident_period(session=session, incident_id=incident_id)
    if period is None:
        raise dispatch_errors.IncidentNotFound(f"incident {incident_id} does not exist")
    return _batch(
        request,
        session,
        engine,
        settings,
        actor,
        period,
        f"incident:{incident_id}",
        f"志愿服务证明-事件{incident_id}.zip",
    )


@router.get("/certificates/{year}.zip", response_class=Response, responses=_ZIP)
def year_certificates(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    actor: Dispatcher,
    year: Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)],
) -> StreamingResponse:
    """One certificate per volunteer with hours in the year (a season's batch), streamed."""
    period = service.year_period(year, settings.timezone)
    return _batch(
        request,
        session,
        engine,
        settings,
        actor,
        period,
        f"year:{year}",
        f"志愿服务证明-{year}.zip",
    )


@router.get(
    "/exports/service-records.{fmt}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in exports.MEDIA_TYPES.values()}}},
)
def service_records(
    session: SessionDep,
    settings: SettingsDep,
    actor: Dispatcher,
    fmt: Literal["csv", "xlsx"],
    year: Year = None,
    start: Annotated[date | None, Query(description="first local day (with `end`)")] = None,
    end: Annotated[date | None, Query(description="last local day, included")] = None,
) -> Response:
    """Every service in a period (a year, this one by default, or `start`–`end`, at most
    366 days) as rows for the national volunteer information system; phone numbers masked
    unless an admin asks; audited."""
    if (start is None) != (end is None):
        raise BadPeriod("give both start and end, or neither")
    if start is not None and end is not None:
        if year is not None:
            raise BadPeriod("give a year or start and end, not both")
        period = service.span_period(start, end, settings.timezone)
    else:
        period = _year(year, settings)
    lines = service.lines(
        session=session, period=period, tolerance=settings.hours_tolerance, now=utcnow()
    )
    holders = service.holders(session=session, volunteer_ids=lines)
    unmasked = actor.role == "admin"
    table = exports.rows(
        lines=lines,
        holders=holders,
        organisation=settings.organisation_name,
        tz=settings.timezone,
        unmasked=unmasked,
    )
    flows.record_export(
        session=session,
        actor=actor,
        fmt=fmt,
        period=period,
        rows=len(table),
        volunteers=len(lines),
        masked=not unmasked,
    )
    session.commit()
    body = exports.to_csv(table) if fmt == "csv" else exports.to_xlsx(table)
    return Response(
        body,
        media_type=exports.MEDIA_TYPES[fmt],
        headers=_attachment(f"志愿服务记录-{period.key}.{fmt}"),
    )


@public.get("/verify/{serial}", response_class=HTMLResponse)
def verify(request: Request, session: SessionDep, settings: SettingsDep, serial: str) -> Response:
    """Anyone (the QR code on a certificate) may confirm it: the organisation, the period,
    the hours and the holder's masked name, nothing else. 404 with a clear page for a serial
    that was never issued."""
    wanted = service.normalise_serial(serial)
    found = service.by_serial(session=session, serial=wanted) if wanted else None
    zone = ZoneInfo(settings.timezone)
    context: dict[str, Any] = {"serial": serial[:40], "certificate": None}
    if found is not None:
        context["certificate"] = {
            "serial": found.serial,
            "organisation": found.organisation,
            "period": found.period_label,
            "served_from": found.served_from.astimezone(zone).date().isoformat(),
            "served_to": found.served_to.astimezone(zone).date().isoformat(),
            "hours": found.hours,
            "holder": found.holder_masked,
            "issued_on": found.issued_at.astimezone(zone).date().isoformat(),
            "superseded": found.superseded_at is not None,
        }
    response = page(request, "verify.html", context, status_code=200 if found else 404)
    # the page names a person (masked): not for search engines, caches or referrers
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
