"""Every way dispatch says no to a dispatcher: one type per failure, each with its HTTP status and
code (see `coordinator.errors`). `DispatchError` is the base a caller catches; it is still a
`ValueError`, as it always was."""

from __future__ import annotations

from coordinator.errors import DomainError


class DispatchError(DomainError, ValueError):
    """A request dispatch cannot carry out (409 unless the type says otherwise)."""

    status = 409
    code = "dispatch_refused"


# -- nothing there (404) ----------------------------------------------------------------------
class IncidentNotFound(DispatchError):
    status = 404
    code = "incident_not_found"


class AssignmentNotFound(DispatchError):
    status = 404
    code = "assignment_not_found"


class TaskNotFound(DispatchError):
    status = 404
    code = "task_not_found"


class UnknownVolunteer(DispatchError):
    """No volunteer with that id to put into a task."""

    status = 404
    code = "unknown_volunteer"


class UnknownPlaybookKind(DispatchError):
    status = 404
    code = "unknown_playbook_kind"


# -- not now (409) ----------------------------------------------------------------------------
class AssignmentNotOpen(DispatchError):
    """Only an offered or accepted assignment can be cancelled."""

    code = "assignment_not_open"


class IncidentClosed(DispatchError):
    code = "incident_closed"


class TaskOver(DispatchError):
    code = "task_over"


class VolunteerUnavailable(DispatchError):
    """The volunteer is inactive or opted out of messages."""

    code = "volunteer_unavailable"


class AlreadyInTask(DispatchError):
    code = "already_in_task"


class ShiftTaken(DispatchError):
    """The volunteer holds another task in an overlapping shift."""

    code = "shift_taken"


class TaskFull(DispatchError):
    """Every slot is accepted (none only offered, which could be withdrawn)."""

    code = "task_full"


# -- the travel-rush rota (issue 15) ---------------------------------------------------------
class NotARotaShift(DispatchError):
    """The task is not a shift of an open travel rush still to come."""

    code = "not_a_rota_shift"


class MissingSkill(DispatchError):
    """The shift needs a skill the volunteer lacks, or whose certificate has lapsed by then."""

    code = "missing_skill"


class GiveBackTooLate(DispatchError):
    """A shift starting within the notice (`NUANLIU_ROTA_GIVE_BACK_NOTICE`) is no longer
    given back by the volunteer: a dispatcher arranges a stand-in."""

    code = "give_back_too_late"


# -- not like that (422) ----------------------------------------------------------------------
class UnknownLevel(DispatchError):
    status = 422
    code = "unknown_level"


# -- the hours ledger (issue 15) ---------------------------------------------------------------
class InvalidAttendance(DispatchError):
    """A check-in, check-out or correction whose times cannot be true (in the future, before
    the check-in, longer than the window allows)."""

    status = 422
    code = "invalid_attendance"


class AttendanceRefused(DispatchError):
    """A check-in or check-out the assignment's state does not allow; the message says why
    (not accepted, already checked in, not checked in, too early, the task is over)."""

    code = "attendance_refused"
