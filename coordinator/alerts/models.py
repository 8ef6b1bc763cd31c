"""Alerts as they arrived (JSON from a dispatcher, CAP from a feed, the travel-rush calendar).

A CAP message's identity is `(sender, identifier, sent)`; the same message twice is one row and
one incident. JSON alerts get a generated identity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydField
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from coordinator.common import json_column, tz_column, utcnow

AlertKind = Literal["ice_storm", "freezing_rain", "snow", "cold_wave", "travel_rush", "other"]
WarningLevel = Literal["blue", "yellow", "orange", "red"]
KINDS: tuple[str, ...] = ("ice_storm", "freezing_rain", "snow", "cold_wave", "travel_rush", "other")
LEVELS: tuple[str, ...] = ("blue", "yellow", "orange", "red")


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent", name="uq_alert_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=255)
    identifier: str = Field(max_length=255)
    sent: datetime = Field(sa_column=tz_column(nullable=False))
    #: Alert | Update | Cancel (CAP msgType); JSON alerts are Alert
    msg_type: str = Field(default="Alert", max_length=8)
    #: api | cap | feed | calendar
    source: str = Field(default="api", max_length=16)
    kind: str = Field(max_length=24)
    level: str = Field(max_length=8)
    #: GB/T 2260 six-digit codes
    districts: list[str] = Field(default_factory=list, sa_column=json_column())
    headline: str = Field(max_length=300)
    event: str = Field(default="", max_length=120)
    starts_at: datetime | None = Field(default=None, sa_column=tz_column())
    ends_at: datetime | None = Field(default=None, sa_column=tz_column())
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    #: the body as received (CAP XML, or the JSON), for audit
    raw: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    received_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class AlertClaim(SQLModel, table=True):
    """A JSON alert a sender has already raised, so that a copy is answered with it instead of
    opening a second incident: one row per (sender, key), where the key is the client's
    `Idempotency-Key` (`key:…`) or, without one, the fingerprint of the body (`body:…`). The
    unique constraint is what holds under a race: a second transaction claiming the same key
    waits for the first and then finds its row (`service.claim`)."""

    __tablename__ = "alert_claims"
    __table_args__ = (UniqueConstraint("sender", "key", name="uq_alert_claim"),)

    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=255)
    key: str = Field(max_length=300)
    #: sha256 of the canonical body the key was claimed with ("" until an alert is raised)
    fingerprint: str = Field(default="", max_length=64)
    alert_id: int | None = Field(default=None, foreign_key="alerts.id")
    #: when the alert it answers with was raised (a claim older than its hold is reused)
    claimed_at: datetime = Field(sa_column=tz_column(nullable=False))


class AlertCreate(BaseModel):
    """`POST /api/alerts`."""

    model_config = ConfigDict(extra="forbid")

    kind: AlertKind
    level: WarningLevel
    districts: list[str] = PydField(min_length=1, max_length=50)
    headline: str = PydField(min_length=1, max_length=300)
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @field_validator("districts")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        out = [v.strip() for v in value]
        if any(not v or len(v) > 64 for v in out):
            raise ValueError("each district is a non-empty name or code (at most 64 characters)")
        return out

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times need an offset, e.g. 2014-01-05T07:00:00+08:00")
        return value


class AlertAccepted(BaseModel):
    alert_id: int
    #: null when the alert had expired on arrival (nothing is opened for it)
    incident_id: int | None
    #: the alert's end had passed when it arrived: recorded, nobody sent out
    expired: bool = False
    #: why nothing was opened, for an expired alert
    detail: str | None = None


class PreviewTask(BaseModel):
    """One task the playbook would create, as planning would store it."""

    plan_key: str
    kind: str
    title: str
    title_en: str
    place: str
    place_en: str
    district_code: str | None
    slots: int
    skills: list[str]
    starts_at: datetime
    ends_at: datetime
    team_task: bool


class PreviewDistrict(BaseModel):
    code: str
    name_zh: str
    name_en: str
    tasks: int
    slots: int


class AlertPreview(BaseModel):
    """`POST /api/alerts/preview`: what `POST /api/alerts` with the same body would plan now.
    Nothing is stored, staged or audited. `expired`: its end has passed, so raising it would
    record it and send nobody out (no tasks)."""

    kind: str
    level: str
    headline: str
    #: where the playbook's hour-based windows begin (the alert's start, or now if later)
    starts_at: datetime
    ends_at: datetime | None
    expired: bool = False
    districts: list[PreviewDistrict]
    tasks: list[PreviewTask]
    total_tasks: int
    total_slots: int
