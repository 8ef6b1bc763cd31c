"""Incidents and the tasks planned for them."""

from __future__ import annotations

from datetime import date, datetime

from events.base import EventPayload
from events.payloads.alerts import AlertKind, WarningLevel
from events.topics import Topic


class IncidentOpened(EventPayload):
    TYPE = "nuanliu.incident.opened"
    TOPIC = Topic.INCIDENTS
    KEY_FIELD = "incident_id"

    incident_id: int
    kind: AlertKind
    level: WarningLevel
    title: str
    districts: list[str]


class IncidentClosed(EventPayload):
    TYPE = "nuanliu.incident.closed"
    TOPIC = Topic.INCIDENTS
    KEY_FIELD = "incident_id"

    incident_id: int
    reason: str


class TravelRushDayBegan(EventPayload):
    """A day of an open travel rush began (the calendar says so each morning, and again if
    it runs twice): dispatch plans that day's station shifts from `starts_at` and offers
    them. Planning twice adds nothing."""

    TYPE = "nuanliu.travel_rush.day_began"
    TOPIC = Topic.INCIDENTS
    KEY_FIELD = "incident_id"

    incident_id: int
    #: the local date of the day
    day: date
    #: when its planning starts: midnight, or now when the day is under way
    starts_at: datetime


class TaskPlanned(EventPayload):
    TYPE = "nuanliu.task.planned"
    TOPIC = Topic.TASKS
    KEY_FIELD = "incident_id"

    task_id: int
    incident_id: int
    title: str
    district_code: str | None = None
    slots: int
    skills: list[str] = []
    starts_at: datetime | None = None
    ends_at: datetime | None = None
