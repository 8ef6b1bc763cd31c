"""The event spine through the real broker and database: outbox → relay → consumer, exactly
once, dead letters, crashes, and a paused broker."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka import KafkaConsumer
from sqlalchemy import func
from sqlmodel import Session, select

from consumers.models import DeadLetter, ProcessedEvent
from consumers.registry import Context, Handlers
from consumers.runner import DLQ_REASON_HEADER, ConsumerRunner
from coordinator.accounts.models import AuditLog
from coordinator.accounts.service import record_audit
from events.bus import make_producer
from events.envelope import Envelope, encode
from events.outbox import OutboxEvent, Relay, stage
from events.payloads.incidents import IncidentClosed
from events.topics import Topic, topic_name
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def _effects(engine: Any, subject: str | None = None) -> int:
    with Session(engine) as s:
        q = select(func.count()).select_from(AuditLog).where(AuditLog.action == "test.applied")
        if subject is not None:
            q = q.where(AuditLog.subject == subject)
        return int(s.exec(q).one())


def _test_handlers(crash_first: threading.Event | None = None) -> Handlers:
    handlers = Handlers("spine")

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        record_audit(
            session=ctx.session,
            actor="test",
            action="test.applied",
            subject=str(event.incident_id),
            event_id=ctx.envelope.id,
        )
        if crash_first is not None and not crash_first.is_set():
            crash_first.set()
            raise KeyboardInterrupt("simulated crash inside the transaction")

    return handlers


def _stage(engine: Any, incident_id: int) -> str:
    with Session(engine) as s:
        row = stage(s, IncidentClosed(incident_id=incident_id, reason="test"))
        s.commit()
        return row.event_id


def _runner(engine: Any, make_runtime: Any, handlers: Handlers) -> ConsumerRunner:
    rt = make_runtime(relay=True)
    return ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)


def test_outbox_event_reaches_consumer_once_and_redelivery_changes_nothing(engine, make_runtime):
    runner = _runner(engine, make_runtime, _test_handlers())
    event_id = _stage(engine, 1)
    wait_for(lambda: runner.poll_once(timeout_ms=300) or _effects(engine, "1"))
    assert _effects(engine, "1") == 1
    # Deliver the very same event again, as a broker redelivery would.
    rt_config = runner.config
    producer = make_producer(rt_config.bootstrap)
    with Session(engine) as s:
        row = s.exec(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).one()
        assert row.published_at is not None
        key, value, headers = encode(row.envelope())
    producer.send(
        topic_name(Topic.INCIDENTS, rt_config.prefix), key=key, value=value, headers=headers
    ).get(10)
    producer.close()
    wait_for(lambda: runner.poll_once(timeout_ms=300) == 0 and _processed_dup(engine))
    assert _effects(engine, "1") == 1
    runner.close()


def _processed_dup(engine: Any) -> bool:
    from events.metrics import EVENTS_CONSUMED

    return EVENTS_CONSUMED.labels("spine", "duplicate")._value.get() >= 1


def test_crash_after_transaction_before_offset_commit_does_not_apply_twice(engine, make_runtime):
    handlers = _test_handlers()
    first = _runner(engine, make_runtime, handlers)
    _stage(engine, 2)
    # Apply the event but "crash" before committing the offset: close without committing.
    wait_for(lambda: first.poll_once(timeout_ms=300, commit=False) or _effects(engine, "2"))
    first.close()
    second = ConsumerRunner(handlers, engine, first.config, services=first.services)
    # The restarted member is handed the same, uncommitted record; it must change nothing.
    seen = wait_for(lambda: second.poll_once(timeout_ms=300), timeout=30)
    assert seen >= 1
    assert _effects(engine, "2") == 1
    second.close()


def test_crash_before_transaction_commits_applies_exactly_once(engine, make_runtime):
    crashed = threading.Event()
    handlers = _test_handlers(crash_first=crashed)
    first = _runner(engine, make_runtime, handlers)
    _stage(engine, 3)
    with pytest.raises(KeyboardInterrupt):
        wait_for(lambda: first.poll_once(timeout_ms=300), timeout=30)
    assert crashed.is_set() and _effects(engine, "3") == 0  # rolled back
    first.close()
    second = ConsumerRunner(handlers, engine, first.config, services=first.services)
    wait_for(lambda: second.poll_once(timeout_ms=300) or _effects(engine, "3"), timeout=30)
    assert _effects(engine, "3") == 1
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(ProcessedEvent)).one() == 1
    second.close()


def _raw_send(config: Any, topic: Topic, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = make_producer(config.bootstrap, enable_idempotence=False, max_request_size=4_000_000)
    producer.send(topic_name(topic, config.prefix), value=value, headers=headers).get(10)
    producer.close()


def test_bad_records_go_to_the_dead_letter_topic_with_a_reason(engine, make_runtime):
    runner = _runner(engine, make_runtime, _test_handlers())
    config = runner.config
    good = Envelope.wrap(IncidentClosed(incident_id=9, reason="ok"))
    _, good_value, good_headers = encode(good)
    wrong_type = [(k, b"com.example.other" if k == "ce_type" else v) for k, v in good_headers]
    invalid_headers = list(good_headers)
    _raw_send(config, Topic.INCIDENTS, b"\xff\xfe garbage", [])
    _raw_send(config, Topic.INCIDENTS, good_value, wrong_type)
    _raw_send(config, Topic.INCIDENTS, b'{"incident_id": "not a number"}', invalid_headers)
    _raw_send(config, Topic.INCIDENTS, b'{"pad": "' + b"x" * 400_000 + b'"}', good_headers)
    # a type this consumer has no handler for is skipped on its header, unread: the consumer
    # that handles incident.opened is the one to judge (and dead-letter) its body
    opened = [(k, b"nuanliu.incident.opened" if k == "ce_type" else v) for k, v in good_headers]
    _raw_send(config, Topic.INCIDENTS, b"\xff\xfe not for us", opened)
    # ...and the consumer keeps going: a good event after them is applied.
    _stage(engine, 9)

    def settled() -> bool:
        runner.poll_once(timeout_ms=300)
        return _effects(engine, "9") == 1

    wait_for(settled, timeout=30)
    with Session(engine) as s:
        reasons = [d.reason for d in s.exec(select(DeadLetter).order_by(DeadLetter.id)).all()]
    # unkeyed records land on any partition, so their order is not defined
    expected = [
        "missing CloudEvents header",
        "unknown event type 'com.example.other'",
        "invalid nuanliu.incident.closed payload: incident_id",
        "exceeds the",
    ]
    assert len(reasons) == 4
    for fragment in expected:
        assert sum(fragment in r for r in reasons) == 1, (fragment, reasons)

    dlq = KafkaConsumer(
        topic_name(Topic.DLQ, config.prefix),
        bootstrap_servers=config.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        group_id=None,
    )
    got = [dict(r.headers)[DLQ_REASON_HEADER].decode() for r in dlq]
    dlq.close()
    assert sorted(got) == sorted(reasons)
    runner.close()


def test_paused_broker_keeps_writes_in_the_outbox_until_it_returns(engine, settings, broker):
    """SIGSTOP a broker of our own: writes still commit, the outbox grows, then drains."""
    del broker  # the shared broker must not be paused: other tests use it
    from events.embedded import EmbeddedBroker

    own = EmbeddedBroker().start()
    relay = Relay(engine, own.bootstrap, settings.topic_prefix, idle_s=0.05)
    from events.bus import ensure_topics
    from events.topics import all_topic_names

    ensure_topics(own.bootstrap, all_topic_names(settings.topic_prefix))
    relay.start()
    try:
        _stage(engine, 100)
        wait_for(lambda: relay.published >= 1)
        own.pause()
        for i in range(101, 111):
            _stage(engine, i)  # the "API" keeps accepting writes
        with Session(engine) as s:
            from events.outbox import pending_count

            assert pending_count(s) == 10
        own.resume()
        wait_for(lambda: relay.published >= 11, timeout=60)
        consumer = KafkaConsumer(
            topic_name(Topic.INCIDENTS, settings.topic_prefix),
            bootstrap_servers=own.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
            group_id=None,
        )
        ids = {Envelope_id(r) for r in consumer}
        consumer.close()
        with Session(engine) as s:
            expected = {r.event_id for r in s.exec(select(OutboxEvent)).all()}
        assert expected <= ids
    finally:
        relay.stop()
        own.stop()


def Envelope_id(record: Any) -> str:
    return dict(record.headers)["ce_id"].decode()


def test_audit_entries_written_by_a_handler_name_the_event(engine, make_runtime):
    handlers = Handlers("auditor")

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        record_audit(session=ctx.session, actor="system", action="test.audited")

    runner = _runner(engine, make_runtime, handlers)
    event_id = _stage(engine, 11)
    wait_for(lambda: runner.poll_once(timeout_ms=300) or _audited(engine))
    assert _audited(engine) == event_id
    runner.close()


def _audited(engine: Any) -> str | None:
    with Session(engine) as s:
        row = s.exec(select(AuditLog).where(AuditLog.action == "test.audited")).first()
        return row.event_id if row else None


def test_events_a_condition_refuses_are_skipped_with_no_transaction(engine, make_runtime):
    handlers = Handlers("spine-when")

    @handlers.on(IncidentClosed, when=lambda e: e.incident_id % 2 == 0)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        record_audit(
            session=ctx.session, actor="test", action="test.applied", subject=str(event.incident_id)
        )

    runner = _runner(engine, make_runtime, handlers)
    staged = {n: _stage(engine, n) for n in range(1, 7)}
    wait_for(lambda: [runner.poll_once(timeout_ms=300)] and _effects(engine) == 3)
    with Session(engine) as s:
        processed = set(
            s.exec(
                select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "spine-when")
            ).all()
        )
    assert processed == {staged[2], staged[4], staged[6]}
    assert [_effects(engine, str(n)) for n in range(1, 7)] == [0, 1, 0, 1, 0, 1]
    runner.close()


def test_prepare_reads_once_per_batch_and_each_handler_gets_it(engine, make_runtime):
    handlers = Handlers("spine-prepare")
    calls: list[list[int]] = []
    seen: dict[int, Any] = {}

    @handlers.prepare(IncidentClosed)
    def prepare(session: Any, events: list[IncidentClosed]) -> set[int]:
        calls.append(sorted(e.incident_id for e in events))
        return {e.incident_id for e in events}

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        seen[event.incident_id] = ctx.prepared

    runner = _runner(engine, make_runtime, handlers)
    with Session(engine) as s:
        for n in range(1, 6):
            stage(s, IncidentClosed(incident_id=n, reason="test"))
        s.commit()
    # the five as one batch, whatever the polls would have cut them into
    records = _all_on(runner.config, Topic.INCIDENTS, 5)
    runner.settle(records)
    assert calls == [[1, 2, 3, 4, 5]]  # read once, for the whole batch
    assert seen == {n: {1, 2, 3, 4, 5} for n in range(1, 6)}  # and handed to every handler
    runner.close()


def _all_on(config: Any, topic: Topic, count: int) -> list[Any]:
    """What the relay published on `topic`, from every partition, once there are `count`."""
    consumer = KafkaConsumer(
        topic_name(topic, config.prefix),
        bootstrap_servers=config.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    records: list[Any] = []

    def polled() -> bool:
        for batch in consumer.poll(timeout_ms=300).values():
            records.extend(batch)
        return len(records) >= count

    try:
        wait_for(polled, timeout=30)
    finally:
        consumer.close()
    return records
