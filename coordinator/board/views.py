"""The dispatcher's live board, its event stream, the station page and the demo phone.

Pages check roles and stations through the same `require(...)` / `ensure_station` as the API
(a login session becomes an `Actor` through `coordinator.accounts.web`). Actions on the pages
call the JSON API of the domain that owns them, with the session's CSRF token.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlmodel import Session

from coordinator.accounts.service import Actor
from coordinator.alerts import calendar
from coordinator.board import join_views, login_views, roster_views
from coordinator.board import service as board
from coordinator.board.hub import Hub, sse_frame
from coordinator.board.pages import STATIC, PageRoute, page
from coordinator.board.snapshots import SnapshotCache
from coordinator.common import utcnow
from coordinator.db import read_only
from coordinator.deps import (
    Dispatcher,
    EngineDep,
    OutlinesDep,
    ServicesDep,
    SettingsDep,
    StationStaff,
    ensure_station,
)
from coordinator.dispatch import service as dispatch
from coordinator.geo import service as geo
from coordinator.logistics.errors import PlaceNotFound
from coordinator.lookup import PathId
from coordinator.reports import service as reports
from coordinator.reports.document import Document

log = logging.getLogger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
router.include_router(login_views.router)
router.include_router(roster_views.router)
router.include_router(join_views.router)

#: seconds between keep-alive comments on an idle stream
PING_S = 15.0
#: how long a browser waits before reconnecting (EventSource's `retry`)
RETRY_MS = 2000
#: how long a stream waits for a held feed to resume (a join and an offset lookup)
FEED_WAKE_S = 10.0


def read_session(engine: EngineDep) -> Iterator[Session]:
    """A session for pages that only read: on SQLite it does not take the write lock, so a
    board refreshing never holds up the API or the consumers."""
    with Session(read_only(engine), expire_on_commit=False) as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]


async def board_hub(services: ServicesDep) -> Hub:
    """This process's hub (fed by its board consumer)."""
    return services.board_hub


async def board_snapshots(services: ServicesDep) -> SnapshotCache:
    """This process's shared board snapshot."""
    return services.snapshots


BoardHub = Annotated[Hub, Depends(board_hub)]
Snapshots = Annotated[SnapshotCache, Depends(board_snapshots)]


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/board", status.HTTP_303_SEE_OTHER)


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request, actor: Dispatcher, settings: SettingsDep, session: ReadSession
) -> HTMLResponse:
    # the rush under way, else the last one: the report a cadre looks for
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    year, first, _ = calendar.window_ending_on_or_after(
        today,
        days_before=settings.travel_rush_days_before,
        length_days=settings.travel_rush_length_days,
    )
    if first > today:
        year -= 1
    return page(
        request,
        "board.html",
        {
            "phone": settings.sms_gateway == "console",
            "rush_year": year,
            # the alert form's district list (alert_form.html)
            "districts": geo.list_districts(session=session),
        },
    )


@router.get("/board/snapshot")
async def board_snapshot(
    actor: Dispatcher, engine: EngineDep, hub: BoardHub, cache: Snapshots
) -> dict[str, Any]:
    """Everything the board shows, as JSON (the page fetches it after events arrive); shared
    between the boards asking at about the same time (see `board.snapshots`)."""
    # a held feed hears of no event: "nothing happened since" cannot be told then
    newest = hub.last_id if hub.live.is_set() else None
    snap = await cache.get(newest, lambda _: _snapshot(engine, hub.last_id))
    return snap if _sees_numbers(actor) else board.masked_snapshot(snap)


def _sees_numbers(actor: Actor) -> bool:
    """Whole phone numbers on the board for admins only: a dispatcher's board is often a wall
    screen (the demo phone, console gateway only, shows each phone its own number)."""
    return actor.role == "admin"


