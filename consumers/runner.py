"""The one loop every consumer runs: poll, decode, dedupe, apply in a transaction, commit,
retry transient failures, dead-letter what can never be applied.

Effects happen exactly once although delivery is at least once: the handler's changes and the
`(consumer, event id)` row commit together, and the Kafka offset is committed only afterwards.
A crash between the two means a redelivery that finds the row and changes nothing.

A poll's records go through one path (`settle`): each is decoded (`_decode`), and those this
consumer applies are applied together (`_apply`): deduplicated, prepared (the table's
`prepare` functions, once for the batch) and handled in one transaction, after which their
after-commit actions run. A batch that fails is applied one event at a time through the same
`_apply`, which retries a single event and dead-letters it if it never applies.

One module of some 550 lines, on purpose: the loop, the watch, the apply path and the
dead-letter topic all work on one consumer's membership, offsets and stop signal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, select

from consumers.models import DeadLetter, ProcessedEvent
from consumers.registry import Context, Handler, Handlers
from coordinator.process import Services
from events.base import EventPayload
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


class Outcome(StrEnum):
    """How a consumer settled one record."""

    #: its handler ran, and its effects and `(consumer, event id)` row committed
    APPLIED = "applied"
    #: this consumer applied it before (in an earlier batch, or earlier in this one)
    DUPLICATE = "duplicate"
    #: a type this consumer has no handler for: passed over, no transaction
    NOT_OURS = "not_ours"
    #: its handler's `when` refused it: passed over, no transaction, no bookkeeping
    SKIPPED_BY_WHEN = "skipped_by_when"
    #: it could not be decoded, validated or applied: on the dead-letter topic and table
    DEAD_LETTERED = "dead_lettered"

    @property
    def label(self) -> str:
        """Its `outcome` label on `nuanliu_events_consumed_total` (dashboards read these):
        both ways of passing an event over are `skipped` there."""
        if self in (Outcome.NOT_OURS, Outcome.SKIPPED_BY_WHEN):
            return "skipped"
        return self.value


@dataclass(frozen=True)
class Decoded:
    """A record decoded and validated, with the handler that will apply it."""

    record: Any
    envelope: Envelope
    handler: Handler
    payload: EventPayload


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
    def assigned(self) -> bool:
        """Whether the group has given this runner partitions (its join is over): a rate
        measured before this includes the join."""
        consumer = self._consumer
        try:
            return consumer is not None and bool(consumer.assignment())
        except Exception:  # closed under our feet by a reconnect
            return False

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
        """Poll one batch and settle its records; returns how many were settled.

        `commit=False` leaves offsets uncommitted, which is what a crash right after the
        database commit looks like to the group (tests use it)."""
        consumer = self._kafka()
        if self._unwatched(consumer, timeout_ms):
            return 0
        polled = consumer.poll(timeout_ms=timeout_ms)
        self.ready.set()
        records = [record for part in polled.values() for record in part]
        try:
            self.settle(records)
        except _Stopped:
            # leave everything of this poll uncommitted: it is redelivered and deduped
            return 0
        # Only a batch that settled completely is committed; any other exception (a crash)
        # propagates with the offsets uncommitted, so the group redelivers the batch.
        offsets = {
            tp: OffsetAndMetadata(part[-1].offset + 1, "", -1)
            for tp, part in polled.items()
            if part
        }
        if commit and offsets and self._commit_due():
            try:
                consumer.commit(offsets)
            except CommitFailedError:
                # a rebalance took the partition; its new owner re-reads and dedupes
                log.info("%s: commit lost to a rebalance", self.name)
        return len(records)

    def settle(self, records: Sequence[Any]) -> list[Outcome]:
        """Decode `records` and apply, as one batch, those this consumer applies; returns
        each record's outcome, in order. Asked to stop, it raises `_Stopped` before the next
        record or when a transaction fails: the poll stays uncommitted, and whatever of it
        was applied is a duplicate when it is delivered again."""
        outcomes: list[Outcome | None] = []
        batch: list[Decoded] = []
        for record in records:
            if self._stop.is_set() and outcomes:
                raise _Stopped
            decoded = self._decode(record)
            if isinstance(decoded, Decoded):
                batch.append(decoded)
                outcomes.append(None)
            else:
                self._count(decoded)
                outcomes.append(decoded)
        applied = iter(self._apply(batch))
        return [next(applied) if outcome is None else outcome for outcome in outcomes]

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

    def _decode(self, record: Any) -> Decoded | Outcome:
        """Decode and validate one record; returns it with its handler, or the outcome if
        there is nothing to apply (not ours, refused by `when`, dead-lettered)."""
        if self._not_ours(record):
            return Outcome.NOT_OURS
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
            return Outcome.NOT_OURS
        try:
            payload = envelope.payload()
        except DecodeError as exc:
            return self._dead_letter(record, exc.reason, envelope)
        when = self.handlers.conditions.get(envelope.type)
        if when is not None and not when(payload):
            return Outcome.SKIPPED_BY_WHEN
        return Decoded(record, envelope, handler, payload)

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

    def _apply(self, batch: Sequence[Decoded]) -> list[Outcome]:
        """Apply decoded events, a poll's worth or a single one, in one transaction
        (`_apply_in_transaction`); once it has committed, count the outcomes and run each
        applied event's after-commit actions, once. Returns the outcomes in `batch` order.

        If the transaction fails, a batch of many is applied again one event at a time
        through this same function, so a poison event is dead-lettered alone while the others
        apply. A single event is retried: a transient error (the database away) until it
        passes, any other up to MAX_HANDLER_ATTEMPTS times, then it is dead-lettered."""
        if not batch:
            return []
        attempt = 0
        delay = 0.1
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcomes, contexts = self._apply_in_transaction(batch)
                break
            except Exception as exc:
                if self._stop.is_set():
                    raise _Stopped from exc
                if len(batch) > 1:
                    log.info("%s: %d events failed (%s); one by one", self.name, len(batch), exc)
                    return [outcome for item in batch for outcome in self._apply([item])]
                (item,) = batch
                if _is_transient(exc):
                    log.warning(
                        "%s: transient error on %s (%s); retrying", self.name, item.envelope.id, exc
                    )
                elif attempt >= MAX_HANDLER_ATTEMPTS:
                    log.exception("%s: %s failed %d times", self.name, item.envelope.id, attempt)
                    reason = f"handler failed: {type(exc).__name__}: {exc}"[:500]
                    outcome = self._dead_letter(item.record, reason, item.envelope)
                    self._count(outcome)
                    return [outcome]
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
        per_event = (time.perf_counter() - started) / len(batch)
        for outcome in outcomes:
            HANDLER_SECONDS.labels(self.name).observe(per_event)
            self._count(outcome)
        for ctx in contexts:
            self._run_after_commit(ctx)
        return outcomes

    def _apply_in_transaction(
        self, batch: Sequence[Decoded]
    ) -> tuple[list[Outcome], list[Context]]:
        """One attempt at `batch` in one transaction: leave out what this consumer applied
        before (or earlier in the batch), run the table's `prepare` functions once for the
        rest, their handlers, and write their `(consumer, event id)` rows; commit. Returns
        the outcomes in `batch` order and the contexts of the events applied; raises, rolled
        back, if anything failed. One commit per batch instead of one per event is what lets
        the pipeline keep up with the broker."""
        with Session(self.engine, expire_on_commit=False) as session:
            now = datetime.now(UTC)
            seen = self._applied_before(session, batch)
            outcomes: list[Outcome] = []
            fresh: list[Decoded] = []
            for item in batch:
                if item.envelope.id in seen:
                    outcomes.append(Outcome.DUPLICATE)
                else:
                    seen.add(item.envelope.id)
                    fresh.append(item)
                    outcomes.append(Outcome.APPLIED)
            prepared = self._prepare_batch(session, fresh)
            contexts: list[Context] = []
            for item in fresh:
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
                contexts.append(ctx)
            if fresh and self.handlers.exactly_once:
                # the unique (consumer, event_id) makes a copy applied concurrently by another
                # member fail this transaction; applied again, it is found as a duplicate
                rows = [
                    {
                        "consumer": self.name,
                        "event_id": item.envelope.id,
                        "event_type": item.envelope.type,
                        "applied_at": now,
                    }
                    for item in fresh
                ]
                session.execute(insert(ProcessedEvent), rows)
            session.commit()
        return outcomes, contexts

    def _applied_before(self, session: Session, batch: Sequence[Decoded]) -> set[str]:
        """The ids in `batch` this consumer has applied already. A consumer without
        bookkeeping (the board) has none: it still gets one session per batch, not one per
        event, since it pushes hundreds of events a second in a storm."""
        if not self.handlers.exactly_once:
            return set()
        ids = [item.envelope.id for item in batch]
        return set(
            session.exec(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == self.name,
                    ProcessedEvent.event_id.in_(ids),  # type: ignore[attr-defined]
                )
            ).all()
        )

    def _prepare_batch(self, session: Session, batch: Sequence[Decoded]) -> dict[str, Any]:
        """Event type → what the table's `prepare` function for it read for these events
        (each handler finds it in `ctx.prepared`)."""
        out: dict[str, Any] = {}
        for type_, prepare in self.handlers.preparers.items():
            payloads = [item.payload for item in batch if item.envelope.type == type_]
            if payloads:
                out[type_] = prepare(session, payloads)
        return out

    def _run_after_commit(self, ctx: Context) -> None:
        for action in ctx._after_commit:
            try:
                action()
            except Exception:
                log.exception("%s: after-commit action failed for %s", self.name, ctx.envelope.id)

    def _count(self, outcome: Outcome) -> None:
        EVENTS_CONSUMED.labels(self.name, outcome.label).inc()
        if outcome is Outcome.APPLIED:
            self.applied += 1

    def _dead_letter(self, record: Any, reason: str, envelope: Envelope | None = None) -> Outcome:
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
        return Outcome.DEAD_LETTERED
