"""The transactional outbox and its relay.

A state change and the events it causes are written in one database transaction
(:func:`stage`); the :class:`Relay` publishes pending rows in id order through an idempotent
producer and marks them published. If the broker is away, the rows wait and the API keeps
answering; nothing is published that was not committed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kafka.errors import KafkaError
from sqlalchemy import Column, DateTime, Index, Text, func, insert, text
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from events.base import EventPayload
from events.bus import make_producer
from events.envelope import Envelope, encode_stored
from events.metrics import EVENTS_PUBLISHED, OUTBOX_DEPTH
from events.topics import topic_name

log = logging.getLogger(__name__)

#: Any thread that stages an event pokes this, so the relay publishes at once instead of on
#: its next poll. Harmless across processes: there the relay's short poll interval applies.
WAKE = threading.Event()


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "published_at", "id"),
        Index("ix_outbox_unsettled", "settled_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True, max_length=64)
    topic: str = Field(max_length=64)
    type: str = Field(max_length=96, index=True)
    key: str | None = Field(default=None, max_length=128)
    subject: str | None = Field(default=None, max_length=128)
    data: str = Field(sa_column=Column(Text, nullable=False))
    schema_version: int = 1
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), sa_column=Column(DateTime(timezone=True))
    )
    published_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    attempts: int = 0
    #: set once every consumer that should apply this event has applied (or refused) it; only
    #: rows without it can be owed to a consumer, and only rows with it are ever pruned
    settled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )

    def envelope(self) -> Envelope:
        created = self.created_at or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return Envelope(
            id=self.event_id,
            type=self.type,
            source="/nuanliu",
            time=created,
            data=json.loads(self.data),
            subject=self.subject,
            key=self.key,
            schema_version=self.schema_version,
        )


def _values(payload: EventPayload, event_id: str | None = None) -> dict[str, Any]:
    env = Envelope.wrap(payload, event_id=event_id)
    return {
        "event_id": env.id,
        "topic": payload.TOPIC.value,
        "type": env.type,
        "key": env.key,
        "subject": env.subject,
        "data": json.dumps(env.data, ensure_ascii=False),
        "schema_version": env.schema_version,
        "created_at": env.time,
        "published_at": None,
        "attempts": 0,
        "settled_at": None,
    }


def stage(session: Session, payload: EventPayload, *, event_id: str | None = None) -> OutboxEvent:
    """Add `payload` to the outbox inside the caller's transaction; it is published only if
    that transaction commits. Returns the row (its `event_id` is the CloudEvents id)."""
    row = OutboxEvent(**_values(payload, event_id))
    session.add(row)
    WAKE.set()
    return row


def stage_many(session: Session, payloads: list[EventPayload]) -> list[str]:
    """Stage many events at once, in order, inside the caller's transaction; returns their
    event ids. They are inserted now, after the session's pending rows (so id order stays
    staging order), in one executemany without RETURNING: the ORM's multi-row
    INSERT … RETURNING made psycopg parse a statement of thousands of placeholders for every
    batch, a third of the SMS intake's time; an executemany is one short statement,
    pipelined."""
    if not payloads:
        return []
    rows = [_values(payload) for payload in payloads]
    session.flush()
    session.execute(insert(OutboxEvent.__table__), rows)  # type: ignore[attr-defined]
    WAKE.set()
    return [row["event_id"] for row in rows]


def pending_count(session: Session) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(
                OutboxEvent.published_at == None  # noqa: E711
            )
        ).one()
    )


class Relay:
    """Publishes committed outbox rows in order. Run one per deployment: on PostgreSQL an
    advisory lock makes extra copies wait as hot standbys instead of reordering events."""

    ADVISORY_LOCK_ID = 0x4E55414E  # "NUAN"
    #: how often a leader makes sure its lock's connection is still alive (rather than
    #: asking PostgreSQL for the lock again before every batch)
    LEADER_CHECK_S = 5.0

    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        prefix: str,
        *,
        batch_size: int = 500,
        idle_s: float = 0.2,
        producer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.batch_size = batch_size
        self.idle_s = idle_s
        self._producer_overrides = producer_overrides or {}
        self._producer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self._lock_conn: Any = None
        self._leader = False
        self._leader_checked = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        WAKE.set()
        if self._thread:
            self._thread.join(timeout)
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:  # closing a producer to a dead broker may raise; we are done anyway
                log.debug("producer close failed", exc_info=True)
            self._producer = None
        if self._lock_conn is not None:
            # A session-level advisory lock outlives a pooled connection's return to the pool:
            # release it, or the next relay on this engine would wait forever.
            try:
                if self._leader:
                    self._lock_conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": self.ADVISORY_LOCK_ID}
                    )
                    self._lock_conn.commit()
            finally:
                self._lock_conn.invalidate()
                self._lock_conn.close()
                self._lock_conn = None
                self._leader = False

    def run(self) -> None:
        backoff = self.idle_s
        while not self._stop.is_set():
            try:
                sent = self.publish_pending()
                backoff = self.idle_s
                if sent == 0:
                    WAKE.wait(self.idle_s)
                    WAKE.clear()
            except (KafkaError, OSError) as exc:
                log.warning("relay cannot publish (%s); retrying in %.1fs", exc, backoff)
                self._reset_producer()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("relay failed; retrying")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- work ------------------------------------------------------------------------------
    def _producer_or_new(self) -> Any:
        if self._producer is None:
            self._producer = make_producer(self.bootstrap, **self._producer_overrides)
        return self._producer

    def _reset_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:
                log.debug("producer close failed", exc_info=True)
        self._producer = None

    def _hold_leader_lock(self) -> bool:
        """On PostgreSQL only one relay publishes, so order by id holds across processes.
        The lock lives on a connection of its own for the relay's life; a relay that dies
        releases it with its connection and a standby takes over."""
        if self.engine.dialect.name != "postgresql":
            return True
        now = time.monotonic()
        if self._leader and now - self._leader_checked < self.LEADER_CHECK_S:
            return True
        if self._leader:
            # the lock lives as long as its connection: a live connection means we lead still
            try:
                self._lock_conn.execute(text("SELECT 1"))
                self._lock_conn.commit()
                self._leader_checked = now
                return True
            except Exception:
                log.warning("relay lost its leader lock's connection; competing again")
                self._lock_conn.invalidate()
                self._lock_conn = None
                self._leader = False
        if self._lock_conn is None:
            self._lock_conn = self.engine.connect()
        got = self._lock_conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": self.ADVISORY_LOCK_ID}
        ).scalar()
        self._lock_conn.commit()
        if got:
            self._leader, self._leader_checked = True, now
        return bool(self._leader)

    def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published.

        The database is touched in two short transactions (read, then mark) so a slow or
        paused broker never holds a database lock that the API needs."""
        if not self._hold_leader_lock():
            return 0
        # "nuanliu_read_only": on SQLite this read must not queue behind writers
        reader = self.engine.execution_options(nuanliu_read_only=True)
        t = OutboxEvent.__table__.c  # type: ignore[attr-defined]
        with reader.connect() as conn:
            rows = conn.execute(
                sa_select(
                    t.id,
                    t.event_id,
                    t.topic,
                    t.type,
                    t.key,
                    t.subject,
                    t.data,
                    t.schema_version,
                    t.created_at,
                )
                .where(t.published_at.is_(None))
                .order_by(t.id)
                .limit(self.batch_size)
            ).all()
            conn.commit()
        if not rows:
            OUTBOX_DEPTH.set(0)
            return 0
        producer = self._producer_or_new()
        futures = []
        for row in rows:
            key, value, headers = encode_stored(
                event_id=row.event_id,
                type_=row.type,
                subject=row.subject,
                key=row.key,
                time=row.created_at or datetime.now(UTC),
                schema_version=row.schema_version,
                data_json=row.data,
            )
            futures.append(
                producer.send(
                    topic_name(row.topic, self.prefix), key=key, value=value, headers=headers
                )
            )
        producer.flush(timeout=10)
        for future in futures:
            future.get(timeout=10)  # raises if any send failed: nothing is marked
        ids = [row.id for row in rows]
        with self.engine.begin() as conn:
            conn.execute(
                sa_update(OutboxEvent.__table__)  # type: ignore[attr-defined]
                .where(t.id.in_(ids))
                .values(published_at=datetime.now(UTC))
            )
        for row in rows:
            EVENTS_PUBLISHED.labels(topic=row.topic).inc()
        self.published += len(rows)
        return len(rows)
