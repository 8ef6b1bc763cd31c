"""Incidents, the tasks planned for them, volunteers' assignments to task slots, playbooks.

An incident is what a dispatcher works on (an ice storm, the travel rush); a task is one job with
a number of slots (de-icing a bridge, four people, 07:00-11:00); an assignment is one volunteer
in one slot, from the offer through the reply to the end of the shift.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from coordinator.common import json_column, tz_column, utcnow


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AssignmentStatus(StrEnum):
    """Where an assignment is; stored as its value. Every change after the offer goes through
    `dispatch.transitions.move`, which also stages the event and writes the audit row."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_S = AssignmentStatus
#: open: the volunteer may still answer it, a dispatcher may cancel it
LIVE: tuple[AssignmentStatus, ...] = (_S.OFFERED, _S.ACCEPTED)
#: statuses that hold a slot: at most one such assignment per (task, slot)
HOLDING: tuple[AssignmentStatus, ...] = (_S.OFFERED, _S.ACCEPTED, _S.COMPLETED)
#: statuses that count as filled
FILLED: tuple[AssignmentStatus, ...] = (_S.ACCEPTED, _S.COMPLETED)

_HOLDING_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in HOLDING))


class Incident(SQLModel, table=True):
    """Something happening to the city that volunteers respond to."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=24, index=True)
    level: str = Field(max_length=8)
    title: str = Field(max_length=200)
    #: GB/T 2260 six-digit codes
    districts: list[str] = Field(default_factory=list, sa_column=json_column())
    status: str = Field(default="open", max_length=8, index=True)
    starts_at: datetime | None = Field(default=None, sa_column=tz_column())
    ends_at: datetime | None = Field(default=None, sa_column=tz_column())
    opened_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    closed_at: datetime | None = Field(default=None, sa_column=tz_column())
    close_reason: str = Field(default="", max_length=200)


class Task(SQLModel, table=True):
    """One job of an incident, with `slots` volunteers needed in a shift window."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("incident_id", "plan_key", name="uq_task_plan_key"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    #: the playbook rule and place this task came from: planning twice changes nothing
    plan_key: str = Field(max_length=160)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=120)
    title_en: str = Field(default="", max_length=160)
    place: str = Field(default="", max_length=120)
    place_en: str = Field(default="", max_length=160)
    district_code: str | None = Field(default=None, max_length=6)
    lat: float
    lon: float
    slots: int = Field(ge=0)
    skills: list[str] = Field(default_factory=list, sa_column=json_column())
    starts_at: datetime = Field(sa_column=tz_column(nullable=False))
    ends_at: datetime = Field(sa_column=tz_column(nullable=False))
    team_task: bool = False
    #: set when a slot could not be refilled: nobody eligible is left to ask
    unfillable: bool = False
    unfillable_since: datetime | None = Field(default=None, sa_column=tz_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class Assignment(SQLModel, table=True):
    """One volunteer in one slot of one task."""

    __tablename__ = "assignments"
    __table_args__ = (
        # One live assignment per slot; declined/expired/cancelled ones free it.
        Index(
            "uq_assignment_open_slot",
            "task_id",
            "slot",
            unique=True,
            sqlite_where=text(_HOLDING_SQL),
            postgresql_where=text(_HOLDING_SQL),
        ),
        # A volunteer's short codes tell their open offers apart.
        Index(
            "uq_assignment_open_code",
            "volunteer_id",
            "short_code",
            unique=True,
            sqlite_where=text("status = 'offered'"),
            postgresql_where=text("status = 'offered'"),
        ),
        Index("ix_assignment_status_expires", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="tasks.id", index=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteers.id", index=True)
    slot: int = Field(ge=0)
    status: str = Field(default="offered", max_length=10)
    short_code: str = Field(max_length=8)
    #: matching | refill | dispatcher
    source: str = Field(default="matching", max_length=12)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    distance_km: float | None = None
    cost: float | None = None
    offered_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    expires_at: datetime | None = Field(default=None, sa_column=tz_column())
    responded_at: datetime | None = Field(default=None, sa_column=tz_column())
    reminded_at: datetime | None = Field(default=None, sa_column=tz_column())
    closed_reason: str = Field(default="", max_length=200)


class RecordKind(StrEnum):
    """The kinds of row in the hours ledger (`ServiceRecord`)."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    #: a dispatcher's correction: the served interval as it really was, with a reason
    CORRECTION = "correction"
    #: not checked in `no_show_after` past the start; the slot went to someone else
    NO_SHOW = "no_show"


def _kind_is(kind: RecordKind) -> Any:
    return text(f"kind = '{kind.value}'")


class ServiceRecord(SQLModel, table=True):
    """The hours ledger (issue 15): append-only, one row per check-in, check-out, correction
    or no-show. Nothing updates or deletes a row; hours are derived from the rows
    (`dispatch.hours`). An assignment has at most one check-in and one check-out (partial
    unique indexes: two texts at once store one); a correction is a new row naming the
    interval served, and the newest correction wins, the originals staying as they were."""

    __tablename__ = "service_records"
    __table_args__ = (
        Index(
            "uq_service_record_check_in",
            "assignment_id",
            unique=True,
            sqlite_where=_kind_is(RecordKind.CHECK_IN),
            postgresql_where=_kind_is(RecordKind.CHECK_IN),
        ),
        Index(
            "uq_service_record_check_out",
            "assignment_id",
            unique=True,
            sqlite_where=_kind_is(RecordKind.CHECK_OUT),
            postgresql_where=_kind_is(RecordKind.CHECK_OUT),
        ),
        Index("ix_service_record_volunteer", "volunteer_id", "recorded_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignments.id", index=True)
    task_id: int = Field(foreign_key="tasks.id")
    volunteer_id: int = Field(foreign_key="volunteers.id")
    kind: str = Field(max_length=10)
    #: the moment a check-in, check-out or no-show happened, as the clock said
    at: datetime | None = Field(default=None, sa_column=tz_column())
    #: a correction's interval served (both set), in place of what the clock said
    started_at: datetime | None = Field(default=None, sa_column=tz_column())
    ended_at: datetime | None = Field(default=None, sa_column=tz_column())
    #: sms | board | api | system
    source: str = Field(max_length=8)
    actor: str = Field(max_length=64)
    reason: str = Field(default="", max_length=200)
    #: the record a correction corrects (the check-in or check-out it replaces), if any
    corrects_id: int | None = Field(default=None, foreign_key="service_records.id")
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class Playbook(SQLModel, table=True):
    """What an alert of a kind (and optionally a level) makes: data, not code. `level` ""
    is the rule for every level without its own row. See `dispatch.playbooks` for the shape."""

    __tablename__ = "playbooks"
    __table_args__ = (UniqueConstraint("kind", "level", name="uq_playbook_kind_level"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=24)
    level: str = Field(default="", max_length=8)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    updated_by: str = Field(default="system", max_length=64)


# -- API schemas -------------------------------------------------------------------------------
class AssignmentPublic(BaseModel):
    id: int
    task_id: int
    volunteer_id: int
    volunteer_name: str
    slot: int
    status: str
    short_code: str
    source: str
    reason: str
    distance_km: float | None
    offered_at: datetime
    expires_at: datetime | None
    responded_at: datetime | None


class TaskPublic(BaseModel):
    id: int
    incident_id: int
    kind: str
    title: str
    place: str
    district_code: str | None
    lat: float
    lon: float
    skills: list[str]
    starts_at: datetime
    ends_at: datetime
    team_task: bool
    unfillable: bool
    needed: int
    offered: int
    accepted: int
    done: int


class IncidentSummary(BaseModel):
    id: int
    kind: str
    level: str
    title: str
    districts: list[str]
    status: str
    opened_at: datetime
    closed_at: datetime | None
    #: why it was closed (a dispatcher's words, or the Cancel that ended it); "" while open
    close_reason: str = ""
    needed: int = 0
    offered: int = 0
    accepted: int = 0
    done: int = 0
    unfillable_tasks: int = 0


class IncidentDetail(IncidentSummary):
    tasks: list[TaskPublic] = []
    assignments: list[AssignmentPublic] = []


class IncidentList(BaseModel):
    data: list[IncidentSummary]
    count: int


class AssignVolunteer(BaseModel):
    volunteer_id: int = PydField(gt=0)


class CloseIncident(BaseModel):
    """`POST /api/incidents/{id}/close`: why (kept with the incident, shown in its history,
    audited). Without one (no body, or no `reason`) the reason says who closed it; a reason
    given must say something (not blank)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = PydField(default=None, min_length=1, max_length=200, pattern=r"\S")


class CancelAssignment(BaseModel):
    reason: str = PydField(default="", max_length=200)


class CheckBody(BaseModel):
    """A check-in or check-out by hand: now, unless the person says when (`at`, at most a
    day back: a volunteer without a phone told the station manager when they came)."""

    at: datetime | None = None
    note: str = PydField(default="", max_length=200)


class CorrectionBody(BaseModel):
    """A dispatcher's correction of an assignment's hours: the interval actually served."""

    started_at: datetime
    ended_at: datetime
    #: why (required: something that is not blank)
    reason: str = PydField(min_length=1, max_length=200, pattern=r"\S")


class ServiceRecordPublic(BaseModel):
    id: int
    assignment_id: int
    task_id: int
    kind: str
    at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    source: str
    actor: str
    reason: str
    corrects_id: int | None
    recorded_at: datetime


class ServedPublic(BaseModel):
    """One assignment's hours as the ledger gives them."""

    assignment_id: int
    task_id: int
    task: str
    status: str
    window_start: datetime
    window_end: datetime
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    hours: float
    #: early (counted from the window's start), auto_closed (no check-out: closed at the
    #: window's end), capped (left later than the tolerance), corrected, on_shift,
    #: no_check_in, no_show
    flags: list[str]


class OptChange(BaseModel):
    """A dispatcher's opt-out or opt-in for a volunteer; `reason` is kept in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: str = PydField(default="", max_length=200)


class OptChangePublic(BaseModel):
    """What a dispatcher's opt-out or opt-in did: the volunteer's state now, and how many of
    their open offers and assignments an opt-out cancelled (to be refilled)."""

    volunteer_id: int
    opted_out: bool
    cancelled: int = 0


class HoursPublic(BaseModel):
    volunteer_id: int
    year: int
    hours: float
    tasks: int
    assignments: list[ServedPublic]
    records: list[ServiceRecordPublic]


class AttendancePublic(BaseModel):
    """What a check-in or check-out did."""

    result: str
    assignment_id: int
    at: datetime | None
    hours: float | None = None
