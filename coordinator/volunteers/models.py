from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
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


class Volunteer(VolunteerBase, table=True):
    __tablename__ = "volunteers"

    id: int | None = Field(default=None, primary_key=True)
    active: bool = True
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
    language: str = "zh"
    team: str | None = None


class VolunteerPublic(VolunteerBase):
    id: int
    active: bool
    opted_out: bool
    recent_hours: float


class VolunteerPage(BaseModel):
    items: list[VolunteerPublic]
    count: int
    offset: int
    limit: int


class RowError(BaseModel):
    """One problem in an imported file: the spreadsheet row (the header is row 1), the
    column, and what is wrong."""

    row: int
    column: str | None
    message: str


class ImportResult(BaseModel):
    """What an import did. Valid rows are imported; every other row is listed in `errors`."""

    rows: int
    created: int
    rejected: int
    errors: list[RowError]
    dry_run: bool = False
