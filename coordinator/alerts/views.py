"""Alert intake: JSON from a dispatcher, CAP XML from a feed or a person."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from coordinator.alerts import flows, service
from coordinator.alerts.errors import NothingTaken
from coordinator.alerts.models import AlertAccepted, AlertCreate, AlertPreview
from coordinator.common import utcnow
from coordinator.deps import Dispatcher, OutlinesDep, SessionDep, SettingsDep

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def _commit(
    session: SessionDep,
    data: flows.AlertInput,
    actor: Dispatcher,
    *,
    key: str | None,
    window: timedelta,
) -> JSONResponse:
    """Raise the alert in one transaction; 202 for a new alert, 200 with the same ids for one
    already raised (the same Idempotency-Key, or the same body within the window)."""
    raised = flows.raise_once(
        session=session, data=data, actor=actor, key=key, window=window, now=data.sent
    )
    session.commit()
    assert raised.alert.id is not None
    body: dict[str, Any] = {"alert_id": raised.alert.id, "incident_id": raised.incident_id}
    if raised.expired:
        body |= {"expired": True, "detail": expired_detail(raised)}
    code = status.HTTP_202_ACCEPTED if raised.created and not raised.expired else status.HTTP_200_OK
    return JSONResponse(body, status_code=code)


def expired_detail(raised: flows.Raised) -> str:
    ends = raised.alert.ends_at
    return (
        f"the alert had expired when it arrived (it ended {ends.isoformat() if ends else '?'}): "
        "recorded, no incident opened, nobody sent out"
    )


#: visible ASCII, as the Idempotency-Key draft (a structured-field string) allows
KEY_PATTERN = r"^[!-~]{1,255}$"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AlertAccepted,
    responses={
        200: {
            "description": "this alert was already raised (same Idempotency-Key within 24 h,"
            " or, without a key, the same body within NUANLIU_ALERT_DEDUPE_WINDOW): the"
            " first one's ids"
        },
        422: {
            "description": "invalid body or Idempotency-Key, unknown district, or a key "
            "reused for a different alert"
        },
    },
)
def post_alert(
    body: AlertCreate,
    session: SessionDep,
    actor: Dispatcher,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="Any unique string (a UUID) per alert, 1-255 visible ASCII characters. "
            "Sent again by the same dispatcher within 24 hours it answers 200 with the first "
            "alert's ids, and 422 if the body differs. Without it, the same body within "
            "NUANLIU_ALERT_DEDUPE_WINDOW (5 minutes) is taken as the same alert.",
        ),
    ] = None,
) -> JSONResponse:
    """Raise an alert by hand: opens an incident; dispatch plans tasks and sends offers. A
    retried or doubled post opens no second incident (see `Idempotency-Key`)."""
    data = _json_input(body, session, actor)
    return _commit(session, data, actor, key=idempotency_key, window=settings.alert_dedupe_window)


def _json_input(body: AlertCreate, session: SessionDep, actor: Dispatcher) -> flows.AlertInput:
    """A dispatcher's JSON alert as an intake's input: its window checked, its districts
    resolved to codes (InvalidPeriod, UnknownDistricts otherwise)."""
    flows.check_period(starts_at=body.starts_at, ends_at=body.ends_at)
    codes = service.resolve_districts(session=session, names=body.districts)
    return flows.AlertInput(
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


@router.post(
    "/preview",
    response_model=AlertPreview,
    responses={422: {"description": "the same refusals as `POST /api/alerts`"}},
)
def preview_alert(
    body: AlertCreate, session: SessionDep, actor: Dispatcher, settings: SettingsDep
) -> AlertPreview:
    """What `POST /api/alerts` with this body would make dispatch plan now: every task with
    its place, slots and window, and the totals per district. The same checks and the same
    planning as the real alert, but nothing is stored, sent or audited."""
    data = _json_input(body, session, actor)
    return flows.preview(session=session, data=data, settings=settings, now=data.sent)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than `limit` bytes even without a Content-Length."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            # HTTP-level, not a refusal of alerts: the same 413 any too-large body gets
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def cap_body(request: Request, settings: SettingsDep) -> bytes:
    """The raw body of a CAP post, size-limited (413) before any of it is parsed."""
    return await read_limited(request, settings.max_body_bytes)


@router.post(
    "/cap",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AlertAccepted,
    responses={
        200: {
            "description": "this alert (same sender, identifier, sent) was already taken, or"
            " it had expired when it arrived: recorded, but no incident opened and nobody"
            " sent out (`expired` true, `incident_id` null, `detail` says why)"
        },
        413: {"description": "body larger than NUANLIU_MAX_BODY_BYTES"},
        422: {"description": "not CAP, unsafe or broken XML, or outside our districts"},
    },
)
def post_cap(
    data: Annotated[bytes, Depends(cap_body)],
    session: SessionDep,
    actor: Dispatcher,
    outlines: OutlinesDep,
) -> JSONResponse:
    """Take a CAP 1.2 (or 1.1) message, or an `<alerts>` wrapper of several.

    Alerts whose area touches none of our districts are refused (422, nothing stored) rather
    than opened as incidents without tasks: nobody could act on them, a national feed would
    bury the board under them, and the reason in the answer tells the sender what happened.
    When a wrapper holds several alerts, `alert_id`/`incident_id` are the first's and
    `alerts` lists every one taken, `skipped` the rest with reasons.

    An alert whose `<expires>` has already passed is recorded and shown as expired (on the
    board's feed) but opens no incident and sends nobody out: the answer is 200 with
    `expired: true`, `incident_id: null` and a `detail` that says so."""
    try:
        result = flows.ingest_cap(session=session, data=data, actor=actor, outlines=outlines)
        if not result.raised:
            raise NothingTaken("; ".join(result.skipped) or "no alert in the body")
        session.commit()
    except IntegrityError:
        # a copy of the same alert won a race: answer with what it stored
        session.rollback()
        result = flows.ingest_cap(session=session, data=data, actor=actor, outlines=outlines)
        session.rollback()
        if not result.raised or any(r.created for r in result.raised):
            raise
    first = result.raised[0]
    body: dict[str, Any] = {
        "alert_id": first.alert.id,
        "incident_id": first.incident_id,
        "expired": first.expired,
        "alerts": [
            {
                "alert_id": r.alert.id,
                "incident_id": r.incident_id,
                "new": r.created,
                "expired": r.expired,
            }
            for r in result.raised
        ],
        "skipped": result.skipped,
    }
    if all(r.expired for r in result.raised):
        body["detail"] = expired_detail(first)
    acted = any(r.created and not r.expired for r in result.raised)
    code = status.HTTP_202_ACCEPTED if acted else status.HTTP_200_OK
    return JSONResponse(body, status_code=code)
