"""The gateways against a real local HTTP server that answers like Twilio's Messages API."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from coordinator.config import Settings
from coordinator.sms.gateways import ConsoleGateway, TwilioGateway, make_gateway

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "secret-token"


class FakeTwilio(ThreadingHTTPServer):
    """Checks path, basic auth and form fields; `mode` picks the answer."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeTwilio

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.requests.append(
            {"path": self.path, "form": form, "ctype": self.headers.get("Content-Type")}
        )
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            self._answer(404, {"code": 20404, "message": "not found", "status": 404})
            return
        mode = self.server.mode
        if mode == "slow":
            time.sleep(0.5)
        if mode == "bad_number":
            self._answer(
                400,
                {
                    "code": 21211,
                    "message": "The 'To' number is not a valid phone number.",
                    "status": 400,
                },
            )
        elif mode == "5xx":
            self._answer(503, b"<html>busy</html>", "text/html")
        elif mode == "garbage":
            self._answer(201, b"not json", "text/plain")
        else:
            self._answer(
                201,
                {
                    "sid": "SM" + "a" * 32,
                    "status": "queued",
                    "to": form["To"],
                    "body": form["Body"],
                    "num_segments": "1",
                },
            )


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def gateway(fake: FakeTwilio, *, token: str = TOKEN, timeout_s: float = 5.0) -> TwilioGateway:
    return TwilioGateway(
        account_sid=SID,
        auth_token=token,
        from_number="+15005550006",
        api_base=fake.base,
        status_callback="https://nuanliu.example/webhooks/sms/twilio/status",
        timeout_s=timeout_s,
    )


def test_send_posts_form_with_basic_auth(fake: FakeTwilio) -> None:
    result = gateway(fake).send("+8613800138000", "【暖流】测试 1")
    assert (result.provider_sid, result.status, result.error) == ("SM" + "a" * 32, "sent", None)
    [request] = fake.requests
    assert request["ctype"] == "application/x-www-form-urlencoded"
    assert request["form"] == {
        "To": "+8613800138000",
        "From": "+15005550006",
        "Body": "【暖流】测试 1",
        "StatusCallback": "https://nuanliu.example/webhooks/sms/twilio/status",
    }


def test_wrong_credentials_fail_with_the_providers_message(fake: FakeTwilio) -> None:
    result = gateway(fake, token="wrong").send("+8613800138000", "x")
    assert result.status == "failed" and result.provider_sid is None
    assert "401" in (result.error or "") and "Authenticate" in (result.error or "")


def test_4xx_fails_with_the_providers_message(fake: FakeTwilio) -> None:
    fake.mode = "bad_number"
    result = gateway(fake).send("+8613800138000", "x")
    assert result.status == "failed"
    assert "21211" in (result.error or "") and "not a valid phone number" in (result.error or "")


def test_5xx_fails(fake: FakeTwilio) -> None:
    fake.mode = "5xx"
    result = gateway(fake).send("+8613800138000", "x")
    assert result.status == "failed" and "503" in (result.error or "")


def test_answer_without_sid_is_unknown_not_sent(fake: FakeTwilio) -> None:
    fake.mode = "garbage"
    assert gateway(fake).send("+8613800138000", "x").status == "unknown"


def test_read_timeout_is_unknown_because_it_may_have_gone_out(fake: FakeTwilio) -> None:
    fake.mode = "slow"
    result = gateway(fake, timeout_s=0.1).send("+8613800138000", "x")
    assert result.status == "unknown" and "timeout" in (result.error or "")


def test_unreachable_provider_fails() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = TwilioGateway(
        account_sid=SID, auth_token=TOKEN, from_number="+1500", api_base=f"http://127.0.0.1:{port}"
    )
    assert gw.send("+8613800138000", "x").status == "failed"


def test_console_gateway_never_claims_delivery() -> None:
    gw = ConsoleGateway()
    result = gw.send("+8613800138000", "hi", template_id="help.zh", params={})
    assert result.status == "sent" and gw.name == "console"


def test_console_gateway_logs_the_number_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ConsoleGateway().send("+8613812345678", "【暖流】回复1接受")
    assert "+8613812345678" not in caplog.text and "13812345678" not in caplog.text
    assert "+86 138****5678" in caplog.text and "【暖流】回复1接受" in caplog.text


