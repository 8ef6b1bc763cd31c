from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from coordinator.common import json_column, tz_column, utcnow


class Team(SQLModel, table=True):
    """A standing volunteer team (e.g. a workplace's union group) that playbooks may send whole."""

    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    district_code: str | None = Field(default=None, foreign_key="districts.code", max_length=6)


class VolunteerBase(SQLModel):
    name: str = Field(max_length=64)
    #: E.164, parsed with `phonenumbers`; a volunteer needs a mobile number
    phone: str = Field(max_length=20, unique=True, index=True)
    district_code: str | None = Field(default=None, foreign_key="districts.code", max_length=6)
    lat: float
    lon: float
    skills: list[str] = Field(default_factory=list, sa_column=json_column())
    language: str = Field(default="zh", max_length=5)
    team_id: int | None = Field(default=None, foreign_key="teams.id")


class VolunteerStatus(StrEnum):
    """Where a person is on the roster. A sign-up by SMS waits `pending` (and inactive, so
    the matching never asks them) until a dispatcher approves or declines it; imported and
    dispatcher-made volunteers are `active` from the start."""

    ACTIVE = "active"
    PENDING = "pending"
    DECLINED = "declined"


class Volunteer(VolunteerBase, table=True):
    __tablename__ = "volunteers"

    id: int | None = Field(default=None, primary_key=True)
    active: bool = True
    status: str = Field(default=VolunteerStatus.ACTIVE, max_length=10, index=True)
    #: how they came: import, api (a dispatcher), sms (a sign-up)
    source: str = Field(default="api", max_length=8)
    opted_out: bool = False
    #: hours served in the last 30 days, the matching's fairness input
    recent_hours: float = 0.0
    #: where the volunteer is now, when they told us (otherwise home lat/lon)
    current_lat: float | None = None
    current_lon: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class VolunteerCreate(BaseModel):
    name: str
    phone: str
    district: str | None = None
    lat: float | None = None
    lon: float | None = None
    skills: list[str] = []
    #: skill → the last day its certificate is valid (issue 15): `{"first_aid": "2027-03-01"}`;
    #: a skill in `skills` may also carry it inline, `急救:2027-03-01` (as an import's cell does)
    skill_expiry: dict[str, date] = {}
    language: str = "zh"
    team: str | None = None


class VolunteerUpdate(BaseModel):
    """A dispatcher's edit: only the fields given change. A new district without lat/lon
    moves the volunteer's home near the new district's centre."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    phone: str | None = None
    district: str | None = None
    lat: float | None = None
    lon: float | None = None
    skills: list[str] | None = None
    language: str | None = None


class VolunteerPublic(VolunteerBase):
    id: int
    active: bool
    status: str = VolunteerStatus.ACTIVE
    opted_out: bool
    recent_hours: float


class VolunteerPage(BaseModel):
    items: list[VolunteerPublic]
    count: int
    offset: int
    limit: int


class PendingVolunteer(BaseModel):
    """A sign-up waiting for a dispatcher: the phone masked unless an admin asks."""

    id: int
    name: str
    phone: str
    district_code: str | None
    district: str | None
    skills: list[str]
    language: str
    source: str
    created_at: datetime


class PendingPage(BaseModel):
    items: list[PendingVolunteer]
    count: int


class SignupDecision(BaseModel):
    """A dispatcher's approve or decline; `reason` is kept in the audit log, never texted."""

    reason: str = PydField(default="", max_length=200)


class RowError(BaseModel):
    """One problem in an imported file: the spreadsheet row (the header is row 1), the
    column, and what is wrong."""

    row: int
    column: str | None
    message: str
    #: the same reason in Chinese (the roster page shows the one its reader reads)
    zh: str = ""


class ImportResult(BaseModel):
    """What an import did. Valid rows are imported; every other row is listed in `errors`."""

    rows: int
    created: int
    rejected: int
    errors: list[RowError]
    dry_run: bool = False


class SkillExpiry(SQLModel, table=True):
    """The last day a volunteer's skill is certified (first aid, a driving licence, a health
    certificate): a row beside the `skills` list, which keeps its plain names. A skill
    without a row never expires. `reminded_for` is the expiry date the 30-day SMS was sent
    for: claimed by a conditional UPDATE, so it goes once per expiry however many processes
    run the job, and again only when the date is renewed."""

    __tablename__ = "skill_expiries"
    __table_args__ = (UniqueConstraint("volunteer_id", "skill", name="uq_skill_expiry"),)

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteers.id", index=True)
    skill: str = Field(max_length=32)
    #: the certificate is valid through this local date
    expires_on: date = Field(index=True)
    reminded_for: date | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class SkillExpiryBody(BaseModel):
    """Set (a date) or clear (null) the expiry of one of the volunteer's skills."""

    skill: str = PydField(min_length=1, max_length=32)
    expires_on: date | None


class SkillExpiryPublic(BaseModel):
    volunteer_id: int
    skill_expiry: dict[str, date]


class PhoneLoginCode(SQLModel, table=True):
    """A one-time code texted to a volunteer for the rota page (issue 15), or a request
    for one from a number not on the roster (kept, without a code, so the rate limits count
    it too). Only a hash of the code is stored."""

    __tablename__ = "phone_login_codes"

    id: int | None = Field(default=None, primary_key=True)
    #: E.164
    phone: str = Field(max_length=20, index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteers.id")
    #: the client's address (for the per-address limit)
    address: str = Field(default="", max_length=45, index=True)
    #: empty for a number not on the roster: nothing can be verified against it
    code_hash: str = Field(default="", max_length=64)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    expires_at: datetime = Field(sa_column=tz_column(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=tz_column())


class VolunteerSession(SQLModel, table=True):
    """A volunteer signed in on the rota page by an SMS code: the cookie's hash, scoped to
    that volunteer alone (it is never a staff `Actor`)."""

    __tablename__ = "volunteer_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    volunteer_id: int = Field(foreign_key="volunteers.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    expires_at: datetime = Field(sa_column=tz_column(nullable=False))


class JoinCode(SQLModel, table=True):
    """A one-time code texted to a number that asked to join on the public sign-up page.

    Only a salted hash is kept: the code lives `join_code_lifetime` and is spent after
    `join_code_attempts` wrong tries. The rows are also the rate limits' record (codes per
    number and per client address), counted in the database so they hold across processes."""

    __tablename__ = "join_codes"

    id: int | None = Field(default=None, primary_key=True)
    #: E.164
    phone: str = Field(max_length=20, index=True)
    #: the client address that asked for it (the limit per address counts these)
    address: str = Field(default="", max_length=64, index=True)
    salt: str = Field(max_length=32)
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column(index=True))
    expires_at: datetime = Field(sa_column=tz_column(nullable=False))
    #: when a right code was given (a code works once)
    used_at: datetime | None = Field(default=None, sa_column=tz_column())
