"""Alibaba Cloud SMS (dysmsapi 2017-05-25) through its official SDK,
`alibabacloud-dysmsapi20170525`: `SendSms` for one text, `SendBatchSms` for many texts of one
template (each number its own parameters), signed ACS3-HMAC-SHA256 by the SDK.

Every text is an approved template: `TemplateCode` is the code `NUANLIU_SMS_TEMPLATES` gives
the text's template id, `TemplateParam` its variables as JSON, `SignName` the registered
signature. The SDK's own retries are off: a retry here could send a text twice, so the
sender decides (`results.SendResult`), and only on an answer that says nothing went out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from alibabacloud_dysmsapi20170525 import models as dysms
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import utils_models as open_api
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from darabonba.policy.retry import RetryOptions
from darabonba.runtime import RuntimeOptions

from coordinator.config import Settings, SettingsError, endpoint_url
from coordinator.sms.results import SendResult, never_left, scrub

log = logging.getLogger(__name__)

#: refused for now, nothing sent: the API's throttling and its transient failures
RETRY_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Concurrency",
        "ServiceUnavailable",
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "InternalError",
    }
)


class AliyunGateway:
    """One Aliyun account's SMS client; `send` is safe to call from one thread at a time."""

    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        codes: Mapping[str, str],
        endpoint: str = "dysmsapi.aliyuncs.com",
        timeout_s: float = 10.0,
    ) -> None:
        base = endpoint_url(endpoint)
        protocol, _, host = base.partition("://")
        self.sign_name = sign_name
        self.codes = dict(codes)
        self.timeout_s = timeout_s
        self.endpoint = host
        #: whose rate limit this gateway spends (the access key id, not a secret)
        self.account = access_key_id
        self._secrets = (access_key_secret,)
        self._client = Client(
            open_api.Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=host,
                protocol=protocol,
                region_id="cn-hangzhou",
                read_timeout=int(timeout_s * 1000),
                connect_timeout=int(min(timeout_s, 5.0) * 1000),
                # the SDK retries nothing by default; say so, since a retry may send twice
                retry_options=RetryOptions({"retryable": False}),
            )
        )
        self._runtime = RuntimeOptions(
            read_timeout=int(timeout_s * 1000),
            connect_timeout=int(min(timeout_s, 5.0) * 1000),
            no_proxy=host if protocol == "http" else None,
        )

    @classmethod
    def from_settings(cls, settings: Settings, codes: Mapping[str, str]) -> AliyunGateway:
        secret = settings.aliyun_access_key_secret
        if not (settings.aliyun_access_key_id and secret and settings.aliyun_sms_sign_name):
            raise SettingsError(
                "NUANLIU_SMS_GATEWAY=aliyun needs ALIYUN_ACCESS_KEY_ID, "
                "ALIYUN_ACCESS_KEY_SECRET and ALIYUN_SMS_SIGN_NAME"
            )
        return cls(
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=secret.get_secret_value(),
            sign_name=settings.aliyun_sms_sign_name,
            codes=codes,
            endpoint=settings.aliyun_sms_endpoint,
            timeout_s=settings.sms_timeout_s,
        )

    def send(
        self,
        to: str,
        body: str,
        *,
        template_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SendResult:
        code = self.codes.get(template_id or "")
        if code is None:
            # free text, or a template without an approved code: Aliyun cannot send it
            return SendResult(None, "failed", f"no aliyun template code for {template_id!r}")
        request = dysms.SendSmsRequest(
            phone_numbers=_national(to),
            sign_name=self.sign_name,
            template_code=code,
            template_param=json.dumps(params or {}, ensure_ascii=False),
        )
        try:
            answer = self._client.send_sms_with_options(request, self._runtime).body
        except Exception as exc:
            return self._failure(exc)
        return _result(answer.code, answer.message, answer.biz_id)

    def send_batch(
        self, texts: Sequence[tuple[str, dict[str, Any]]], *, template_id: str
    ) -> list[SendResult]:
        """Many numbers, one template, each its own parameters (`SendBatchSms`, up to 100):
        one request, one outcome for all of them; the provider id is the batch's BizId with
        the number (delivery reports name both)."""
        code = self.codes.get(template_id)
        if code is None:
            failed = SendResult(None, "failed", f"no aliyun template code for {template_id!r}")
            return [failed] * len(texts)
        if not 0 < len(texts) <= 100:
            raise ValueError("SendBatchSms takes 1 to 100 numbers")
        numbers = [_national(to) for to, _ in texts]
        request = dysms.SendBatchSmsRequest(
            phone_number_json=json.dumps(numbers),
            sign_name_json=json.dumps([self.sign_name] * len(texts), ensure_ascii=False),
            template_code=code,
            template_param_json=json.dumps([p for _, p in texts], ensure_ascii=False),
        )
        try:
            answer = self._client.send_batch_sms_with_options(request, self._runtime).body
        except Exception as exc:
            return [self._failure(exc)] * len(texts)
        result = _result(answer.code, answer.message, answer.biz_id)
        if result.status != "sent":
            return [result] * len(texts)
        return [
            SendResult(batch_sid(result.provider_sid or "", number), "sent") for number in numbers
        ]

    def _failure(self, exc: Exception) -> SendResult:
        if isinstance(exc, AlibabaCloudException):
            code = str(exc.code or "")
            message = scrub(f"{code}: {exc.message}", self._secrets)[:300]
            if isinstance(exc, ThrottlingException) or code in RETRY_CODES:
                # the SDK's unit: milliseconds (x-acs-retry-after)
                after = getattr(exc, "retry_after", None)
                wait = float(after) / 1000 if after else None
                return SendResult(None, "retry", message, code, wait)
            if (exc.status_code or 0) >= 500:
                return SendResult(None, "retry", message, code or "HTTP 5xx")
            return SendResult(None, "failed", message, code or None)
        reason = scrub(f"{type(exc).__name__}: {exc}", self._secrets)[:300]
        if never_left(exc):
            return SendResult(None, "retry", f"cannot reach Aliyun: {reason}", "unreachable")
        log.warning("Aliyun send ended without an answer (%s); not resent", type(exc).__name__)
        return SendResult(None, "unknown", f"no answer from Aliyun: {reason}", "timeout")


def _result(code: str | None, message: str | None, biz_id: str | None) -> SendResult:
    if code == "OK" and biz_id:
        return SendResult(biz_id, "sent")
    code = code or "no code"
    detail = f"{code}: {message or ''}".strip()[:300]
    if code in RETRY_CODES:
        return SendResult(None, "retry", detail, code)
    if code == "OK":  # accepted without an id: it went, but we cannot follow it
        return SendResult(None, "unknown", "Aliyun answered OK without a BizId", code)
    return SendResult(None, "failed", detail, code)


def _national(e164: str) -> str:
    """Aliyun takes mainland numbers without +86, others with their country code."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


def batch_sid(biz_id: str, number: str) -> str:
    """The provider id of one number's text in a batch: the BizId alone names the batch."""
    return f"{biz_id}:{number[-11:]}"
