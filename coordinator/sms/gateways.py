"""Where outbound messages go: the console (default; nothing leaves the machine), a
Twilio-compatible HTTP API, or a Chinese provider that sends only approved templates
(`aliyun.py`, `tencent.py`). What a gateway answers is a `results.SendResult`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import httpx

from coordinator.common import mask_phone, utcnow
from coordinator.config import Settings, SettingsError
from coordinator.sms import templates
from coordinator.sms.results import Gateway as Gateway
from coordinator.sms.results import SendResult as SendResult

log = logging.getLogger(__name__)


class ConsoleGateway:
    """Sends nothing anywhere: the database row is the record, and the message is logged with
    its number masked (`common.mask_phone`), as every log line is.

    With `record` (`NUANLIU_CONSOLE_SMS_FILE`), each message is also appended to that file as
    one JSON line, `{"at", "to", "body", "sid"}` with the full number: the simulated phones'
    inbox, as a carrier's records would be. Tests and `bench.cluster` read it to learn what
    each phone received and answer it. Every process sending through the console may append
    to the same file (one write per line, O_APPEND).

    Its status is "sent" with gateway "console", meaning handed to the console only; it never
    claims "delivered"."""

    name = "console"

    def __init__(self, record: Path | None = None) -> None:
        self.count = 0
        self.record = record
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)

    def send(
        self,
        to: str,
        body: str,
        *,
        template_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SendResult:
        self.count += 1
        sid = f"console-{uuid.uuid4().hex[:16]}"
        if self.record is not None:
            self._append({"at": utcnow().isoformat(), "to": to, "body": body, "sid": sid})
        log.info("SMS (console) to %s: %s", mask_phone(to), body)
        return SendResult(provider_sid=sid, status="sent")

    def _append(self, entry: dict[str, str]) -> None:
        assert self.record is not None
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write: lines from several processes do not interleave
        finally:
            os.close(fd)


#: Twilio's message states after a create call, mapped onto ours
_TWILIO_ACCEPTED = {"accepted", "queued", "scheduled", "sending", "sent"}


class TwilioGateway:
    """Twilio's Messages API (or a compatible provider at `api_base`) over httpx.

    POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth sid:token, form
    fields To, From, Body and StatusCallback (when a public URL is configured)."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str = "https://api.twilio.com",
        status_callback: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.status_callback = status_callback
        self.timeout_s = timeout_s
        self.url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._client = client or httpx.Client(
            auth=(account_sid, auth_token), timeout=httpx.Timeout(timeout_s)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioGateway:
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
        )
        if not (sid and token and sender):
            raise ValueError(
                "NUANLIU_SMS_GATEWAY=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                "and TWILIO_FROM"
            )
        callback = None
        if settings.public_base_url:
            callback = settings.public_base_url.rstrip("/") + "/webhooks/sms/twilio/status"
        return cls(
            account_sid=sid,
            auth_token=token.get_secret_value(),
            from_number=sender,
            api_base=settings.twilio_api_base,
            status_callback=callback,
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        to: str,
        body: str,
        *,
        template_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SendResult:
        # Twilio sends free text, so the rendered body is what goes out.
        form = {"To": to, "From": self.from_number, "Body": body}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        try:
            response = self._client.post(self.url, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return SendResult(None, "failed", f"cannot reach the SMS provider: {exc}")
        except httpx.TimeoutException as exc:
            # The provider may or may not have taken it: the caller must not resend blindly.
            return SendResult(None, "unknown", f"timeout talking to the SMS provider: {exc}")
        except httpx.HTTPError as exc:
            return SendResult(None, "failed", f"cannot reach the SMS provider: {exc}")
        data = _json(response)
        if response.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            code = data.get("code") if isinstance(data, dict) else None
            detail = message or response.text[:200] or response.reason_phrase
            prefix = f"HTTP {response.status_code}" + (f" (code {code})" if code else "")
            return SendResult(None, "failed", f"{prefix}: {detail}")
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            return SendResult(None, "unknown", "the SMS provider's answer has no message sid")
        status = str(data.get("status") or "queued")
        if status in ("failed", "undelivered"):
            return SendResult(data["sid"], "failed", str(data.get("error_message") or status))
        return SendResult(data["sid"], "sent" if status in _TWILIO_ACCEPTED else "unknown")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def make_gateway(settings: Settings) -> Gateway:
    """The gateway `NUANLIU_SMS_GATEWAY` names. A Chinese provider needs an approved code
    for every template (`NUANLIU_SMS_TEMPLATES`): without one it raises SettingsError in one
    line, so the process does not start rather than lose those texts."""
    if settings.sms_gateway == "twilio":
        return TwilioGateway.from_settings(settings)
    if settings.sms_gateway in ("aliyun", "tencent"):
        provider = settings.sms_gateway
        if settings.sms_templates is None:
            raise SettingsError(
                f"NUANLIU_SMS_GATEWAY={provider} needs NUANLIU_SMS_TEMPLATES, the approved "
                "template codes (`nuanliu sms templates --toml` prints a file to fill in)"
            )
        try:
            codes = templates.codes_for(templates.load_codes(settings.sms_templates), provider)
        except templates.TemplateCodesError as exc:
            raise SettingsError(str(exc)) from None
        # imported only for the provider chosen: the two SDKs take half a second to import,
        # which every process (the API, each worker, each CLI command) paid on the console
        if provider == "aliyun":
            from coordinator.sms.aliyun import AliyunGateway

            return AliyunGateway.from_settings(settings, codes)
        from coordinator.sms.tencent import TencentGateway

        return TencentGateway.from_settings(settings, codes)
    return ConsoleGateway(settings.console_sms_file)
