"""What the consumers still owe: published events a consumer should have applied and did not.

The database is the source of truth and the broker is disposable: the embedded broker keeps
everything in memory and forgets it when its process dies, and an external one may lose data
too. Every consumer records what it applied (`processed_events`) and what it refused
(`dead_letters`), so the outbox and those two tables say exactly which published events are
still owed to whom. :func:`redrive` marks those rows unpublished again, and the relay publishes
them, in id order, ahead of anything staged later; consumers that already applied one skip it
on their bookkeeping, so a redrive is always safe.

:func:`settle` marks rows that nobody owes anything any more, so later scans only read the
recent, unsettled part of the outbox, and :func:`prune` deletes settled rows past a retention.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from consumers.models import DeadLetter, ProcessedEvent
from consumers.registry import Handlers
from events.outbox import WAKE, OutboxEvent
from events.registry import payload_class

log = logging.getLogger(__name__)

#: rows read per query (IN lists stay well under every database's parameter limit)
CHUNK = 500


@dataclass(frozen=True)
class Owed:
    """A published outbox row and the consumers that should have applied it and did not."""

    outbox_id: int
    event_id: str
    type: str
    created_at: datetime
    consumers: tuple[str, ...]


@dataclass
class Scan:
    """One pass over the unsettled outbox: what is owed, and what is settled now."""

    owed: list[Owed] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)


def _subscribers(tables: Mapping[str, Handlers]) -> dict[str, Handlers]:
    """Consumers that keep books: the board pushes to browsers and records nothing, so nothing
    can be owed to it (a browser re-reads a snapshot when it reconnects)."""
    return {name: t for name, t in tables.items() if t.exactly_once and t.by_type}


def _wanted_by(tables: Mapping[str, Handlers], type_: str, data: str) -> tuple[str, ...]:
    """The consumers that would apply an event of `type_` with `data`: a handler for the type,
    and its `when`, if any, accepts the payload."""
    out: list[str] = []
    payload: Any = None
    for name, table in tables.items():
        if type_ not in table.by_type:
            continue
        when = table.conditions.get(type_)
        if when is not None:
            if payload is None:
                cls = payload_class(type_)
                try:
                    payload = cls.model_validate(json.loads(data)) if cls else None
                except (ValueError, TypeError):
                    payload = None
            if payload is None or not when(payload):
                continue  # the runner would dead-letter or skip it: owed to nobody
        out.append(name)
    return tuple(out)


def scan(
    session: Session,
    tables: Mapping[str, Handlers],
    *,
    since: datetime | None = None,
    published_before: datetime | None = None,
) -> Scan:
    """Every published, unsettled outbox row (created at or after `since`; published before
    `published_before`, so events still on their way are not counted) with the consumers that
    owe it; and the rows nobody owes anything, which may be settled."""
    subs = _subscribers(tables)
    types = sorted({t for table in subs.values() for t in table.by_type})
    o = OutboxEvent.__table__.c  # type: ignore[attr-defined]
    query = (
        select(o.id, o.event_id, o.type, o.data, o.created_at)
        .where(o.settled_at.is_(None), o.published_at.is_not(None))
        .order_by(o.id)
    )
    if since is not None:
        query = query.where(o.created_at >= since)
    if published_before is not None:
        query = query.where(o.published_at < published_before)
    result = Scan()
    last = 0
    while True:
        rows = session.execute(query.where(o.id > last).limit(CHUNK)).all()
        if not rows:
            return result
        last = rows[-1].id
        ours = [r for r in rows if r.type in types]
        result.settled.extend(r.id for r in rows if r.type not in types)
        done = _done(session, [r.event_id for r in ours], subs)
        for r in ours:
            owed = tuple(c for c in _wanted_by(subs, r.type, r.data) if (c, r.event_id) not in done)
            if owed:
                created = r.created_at
                if created is not None and created.tzinfo is None:
                    created = created.replace(tzinfo=UTC)
                result.owed.append(Owed(r.id, r.event_id, r.type, created, owed))
            else:
                result.settled.append(r.id)


def _done(session: Session, event_ids: list[str], subs: Iterable[str]) -> set[tuple[str, str]]:
    """(consumer, event id) pairs applied or dead-lettered."""
    if not event_ids:
        return set()
    names = list(subs)
    done: set[tuple[str, str]] = set()
    for model in (ProcessedEvent, DeadLetter):
        rows = session.execute(
            select(model.consumer, model.event_id).where(  # type: ignore[call-overload]
                col(model.consumer).in_(names), col(model.event_id).in_(event_ids)
            )
        ).all()
        done.update((c, e) for c, e in rows)
    return done


def settle(engine: Engine, tables: Mapping[str, Handlers]) -> Scan:
    """Mark every row that nobody owes anything as settled; returns the scan (its `owed` is
    what is still owed, in flight or lost)."""
    with Session(engine) as session:
        found = scan(session, tables)
        _mark(session, found.settled, settled_at=datetime.now(UTC))
        session.commit()
    return found


def _mark(session: Session, ids: list[int], **values: Any) -> None:
    """Set `values` on the outbox rows `ids`, a chunk at a time."""
    o = OutboxEvent.__table__.c  # type: ignore[attr-defined]
    for i in range(0, len(ids), CHUNK):
        session.execute(
            update(OutboxEvent.__table__)  # type: ignore[attr-defined]
            .where(o.id.in_(ids[i : i + CHUNK]))
            .values(**values)
        )


def redrive(
    engine: Engine,
    tables: Mapping[str, Handlers],
    *,
    since: datetime | None = None,
    published_before: datetime | None = None,
) -> list[Owed]:
    """Publish again every event a consumer is owed: its row is marked unpublished and the
    relay sends it, in id order, before anything staged after it. Settles what is owed to
    nobody on the way. Returns what was redriven."""
    with Session(engine) as session:
        found = scan(session, tables, since=since, published_before=published_before)
        _mark(session, found.settled, settled_at=datetime.now(UTC))
        _mark(session, [row.outbox_id for row in found.owed], published_at=None)
        session.commit()
    if found.owed:
        by_consumer: dict[str, int] = defaultdict(int)
        for row in found.owed:
            for c in row.consumers:
                by_consumer[c] += 1
        log.warning(
            "redrive: %d event(s) published again (%s)",
            len(found.owed),
            ", ".join(f"{c} owed {n}" for c, n in sorted(by_consumer.items())),
        )
        WAKE.set()
    return found.owed


def prune(engine: Engine, *, older_than: timedelta) -> int:
    """Delete settled outbox rows created more than `older_than` ago; returns how many."""
    cutoff = datetime.now(UTC) - older_than
    o = OutboxEvent.__table__.c  # type: ignore[attr-defined]
    with engine.begin() as conn:
        result = conn.execute(
            delete(OutboxEvent.__table__).where(  # type: ignore[attr-defined]
                o.settled_at.is_not(None), o.created_at < cutoff
            )
        )
    return int(result.rowcount or 0)
