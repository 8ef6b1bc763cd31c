"""The FastAPI application: routers, error shapes, and a lifespan that starts the runtime.

The app gets everything through `app.state`, set here and nowhere else: `services` (the
process's :class:`~coordinator.process.Services`: settings, engine, board hub, snapshot
cache…), `authenticators` (the ways besides a bearer token to say who is calling: the board's
session cookie), `token_cache` and `sms_intake`. Routes read them through the `Annotated`
dependencies of `coordinator.deps`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator import __version__, errors
from coordinator.accounts import views as accounts_views
from coordinator.accounts.service import TokenCache
from coordinator.accounts.web import session_authenticator
from coordinator.alerts import views as alerts_views
from coordinator.board import rota_page
from coordinator.board import views as board_views
from coordinator.config import Settings, get_settings
from coordinator.dispatch import rota_views
from coordinator.dispatch import views as dispatch_views
from coordinator.geo import outlines
from coordinator.logistics import views as logistics_views
from coordinator.process import Services
from coordinator.records import views as records_views
from coordinator.reports import views as reports_views
from coordinator.reports.errors import FontMissing
from coordinator.sms import views as sms_views
from coordinator.sms.intake import Intake
from coordinator.volunteers import rota_login_views
from coordinator.volunteers import views as volunteers_views
from events.context import current_request_id
from nuanliu import system_views
from nuanliu.runtime import Runtime

log = logging.getLogger(__name__)

#: Who may call besides a bearer token, asked in this order (`deps.current_actor`).
AUTHENTICATORS = (session_authenticator,)

ROUTERS = [
    system_views.router,
    accounts_views.router,
    alerts_views.router,
    dispatch_views.router,
    volunteers_views.router,
    rota_login_views.router,
    rota_views.router,
    sms_views.router,
    # before logistics: its `/api/exports/{filename}` would take `service-records.csv` too
    records_views.router,
    records_views.public,
    logistics_views.router,
    reports_views.router,
    board_views.router,
    rota_page.router,
]


class RequestId:
    """Give every request an id (or keep the caller's X-Request-ID), echo it in the response
    and make it available to the audit log. Plain ASGI rather than BaseHTTPMiddleware, which
    runs each request in an extra task with memory streams: under load that was a third of an
    API process's event-loop time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else None
        request_id = request_id or uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


@dataclass(frozen=True)
class BodyLimit:
    """How many bytes a request body may have, and the 413's `detail` when it has more."""

    max_bytes: int
    detail: str


def size_in_words(n: int) -> str:
    """`16 MB`, `1.5 MB`, `64 KB`, `100 bytes`: a limit as a dispatcher reads it (MB = MiB)."""
    mib, kib = 1024 * 1024, 1024
    if n >= mib:
        return f"{n // mib} MB" if n % mib == 0 else f"{n / mib:.1f} MB"
    if n >= kib:
        return f"{n // kib} KB" if n % kib == 0 else f"{n / kib:.1f} KB"
    return f"{n} bytes"


class BodyLimits:
    """413 for a request body over its limit: announced by Content-Length, before any of it
    is read; sent chunked, as soon as what was read passes it. Every route has `default`;
    the paths in `own` have a limit of their own (the roster import). The 413 names the limit
    and its setting in the JSON shape of every other error, where Starlette's `max_body_size`
    answered a bare "Content Too Large" for every route alike. Plain ASGI, like RequestId."""

    def __init__(self, app: ASGIApp, default: BodyLimit, own: dict[str, BodyLimit]) -> None:
        self.app, self.default, self.own = app, default, own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.own.get(scope["path"], self.default)
        announced = Headers(scope=scope).get("content-length", "")
        if announced.isdigit() and int(announced) > limit.max_bytes:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    # the route's exception handling turns it into the JSON 413
                    raise HTTPException(413, limit.detail)
            return message

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_limited, send_started)
        except HTTPException as exc:
            # raised where no exception handler runs (a listener outside the route)
            if started or exc.status_code != 413 or received <= limit.max_bytes:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: BodyLimit) -> JSONResponse:
    return JSONResponse({"detail": limit.detail}, status_code=413)


