"""Gauges computed from the database on scrape.

Consumer lag is counted from our own tables, not from Kafka offsets: the embedded broker's
`end_offsets` is wrong, and the database is the source of truth anyway. Lag = events of the
types a consumer handles that the relay has published, minus those the consumer has applied
or settled.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from consumers import consumer_tables
from consumers.models import ProcessedEvent
from events.metrics import CONSUMER_LAG, OUTBOX_DEPTH
from events.outbox import OutboxEvent, pending_count


def consumer_lag(session: Session) -> dict[str, int]:
    lags: dict[str, int] = {}
    for name, table in consumer_tables().items():
        types = list(table.by_type)
        if not types:
            lags[name] = 0
            continue
        published = session.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(
                OutboxEvent.type.in_(types),  # type: ignore[attr-defined]
                OutboxEvent.published_at != None,  # noqa: E711
            )
        ).one()
        applied = session.exec(
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.consumer == name)
        ).one()
        lags[name] = max(0, int(published) - int(applied))
    return lags


def refresh_gauges(session: Session) -> None:
    OUTBOX_DEPTH.set(pending_count(session))
    for name, lag in consumer_lag(session).items():
        CONSUMER_LAG.labels(name).set(lag)
