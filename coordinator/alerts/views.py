"""Alert intake: JSON from a dispatcher, CAP XML from a feed or a person."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from coordinator.alerts import flows, service
from coordinator.alerts.models import AlertAccepted, AlertCreate
from coordinator.common import utcnow
from coordinator.deps import Dispatcher, SessionDep

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def _commit(session: SessionDep, data: flows.AlertInput, actor: Dispatcher) -> JSONResponse:
    """Raise the alert in one transaction; 202 for a new alert, 200 with the same ids for one
    already stored (also when an identical copy wins a race)."""
    try:
        raised = flows.raise_alert(session=session, data=data, actor=actor)
        session.commit()
    except flows.AlertRejected as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except IntegrityError:
        session.rollback()
        seen = service.find_by_identity(
            session=session, sender=data.sender, identifier=data.identifier, sent=data.sent
        )
        if seen is None or seen.id is None or seen.incident_id is None:
            raise
        return JSONResponse(
            AlertAccepted(alert_id=seen.id, incident_id=seen.incident_id).model_dump(),
            status_code=status.HTTP_200_OK,
        )
    assert raised.alert.id is not None
    body = {"alert_id": raised.alert.id, "incident_id": raised.incident_id}
    code = status.HTTP_202_ACCEPTED if raised.created else status.HTTP_200_OK
    return JSONResponse(body, status_code=code)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AlertAccepted,
    responses={422: {"description": "invalid body or unknown district"}},
)
def post_alert(body: AlertCreate, session: SessionDep, actor: Dispatcher) -> JSONResponse:
    """Raise an alert by hand: opens an incident; dispatch plans tasks and sends offers."""
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at must be after starts_at"
        )
    try:
        codes = service.resolve_districts(session=session, names=body.districts)
    except service.UnknownDistricts as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    data = flows.AlertInput(
        sender=f"api:{actor.name}",
        identifier=str(uuid.uuid4()),
        sent=utcnow(),
        kind=body.kind,
        level=body.level,
        districts=codes,
        headline=body.headline,
        source="api",
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        raw=body.model_dump_json(),
    )
    return _commit(session, data, actor)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than `limit` bytes even without a Content-Length."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)
