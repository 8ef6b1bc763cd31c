"""The life of one volunteer's assignment to one task slot."""

from __future__ import annotations

from datetime import datetime

from events.base import EventPayload
from events.topics import Topic


class _AssignmentEvent(EventPayload):
    TOPIC = Topic.ASSIGNMENTS
    KEY_FIELD = "incident_id"

    assignment_id: int
    task_id: int
    incident_id: int
    volunteer_id: int


class AssignmentOffered(_AssignmentEvent):
    TYPE = "nuanliu.assignment.offered"
    short_code: str
    expires_at: datetime
    reason: str = ""


class AssignmentAccepted(_AssignmentEvent):
    TYPE = "nuanliu.assignment.accepted"


class AssignmentDeclined(_AssignmentEvent):
    TYPE = "nuanliu.assignment.declined"


class AssignmentExpired(_AssignmentEvent):
    TYPE = "nuanliu.assignment.expired"


class AssignmentCompleted(_AssignmentEvent):
    TYPE = "nuanliu.assignment.completed"


class AssignmentCancelled(_AssignmentEvent):
    TYPE = "nuanliu.assignment.cancelled"
    by: str = "dispatcher"
    reason: str = ""
