"""With the broker paused (SIGSTOP), the API still accepts writes; after SIGCONT the outbox
drains and every event arrives. Also: stopping a consumer mid-event half-applies nothing."""

from __future__ import annotations

import os
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from consumers.models import ProcessedEvent
from consumers.registry import Context, Handlers
from consumers.runner import ConsumerRunner
from coordinator.accounts.models import AuditLog
from coordinator.accounts.service import record_audit
from events.embedded import EmbeddedBroker
from events.outbox import OutboxEvent, pending_count, stage
from events.payloads.incidents import IncidentClosed
from nuanliu.app import create_app
from nuanliu.runtime import Runtime
from tests.conftest import bearer, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def test_api_accepts_alerts_while_the_broker_is_paused_and_drains_after(
    settings, engine, demo, tokens
):
    own = EmbeddedBroker().start()
    rt = Runtime(settings, engine=engine, bootstrap=own.bootstrap, relay=True).start()
    try:
        with TestClient(create_app(runtime=rt)) as client:
            own.pause()
            started = time.monotonic()
            for i in range(3):
                r = client.post(
                    "/api/alerts",
                    json={
                        "kind": "ice_storm",
                        "level": "orange",
                        "districts": ["云岩区"],
                        "headline": f"贵阳市道路结冰橙色预警 {i}",
                    },
                    headers=bearer(tokens["dispatcher"]),
                )
                assert r.status_code == 202, r.text
            assert time.monotonic() - started < 10  # answered without waiting for the broker
            with Session(engine) as s:
                assert pending_count(s) >= 6  # alert.raised + incident.opened each
            own.resume()
            wait_for(lambda: _pending(engine) == 0, timeout=90)
            with Session(engine) as s:
                assert s.exec(select(func.count()).select_from(OutboxEvent)).one() >= 6
    finally:
        rt.stop()
        own.stop()


def _pending(engine) -> int:
    with Session(engine) as s:
        return pending_count(s)


def test_stopping_a_consumer_mid_event_finishes_it_and_applies_it_once(engine, make_runtime):
    rt = make_runtime(relay=True)
    inside = threading.Event()
    handlers = Handlers("slow")

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        inside.set()
        time.sleep(0.5)  # the stop request arrives while we are here
        record_audit(
            session=ctx.session, actor="test", action="slow.applied", subject=str(event.incident_id)
        )

    runner = ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)
    runner.start()
    with Session(engine) as s:
        stage(s, IncidentClosed(incident_id=7, reason="x"))
        s.commit()
    assert inside.wait(30)
    runner.stop()
    again = ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)
    again.start()
    time.sleep(3)  # give a redelivery every chance to happen
    again.stop()
    with Session(engine) as s:
        applied = s.exec(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "slow.applied")
        ).one()
        processed = s.exec(
            select(func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.consumer == "slow")
        ).one()
    assert applied == 1 and processed == 1


def _recording(consumer: str) -> tuple[Handlers, list[int]]:
    """A consumer that notes the ids of the incidents it sees closed, in order."""
    handlers = Handlers(consumer)
    seen: list[int] = []

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        seen.append(event.incident_id)

    return handlers, seen


def _close_incident(engine, incident_id: int, reason: str) -> None:
    with Session(engine) as s:
        stage(s, IncidentClosed(incident_id=incident_id, reason=reason))
        s.commit()


def test_a_consumer_stopped_while_it_joins_does_not_keep_the_next_one_out(engine, make_runtime):
    """A worker stopped before its group has formed (a runtime stopped right after it
    started, a restart at once) leaves cleanly: the next member of its group is assigned the
    partitions and gets the events. On the embedded broker a member that left mid-join was
    kept as the group's leader and nobody was assigned anything again (a board went blind
    after a restart)."""
    rt = make_runtime(relay=True)
    handlers, seen = _recording("hasty")
    first = ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)
    first.start()
    wait_for(lambda: first._consumer is not None, timeout=10)
    assert not first._consumer.assignment()  # the join is still in flight
    first.stop()
    second = ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)
    second.start()
    try:
        _close_incident(engine, 1, "after a hasty stop")
        wait_for(lambda: seen == [1], timeout=30)
    finally:
        second.stop()


def _thread_cpu_s(thread: threading.Thread | None) -> float:
    """CPU seconds (user + system) one thread has used, from /proc."""
    assert thread is not None and thread.native_id is not None
    with open(f"/proc/self/task/{thread.native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_consumer_rests_while_the_broker_stalls_and_catches_up_after(settings, engine):
    """A stalled broker (SIGSTOP: its connections stay open and nothing answers) can send
    kafka-python's poll into a loop that never waits (25-44 % of a core measured); the runner
    notices and rests between short polls, so a worker uses little CPU through the stall
    whether or not its poll spins (on a busy machine the poll often just times out). It
    applies what was staged meanwhile once the broker answers again, and polls as usual
    after that."""
    own = EmbeddedBroker().start()
    rt = Runtime(settings, engine=engine, bootstrap=own.bootstrap, relay=True).start()
    handlers, seen = _recording("patient")
    runner = ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)
    runner.start()
    try:
        _close_incident(engine, 1, "before")
        wait_for(lambda: seen == [1], timeout=60)
        assert runner.rests == 0  # a broker that answers is polled as usual
        own.pause()
        _close_incident(engine, 2, "during")
        time.sleep(2)  # into the stall
        cpu, started = _thread_cpu_s(runner._thread), time.monotonic()
        time.sleep(8)
        share = (_thread_cpu_s(runner._thread) - cpu) / (time.monotonic() - started)
        assert share < 0.10, f"the worker used {share:.0%} of a core while the broker stalled"
        own.resume()
        wait_for(lambda: seen == [1, 2], timeout=90)
        rested = runner.rests
        time.sleep(3)
        assert runner.rests == rested  # back to waiting quietly once the broker answers
    finally:
        runner.stop()
        rt.stop()
        own.stop()
