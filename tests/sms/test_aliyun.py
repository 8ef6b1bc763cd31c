"""The Aliyun gateway through the official SDK against a loopback stand-in that recomputes the
ACS3-HMAC-SHA256 signature and checks the request as dysmsapi 2017-05-25 documents it."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.standins import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    SIGN_NAME,
    AliyunStandIn,
    approved_codes,
    approved_variables,
    codes_toml,
    serving,
)
from coordinator.config import Settings, SettingsError
from coordinator.sms.aliyun import AliyunGateway
from coordinator.sms.gateways import make_gateway
from coordinator.sms.models import SmsMessage
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_template
from coordinator.sms.templates import TEMPLATES, render, values

CODES = approved_codes("aliyun")


@pytest.fixture
def aliyun() -> Iterator[AliyunStandIn]:
    with serving(AliyunStandIn(approved_variables("aliyun"))) as server:
        yield server  # type: ignore[misc]


def gateway(server: AliyunStandIn, *, secret: str = ALIYUN_SECRET, **kw: object) -> AliyunGateway:
    return AliyunGateway(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=secret,
        sign_name=SIGN_NAME,
        codes=CODES,
        endpoint=server.endpoint,
        timeout_s=float(kw.pop("timeout_s", 5.0)),  # type: ignore[arg-type]
    )


def offer_params() -> dict[str, str]:
    return values("offer", "zh", **TEMPLATES["offer"].example)


def test_send_sms_is_signed_and_carries_the_template(aliyun: AliyunStandIn) -> None:
    result = gateway(aliyun).send(
        "+8613812345678",
        render("offer", **TEMPLATES["offer"].example),
        template_id="offer",
        params=offer_params(),
    )
    assert result.status == "sent" and result.provider_sid and "^" in result.provider_sid
    assert aliyun.refusals == []
    [request] = aliyun.requests
    assert request["action"] == "SendSms"
    assert request["headers"]["x-acs-version"] == "2017-05-25"
    assert request["headers"]["authorization"].startswith("ACS3-HMAC-SHA256 Credential=")
    assert request["query"]["SignName"] == "暖流"
    assert request["query"]["TemplateCode"] == CODES["offer"]
    assert json.loads(request["query"]["TemplateParam"]) == offer_params()
    [text] = aliyun.accepted
    assert text["phone"] == "13812345678"  # mainland numbers go without +86
    assert text["params"]["place"] == "云岩汽车客运站平安返乡服务站"


def test_every_template_is_accepted_with_its_variables(aliyun: AliyunStandIn) -> None:
    gw = gateway(aliyun)
    for kind, template in TEMPLATES.items():
        for lang in ("zh", "en"):
            tid = kind if lang == "zh" else f"{kind}.en"
            params = values(kind, lang, **template.example_in(lang))
            result = gw.send("+8613812345678", "x", template_id=tid, params=params)
            assert result.status == "sent", (tid, result)
    assert len(aliyun.accepted) == 2 * len(TEMPLATES)


def test_a_wrong_secret_is_refused_by_the_signature_check(
    aliyun: AliyunStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret-at-all-9876543210"
    result = gateway(aliyun, secret=wrong).send(
        "+8613812345678", "x", template_id="help", params={}
    )
    assert (result.status, result.code) == ("failed", "SignatureDoesNotMatch")
    assert aliyun.accepted == []
    assert wrong not in (result.error or "") and wrong not in caplog.text


def test_throttling_is_retry_and_nothing_went_out(aliyun: AliyunStandIn) -> None:
    aliyun.mode = "throttle"
    result = gateway(aliyun).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "Throttling.User")
    assert aliyun.accepted == []


def test_throttling_with_a_wait_says_how_long(aliyun: AliyunStandIn) -> None:
    """Aliyun may say when to come back (`x-acs-retry-after`, in milliseconds)."""
    aliyun.mode = "throttle"
    aliyun.extra_headers = {"x-acs-retry-after": "1500"}
    result = gateway(aliyun).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.retry_after) == ("retry", 1.5)


def test_a_system_error_is_retry(aliyun: AliyunStandIn) -> None:
    aliyun.mode = "system_error"
    result = gateway(aliyun).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "isp.SYSTEM_ERROR")


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("bad_number", "isv.MOBILE_NUMBER_ILLEGAL"),
        ("not_approved", "isv.SMS_TEMPLATE_ILLEGAL"),
        ("balance", "isv.AMOUNT_NOT_ENOUGH"),
    ],
)
def test_permanent_errors_fail_with_the_providers_code(
    aliyun: AliyunStandIn, mode: str, code: str
) -> None:
    aliyun.mode = mode
    result = gateway(aliyun).send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("failed", code)
    assert code in (result.error or "")


def test_a_template_without_a_code_or_free_text_is_never_sent(aliyun: AliyunStandIn) -> None:
    gw = gateway(aliyun)
    assert gw.send("+8613812345678", "free text").status == "failed"
    assert gw.send("+8613812345678", "x", template_id="nonsense").status == "failed"
    assert aliyun.requests == []


def test_a_variable_longer_than_aliyun_takes_is_refused(aliyun: AliyunStandIn) -> None:
    """Aliyun takes at most 35 characters per variable: every example fits (the test above),
    and a longer value is refused for good, never cut."""
    result = gateway(aliyun).send(
        "+8613812345678", "x", template_id="expired", params={"task": "长" * 36}
    )
    assert (result.status, result.code) == ("failed", "isv.PARAM_LENGTH_LIMIT")


def test_wrong_params_are_refused_by_the_provider(aliyun: AliyunStandIn) -> None:
    result = gateway(aliyun).send("+8613812345678", "x", template_id="offer", params={"task": "x"})
    assert (result.status, result.code) == ("failed", "isv.TEMPLATE_MISSING_PARAMETERS")


def test_no_answer_in_time_is_unknown(aliyun: AliyunStandIn) -> None:
    aliyun.mode = "slow"
    result = gateway(aliyun, timeout_s=0.3).send(
        "+8613812345678", "x", template_id="help", params={}
    )
    assert result.status == "unknown" and result.code == "timeout"


def test_an_unreachable_provider_is_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = AliyunGateway(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name=SIGN_NAME,
        codes=CODES,
        endpoint=f"127.0.0.1:{port}",
        timeout_s=1.0,
    )
    result = gw.send("+8613812345678", "x", template_id="help", params={})
    assert (result.status, result.code) == ("retry", "unreachable")
    assert ALIYUN_SECRET not in (result.error or "")


def test_send_batch_sms_one_request_for_many_numbers(aliyun: AliyunStandIn) -> None:
    texts = [
        ("+8613812345678", values("expired", "zh", task="路面除冰")),
        ("+8613987654321", values("expired", "zh", task="独居老人探访")),
    ]
    results = gateway(aliyun).send_batch(texts, template_id="expired")
    assert [r.status for r in results] == ["sent", "sent"]
    assert len({r.provider_sid for r in results}) == 2
    [request] = aliyun.requests
    assert request["action"] == "SendBatchSms"
    assert [t["params"]["task"] for t in aliyun.accepted] == ["路面除冰", "独居老人探访"]
    assert {t["phone"] for t in aliyun.accepted} == {"13812345678", "13987654321"}
    aliyun.mode = "throttle"
    assert {r.status for r in gateway(aliyun).send_batch(texts, template_id="expired")} == {"retry"}


def test_the_sender_through_aliyun(aliyun: AliyunStandIn, engine: Engine) -> None:
    with Session(engine) as s:
        queue_template(session=s, phone="+8613812345678", template="help")
        queue_template(session=s, phone="+8613987654321", template="help", lang="en")
        s.commit()
    sender = Sender(engine, gateway(aliyun), batch_size=1)
    assert sender.run_once() == 1
    aliyun.mode = "bad_number"
    assert sender.run_once() == 1
    with Session(engine) as s:
        ok, bad = s.exec(select(SmsMessage).order_by(SmsMessage.id)).all()
    assert (ok.status, ok.gateway) == ("sent", "aliyun") and ok.provider_sid
    assert bad.status == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in (bad.error or "")
    assert [t["code"] for t in aliyun.accepted] == [CODES["help"]]
    assert aliyun.requests[1]["query"]["TemplateCode"] == CODES["help.en"]


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings(
        NUANLIU_DATA_DIR=tmp_path,
        NUANLIU_SMS_GATEWAY="aliyun",
        ALIYUN_ACCESS_KEY_ID=ALIYUN_KEY_ID,
        ALIYUN_ACCESS_KEY_SECRET=ALIYUN_SECRET,
        ALIYUN_SMS_SIGN_NAME=SIGN_NAME,
        **env,  # type: ignore[arg-type]
    )


def test_make_gateway_needs_a_code_for_every_template(
    tmp_path: Path, aliyun: AliyunStandIn
) -> None:
    with pytest.raises(SettingsError, match="NUANLIU_SMS_TEMPLATES"):
        make_gateway(_settings(tmp_path, ALIYUN_SMS_ENDPOINT=aliyun.endpoint))
    partial = dict(CODES)
    del partial["reminder"]
    path = tmp_path / "codes.toml"
    path.write_text(codes_toml({"aliyun": partial}), encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        make_gateway(
            _settings(
                tmp_path, ALIYUN_SMS_ENDPOINT=aliyun.endpoint, NUANLIU_SMS_TEMPLATES=str(path)
            )
        )
    assert "no aliyun template code for reminder " in str(info.value)
    assert "\n" not in str(info.value)
    path.write_text(codes_toml({"aliyun": CODES}), encoding="utf-8")
    gw = make_gateway(
        _settings(tmp_path, ALIYUN_SMS_ENDPOINT=aliyun.endpoint, NUANLIU_SMS_TEMPLATES=str(path))
    )
    assert isinstance(gw, AliyunGateway) and gw.codes == CODES
    assert gw.send("+8613812345678", "x", template_id="help", params={}).status == "sent"


def test_settings_refuse_plain_http_to_a_real_host_and_missing_credentials(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="plain HTTP only to a loopback"):
        _settings(tmp_path, ALIYUN_SMS_ENDPOINT="http://dysmsapi.aliyuncs.com")
    path = tmp_path / "codes.toml"
    path.write_text(codes_toml({"aliyun": CODES}), encoding="utf-8")
    settings = Settings(
        NUANLIU_DATA_DIR=tmp_path, NUANLIU_SMS_GATEWAY="aliyun", NUANLIU_SMS_TEMPLATES=str(path)
    )
    with pytest.raises(SettingsError, match="ALIYUN_ACCESS_KEY_ID"):
        make_gateway(settings)
    assert ALIYUN_SECRET not in repr(_settings(tmp_path))
