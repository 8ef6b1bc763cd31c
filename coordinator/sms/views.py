"""SMS routes: the Twilio webhooks, the Aliyun and Tencent Cloud pushes, replies entered by
hand (or the demo phone), the log."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from coordinator.accounts.service import actor_name
from coordinator.config import Settings
from coordinator.deps import Dispatcher, SessionDep, SettingsDep
from coordinator.sms import flows, push, service
from coordinator.sms.intake import Intake, IntakeClosed
from coordinator.sms.models import MAX_BODY_CHARS, SmsMessage, SmsPage, SmsPublic, Status
from coordinator.sms.signature import valid_twilio_signature
from coordinator.volunteers.service import normalise_phone
from events.context import current_request_id

log = logging.getLogger(__name__)

router = APIRouter(tags=["sms"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
#: Twilio's delivery states we record; the rest (queued, sending, read…) change nothing
REPORTED = {"sent", "delivered", "undelivered", "failed"}


class InboundSms(BaseModel):
    """A reply typed by a dispatcher or sent from the demo phone."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(alias="from", max_length=40)
    body: str = Field(max_length=MAX_BODY_CHARS)


def _public(message: SmsMessage) -> SmsPublic:
    return SmsPublic.model_validate(message, from_attributes=True)


async def _inbound_body(request: Request) -> InboundSms:
    # Parsed here rather than by FastAPI so that a body that is not UTF-8 is a 422 like any
    # other bad field (FastAPI answers 400 for undecodable JSON).
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a body that cannot be read, like FastAPI's own 422s: not a refusal of the domain
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"body is not valid UTF-8: {exc.reason}"
        ) from None
    try:
        return InboundSms.model_validate_json(text)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post(
    "/api/sms/inbound",
    status_code=status.HTTP_201_CREATED,
    response_model=SmsPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": InboundSms.model_json_schema()}},
        }
    },
)
async def post_inbound(
    request: Request, actor: Dispatcher, body: Annotated[InboundSms, Depends(_inbound_body)]
) -> SmsPublic:
    """Record a reply as if it had come from the phone network."""
    text = service.inbound(phone=body.from_, body=body.body, gateway="api")
    message, _ = await _receive(request, flows.Received(text, actor_name(actor), _request_id()))
    return _public(message)


async def _receive(request: Request, received: flows.Received) -> tuple[SmsMessage, bool]:
    """Store a text through the app's intake (batched with the others arriving meanwhile)."""
    intake: Intake = request.app.state.sms_intake
    try:
        return await intake.receive(received)
    except IntakeClosed:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "shutting down") from None


def _request_id() -> str | None:
    return current_request_id.get()


