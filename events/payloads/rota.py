"""The travel-rush station rota (issue 15): shifts published ahead, picked or offered a week
at a time."""

from __future__ import annotations

from datetime import date

from events.base import EventPayload
from events.topics import Topic


class RotaWeekOpened(EventPayload):
    """The coming week of an open travel rush was opened for volunteers (the weekly rota job
    says so, and again if it runs twice): dispatch plans the week's station shifts and
    offers their free slots by SMS, as for any alert. Planning and offering twice add
    nothing: only free slots are offered."""

    TYPE = "nuanliu.rota.week_opened"
    TOPIC = Topic.INCIDENTS
    KEY_FIELD = "incident_id"

    incident_id: int
    #: the local dates of the week's first and last day (inclusive), inside the rush
    first_day: date
    last_day: date
