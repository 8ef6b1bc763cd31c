"""The certificates issued (志愿服务证明): one row per serial. A row keeps what the PDF
printed about the period (its hours, tasks, days and the organisation's name) and the
holder's name only masked (张*), so `/verify/{serial}` confirms a certificate from its row
alone and can show nothing more about the person than that."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from coordinator.common import tz_column, utcnow


class Certificate(SQLModel, table=True):
    """A certificate as issued. Issuing the same period again gives the same serial while
    the hours are unchanged; after a correction changes them a new serial is issued and the
    old row is marked `superseded_at` (its verify page says so). One current certificate
    per volunteer and period (a partial unique index: two requests at once store one)."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index(
            "uq_certificate_current",
            "volunteer_id",
            "period",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: random (80 bits, Crockford base32, `XXXX-XXXX-XXXX-XXXX`): not guessable, not sequential
    serial: str = Field(max_length=19, unique=True)
    volunteer_id: int = Field(foreign_key="volunteers.id", index=True)
    #: `2026` (a year) or `incident:12`
    period: str = Field(max_length=32)
    #: how the certificate names the period, e.g. `2026年度`
    period_label: str = Field(max_length=200)
    #: the first and last moment served in the period
    served_from: datetime = Field(sa_column=tz_column(nullable=False))
    served_to: datetime = Field(sa_column=tz_column(nullable=False))
    hours: float
    tasks: int
    organisation: str = Field(max_length=60)
    #: the holder's name as the verify page shows it (张*)
    holder_masked: str = Field(max_length=16)
    issued_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    issued_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_column=tz_column())
