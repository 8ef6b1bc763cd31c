"""Small helpers every domain's models use."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def tz_column(*, nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    """A timezone-aware timestamp column (SQLite stores the offset, PostgreSQL timestamptz)."""
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


def json_column() -> Column:  # type: ignore[type-arg]
    return Column(JSON, nullable=False, default=list)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without an offset; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