def body_limits(settings: Settings, app: FastAPI) -> dict[str, Any]:
    """`BodyLimits`' arguments for `settings`: the roster import has `import_max_bytes`, since a
    20,000-row roster (1.5 MB) is larger than anything else anyone posts."""
    general, roster = (
        size_in_words(settings.max_body_bytes),
        size_in_words(settings.import_max_bytes),
    )
    return {
        "default": BodyLimit(
            settings.max_body_bytes,
            f"请求内容超过 {general} 上限 / request body larger than the {general} limit "
            "(NUANLIU_MAX_BODY_BYTES)",
        ),
        "own": {
            str(app.url_path_for("import_volunteers")): BodyLimit(
                settings.import_max_bytes,
                f"名册文件超过 {roster} 上限，请拆分后再导入 / roster file larger than the "
                f"{roster} limit (NUANLIU_IMPORT_MAX_BYTES); split it",
            )
        },
    }


def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """An id or number larger than the database's integers (SQLite raises OverflowError,
    PostgreSQL a DataError) is the caller's mistake: 422, not a 500, for every route at once."""
    return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)


def _shown(path: str) -> str:
    """A path fit for the log: the providers' push URLs end in a secret token."""
    if path.startswith(("/webhooks/sms/aliyun/", "/webhooks/sms/tencent/")):
        return path.rsplit("/", 1)[0] + "/***"
    return path


def _busy(request: Request, exc: Exception) -> JSONResponse:
    """No database connection free within the pool timeout: more load than the database
    takes. 503 with Retry-After, so callers (Twilio among them) try again shortly."""
    log.warning("no database connection free for %s %s", request.method, _shown(request.url.path))
    return JSONResponse(
        {"detail": "busy: no database connection free; try again"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _font_missing(request: Request, exc: Exception) -> JSONResponse:
    """The reports' font is not installed: the machine needs fixing, not the request."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc), "code": FontMissing.code}, status_code=503)


def _documented_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Our 4xx answers carry `detail` as a message string, an object (row-level errors) or
    FastAPI's array of validation errors; say so in /openapi.json so generated clients can
    read all three."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                detail = error["properties"]["detail"]
                error["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [detail, {"type": "string"}, {"type": "object"}],
                }
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    services: Services | None = None,
    bootstrap: str | None = None,
) -> FastAPI:
    """Build the app. With `runtime`, the caller has started (and will stop) the parts; with
    `services` alone, the app answers requests over them and starts nothing (no relay, no
    consumers: `bootstrap` is only what `/healthz` asks); with neither, the lifespan starts an
    API-only runtime from `settings` (or the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own: Runtime | None = None
        if runtime is not None:
            app.state.services, app.state.bootstrap = runtime.services, runtime.bootstrap
        elif services is not None:
            app.state.services, app.state.bootstrap = services, bootstrap
        else:
            own = Runtime(settings or get_settings(), relay=False, consumers=("board",)).start()
            app.state.services, app.state.bootstrap = own.services, own.bootstrap
        app.state.outlines = outlines.guiyang()
        app.state.sms_intake = Intake(app.state.services.engine).start()
        try:
            yield
        finally:
            app.state.sms_intake.stop()
            if own is not None:
                own.stop()

    if settings is None:
        settings = (
            runtime.settings if runtime else services.settings if services else get_settings()
        )
    app = FastAPI(
        title="Nuanliu 暖流",
        version=__version__,
        description="Event-driven volunteer and logistics coordinator.",
        lifespan=lifespan,
    )
    app.state.token_cache = TokenCache()
    app.state.authenticators = AUTHENTICATORS
    for router in ROUTERS:
        app.include_router(router)
    # 413 for a larger body, whether announced by Content-Length or sent chunked
    limits = body_limits(settings, app)
    app.add_middleware(BodyLimits, **limits)
    app.add_middleware(RequestId)  # outermost: a 413 carries the request id too
    app.add_exception_handler(errors.DomainError, errors.answer)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(FontMissing, _font_missing)
    app.openapi = _documented_errors(app)  # type: ignore[method-assign]
    return app
