"""Tables the consumer runner owns: what each consumer has applied, and what it refused."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class ProcessedEvent(SQLModel, table=True):
    """`(consumer, event_id)` is written in the same transaction as the handler's effects, so a
    redelivered event finds its row and changes nothing."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("consumer", "event_id", name="uq_processed_consumer_event"),)

    id: int | None = Field(default=None, primary_key=True)
    consumer: str = Field(max_length=32, index=True)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=96)
    applied_at: datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True)))


class DeadLetter(SQLModel, table=True):
    """A record a consumer could not decode, validate or apply; kept here as well as on the
    dead-letter topic so a dispatcher can see it and nothing is silently lost."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    consumer: str = Field(max_length=32, index=True)
    topic: str = Field(max_length=128)
    partition: int
    offset: int
    event_id: str | None = Field(default=None, max_length=64)
    event_type: str | None = Field(default=None, max_length=96)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    #: the first 4 KiB of the record's value, repr-escaped so any bytes survive
    value_preview: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True)))