def test_console_gateway_records_the_full_number_in_its_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The record file is the simulated phones' inbox: one JSON line per message, the full
    number and text, appended across gateways (processes) and restarts."""
    caplog.set_level(logging.DEBUG)
    inbox = tmp_path / "sms" / "console.jsonl"  # its folder is made
    first = ConsoleGateway(inbox).send("+8613812345678", "第一条\n两行")
    ConsoleGateway(inbox).send("+8613987654321", 'say "1"')
    lines = inbox.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["to"], e["body"]) for e in entries] == [
        ("+8613812345678", "第一条\n两行"),
        ("+8613987654321", 'say "1"'),
    ]
    assert entries[0]["sid"] == first.provider_sid and entries[0]["at"].endswith("+00:00")
    assert "+8613812345678" not in caplog.text


def test_console_gateway_records_from_many_threads_in_whole_lines(tmp_path: Path) -> None:
    inbox = tmp_path / "console.jsonl"
    gw = ConsoleGateway(inbox)
    body = "长" * 500  # 1.5 KB a line

    def send(i: int) -> None:
        for j in range(50):
            gw.send(f"+86139{i:04d}{j:04d}", body)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = [json.loads(line) for line in inbox.read_text(encoding="utf-8").splitlines()]
    assert len({e["to"] for e in entries}) == 400 and all(e["body"] == body for e in entries)


def test_make_gateway_from_settings(tmp_path: Any) -> None:
    console = make_gateway(Settings(NUANLIU_DATA_DIR=tmp_path))
    assert isinstance(console, ConsoleGateway) and console.record is None
    inbox = tmp_path / "inbox.jsonl"
    recording = make_gateway(Settings(NUANLIU_DATA_DIR=tmp_path, NUANLIU_CONSOLE_SMS_FILE=inbox))
    assert isinstance(recording, ConsoleGateway) and recording.record == inbox
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        make_gateway(Settings(NUANLIU_SMS_GATEWAY="twilio", NUANLIU_DATA_DIR=tmp_path))
    gw = make_gateway(
        Settings(
            NUANLIU_SMS_GATEWAY="twilio",
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_FROM="+15005550006",
            TWILIO_API_BASE="http://127.0.0.1:9/",
            NUANLIU_PUBLIC_URL="https://n.example/",
        )
    )
    assert isinstance(gw, TwilioGateway)
    assert gw.url == f"http://127.0.0.1:9/2010-04-01/Accounts/{SID}/Messages.json"
    assert gw.status_callback == "https://n.example/webhooks/sms/twilio/status"


def test_sender_through_the_twilio_gateway(fake: FakeTwilio, engine: Any) -> None:
    from sqlmodel import Session, select

    from coordinator.sms.models import SmsMessage
    from coordinator.sms.sender import Sender
    from coordinator.sms.service import queue_template

    with Session(engine) as s:
        queue_template(session=s, phone="+8613800138000", template="help")
        queue_template(session=s, phone="+8613900139000", template="help", lang="en")
        s.commit()
    fake.mode = "ok"
    sender = Sender(engine, gateway(fake), batch_size=1)
    assert sender.run_once() == 1
    fake.mode = "bad_number"
    assert sender.run_once() == 1
    with Session(engine) as s:
        ok, bad = s.exec(select(SmsMessage).order_by(SmsMessage.id)).all()
    assert (ok.status, ok.provider_sid, ok.gateway) == ("sent", "SM" + "a" * 32, "twilio")
    assert bad.status == "failed" and "21211" in (bad.error or "")
    assert [r["form"]["To"] for r in fake.requests] == ["+8613800138000", "+8613900139000"]


def test_the_cluster_reads_what_the_phones_received_from_the_record(tmp_path: Path) -> None:
    """`bench.cluster.Cluster` gives its processes a record file and reads the texts from it:
    each text once from `new_texts`, a line still being written on the next call."""
    from bench.cluster import Cluster

    cluster = Cluster({"PATH": "/usr/bin"}, tmp_path)
    inbox = Path(cluster.env["NUANLIU_CONSOLE_SMS_FILE"])
    assert inbox.parent == tmp_path and cluster.new_texts() == []
    gw = ConsoleGateway(inbox)
    gw.send("+8613812345678", "回复1接受（编号A7K）")
    gw.send("+8613987654321", "two")
    assert cluster.new_texts() == [
        ("+8613812345678", "回复1接受（编号A7K）"),
        ("+8613987654321", "two"),
    ]
    with inbox.open("a", encoding="utf-8") as f:
        f.write('{"to": "+8613700000000", "bo')
    assert cluster.new_texts() == []
    with inbox.open("a", encoding="utf-8") as f:
        f.write('dy": "late", "at": "", "sid": ""}\n')
    assert cluster.new_texts() == [("+8613700000000", "late")]
    assert [to for to, _ in cluster.all_texts()] == [
        "+8613812345678",
        "+8613987654321",
        "+8613700000000",
    ]
    given = Cluster({"NUANLIU_CONSOLE_SMS_FILE": str(tmp_path / "elsewhere.jsonl")}, tmp_path)
    assert given.inbox == tmp_path / "elsewhere.jsonl"
