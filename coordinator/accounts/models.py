from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
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


# -- people: password login (the board, the station page, the admin pages) ---------------------
class User(SQLModel, table=True):
    """A person who logs in with a password. Tokens stay for machines; both become an `Actor`
    with the same role and stations, so pages and the API check them the same way."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    station_ids: list[int] = Field(default_factory=list, sa_column=json_column())
    display_name: str = Field(default="", max_length=64)
    #: the one-time admin password printed at first start must be replaced at first login
    must_change_password: bool = False
    #: failures in a row, forgotten `FAILURE_WINDOW` after the last one (see accounts.people)
    failed_attempts: int = 0
    last_failed_at: datetime | None = Field(default=None, sa_column=tz_column())
    locked_until: datetime | None = Field(default=None, sa_column=tz_column())
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    last_login_at: datetime | None = Field(default=None, sa_column=tz_column())


class UserSession(SQLModel, table=True):
    """A server-side login session. The cookie holds a random value; only its SHA-256 is
    stored, so a leaked table does not hand out sessions."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    #: per-session CSRF token, echoed in forms (`csrf_token`) and in `X-CSRF-Token` by scripts
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    expires_at: datetime = Field(sa_column=tz_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=tz_column())


class LoginAttempt(SQLModel, table=True):
    """Every login attempt, for the per-address rate limit and for the record."""

    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=tz_column(index=True))
    username: str = Field(max_length=64, index=True)
    address: str = Field(default="", max_length=64, index=True)
    ok: bool = False
    reason: str = Field(default="", max_length=32)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the rule itself is `accounts.rules.check_username` (a refusal that says what is wrong);
    #: the length here only bounds what is read
    username: str = PydanticField(max_length=64)
    password: str = PydanticField(max_length=256)
    role: Role
    station_ids: list[int] = []
    display_name: str = PydanticField(default="", max_length=64)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    station_ids: list[int] | None = None
    display_name: str | None = Field(default=None, max_length=64)
    disabled: bool | None = None
    #: a new password set by an admin; the user must change it at next login
    password: str | None = Field(default=None, max_length=256)
    unlock: bool = False


class UserPublic(SQLModel):
    id: int
    username: str
    role: str
    station_ids: list[int]
    display_name: str
    must_change_password: bool
    failed_attempts: int
    locked_until: datetime | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
