"""The Tencent Cloud gateway through the official SDK against a loopback stand-in that
recomputes the TC3-HMAC-SHA256 signature and checks SendSms (2021-01-11) as documented."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.standins import (
    SIGN_NAME,
    TENCENT_APP_ID,
    TENCENT_SECRET,
    TENCENT_SECRET_ID,
    TencentStandIn,
    approved_codes,
    approved_variables,
    codes_toml,
    serving,
)
from coordinator.config import Settings, SettingsError
from coordinator.sms.gateways import make_gateway
from coordinator.sms.models import SmsMessage
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_template
from coordinator.sms.templates import TEMPLATES, values
from coordinator.sms.tencent import TencentGateway

CODES = approved_codes("tencent")


@pytest.fixture
def tencent() -> Iterator[TencentStandIn]:
    with serving(TencentStandIn(approved_variables("tencent"))) as server:
        yield server  # type: ignore[misc]


def gateway(
    server: TencentStandIn, *, secret: str = TENCENT_SECRET, timeout_s: float = 5.0
) -> TencentGateway:
    return TencentGateway(
        secret_id=TENCENT_SECRET_ID,
        secret_key=secret,
        app_id=TENCENT_APP_ID,
        sign_name=SIGN_NAME,
        codes=CODES,
        endpoint=server.endpoint,
        timeout_s=timeout_s,
    )


def test_send_sms_is_signed_and_carries_the_template(tencent: TencentStandIn) -> None:
    params = values("offer", "zh", **TEMPLATES["offer"].example)
    result = gateway(tencent).send("+8613812345678", "x", template_id="offer", params=params)
    assert result.status == "sent" and result.provider_sid, result
    assert tencent.refusals == []
    [request] = tencent.requests
    assert request["headers"]["x-tc-action"] == "SendSms"
    assert request["headers"]["x-tc-version"] == "2021-01-11"
    assert request["headers"]["authorization"].startswith("TC3-HMAC-SHA256 Credential=")
    body = request["params"]
    assert body["SmsSdkAppId"] == TENCENT_APP_ID and body["SignName"] == "暖流"
    assert body["TemplateId"] == CODES["offer"]
    assert body["PhoneNumberSet"] == ["+8613812345678"]
    # positional, in the template's order: {1} task, {2} place, …
    assert body["TemplateParamSet"] == [params[v] for v in TEMPLATES["offer"].variables]
    assert tencent.accepted[0]["serial"] == result.provider_sid


def test_every_template_is_accepted_with_its_variables(tencent: TencentStandIn) -> None:
    gw = gateway(tencent)
    for kind, template in TEMPLATES.items():
        for lang in ("zh", "en"):
            tid = kind if lang == "zh" else f"{kind}.en"
            params = values(kind, lang, **template.example_in(lang))
            result = gw.send("+8613812345678", "x", template_id=tid, params=params)
            assert result.status == "sent", (tid, result)


def test_a_wrong_secret_is_refused_by_the_signature_check(
    tencent: TencentStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret-at-all-9876543210"
    result = gateway(tencent, secret=wrong).send(
        "+8613812345678", "x", template_id="help", params={}
    )
    assert (result.status, result.code) == ("failed", "AuthFailure.SignatureFailure")
    assert tencent.accepted == []
    assert wrong not in (result.error or "") and wrong not in caplog.text


def test_throttling_and_transient_errors_are_retry(tencent: TencentStandIn) -> None:
    tencent.mode = "throttle"
    result = gateway(tencent).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "RequestLimitExceeded")
    tencent.mode = "system_error"
    result = gateway(tencent).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "InternalError.SendAndRecvFail")
    assert tencent.accepted == []


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("bad_number", "InvalidParameterValue.IncorrectPhoneNumber"),
        ("not_approved", "FailedOperation.TemplateIncorrectOrUnapproved"),
        ("balance", "FailedOperation.InsufficientBalanceInSmsPackage"),
    ],
)
def test_permanent_errors_fail_with_the_providers_code(
    tencent: TencentStandIn, mode: str, code: str
) -> None:
    tencent.mode = mode
    result = gateway(tencent).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("failed", code)


def test_params_not_matching_the_approved_template_are_refused(tencent: TencentStandIn) -> None:
    gw = gateway(tencent)
    gw.codes = {**CODES, "expired": CODES["help"]}  # the code of a template without variables
    result = gw.send("+8613812345678", "x", template_id="expired", params={"task": "x"})
    assert (result.status, result.code) == (
        "failed",
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
    )


def test_no_answer_in_time_is_unknown(tencent: TencentStandIn) -> None:
    tencent.mode = "slow"
    result = gateway(tencent, timeout_s=1.0).send(
        "+8613812345678", "x", template_id="help", params={}
    )
    assert result.status == "unknown"


def test_an_unreachable_provider_is_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = TencentGateway(
        secret_id=TENCENT_SECRET_ID,
        secret_key=TENCENT_SECRET,
        app_id=TENCENT_APP_ID,
        sign_name=SIGN_NAME,
        codes=CODES,
        endpoint=f"127.0.0.1:{port}",
        timeout_s=1.0,
    )
    result = gw.send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "unreachable")
    assert TENCENT_SECRET not in (result.error or "")


def test_free_text_is_never_sent(tencent: TencentStandIn) -> None:
    assert gateway(tencent).send("+8613812345678", "free text").status == "failed"
    assert tencent.requests == []


def test_the_sender_through_tencent(tencent: TencentStandIn, engine: Engine) -> None:
    with Session(engine) as s:
        queue_template(session=s, phone="+8613812345678", template="expired", task="路面除冰")
        s.commit()
    Sender(engine, gateway(tencent), batch_size=1).run_once()
    with Session(engine) as s:
        [row] = s.exec(select(SmsMessage)).all()
    assert (row.status, row.gateway) == ("sent", "tencent")
    assert row.provider_sid == tencent.accepted[0]["serial"]
    assert tencent.accepted[0]["params"] == ["路面除冰"]


def test_make_gateway_needs_every_setting_and_code(tmp_path: Path, tencent: TencentStandIn) -> None:
    path = tmp_path / "codes.toml"
    path.write_text(codes_toml({"tencent": CODES}), encoding="utf-8")
    env = {
        "NUANLIU_DATA_DIR": str(tmp_path),
        "NUANLIU_SMS_GATEWAY": "tencent",
        "NUANLIU_SMS_TEMPLATES": str(path),
        "TENCENT_SMS_ENDPOINT": tencent.endpoint,
    }
    with pytest.raises(SettingsError, match="TENCENTCLOUD_SECRET_ID"):
        make_gateway(Settings(**env))  # type: ignore[arg-type]
    full = {
        **env,
        "TENCENTCLOUD_SECRET_ID": TENCENT_SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": TENCENT_SECRET,
        "TENCENT_SMS_APP_ID": TENCENT_APP_ID,
        "TENCENT_SMS_SIGN_NAME": SIGN_NAME,
    }
    gw = make_gateway(Settings(**full))  # type: ignore[arg-type]
    assert isinstance(gw, TencentGateway)
    assert gw.send("+8613812345678", "x", template_id="help", params={}).status == "sent"
    path.write_text(codes_toml({"aliyun": approved_codes("aliyun")}), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"no tencent template code for offer, offer\.en"):
        make_gateway(Settings(**full))  # type: ignore[arg-type]