@router.get("/board/stream", response_class=StreamingResponse)
async def board_stream(
    request: Request,
    actor: Dispatcher,
    engine: EngineDep,
    hub: BoardHub,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Server-sent events: `board` for each event, `snapshot` when the missed events cannot be
    replayed (first connection, a restart, or a gap older than the ring), `ping` when idle.

    Written as text/event-stream by hand rather than through FastAPI's EventSourceResponse:
    events queued for a client go out in one write, which is what keeps fifty wall screens
    cheap when a storm produces hundreds of events a second."""
    masked = not _sees_numbers(actor)

    async def frames() -> AsyncIterator[str]:
        if not hub.live.is_set():
            # nobody watched this process lately, so its feed is held: wake it and wait until
            # it reads the newest events, or the snapshot below could miss one
            hub.want()
            if not await run_in_threadpool(hub.live.wait, FEED_WAKE_S):
                log.warning("the board feed did not resume within %.0f s", FEED_WAKE_S)
        client, replay, newest = hub.attach_after(last_event_id)
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            if replay is None:
                snap = await run_in_threadpool(_snapshot, engine, newest)
                if masked:
                    snap = board.masked_snapshot(snap)
                yield sse_frame(
                    "snapshot", newest, json.dumps(snap, ensure_ascii=False, default=str)
                )
            elif replay:
                yield "".join(event.frame_for(masked=masked) for event in replay)
            while True:
                await client.wait(PING_S)
                if client.dropped or client.closed:
                    break  # the browser reconnects with Last-Event-ID and catches up
                events = client.drain()
                if events:
                    yield "".join(event.frame_for(masked=masked) for event in events)
                elif await request.is_disconnected():
                    break
                else:
                    yield sse_frame("ping", None, json.dumps(hub.last_id))
        finally:
            hub.detach(client)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _snapshot(engine: Any, newest: str) -> dict[str, Any]:
    with Session(read_only(engine), expire_on_commit=False) as session:
        return board.snapshot(session=session, last_id=newest)


@router.get("/board/phone", response_class=HTMLResponse)
def phone_page(request: Request, actor: Dispatcher, settings: SettingsDep) -> HTMLResponse:
    """Every volunteer's inbox as their phone shows it, with a reply box (console SMS only)."""
    if settings.sms_gateway != "console":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the demo phone needs the console gateway")
    return page(request, "phone.html", {})


@router.get("/board/phone/inboxes")
def phone_inboxes(
    session: ReadSession,
    actor: Dispatcher,
    settings: SettingsDep,
    since: datetime | None = None,
    q: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """The demo phone's wall; `since` is the `cursor` of the page's last look."""
    if settings.sms_gateway != "console":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the demo phone needs the console gateway")
    if since is not None and since.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "since needs a UTC offset")
    return board.phone_inboxes(
        session=session, since=since, query=q, masked=not _sees_numbers(actor)
    )


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station_page(
    request: Request, station_id: PathId, session: ReadSession, actor: StationStaff
) -> HTMLResponse:
    ensure_station(actor, station_id)
    data = _station_data(session, station_id)
    return page(request, "station.html", {"station": data["station"], "station_id": station_id})


@router.get("/stations/{station_id}/data")
def station_data(station_id: PathId, session: ReadSession, actor: StationStaff) -> dict[str, Any]:
    """The station page's content as JSON (the page refreshes from it after each action)."""
    ensure_station(actor, station_id)
    return _station_data(session, station_id)


def _station_data(session: Session, station_id: int) -> dict[str, Any]:
    try:
        return board.station_page(session=session, station_id=station_id)
    except PlaceNotFound:  # an HTTPException, so that the page route answers it as a page
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such station") from None


@router.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for on their own, even for pages that link none (the API docs,
    a JSON answer): the SVG of the pages, so nobody's console fills with 404s."""
    return FileResponse(
        STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "max-age=86400"},
    )


@router.get("/board/incidents/{incident_id}/report", response_class=HTMLResponse)
def incident_report_page(
    request: Request,
    incident_id: PathId,
    session: ReadSession,
    settings: SettingsDep,
    actor: Dispatcher,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> HTMLResponse:
    """The incident's after-action report on the board: the PDF's tables and charts."""
    incident = dispatch.get_incident(session=session, incident_id=incident_id)
    if incident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    document = reports.incident_document(
        session=session, settings=settings, incident=incident, lang=lang, now=utcnow()
    )
    return _report_page(request, document, f"/api/incidents/{incident_id}/report", lang)


@router.get("/board/incidents", response_class=HTMLResponse)
def incident_history_page(request: Request, actor: Dispatcher) -> HTMLResponse:
    """Past incidents with their figures (history.js reads `GET /api/reports/incidents`)."""
    return page(request, "history.html", {})


@router.get("/board/reports/travel-rush/{year}", response_class=HTMLResponse)
def season_report_page(
    request: Request,
    year: Annotated[int, Path(ge=1952, le=2099)],
    session: ReadSession,
    settings: SettingsDep,
    actor: Dispatcher,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> HTMLResponse:
    """The travel rush's campaign report on the board."""
    document = reports.season_document(
        session=session, settings=settings, year=year, lang=lang, now=utcnow()
    )
    return _report_page(request, document, f"/api/reports/travel-rush/{year}", lang)


def _report_page(request: Request, document: Document, download: str, lang: str) -> HTMLResponse:
    # the charts are the PDF's own PNGs, inline: the board and the file show the same figures
    charts = [(c.title, base64.b64encode(c.png).decode("ascii")) for c in document.charts]
    return page(
        request,
        "report.html",
        {"doc": document, "charts": charts, "download": download, "lang": lang},
    )


@router.get("/board/geo/guiyang.json")
def board_outlines(actor: Dispatcher, outlines: OutlinesDep) -> Response:
    """The district outlines for the board's map, fetched once per page (the browser keeps
    them an hour): the snapshot carries only the districts' names and centres, so that a
    storm's snapshots do not carry 130 KB of borders each."""
    body = json.dumps(outlines.drawing(), ensure_ascii=False, separators=(",", ":"))
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/board/static/{path:path}")
def static(path: str) -> Response:
    """Vendored and own CSS and JavaScript, from the package (no CDN, no build step)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": "max-age=300"})
