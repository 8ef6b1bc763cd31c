"""The one loop every consumer runs: poll, decode, dedupe, apply in a transaction, commit,
retry transient failures, dead-letter what can never be applied.

Effects happen exactly once although delivery is at least once: the handler's changes and the
`(consumer, event id)` row commit together, and the Kafka offset is committed only afterwards.
A crash between the two means a redelivery that finds the row and changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, select

from consumers.models import DeadLetter, ProcessedEvent
from consumers.registry import Context, Handlers
from coordinator.process import Services
from events.bus import close_consumer, make_consumer, make_producer
from events.context import current_event_id
from events.envelope import DecodeError, Envelope, decode
from events.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, HANDLER_SECONDS
from events.registry import payload_class
from events.topics import Topic, topic_name

log = logging.getLogger(__name__)

DLQ_REASON_HEADER = "nuanliu_dlq_reason"
#: Attempts for an error that is not known to be transient, before the event is dead-lettered.
MAX_HANDLER_ATTEMPTS = 3
#: Seconds between offset commits of a per-process group (nobody else reads them; a commit
#: per poll was a round trip per batch for nothing but a reconnect's starting point)
PER_PROCESS_COMMIT_S = 5.0
#: how long a poll waits for records
POLL_MS = 500
#: A poll that comes back empty having kept its thread busy for more than SPIN_SHARE of its
#: time spun (measured here: a waiting poll 1-3 %, one against a stalled broker 25-44 %):
#: kafka-python loops without waiting while the group coordinator does not answer (a broker
#: that stalls with its connections open, as a SIGSTOPped one does; kafka-python #2695). Five
#: workers spinning took 1.2 of two cores through a broker pause and the API's answers slowed
#: to seconds. Until a poll waits quietly again the runner polls briefly and rests between.
SPIN_SHARE = 0.15
SPIN_POLL_MS = 50
SPIN_REST_S = 1.0


@dataclass(frozen=True)
class RunnerConfig:
    bootstrap: str
    prefix: str
    session_timeout_ms: int = 6000
    heartbeat_ms: int = 1000
    max_event_bytes: int = 256 * 1024
    #: How long a fetch waits for data. The embedded broker does not answer a waiting fetch
    #: when data arrives, so this is the latency floor there; Apache Kafka answers at once.
    fetch_max_wait_ms: int = 100


class _Stopped(Exception):
    """Raised inside a retry loop when the runner is asked to stop: the record stays
    uncommitted and will be redelivered."""


@dataclass(frozen=True)
class _Prepared:
    """A decoded, validated record with the handler that will apply it."""

    record: Any
    envelope: Envelope
    handler: Any
    payload: Any


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class ConsumerRunner:
    """Runs one consumer (a handler table) as a member of its consumer group."""

    def __init__(
        self,
        handlers: Handlers,
        engine: Engine,
        config: RunnerConfig,
        *,
        services: Services,
        group_suffix: str = "",
    ) -> None:
        self.handlers = handlers
        self.name = handlers.consumer
        self.engine = engine
        self.config = config
        self.services = services
        self.group_id = f"{config.prefix}{self.name}{group_suffix}"
        self._consumer: Any = None
        self._producer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        #: polls that spun and were followed by a rest (see SPIN_SHARE)
        self.rests = 0
        self.ready = threading.Event()
        #: partitions held while nobody watches, and whether the watch was told (`_unwatched`)
        self._held: set[TopicPartition] = set()
        self._watch_paused = False
        #: a per-process group commits now and then, only so a reconnect does not re-read
        #: the whole log
        self._committed_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"consumer-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to stop after the event in hand, without waiting (see `stop`)."""
        self._stop.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the event in hand (or leave it uncommitted), commit, leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def close(self, *, commit: bool = True) -> None:
        self._held = set()  # a new consumer starts unpaused
        if self._consumer is not None:
            try:
                close_consumer(self._consumer, join_timeout_s=self.config.session_timeout_ms / 1000)
            except Exception:
                log.debug("consumer close failed", exc_info=True)
            self._consumer = None
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:
                log.debug("producer close failed", exc_info=True)
            self._producer = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        timeout_ms = POLL_MS
        while not self._stop.is_set():
            try:
                cpu, started = time.thread_time(), time.monotonic()
                settled = self.poll_once(timeout_ms)
                busy, took = time.thread_time() - cpu, time.monotonic() - started
                spun = not settled and took * 1000 >= timeout_ms and busy > SPIN_SHARE * took
                timeout_ms = SPIN_POLL_MS if spun else POLL_MS
                if spun:
                    self.rests += 1
                    self._stop.wait(SPIN_REST_S)
            except (KafkaError, OSError) as exc:
                log.warning("%s: broker error (%s); reconnecting", self.name, exc)
                self.close()
                self._stop.wait(1.0)
            except Exception:
                # Never let the thread die silently: drop the membership (the uncommitted
                # batch is redelivered to whoever owns the partition next) and start over.
                log.exception("%s: unexpected error; rejoining the group", self.name)
                self.close()
                self._stop.wait(2.0)

    # -- the loop body ---------------------------------------------------------------------
    def _kafka(self) -> Any:
        if self._consumer is None:
            topics = [topic_name(t, self.config.prefix) for t in self.handlers.topics]
            self._consumer = make_consumer(
                self.config.bootstrap,
                self.group_id,
                topics,
                session_timeout_ms=self.config.session_timeout_ms,
                heartbeat_interval_ms=self.config.heartbeat_ms,
                fetch_max_wait_ms=self.handlers.fetch_max_wait_ms or self.config.fetch_max_wait_ms,
            )
        return self._consumer

    def poll_once(self, timeout_ms: int = POLL_MS, *, commit: bool = True) -> int:
        """Poll one batch and settle each record; returns how many were settled.

        `commit=False` leaves offsets uncommitted, which is what a crash right after the
        database commit looks like to the group (tests use it)."""
        consumer = self._kafka()
        if self._unwatched(consumer, timeout_ms):
            return 0
        batch = consumer.poll(timeout_ms=timeout_ms)
        self.ready.set()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        prepared: list[_Prepared] = []
        settled = 0
        try:
            for tp, records in batch.items():
                for record in records:
                    if self._stop.is_set() and settled:
                        raise _Stopped
                    ready = self._prepare(record)
                    if isinstance(ready, _Prepared):
                        prepared.append(ready)
                    settled += 1
                    offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            self._apply_batch(prepared)
        except _Stopped:
            # leave everything of this poll uncommitted: it is redelivered and deduped
            return 0
        # Only a batch that settled completely is committed; any other exception (a crash)
        # propagates with the offsets uncommitted, so the group redelivers the batch.
        if commit and offsets and self._commit_due():
            try:
                consumer.commit(offsets)
            except CommitFailedError:
                # a rebalance took the partition; its new owner re-reads and dedupes
                log.info("%s: commit lost to a rebalance", self.name)
        return settled

    def _unwatched(self, consumer: Any, timeout_ms: int) -> bool:
        """For a consumer whose output only matters while watched (the board): while nobody
        watches, hold its partitions (the group membership and heartbeats go on, nothing is
        fetched or decoded) and return True; when someone watches again, move to the newest
        events before saying so, so a snapshot taken after `resumed()` misses nothing."""
        if self.handlers.watch is None:
            return False
        watch = self.handlers.watch(self.services)
        if watch.wanted():
            if self._watch_paused:
                held = self._held & consumer.assignment()
                if held:
                    consumer.seek_to_end(*held)
                    for tp in held:  # resolve the reset now, not at the next fetch
                        consumer.position(tp, timeout_ms=10_000)
                    consumer.resume(*held)
                self._held = set()
                self._watch_paused = False
                watch.resumed()
            return False
        assigned = consumer.assignment()
        if not assigned:
            return False  # not in the group yet: polling joins it
        if assigned - self._held:  # first time, or a rebalance gave us more
            consumer.pause(*assigned)
            self._held = set(assigned)
        if not self._watch_paused:
            self._watch_paused = True
            watch.paused()
        consumer.poll(timeout_ms=timeout_ms)  # heartbeats and rebalances; fetches nothing
        return True

    def _commit_due(self) -> bool:
        if not self.handlers.per_process:
            return True
        if time.monotonic() - self._committed_at < PER_PROCESS_COMMIT_S:
            return False
        self._committed_at = time.monotonic()
        return True

    def handle_record(self, record: Any) -> str:
        """Decode, validate and apply one record; returns the outcome."""
        ready = self._prepare(record)
        if isinstance(ready, str):
            return ready
        return self._apply(ready.record, ready.envelope, ready.handler, ready.payload)

    def _prepare(self, record: Any) -> _Prepared | str:
        """Decode and validate; returns what to apply, or the outcome if there is nothing to
        apply (skipped, dead-lettered)."""
        if self._not_ours(record):
            EVENTS_CONSUMED.labels(self.name, "skipped").inc()
            return "skipped"
        try:
            envelope = decode(
                record.key, record.value, record.headers, max_bytes=self.config.max_event_bytes
            )
        except DecodeError as exc:
            return self._dead_letter(record, exc.reason)
        cls = payload_class(envelope.type)
        if cls is None:
            return self._dead_letter(record, f"unknown event type {envelope.type!r}", envelope)
        expected_topic = topic_name(cls.TOPIC, self.config.prefix)
        if record.topic != expected_topic:
            return self._dead_letter(
                record, f"{envelope.type} does not belong on {record.topic}", envelope
            )
        handler = self.handlers.by_type.get(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.name, "skipped").inc()
            return "skipped"
        try:
            payload = envelope.payload()
        except DecodeError as exc:
            return self._dead_letter(record, exc.reason, envelope)
        when = self.handlers.conditions.get(envelope.type)
        if when is not None and not when(payload):
            EVENTS_CONSUMED.labels(self.name, "skipped").inc()
            return "skipped"
        return _Prepared(record, envelope, handler, payload)

    def _not_ours(self, record: Any) -> bool:
        """A well-formed event of a known type this consumer has no handler for, on its own
        topic: skipped on its `ce_type` header alone (every text sent is on the topic whose
        received texts dispatch and inventory read). Anything else is decoded in full, and
        dead-lettered if it is not right."""
        type_ = next((v for k, v in record.headers or () if k == "ce_type"), None)
        if not type_:
            return False
        try:
            name = type_.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if name in self.handlers.by_type:
            return False
        cls = payload_class(name)
        return cls is not None and topic_name(cls.TOPIC, self.config.prefix) == record.topic

    def _apply_batch(self, batch: list[_Prepared]) -> None:
        """Apply a poll's events in one transaction: one commit per batch instead of one per
        event is what lets the pipeline keep up with the broker. Optimistic: if any handler
        fails, the whole batch is rolled back and applied one event at a time, which has the
        full retry and dead-letter policy."""
        if not batch:
            return
        if len(batch) == 1:
            for item in batch:
                self._apply(item.record, item.envelope, item.handler, item.payload)
            return
        started = time.perf_counter()
        try:
            contexts, outcomes = self._apply_batch_once(batch)
        except Exception as exc:
            if self._stop.is_set():
                raise _Stopped from exc
            log.info("%s: batch of %d failed (%s); applying one by one", self.name, len(batch), exc)
            for item in batch:
                self._apply(item.record, item.envelope, item.handler, item.payload)
            return
        per_event = (time.perf_counter() - started) / len(batch)
        for outcome in outcomes:
            HANDLER_SECONDS.labels(self.name).observe(per_event)
            EVENTS_CONSUMED.labels(self.name, outcome).inc()
            if outcome == "applied":
                self.applied += 1
        for ctx in contexts:
            self._run_after_commit(ctx)

    def _apply_batch_once(self, batch: list[_Prepared]) -> tuple[list[Context], list[str]]:
        contexts: list[Context] = []
        outcomes: list[str] = []
        with Session(self.engine, expire_on_commit=False) as session:
            ids = [item.envelope.id for item in batch]
            # a consumer without bookkeeping (the board) still gets one session per batch,
            # not one per event: it pushes hundreds of events a second in a storm
            seen: set[str] = set()
            if self.handlers.exactly_once:
                seen = set(
                    session.exec(
                        select(ProcessedEvent.event_id).where(
                            ProcessedEvent.consumer == self.name,
                            ProcessedEvent.event_id.in_(ids),  # type: ignore[attr-defined]
                        )
                    ).all()
                )
            rows = []
            now = datetime.now(UTC)
            prepared = self._prepare_batch(
                session, [item for item in batch if item.envelope.id not in seen]
            )
            for item in batch:
                if item.envelope.id in seen:
                    outcomes.append("duplicate")
                    continue
                seen.add(item.envelope.id)
                ctx = Context(
                    session=session,
                    envelope=item.envelope,
                    services=self.services,
                    prepared=prepared.get(item.envelope.type),
                )
                token = current_event_id.set(item.envelope.id)
                try:
                    item.handler(ctx, item.payload)
                finally:
                    current_event_id.reset(token)
                rows.append(
                    {
                        "consumer": self.name,
                        "event_id": item.envelope.id,
                        "event_type": item.envelope.type,
                        "applied_at": now,
                    }
                )
                contexts.append(ctx)
                outcomes.append("applied")
            if rows and self.handlers.exactly_once:
                # the unique (consumer, event_id) makes a concurrent duplicate fail the batch
                session.execute(insert(ProcessedEvent), rows)
            session.commit()
        return contexts, outcomes

    def _prepare_batch(self, session: Session, items: list[_Prepared]) -> dict[str, Any]:
        """Event type → what its `prepare` function read for these events."""
        out: dict[str, Any] = {}
        for type_, prepare in self.handlers.preparers.items():
            payloads = [item.payload for item in items if item.envelope.type == type_]
            if payloads:
                out[type_] = prepare(session, payloads)
        return out

    def _run_after_commit(self, ctx: Context) -> None:
        for action in ctx._after_commit:
            try:
                action()
            except Exception:
                log.exception("%s: after-commit action failed for %s", self.name, ctx.envelope.id)

    def _apply(self, record: Any, envelope: Envelope, handler: Any, payload: Any) -> str:
        attempt = 0
        delay = 0.1
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcome, ctx = self._apply_once(envelope, handler, payload)
            except _Stopped:
                raise
            except Exception as exc:
                if self._stop.is_set():
                    raise _Stopped from exc
                if _is_transient(exc):
                    log.warning(
                        "%s: transient error on %s (%s); retrying", self.name, envelope.id, exc
                    )
                elif attempt >= MAX_HANDLER_ATTEMPTS:
                    log.exception("%s: %s failed %d times", self.name, envelope.id, attempt)
                    return self._dead_letter(
                        record, f"handler failed: {type(exc).__name__}: {exc}"[:500], envelope
                    )
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            EVENTS_CONSUMED.labels(self.name, outcome).inc()
            if outcome == "applied":
                self.applied += 1
                for action in ctx._after_commit:
                    try:
                        action()
                    except Exception:
                        log.exception(
                            "%s: after-commit action failed for %s", self.name, envelope.id
                        )
            return outcome

    def _apply_once(self, envelope: Envelope, handler: Any, payload: Any) -> tuple[str, Context]:
        with Session(self.engine, expire_on_commit=False) as session:
            ctx = Context(session=session, envelope=envelope, services=self.services)
            prepare = self.handlers.preparers.get(envelope.type)
            if prepare is not None:
                ctx.prepared = prepare(session, [payload])
            token = current_event_id.set(envelope.id)
            try:
                return self._apply_in(session, ctx, envelope, handler, payload)
            finally:
                current_event_id.reset(token)

    def _apply_in(
        self, session: Session, ctx: Context, envelope: Envelope, handler: Any, payload: Any
    ) -> tuple[str, Context]:
        if not self.handlers.exactly_once:
            handler(ctx, payload)
            session.commit()
            return "applied", ctx
        seen = session.exec(
            select(ProcessedEvent.id).where(
                ProcessedEvent.consumer == self.name, ProcessedEvent.event_id == envelope.id
            )
        ).first()
        if seen is not None:
            session.rollback()
            return "duplicate", ctx
        session.add(
            ProcessedEvent(consumer=self.name, event_id=envelope.id, event_type=envelope.type)
        )
        try:
            session.flush()
        except IntegrityError:
            # another copy of this consumer applied it a moment ago
            session.rollback()
            return "duplicate", ctx
        handler(ctx, payload)
        session.commit()
        return "applied", ctx

    def _dead_letter(self, record: Any, reason: str, envelope: Envelope | None = None) -> str:
        log.warning(
            "%s: dead-lettering %s[%s]@%s: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("nuanliu_dlq_")]
        headers += [
            (DLQ_REASON_HEADER, reason.encode("utf-8")),
            ("nuanliu_dlq_consumer", self.name.encode()),
            ("nuanliu_dlq_topic", record.topic.encode()),
            ("nuanliu_dlq_offset", f"{record.partition}:{record.offset}".encode()),
        ]
        value = record.value or b""
        if len(value) > self.config.max_event_bytes:
            value = value[: self.config.max_event_bytes]  # keep the DLQ itself within limits
        delay = 0.2
        while True:
            try:
                if self._producer is None:
                    self._producer = make_producer(self.config.bootstrap)
                self._producer.send(
                    topic_name(Topic.DLQ, self.config.prefix),
                    key=record.key,
                    value=value,
                    headers=headers,
                ).get(timeout=10)
                with Session(self.engine) as session:
                    session.add(
                        DeadLetter(
                            consumer=self.name,
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                            event_id=envelope.id if envelope else None,
                            event_type=envelope.type if envelope else None,
                            reason=reason,
                            value_preview=repr((record.value or b"")[:4096]),
                        )
                    )
                    session.commit()
                break
            except Exception as exc:  # never drop it: wait for the broker or the database
                if self._stop.is_set():
                    raise _Stopped from exc
                log.warning("%s: cannot dead-letter yet (%s)", self.name, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
        EVENTS_DEAD_LETTERED.labels(self.name).inc()
        EVENTS_CONSUMED.labels(self.name, "dead_lettered").inc()
        return "dead_lettered"
