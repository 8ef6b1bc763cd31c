"""Tencent Cloud SMS (API 2021-01-11) through its official SDK, `tencentcloud-sdk-python-sms`:
`SendSms` with `SmsSdkAppId`, `SignName`, `TemplateId` and `TemplateParamSet`, signed
TC3-HMAC-SHA256 by the SDK.

Tencent's templates number their variables (`{1}`, `{2}`…), so `TemplateParamSet` is the
text's variables in the template's order (`templates.Template.variables`). The SDK retries
nothing unless given a retryer, and none is given: the sender decides (`results.SendResult`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as sms_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from coordinator.config import Settings, SettingsError, endpoint_url
from coordinator.sms.results import SendResult, never_left, scrub
from coordinator.sms.templates import get, split_id

log = logging.getLogger(__name__)

#: refused for now, nothing sent: the API's rate limit and the errors it says to retry
RETRY_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "InternalError.RequestTimeException",
        "InternalError.RestApiInterfaceNotExist",
        "InternalError.SendAndRecvFail",
        "ServiceUnavailable",
        "ResourceUnavailable",
    }
)
#: the provider gave up waiting on the carrier: the text may have gone
UNKNOWN_CODES = frozenset({"InternalError.Timeout", "InternalError"})


class TencentGateway:
    """One Tencent Cloud account's SMS client; `send` is called from one thread at a time."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        sign_name: str,
        codes: Mapping[str, str],
        endpoint: str = "sms.tencentcloudapi.com",
        region: str = "ap-guangzhou",
        timeout_s: float = 10.0,
    ) -> None:
        base = endpoint_url(endpoint)
        protocol, _, host = base.partition("://")
        self.app_id = app_id
        self.sign_name = sign_name
        self.codes = dict(codes)
        self.timeout_s = timeout_s
        self.endpoint = host
        self.account = secret_id
        self._secrets = (secret_key,)
        http = HttpProfile(
            protocol=protocol, endpoint=host, reqTimeout=max(1, round(timeout_s)), keepAlive=True
        )
        self._client = SmsClient(
            credential.Credential(secret_id, secret_key),
            region,
            ClientProfile(httpProfile=http, disable_region_breaker=True),
        )

    @classmethod
    def from_settings(cls, settings: Settings, codes: Mapping[str, str]) -> TencentGateway:
        key = settings.tencentcloud_secret_key
        if not (
            settings.tencentcloud_secret_id
            and key
            and settings.tencent_sms_app_id
            and settings.tencent_sms_sign_name
        ):
            raise SettingsError(
                "NUANLIU_SMS_GATEWAY=tencent needs TENCENTCLOUD_SECRET_ID, "
                "TENCENTCLOUD_SECRET_KEY, TENCENT_SMS_APP_ID and TENCENT_SMS_SIGN_NAME"
            )
        return cls(
            secret_id=settings.tencentcloud_secret_id,
            secret_key=key.get_secret_value(),
            app_id=settings.tencent_sms_app_id,
            sign_name=settings.tencent_sms_sign_name,
            codes=codes,
            endpoint=settings.tencent_sms_endpoint,
            region=settings.tencent_sms_region,
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
        if code is None or template_id is None:
            return SendResult(None, "failed", f"no tencent template code for {template_id!r}")
        kind, _ = split_id(template_id)
        values = params or {}
        request = sms_models.SendSmsRequest()
        request.PhoneNumberSet = [to]
        request.SmsSdkAppId = self.app_id
        request.SignName = self.sign_name
        request.TemplateId = code
        # positional: {1} is the template's first variable, and so on
        request.TemplateParamSet = [str(values.get(v, "")) for v in get(kind).variables]
        try:
            answer = self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            return self._failure(exc)
        except Exception as exc:  # the SDK wraps its own; anything else: we cannot tell
            reason = scrub(f"{type(exc).__name__}: {exc}", self._secrets)[:300]
            return SendResult(None, "unknown", f"Tencent SDK error: {reason}", "sdk")
        statuses = answer.SendStatusSet or []
        if len(statuses) != 1:
            return SendResult(None, "unknown", "Tencent answered without a send status", "none")
        status = statuses[0]
        if status.Code == "Ok" and status.SerialNo:
            return SendResult(status.SerialNo, "sent")
        detail = f"{status.Code}: {status.Message or ''}".strip()[:300]
        if status.Code in RETRY_CODES:
            return SendResult(None, "retry", detail, status.Code)
        return SendResult(None, "failed", detail, status.Code or None)

    def _failure(self, exc: TencentCloudSDKException) -> SendResult:
        code = str(exc.get_code() or "")
        message = scrub(f"{code}: {exc.get_message()}", self._secrets)[:300]
        if code == "ClientNetworkError":
            if never_left(exc):
                return SendResult(None, "retry", f"cannot reach Tencent: {message}", "unreachable")
            log.warning("Tencent send ended without an answer; not resent")
            return SendResult(None, "unknown", f"no answer from Tencent: {message}", "timeout")
        if code == "ServerNetworkError":
            # an HTTP error status from whatever stands in front of the API: it may or may not
            # have passed the request on, so it is not tried again
            return SendResult(None, "unknown", message, code)
        if code in RETRY_CODES:
            return SendResult(None, "retry", message, code)
        if code in UNKNOWN_CODES:
            return SendResult(None, "unknown", message, code)
        return SendResult(None, "failed", message, code or None)
