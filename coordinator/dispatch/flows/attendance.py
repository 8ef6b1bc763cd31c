"""Check-in, check-out and corrections: the hours ledger's rows (`ServiceRecord`), written
under the task's lock, so a check-in and the no-show sweep (`flows.no_shows`) cannot both
win, and audited. Hours are derived from the rows by `dispatch.hours`.

Who may write: the volunteer by SMS (`到`, `离`, `完成`), a dispatcher or the station
manager of the task's station by hand (the routes check the role), and the system (a
no-show). A check-out completes an accepted assignment (`responses.complete`): leaving is
being done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from coordinator.accounts.service import Actor, actor_name, record_audit
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.dispatch import errors
from coordinator.dispatch import hours as ledger
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.responses import complete
from coordinator.dispatch.flows.transitions import reload
from coordinator.dispatch.models import Assignment, RecordKind, ServiceRecord, Task
from coordinator.dispatch.models import AssignmentStatus as S
from events.outbox import stage
from events.payloads.assignments import VolunteerCheckedIn, VolunteerCheckedOut

#: how far back a check-in or check-out by hand may be dated
BACKDATE_LIMIT = timedelta(days=1)
#: the fact each kind of ledger row announces (the board's feed shows who arrived and left)
_FACTS = {RecordKind.CHECK_IN: VolunteerCheckedIn, RecordKind.CHECK_OUT: VolunteerCheckedOut}


@dataclass(frozen=True)
class Rules:
    """The settings check-in, check-out and hours go by."""

    early: timedelta
    tolerance: timedelta
    tz: str

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(settings.check_in_early, settings.hours_tolerance, settings.timezone)

    @classmethod
    def defaults(cls) -> Rules:
        """The settings' defaults, read without the environment (for callers without a
        process's settings: tests, one-off scripts)."""
        return cls.of(Settings.model_construct())


class Attendance(StrEnum):
    """What a check-in or check-out did."""

    CHECKED_IN = "checked_in"
    #: checked in before the window opened: hours count from its start
    CHECKED_IN_EARLY = "checked_in_early"
    ALREADY_IN = "already_checked_in"
    CHECKED_OUT = "checked_out"
    ALREADY_OUT = "already_checked_out"
    NOT_CHECKED_IN = "not_checked_in"
    TOO_EARLY = "too_early"
    #: the task's window is over (a check-in) or the assignment is not accepted
    NOT_OPEN = "not_open"


@dataclass(frozen=True)
class Outcome:
    result: Attendance
    assignment: Assignment
    task: Task
    #: the moment recorded (or the one recorded before, for ALREADY_*)
    at: datetime | None = None
    served: ledger.Served | None = None


def local_year(moment: datetime, tz: str) -> int:
    return moment.astimezone(ZoneInfo(tz)).year


