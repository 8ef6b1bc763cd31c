"""The SMS log: every message in and out is a row, and the row is the record of truth.

An outbound row is queued in the caller's transaction and delivered after commit by the sender
(`sms/sender.py`); its status only moves forward, and nothing marks a message "delivered"
except a delivery report from the provider.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from coordinator.common import tz_column, utcnow

Direction = Literal["outbound", "inbound"]
Status = Literal[
    "queued", "sending", "sent", "delivered", "undelivered", "failed", "received", "unknown"
]
STATUSES: tuple[str, ...] = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "received",
    "unknown",
)
#: the longest body we store or send: Twilio's limit (10 segments of 160 GSM-7 characters)
MAX_BODY_CHARS = 1600


class SmsMessage(SQLModel, table=True):
    """One text message, inbound or outbound."""

    __tablename__ = "sms_messages"
    # the sender looks for queued rows in id order; the log is read newest first per phone;
    # the automatic answers a number got in the last hour are counted before each new one;
    # the demo phone reads what changed since it last looked
    __table_args__ = (
        Index("ix_sms_messages_status_id", "status", "id"),
        Index("ix_sms_messages_phone_id", "phone", "id"),
        Index("ix_sms_messages_phone_kind_created", "phone", "kind", "created_at"),
        # the demo phone asks which inboxes changed since its last look
        Index("ix_sms_messages_updated_at", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(max_length=8, index=True)
    #: E.164
    phone: str = Field(max_length=20)
    body: str = Field(sa_column=Column(Text, nullable=False))
    segments: int = 1
    encoding: str = Field(default="GSM-7", max_length=8)
    status: str = Field(max_length=12)
    gateway: str | None = Field(default=None, max_length=16)
    provider_sid: str | None = Field(default=None, max_length=64, index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteers.id", index=True)
    #: no foreign key: dispatch owns assignments and SMS must not depend on its tables
    assignment_id: int | None = Field(default=None, index=True)
    kind: str = Field(default="info", max_length=24)
    #: the template and parameters it was rendered from, for providers that send only
    #: pre-approved templates (the body is the fallback and the record)
    template: str | None = Field(default=None, max_length=32)
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=tz_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(nullable=False))


class SmsPublic(BaseModel):
    id: int
    direction: str
    phone: str
    body: str
    segments: int
    encoding: str
    status: str
    gateway: str | None
    provider_sid: str | None
    volunteer_id: int | None
    assignment_id: int | None
    kind: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class SmsPage(BaseModel):
    items: list[SmsPublic]
    count: int
    offset: int
    limit: int
