"""Alerts arriving from outside (dispatcher form, API, CAP feed, travel-rush calendar)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from events.base import EventPayload
from events.topics import Topic

AlertKind = Literal["ice_storm", "freezing_rain", "snow", "cold_wave", "travel_rush", "other"]
WarningLevel = Literal["blue", "yellow", "orange", "red"]


class AlertRaised(EventPayload):
    TYPE = "nuanliu.alert.raised"
    TOPIC = Topic.ALERTS
    KEY_FIELD = "incident_id"

    alert_id: int
    incident_id: int
    kind: AlertKind
    level: WarningLevel
    #: GB/T 2260 six-digit division codes
    districts: list[str]
    headline: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source: str = "api"


class AlertArrivedExpired(EventPayload):
    """An alert whose end (CAP `expires`) had already passed when it arrived: recorded and
    shown, but it opens no incident and sends nobody out (a feed replaying its backlog, a
    message stuck in a relay)."""

    TYPE = "nuanliu.alert.arrived_expired"
    TOPIC = Topic.ALERTS
    KEY_FIELD = "alert_id"

    alert_id: int
    kind: AlertKind
    level: WarningLevel
    #: GB/T 2260 six-digit division codes
    districts: list[str]
    headline: str
    ends_at: datetime
    received_at: datetime
    source: str = "cap"