@router.get("/api/sms", response_model=SmsPage)
def get_messages(
    session: SessionDep,
    _actor: Dispatcher,
    direction: Literal["outbound", "inbound"] | None = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    volunteer_id: int | None = None,
    assignment_id: int | None = None,
    state: Annotated[Status | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SmsPage:
    """The message log, newest first; `status=unknown` lists messages whose fate is unknown
    (a sender stopped mid-send, or the provider timed out): they are never resent by
    themselves."""
    e164 = None
    if phone:
        e164 = normalise_phone(phone, mobile_only=False)
    rows, total = service.list_messages(
        session=session,
        direction=direction,
        phone=e164,
        volunteer_id=volunteer_id,
        assignment_id=assignment_id,
        status=state,
        offset=offset,
        limit=limit,
    )
    return SmsPage(items=[_public(r) for r in rows], count=total, offset=offset, limit=limit)


# -- Twilio --------------------------------------------------------------------------------------
async def _signed_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The form fields of a request Twilio signed; 403 (nothing read further) otherwise."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    try:
        form = await request.form()
    except Exception:  # a body that is not a form cannot carry a valid signature either
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid signature") from None
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    if len(items) != len(form.multi_items()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid signature")
    url = str(request.url)
    if settings.public_base_url:
        # Behind a proxy the URL Twilio signed is the public one, not the one we see.
        url = settings.public_base_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature")
    if not token or not valid_twilio_signature(token, url, items, signature):
        log.warning("Twilio webhook with a bad or missing signature from %s", request.client)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid signature")
    return dict(items)


@router.post("/webhooks/sms/twilio", response_class=Response)
async def twilio_inbound(request: Request, settings: SettingsDep) -> Response:
    """An inbound SMS from Twilio. The answer is an empty TwiML document: replies go out
    through the sender like every other message."""
    fields = await _signed_form(request, settings)
    sender, body = fields.get("From", ""), fields.get("Body")
    if body is None:  # a malformed webhook (HTTP-level), not a refusal of the domain
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no Body")
    text = service.inbound(
        phone=sender,
        body=body,
        provider_sid=fields.get("MessageSid") or fields.get("SmsSid") or None,
        gateway="twilio",
    )
    await _receive(request, flows.Received(text, "sms:twilio", _request_id()))
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/webhooks/sms/twilio/status", status_code=status.HTTP_204_NO_CONTENT)
async def twilio_status(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A delivery report: moves the message to delivered/undelivered/failed (never back)."""
    fields = await _signed_form(request, settings)
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    state = fields.get("MessageStatus") or fields.get("SmsStatus")
    if not sid or not state:  # a malformed webhook (HTTP-level), not a refusal of the domain
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "MessageSid and MessageStatus")
    if state in REPORTED:
        error = None
        if fields.get("ErrorCode"):
            error = f"provider error {fields['ErrorCode'][:16]}"
            if fields.get("ErrorMessage"):
                error += f": {fields['ErrorMessage'][:200]}"
        # in a worker thread: queries on the event loop would stall every other request
        await run_in_threadpool(
            flows.apply_delivery_report,
            session=session,
            provider_sid=sid[:64],
            status=state,
            error=error,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- Aliyun and Tencent Cloud push ---------------------------------------------------------------
def _check_push_token(settings: Settings, provider: str, token: str) -> None:
    """The secret path segment: neither provider signs its pushes, so the URL carries a
    token only we and the provider's console know. Unset: every push is refused."""
    expected = settings.sms_webhook_token
    if expected is None:
        log.warning("%s push refused: NUANLIU_SMS_WEBHOOK_TOKEN is not set", provider)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")
    if not hmac.compare_digest(expected.get_secret_value().encode(), token.encode()):
        log.warning("%s push with a wrong token", provider)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")


def _client_host(request: Request | None) -> str:
    return request.client.host if request is not None and request.client else "?"


async def _push(
    request: Request, settings: Settings, session: Session, provider: str, token: str
) -> Response:
    """Read a provider's push (reports and texts, batched), apply the reports, store the
    texts through the intake like every other reply; answer as the provider wants."""
    _check_push_token(settings, provider, token)
    raw = await request.body()
    try:
        data = push.decode(raw)
        reports, uplinks = (push.aliyun if provider == "aliyun" else push.tencent)(data)
    except push.PushRefused as exc:
        log.warning(
            "%s push refused (%s) from %s: %d bytes",
            provider,
            exc,
            _client_host(request),
            len(raw),
        )
        return JSONResponse(push.refused(provider, str(exc)), status_code=422)
    texts: list[flows.Received] = []
    for uplink in uplinks:
        try:
            text = service.inbound(
                phone=uplink.phone,
                body=uplink.body,
                provider_sid=uplink.provider_sid,
                gateway=provider,
            )
        except ValueError as exc:  # a number or text we cannot store: the rest still count
            log.warning("%s push: a text not stored: %s", provider, type(exc).__name__)
            continue
        texts.append(flows.Received(text, f"sms:{provider}", _request_id()))
    if reports:
        # in a worker thread: queries on the event loop would stall every other request
        await run_in_threadpool(
            flows.apply_delivery_reports,
            session=session,
            reports=[
                flows.DeliveryReport(r.provider_sids, r.status, r.error, r.code) for r in reports
            ],
        )
    if texts:
        await asyncio.gather(*(_receive(request, t) for t in texts))
    return JSONResponse(push.ACCEPTED[provider])


@router.post("/webhooks/sms/aliyun/{token}", response_class=JSONResponse)
async def aliyun_push(
    request: Request, settings: SettingsDep, session: SessionDep, token: str
) -> Response:
    """Aliyun's SmsReport and SmsUp pushes (HTTP 批量推送), JSON arrays."""
    return await _push(request, settings, session, "aliyun", token)


@router.post("/webhooks/sms/tencent/{token}", response_class=JSONResponse)
async def tencent_push(
    request: Request, settings: SettingsDep, session: SessionDep, token: str
) -> Response:
    """Tencent Cloud's status callbacks (a JSON array) and reply callbacks (an object)."""
    return await _push(request, settings, session, "tencent", token)