def local_time(moment: datetime, tz: str) -> str:
    """`08:05` in the local zone (Asia/Shanghai by default), as the texts say it."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def _when(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    moment = aware(at)
    assert moment is not None
    if moment > now + timedelta(minutes=1):
        raise errors.InvalidAttendance("a check-in or check-out cannot be in the future")
    if moment < now - BACKDATE_LIMIT:
        raise errors.InvalidAttendance("a check-in or check-out may be dated at most a day back")
    return moment


def _locked(session: Session, assignment_id: int) -> tuple[Assignment, Task]:
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise errors.AssignmentNotFound(f"assignment {assignment_id} does not exist")
    task = svc.lock_task(session=session, task_id=a.task_id)
    assert task is not None  # a foreign key
    return reload(session, assignment_id), task


def _write(
    session: Session,
    a: Assignment,
    kind: RecordKind,
    *,
    at: datetime,
    actor: Actor | str,
    source: str,
    reason: str = "",
) -> ServiceRecord | None:
    """Append one ledger row; None when the same kind was written meanwhile (the partial
    unique index: two check-ins at once store one)."""
    row = ServiceRecord(
        assignment_id=a.id or 0,
        task_id=a.task_id,
        volunteer_id=a.volunteer_id,
        kind=kind,
        at=at,
        source=source,
        actor=actor_name(actor)[:64],
        reason=reason[:200],
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    record_audit(
        session=session,
        actor=actor,
        action=f"assignment.{kind.value}",
        subject=f"assignment:{a.id}",
        detail={"at": at.isoformat(), "source": source, "record_id": row.id},
    )
    fact = _FACTS.get(kind)
    if fact is not None:
        assert row.id is not None and a.id is not None
        stage(
            session,
            fact(
                record_id=row.id,
                assignment_id=a.id,
                task_id=a.task_id,
                incident_id=a.incident_id,
                volunteer_id=a.volunteer_id,
                at=at,
                source=source[:32],
            ),
        )
    return row


def check_in(
    *,
    session: Session,
    assignment_id: int,
    actor: Actor | str,
    source: str,
    early: timedelta,
    now: datetime | None = None,
    at: datetime | None = None,
    note: str = "",
) -> Outcome:
    """Check the volunteer of an accepted assignment in (at `at`, by hand, or now). Allowed
    from `early` before the window opens until it ends; twice is ALREADY_IN."""
    now = now or utcnow()
    moment = _when(at, now)
    a, task = _locked(session, assignment_id)
    start, end = aware(task.starts_at), aware(task.ends_at)
    assert start is not None and end is not None
    before = svc.record_of_kind(session=session, assignment_id=a.id or 0, kind=RecordKind.CHECK_IN)
    if before is not None:
        return Outcome(Attendance.ALREADY_IN, a, task, aware(before.at))
    if a.status != S.ACCEPTED or moment >= end:
        return Outcome(Attendance.NOT_OPEN, a, task)
    if moment < start - early:
        return Outcome(Attendance.TOO_EARLY, a, task)
    row = _write(
        session, a, RecordKind.CHECK_IN, at=moment, actor=actor, source=source, reason=note
    )
    if row is None:
        raced = svc.record_of_kind(
            session=session, assignment_id=a.id or 0, kind=RecordKind.CHECK_IN
        )
        return Outcome(Attendance.ALREADY_IN, a, task, aware(raced.at) if raced else None)
    result = Attendance.CHECKED_IN_EARLY if moment < start else Attendance.CHECKED_IN
    return Outcome(result, a, task, moment)


def check_out(
    *,
    session: Session,
    assignment_id: int,
    actor: Actor | str,
    source: str,
    tolerance: timedelta,
    now: datetime | None = None,
    at: datetime | None = None,
    note: str = "",
) -> Outcome:
    """Check the volunteer out (at `at`, by hand, or now) and complete the assignment if it
    is still accepted. Needs a check-in; twice is ALREADY_OUT."""
    now = now or utcnow()
    moment = _when(at, now)
    a, task = _locked(session, assignment_id)
    arrived = svc.record_of_kind(session=session, assignment_id=a.id or 0, kind=RecordKind.CHECK_IN)
    left = svc.record_of_kind(session=session, assignment_id=a.id or 0, kind=RecordKind.CHECK_OUT)
    if left is not None:
        return Outcome(
            Attendance.ALREADY_OUT,
            a,
            task,
            aware(left.at),
            _served(session, a, task, now, tolerance),
        )
    if arrived is None:
        return Outcome(Attendance.NOT_CHECKED_IN, a, task)
    if a.status not in (S.ACCEPTED, S.COMPLETED):
        return Outcome(Attendance.NOT_OPEN, a, task)
    arrived_at = aware(arrived.at)
    assert arrived_at is not None
    if moment < arrived_at:
        raise errors.InvalidAttendance("a check-out cannot be before the check-in")
    row = _write(
        session, a, RecordKind.CHECK_OUT, at=moment, actor=actor, source=source, reason=note
    )
    if row is None:
        return Outcome(
            Attendance.ALREADY_OUT, a, task, None, _served(session, a, task, now, tolerance)
        )
    if a.status == S.ACCEPTED:
        complete(session=session, assignment_id=a.id or 0, now=now, actor=actor_name(actor))
    return Outcome(
        Attendance.CHECKED_OUT, a, task, moment, _served(session, a, task, now, tolerance)
    )


def _served(
    session: Session, a: Assignment, task: Task, now: datetime, tolerance: timedelta
) -> ledger.Served:
    records = svc.records_of(session=session, assignment_ids=[a.id or 0]).get(a.id or 0, [])
    return ledger.served(
        assignment_id=a.id or 0,
        window_start=task.starts_at,
        window_end=task.ends_at,
        records=records,
        now=now,
        tolerance=tolerance,
    )


def correct(
    *,
    session: Session,
    assignment_id: int,
    started_at: datetime,
    ended_at: datetime,
    reason: str,
    actor: Actor,
    tolerance: timedelta,
) -> ServiceRecord:
    """A dispatcher's correction of an assignment's hours: a new row naming the interval
    served, audited with the reason and what it replaces; the rows before it stay. The
    interval must lie within the window widened by `tolerance` on both sides, and must not
    overlap the volunteer's other hours."""
    a, task = _locked(session, assignment_id)
    start, end = aware(started_at), aware(ended_at)
    ws, we = aware(task.starts_at), aware(task.ends_at)
    assert start is not None and end is not None and ws is not None and we is not None
    if end <= start:
        raise errors.InvalidAttendance("the correction must end after it starts")
    if start < ws - tolerance or end > we + tolerance or end - start > (we - ws) + tolerance:
        raise errors.InvalidAttendance(
            f"the task ran {ws.isoformat()} to {we.isoformat()}; hours may exceed it by at most "
            f"{int(tolerance.total_seconds() // 60)} minutes"
        )
    if a.status not in (S.ACCEPTED, S.COMPLETED, S.CANCELLED):
        raise errors.AttendanceRefused(f"assignment {assignment_id} is {a.status}: nothing served")
    now = utcnow()
    for other, served in _others(session, a, start, end, now, tolerance):
        if served.closed and served.started_at < end and start < served.ended_at:  # type: ignore[operator]
            raise errors.InvalidAttendance(
                f"the volunteer's hours on assignment {other} overlap that interval"
            )
    before = svc.records_of(session=session, assignment_ids=[a.id or 0]).get(a.id or 0, [])
    replaced = before[-1].id if before else None
    previous = _served(session, a, task, now, tolerance).hours(now)
    row = ServiceRecord(
        assignment_id=a.id or 0,
        task_id=a.task_id,
        volunteer_id=a.volunteer_id,
        kind=RecordKind.CORRECTION,
        started_at=start,
        ended_at=end,
        source="api",
        actor=actor_name(actor)[:64],
        reason=reason[:200],
        corrects_id=replaced,
    )
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        actor=actor,
        action="assignment.hours_corrected",
        subject=f"assignment:{a.id}",
        detail={
            "record_id": row.id,
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
            "reason": reason,
            "corrects_id": replaced,
            "records_before": [r.id for r in before if r.id != row.id],
            "hours_before": previous,
        },
    )
    return row


