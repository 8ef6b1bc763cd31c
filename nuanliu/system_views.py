"""Health and metrics: what an operator or a load balancer asks."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from coordinator.db import ping
from coordinator.deps import EngineDep
from events.bus import broker_ok
from nuanliu.observability import refresh_gauges

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(request: Request, engine: EngineDep) -> JSONResponse:
    try:
        ping(engine)
        database = "ok"
    except SQLAlchemyError as exc:
        database = f"down: {type(exc).__name__}"
    bootstrap = getattr(request.app.state, "bootstrap", None)
    broker = "ok" if bootstrap and broker_ok(bootstrap) else "down"
    healthy = database == "ok" and broker == "ok"
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "database": database, "broker": broker},
        status_code=200 if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@router.get("/metrics")
def metrics(request: Request, engine: EngineDep) -> Response:
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in ("testclient", "localhost")
    if not loopback:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "metrics are served on loopback only")
    with Session(engine) as session:
        refresh_gauges(session)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
