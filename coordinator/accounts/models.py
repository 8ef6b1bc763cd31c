from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from coordinator.common import json_column, tz_column, utcnow

Role = Literal["admin", "dispatcher", "station_manager"]
ROLES: tuple[str, ...] = ("admin", "dispatcher", "station_manager")


class ApiToken(SQLModel, table=True):
    """A bearer token. Only its SHA-256 is stored: tokens are 256 random bits, so a slow hash
    would add nothing but latency to every request."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=20)
    station_ids: list[int] = Field(default_factory=list, sa_column=json_column())
    label: str = Field(default="", max_length=64)
    user_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    revoked_at: datetime | None = Field(default=None, sa_column=tz_column())


class AuditLog(SQLModel, table=True):
    """Who did what, when, and because of which request or event."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=tz_column(index=True))
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(default="", max_length=96)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_id: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)


class TokenCreate(SQLModel):
    role: Role
    station_ids: list[int] = []
    label: str = ""


class TokenCreated(SQLModel):
    token: str
    role: str
    station_ids: list[int]
