"""The sender: delivery after commit, at most once, honest states after failures and crashes."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.sms.gateways import ConsoleGateway, SendResult
from coordinator.sms.models import SmsMessage
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_outbound
from events.outbox import OutboxEvent
from tests.conftest import wait_for


class Recording:
    """A gateway that records every call and answers with `status`."""

    name = "test"

    def __init__(self, status: str = "sent", error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.calls: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def send(
        self,
        to: str,
        body: str,
        *,
        template_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SendResult:
        with self.lock:
            self.calls.append((to, body, template_id))
        if self.status == "raise":
            raise RuntimeError("boom")
        return SendResult(f"P{len(self.calls)}", self.status, self.error)


def queue(engine: Engine, n: int = 1, **kw: Any) -> list[int]:
    with Session(engine) as s:
        queued = [
            queue_outbound(session=s, phone="+8613800138000", body=f"msg {i}", **kw)
            for i in range(n)
        ]
        s.commit()
        ids = [row.id for row in queued]
    return [i for i in ids if i is not None]


def rows(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as s:
        return list(s.exec(select(SmsMessage).order_by(SmsMessage.id)).all())


def events(engine: Engine) -> list[OutboxEvent]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEvent).order_by(OutboxEvent.id)).all())


def test_sends_each_queued_message_once_and_stages_sms_sent(engine: Engine) -> None:
    queue(engine, 3, kind="offer", volunteer_id=None, assignment_id=7)
    gateway = Recording()
    sender = Sender(engine, gateway)
    assert sender.run_once() == 3
    assert sender.run_once() == 0
    assert [c[1] for c in gateway.calls] == ["msg 0", "msg 1", "msg 2"]
    stored = rows(engine)
    assert {r.status for r in stored} == {"sent"}
    assert all(r.sent_at is not None and r.gateway == "test" for r in stored)
    assert [r.provider_sid for r in stored] == ["P1", "P2", "P3"]
    sent = [json.loads(e.data) for e in events(engine) if e.type == "nuanliu.sms.sent"]
    assert [e["message_id"] for e in sent] == [r.id for r in stored]
    assert sent[0]["assignment_id"] == 7 and sent[0]["segments"] == 1


def test_console_gateway_marks_sent_never_delivered(engine: Engine) -> None:
    queue(engine)
    Sender(engine, ConsoleGateway()).run_once()
    [row] = rows(engine)
    assert (row.status, row.gateway) == ("sent", "console")


def test_provider_refusal_is_failed_with_reason_and_event(engine: Engine) -> None:
    queue(engine)
    Sender(engine, Recording("failed", "HTTP 400 (code 21211): bad To")).run_once()
    [row] = rows(engine)
    assert row.status == "failed" and row.error == "HTTP 400 (code 21211): bad To"
    [event] = events(engine)
    assert event.type == "nuanliu.sms.failed"
    assert json.loads(event.data)["error"] == "HTTP 400 (code 21211): bad To"


def test_gateway_exception_or_timeout_is_unknown_and_not_retried(engine: Engine) -> None:
    queue(engine, 2)
    gateway = Recording("raise")
    sender = Sender(engine, gateway)
    sender.run_once()
    gateway.status = "unknown"
    assert sender.run_once() == 0
    assert [r.status for r in rows(engine)] == ["unknown", "unknown"]
    assert len(gateway.calls) == 2
    assert events(engine) == []


def test_crash_after_claim_never_resends(engine: Engine) -> None:
    queue(engine, 2)
    crashed = Sender(engine, Recording())
    assert len(crashed.claim()) == 2  # ... and the process dies before calling the gateway
    gateway = Recording()
    restarted = Sender(engine, gateway, stale_after_s=3600)
    assert restarted.mark_stuck_unknown() == 0  # a live sender may still be working on them
    assert restarted.run_once() == 0
    restarted.stale_after_s = 0
    assert restarted.mark_stuck_unknown() == 2
    assert restarted.run_once() == 0
    assert gateway.calls == []
    assert all(r.status == "unknown" and r.error for r in rows(engine))


def test_rolled_back_message_is_never_sent(engine: Engine) -> None:
    with Session(engine) as s:
        queue_outbound(session=s, phone="+8613800138000", body="never")
        s.rollback()
    gateway = Recording()
    Sender(engine, gateway).run_once()
    assert gateway.calls == []


def test_template_and_params_reach_the_gateway(engine: Engine) -> None:
    from coordinator.sms.service import queue_template

    with Session(engine) as s:
        queue_template(session=s, phone="+8613800138000", template="expired", task="除冰")
        s.commit()
    gateway = Recording()
    Sender(engine, gateway).run_once()
    assert gateway.calls[0][2] == "expired"


def test_background_thread_wakes_after_commit(engine: Engine) -> None:
    gateway = Recording()
    sender = Sender(engine, gateway, idle_s=30).start()  # only a wake can explain quick delivery
    try:
        wait_for(lambda: sender._thread is not None)
        queue(engine)
        wait_for(lambda: [r.status for r in rows(engine)] == ["sent"], timeout=5)
    finally:
        sender.stop()


def test_concurrent_senders_send_each_message_exactly_once(
    engine: Engine, on_postgres: None
) -> None:
    ids = queue(engine, 300)
    gateway = Recording()
    senders = [Sender(engine, gateway, batch_size=7) for _ in range(4)]
    barrier = threading.Barrier(len(senders))

    def drain(sender: Sender) -> None:
        barrier.wait()
        while sender.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    counts = Counter(body for _, body, _ in gateway.calls)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert sum(s.handled for s in senders) == 300
    assert sum(1 for s in senders if s.handled) > 1  # they really shared the queue
    assert {r.status for r in rows(engine)} == {"sent"} and len(ids) == 300


def test_runtime_with_notify_runs_the_sender(make_runtime: Any, engine: Engine) -> None:
    gateway = Recording()
    rt = make_runtime(consumers=("notify",), sms_gateway=gateway)
    assert rt.services.sms_gateway is gateway
    queue(engine)
    wait_for(lambda: [r.status for r in rows(engine)] == ["sent"], timeout=10)
    rt.stop()
    assert rt._sms_sender is None


def test_runtime_defaults_to_the_console_gateway(make_runtime: Any) -> None:
    rt = make_runtime(consumers=("notify",))
    assert isinstance(rt.services.sms_gateway, ConsoleGateway)


def test_stale_threshold_covers_a_slow_providers_batch(engine: Engine) -> None:
    class Slow(Recording):
        timeout_s = 10.0

    assert Sender(engine, Recording(), batch_size=100).stale_after_s == 200.0
    assert Sender(engine, Slow(), batch_size=10).stale_after_s == 200.0
    assert Sender(engine, Slow(), batch_size=2).stale_after_s == 120.0
    assert Sender(engine, Slow(), stale_after_s=5).stale_after_s == 5