def _others(
    session: Session,
    a: Assignment,
    start: datetime,
    end: datetime,
    now: datetime,
    tolerance: timedelta,
) -> list[tuple[int, ledger.Served]]:
    pairs = svc.served_assignments(
        session=session,
        volunteer_id=a.volunteer_id,
        start=start - timedelta(days=1),
        end=end + timedelta(days=1),
    )
    records = svc.records_of(session=session, assignment_ids=[o.id or 0 for o, _ in pairs])
    out = []
    for other, task in pairs:
        if other.id == a.id:
            continue
        out.append(
            (
                other.id or 0,
                ledger.served(
                    assignment_id=other.id or 0,
                    window_start=task.starts_at,
                    window_end=task.ends_at,
                    records=records.get(other.id or 0, []),
                    now=now,
                    tolerance=tolerance,
                ),
            )
        )
    return out


@dataclass(frozen=True)
class YearHours:
    """A volunteer's hours in one (local) year: each assignment served and the records."""

    year: int
    served: list[tuple[Assignment, Task, ledger.Served]]
    records: list[ServiceRecord]

    def total(self, now: datetime) -> float:
        return round(sum(s.hours(now) for _, _, s in self.served), 2)

    @property
    def tasks(self) -> int:
        return sum(1 for _, _, s in self.served if s.started_at is not None)


def year_hours(
    *,
    session: Session,
    volunteer_id: int,
    year: int,
    tz: str,
    tolerance: timedelta,
    now: datetime | None = None,
) -> YearHours:
    """The volunteer's hours in `year` (local time): the assignments whose counted start
    (else their window's start) falls in it."""
    now = now or utcnow()
    zone = ZoneInfo(tz)
    lo = datetime(year, 1, 1, tzinfo=zone)
    hi = datetime(year + 1, 1, 1, tzinfo=zone)
    pairs = svc.served_assignments(session=session, volunteer_id=volunteer_id, start=lo, end=hi)
    by_assignment = svc.records_of(session=session, assignment_ids=[a.id or 0 for a, _ in pairs])
    served: list[tuple[Assignment, Task, ledger.Served]] = []
    records: list[ServiceRecord] = []
    for a, task in pairs:
        rows = by_assignment.get(a.id or 0, [])
        got = ledger.served(
            assignment_id=a.id or 0,
            window_start=task.starts_at,
            window_end=task.ends_at,
            records=rows,
            now=now,
            tolerance=tolerance,
        )
        anchor = got.started_at or got.window_start
        if lo <= anchor < hi:
            served.append((a, task, got))
            records.extend(rows)
    records.sort(key=lambda r: r.id or 0)
    return YearHours(year, served, records)


def choose(
    candidates: Sequence[tuple[Assignment, Task]], code: str | None
) -> list[tuple[Assignment, Task]]:
    """The candidates a text names: those with its short code, or all when it names none."""
    if code:
        return [(a, t) for a, t in candidates if a.short_code == code]
    return list(candidates)
