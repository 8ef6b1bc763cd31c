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


class _AttendanceEvent(EventPayload):
    """A row of the hours ledger: the volunteer of an accepted assignment arrived or left
    (by SMS, by hand on the board or the station page). Its noun is not `assignment`: the
    assignment's own state does not change with it."""

    TOPIC = Topic.ASSIGNMENTS
    KEY_FIELD = "incident_id"

    record_id: int
    assignment_id: int
    task_id: int
    incident_id: int
    volunteer_id: int
    #: the moment recorded (a check-in by hand may be dated back)
    at: datetime
    #: sms, board, station, …
    source: str


class VolunteerCheckedIn(_AttendanceEvent):
    TYPE = "nuanliu.attendance.checked_in"


class VolunteerCheckedOut(_AttendanceEvent):
    TYPE = "nuanliu.attendance.checked_out"
