"""Dispatch logic on the database: incidents, playbooks, tasks, counts, assignments and
short codes (who can be asked is `candidates`). No HTTP, no Kafka; the use cases in `flows/`
combine these with events.

Nearly 600 lines on purpose: it is the one surface the flows, the consumers and the other
domains call for dispatch's rows (the contracts forbid them its models), in sections marked
below; a caller finds every read here rather than in a module per table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, tuple_
from sqlmodel import Session, col, select

from coordinator.common import aware, utcnow
from coordinator.dispatch import hours
from coordinator.dispatch.models import (
    FILLED,
    HOLDING,
    Assignment,
    AssignmentPublic,
    IncidentDetail,
    IncidentSummary,
    Playbook,
    RecordKind,
    ServiceRecord,
    Task,
    TaskPublic,
)

# The row type this service hands to other domains: they name it from here, never from models
from coordinator.dispatch.models import Incident as Incident
from coordinator.dispatch.playbooks import DEFAULT_PLAYBOOKS, DEFAULT_SCALE

# The playbook's shape, for domains that read or propose one: named from here
from coordinator.dispatch.playbooks import PlaybookData as PlaybookData
from coordinator.sms.replies import new_code
from coordinator.volunteers import service as roster


# -- incidents ---------------------------------------------------------------------------------
def get_incident(*, session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


def list_incidents(
    *, session: Session, status: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Incident], int]:
    query = select(Incident)
    count = select(func.count()).select_from(Incident)
    if status:
        query = query.where(Incident.status == status)
        count = count.where(Incident.status == status)
    rows = session.exec(query.order_by(col(Incident.id).desc()).offset(offset).limit(limit)).all()
    return list(rows), int(session.exec(count).one())


def incidents_of_kind(*, session: Session, kind: str) -> list[Incident]:
    """Every incident of `kind`, open or closed, oldest first."""
    return list(
        session.exec(select(Incident).where(Incident.kind == kind).order_by(col(Incident.id))).all()
    )


def open_incident_of_kind(*, session: Session, kind: str) -> list[Incident]:
    return list(
        session.exec(select(Incident).where(Incident.kind == kind, Incident.status == "open")).all()
    )


# -- playbooks ---------------------------------------------------------------------------------
def playbook_for(*, session: Session, kind: str, level: str) -> PlaybookData:
    """The stored playbook for (kind, level), else (kind, any level), else the default."""
    for lvl in (level, ""):
        row = session.exec(
            select(Playbook).where(Playbook.kind == kind, Playbook.level == lvl)
        ).first()
        if row is not None:
            return PlaybookData.model_validate(row.data)
    return PlaybookData.model_validate(DEFAULT_PLAYBOOKS.get(kind, DEFAULT_PLAYBOOKS["other"]))


def playbook_level(*, session: Session, kind: str, level: str) -> str:
    """The level of the stored row `playbook_for(kind, level)` reads: `level` when that level
    has a row of its own, else "" (the row for every level, stored or still the default)."""
    row = session.exec(
        select(Playbook.id).where(Playbook.kind == kind, Playbook.level == level)
    ).first()
    return level if row is not None and level else ""


def level_factor(*, data: PlaybookData, level: str) -> float:
    """How `level` scales a rule's slots (which are for an orange alert), as planning does."""
    return data.scale.get(level, DEFAULT_SCALE.get(level, 1.0))


def list_playbooks(*, session: Session) -> list[dict[str, Any]]:
    """Stored playbooks, plus the defaults for kinds that have none stored."""
    rows = list(session.exec(select(Playbook).order_by(Playbook.kind, Playbook.level)).all())
    out = [
        {"kind": r.kind, "level": r.level or None, "data": r.data, "source": "stored"} for r in rows
    ]
    stored = {(r.kind, r.level) for r in rows}
    for kind, data in DEFAULT_PLAYBOOKS.items():
        if (kind, "") not in stored:
            out.append({"kind": kind, "level": None, "data": data, "source": "default"})
    return out


def save_playbook(
    *, session: Session, kind: str, level: str, data: PlaybookData, by: str
) -> Playbook:
    row = session.exec(
        select(Playbook).where(Playbook.kind == kind, Playbook.level == level)
    ).first()
    if row is None:
        row = Playbook(kind=kind, level=level)
    row.data = data.model_dump(mode="json")
    row.updated_at = utcnow()
    row.updated_by = by[:64]
    session.add(row)
    session.flush()
    return row


# -- tasks and counts --------------------------------------------------------------------------
def tasks_of(*, session: Session, incident_id: int) -> list[Task]:
    return list(
        session.exec(
            select(Task).where(Task.incident_id == incident_id).order_by(col(Task.id))
        ).all()
    )


def assignments_of_incident(*, session: Session, incident_id: int) -> list[Assignment]:
    """Every assignment the incident ever had, whatever became of it, in id order."""
    return list(
        session.exec(
            select(Assignment)
            .where(Assignment.incident_id == incident_id)
            .order_by(col(Assignment.id))
        ).all()
    )


def get_task(*, session: Session, task_id: int) -> Task | None:
    return session.get(Task, task_id)


def lock_task(*, session: Session, task_id: int) -> Task | None:
    """The task row, locked for the rest of the transaction (FOR UPDATE on PostgreSQL; SQLite
    serialises writers with BEGIN IMMEDIATE), re-read from the database."""
    return session.exec(
        select(Task)
        .where(Task.id == task_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def lock_tasks(*, session: Session, task_ids: Sequence[int]) -> None:
    """Lock many task rows at once (FOR UPDATE on PostgreSQL), in the order given."""
    for i in range(0, len(task_ids), 900):
        session.exec(
            select(Task.id)
            .where(col(Task.id).in_(list(task_ids[i : i + 900])))
            .order_by(col(Task.id))
            .with_for_update()
        ).all()


def holding_slots(*, session: Session, task_id: int) -> dict[int, Assignment]:
    rows = session.exec(
        select(Assignment)
        .where(Assignment.task_id == task_id, col(Assignment.status).in_(HOLDING))
        .execution_options(populate_existing=True)
    ).all()
    return {a.slot: a for a in rows}


def free_slots(*, session: Session, task: Task) -> list[int]:
    assert task.id is not None
    held = holding_slots(session=session, task_id=task.id)
    return [s for s in range(task.slots) if s not in held]


def status_counts(*, session: Session, task_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not task_ids:
        return out
    rows = session.exec(
        select(Assignment.task_id, Assignment.status, func.count())
        .where(col(Assignment.task_id).in_(list(task_ids)))
        .group_by(col(Assignment.task_id), col(Assignment.status))
    ).all()
    for task_id, status, n in rows:
        out[task_id][status] = int(n)
    return out


def _task_public(task: Task, counts: dict[str, int]) -> TaskPublic:
    assert task.id is not None
    return TaskPublic(
        id=task.id,
        incident_id=task.incident_id,
        kind=task.kind,
        title=task.title,
        place=task.place,
        district_code=task.district_code,
        lat=task.lat,
        lon=task.lon,
        skills=list(task.skills),
        starts_at=aware(task.starts_at) or task.starts_at,
        ends_at=aware(task.ends_at) or task.ends_at,
        team_task=task.team_task,
        unfillable=task.unfillable,
        needed=task.slots,
        offered=counts.get("offered", 0),
        accepted=counts.get("accepted", 0),
        done=counts.get("completed", 0),
    )


def summarise(*, session: Session, incidents: Sequence[Incident]) -> list[IncidentSummary]:
    ids = [i.id for i in incidents if i.id is not None]
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if ids:
        needed = session.exec(
            select(
                Task.incident_id,
                func.sum(Task.slots),
                func.sum(case((col(Task.unfillable), 1), else_=0)),
            )
            .where(col(Task.incident_id).in_(ids))
            .group_by(col(Task.incident_id))
        ).all()
        for incident_id, slots, unfillable in needed:
            totals[incident_id]["needed"] = int(slots or 0)
            totals[incident_id]["unfillable"] = int(unfillable or 0)
        by_status = session.exec(
            select(Assignment.incident_id, Assignment.status, func.count())
            .where(col(Assignment.incident_id).in_(ids))
            .group_by(col(Assignment.incident_id), col(Assignment.status))
        ).all()
        for incident_id, status, n in by_status:
            totals[incident_id][status] = int(n)
    out = []
    for inc in incidents:
        assert inc.id is not None
        t = totals[inc.id]
        out.append(
            IncidentSummary(
                id=inc.id,
                kind=inc.kind,
                level=inc.level,
                title=inc.title,
                districts=list(inc.districts),
                status=inc.status,
                opened_at=aware(inc.opened_at) or inc.opened_at,
                closed_at=aware(inc.closed_at),
                close_reason=inc.close_reason,
                needed=t.get("needed", 0),
                offered=t.get("offered", 0),
                accepted=t.get("accepted", 0),
                done=t.get("completed", 0),
                unfillable_tasks=t.get("unfillable", 0),
            )
        )
    return out


def incident_detail(*, session: Session, incident: Incident) -> IncidentDetail:
    assert incident.id is not None
    summary = summarise(session=session, incidents=[incident])[0]
    tasks = tasks_of(session=session, incident_id=incident.id)
    counts = status_counts(session=session, task_ids=[t.id for t in tasks if t.id is not None])
    held = session.exec(
        select(Assignment).where(Assignment.incident_id == incident.id).order_by(col(Assignment.id))
    ).all()
    names = roster.names_by_id(session=session, volunteer_ids={a.volunteer_id for a in held})
    rows = [(a, names.get(a.volunteer_id, "")) for a in held]
    assignments = [
        AssignmentPublic(
            id=a.id or 0,
            task_id=a.task_id,
            volunteer_id=a.volunteer_id,
            volunteer_name=name,
            slot=a.slot,
            status=a.status,
            short_code=a.short_code,
            source=a.source,
            reason=a.reason,
            distance_km=a.distance_km,
            offered_at=aware(a.offered_at) or a.offered_at,
            expires_at=aware(a.expires_at),
            responded_at=aware(a.responded_at),
        )
        for a, name in rows
    ]
    return IncidentDetail(
        **summary.model_dump(),
        tasks=[_task_public(t, counts.get(t.id or 0, {})) for t in tasks],
        assignments=assignments,
    )


# -- short codes and a volunteer's open assignments --------------------------------------------
def open_codes(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(volunteer_ids)
    out: dict[int, set[str]] = defaultdict(set)
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        for vid, code in session.exec(
            select(Assignment.volunteer_id, Assignment.short_code).where(
                col(Assignment.volunteer_id).in_(chunk), Assignment.status == "offered"
            )
        ).all():
            out[vid].add(code)
    return out


def fresh_code(taken: set[str]) -> str:
    """A short code not in `taken` (the volunteer's open offers)."""
    for length in (3, 3, 3, 3, 4, 4, 4, 4, 5, 6):
        code = new_code(length)
        if code not in taken:
            return code
    raise RuntimeError("could not find a free short code")  # pragma: no cover


def task_starts(*, session: Session, task_ids: Iterable[int]) -> set[datetime]:
    """The distinct start times of the tasks `task_ids` (aware, UTC)."""
    wanted = list(set(task_ids))
    out: set[datetime] = set()
    for start in range(0, len(wanted), 500):
        for at in session.exec(
            select(Task.starts_at).where(col(Task.id).in_(wanted[start : start + 500])).distinct()
        ).all():
            out.add(aware(at) or at)
    return out


def assignments_with_tasks(
    *, session: Session, assignment_ids: Iterable[int]
) -> dict[int, tuple[Assignment, Task]]:
    """Assignment id → (assignment, its task), for those of `assignment_ids` that exist, in
    a query per 500 (the notify consumer reads a whole batch of offers at once)."""
    wanted = list(set(assignment_ids))
    found: dict[int, tuple[Assignment, Task]] = {}
    for start in range(0, len(wanted), 500):
        rows = session.exec(
            select(Assignment, Task)
            .join(Task, col(Task.id) == Assignment.task_id)
            .where(col(Assignment.id).in_(wanted[start : start + 500]))
        ).all()
        for a, task in rows:
            if a.id is not None:
                found[a.id] = (a, task)
    return found


def assignments_of(
    *, session: Session, volunteer_id: int, statuses: Sequence[str]
) -> list[Assignment]:
    """The volunteer's assignments in `statuses`, newest first."""
    return list(
        session.exec(
            select(Assignment)
            .where(Assignment.volunteer_id == volunteer_id, col(Assignment.status).in_(statuses))
            .order_by(col(Assignment.id).desc())
            .execution_options(populate_existing=True)
        ).all()
    )


def assignments_of_many(
    *, session: Session, volunteer_ids: set[int], statuses: Sequence[str]
) -> list[Assignment]:
    """The assignments of `volunteer_ids` in `statuses`, newest first (read afresh)."""
    if not volunteer_ids:
        return []
    return list(
        session.exec(
            select(Assignment)
            .where(
                col(Assignment.volunteer_id).in_(volunteer_ids),
                col(Assignment.status).in_(statuses),
            )
            .order_by(col(Assignment.id).desc())
            .execution_options(populate_existing=True)
        ).all()
    )


def newest_assignments(
    *, session: Session, volunteer_ids: set[int], codes: set[tuple[int, str]] | None = None
) -> list[Assignment]:
    """Each volunteer's newest assignment, whatever its status; with `codes`, the newest for
    each (volunteer id, short code) pair instead."""
    if not volunteer_ids or codes == set():
        return []
    if codes is None:
        newest = (
            select(func.max(Assignment.id))
            .where(col(Assignment.volunteer_id).in_(volunteer_ids))
            .group_by(col(Assignment.volunteer_id))
        )
    else:
        newest = (
            select(func.max(Assignment.id))
            .where(tuple_(col(Assignment.volunteer_id), col(Assignment.short_code)).in_(codes))
            .group_by(col(Assignment.volunteer_id), col(Assignment.short_code))
        )
    return list(
        session.exec(
            select(Assignment)
            .where(col(Assignment.id).in_(newest))
            .execution_options(populate_existing=True)
        ).all()
    )


def filled_count(*, session: Session, task_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.task_id == task_id, col(Assignment.status).in_(FILLED))
        ).one()
    )


def offered_to(*, session: Session, task_id: int) -> set[int]:
    """Everyone who ever had an assignment on this task (not to be asked again)."""
    return set(
        session.exec(select(Assignment.volunteer_id).where(Assignment.task_id == task_id)).all()
    )


def overdue_offers(*, session: Session, now: datetime, limit: int = 1000) -> list[Assignment]:
    return list(
        session.exec(
            select(Assignment)
            .where(Assignment.status == "offered", col(Assignment.expires_at) <= now)
            .order_by(col(Assignment.expires_at))
            .limit(limit)
        ).all()
    )


def holding(session: Session, task_id: int) -> list[Assignment]:
    """Assignments that hold a slot of the task (for tests and the board)."""
    return list(
        session.exec(
            select(Assignment).where(
                Assignment.task_id == task_id, col(Assignment.status).in_(HOLDING)
            )
        ).all()
    )


# -- the hours ledger (issue 15) ---------------------------------------------------------------
def served_on(
    *,
    session: Session,
    pairs: Sequence[tuple[Assignment, Task]],
    now: datetime,
    tolerance: timedelta,
) -> dict[int, hours.Served]:
    """Assignment id → its time served as the hours ledger gives it, for those of `pairs`
    (assignment, its task) that have ledger rows; the rules are `dispatch.hours`'."""
    records = records_of(session=session, assignment_ids=[a.id for a, _ in pairs if a.id])
    out: dict[int, hours.Served] = {}
    for a, task in pairs:
        rows = records.get(a.id or 0)
        if a.id is not None and rows:
            out[a.id] = hours.served(
                assignment_id=a.id,
                window_start=aware(task.starts_at) or task.starts_at,
                window_end=aware(task.ends_at) or task.ends_at,
                records=rows,
                now=now,
                tolerance=tolerance,
            )
    return out


def records_of(
    *, session: Session, assignment_ids: Iterable[int]
) -> dict[int, list[ServiceRecord]]:
    """Assignment id → its ledger rows in the order written."""
    wanted = list(set(assignment_ids))
    out: dict[int, list[ServiceRecord]] = defaultdict(list)
    for start in range(0, len(wanted), 500):
        for r in session.exec(
            select(ServiceRecord)
            .where(col(ServiceRecord.assignment_id).in_(wanted[start : start + 500]))
            .order_by(col(ServiceRecord.id))
        ).all():
            out[r.assignment_id].append(r)
    return dict(out)


def record_of_kind(
    *, session: Session, assignment_id: int, kind: RecordKind
) -> ServiceRecord | None:
    """The assignment's check-in or check-out (there is at most one of each)."""
    return session.exec(
        select(ServiceRecord).where(
            ServiceRecord.assignment_id == assignment_id, ServiceRecord.kind == kind
        )
    ).first()


def checked_in_ids(*, session: Session, assignment_ids: Iterable[int]) -> set[int]:
    """Those of `assignment_ids` with a check-in."""
    wanted = list(set(assignment_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        found |= set(
            session.exec(
                select(ServiceRecord.assignment_id).where(
                    col(ServiceRecord.assignment_id).in_(wanted[start : start + 500]),
                    ServiceRecord.kind == RecordKind.CHECK_IN,
                )
            ).all()
        )
    return found


def served_assignments(
    *, session: Session, volunteer_id: int, start: datetime, end: datetime
) -> list[tuple[Assignment, Task]]:
    """The volunteer's assignments with a ledger row whose task's window overlaps
    [start, end), oldest first."""
    with_records = select(ServiceRecord.assignment_id).where(
        ServiceRecord.volunteer_id == volunteer_id
    )
    rows = session.exec(
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            Assignment.volunteer_id == volunteer_id,
            col(Assignment.id).in_(with_records),
            col(Task.starts_at) < end,
            col(Task.ends_at) > start - timedelta(days=1),
        )
        .order_by(col(Task.starts_at), col(Assignment.id))
    ).all()
    return [(a, t) for a, t in rows]


def accepted_with_tasks(*, session: Session, volunteer_id: int) -> list[tuple[Assignment, Task]]:
    """The volunteer's accepted assignments and their tasks, soonest first."""
    rows = session.exec(
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(Assignment.volunteer_id == volunteer_id, Assignment.status == "accepted")
        .order_by(col(Task.starts_at), col(Assignment.id))
        .execution_options(populate_existing=True)
    ).all()
    return [(a, t) for a, t in rows]


def not_checked_in(
    *, session: Session, started_before: datetime, now: datetime, limit: int = 2000
) -> list[tuple[Assignment, Task]]:
    """Accepted assignments without a check-in whose task started before `started_before`
    and has not ended by `now`: the no-show sweep's work, in task order (as the solver
    locks tasks)."""
    checked = select(ServiceRecord.assignment_id).where(ServiceRecord.kind == RecordKind.CHECK_IN)
    rows = session.exec(
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            Assignment.status == "accepted",
            col(Task.starts_at) <= started_before,
            col(Task.ends_at) > now,
            col(Assignment.id).not_in(checked),
        )
        .order_by(col(Task.id), col(Assignment.id))
        .limit(limit)
    ).all()
    return [(a, t) for a, t in rows]


def station_code_of(task: Task) -> str | None:
    """The code of the station a station shift is at, from its plan key
    (`<rule>:<station code>:<day>:<HH:MM>`, see `playbooks.plan`; other tasks' keys have at
    most three parts); None for other tasks. The caller checks a station has that code."""
    parts = task.plan_key.split(":")
    return parts[1] if len(parts) >= 4 and parts[1] else None


def station_shifts(
    *, session: Session, station_code: str, start: datetime, end: datetime
) -> list[tuple[Assignment, Task, ServiceRecord | None, ServiceRecord | None]]:
    """The accepted and completed assignments of the shifts at a station (by its code, see
    :func:`station_code_of`) whose window overlaps [start, end), soonest first, each with its
    check-in and check-out (or None): the station page's roster."""
    rows = session.exec(
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            col(Task.plan_key).like(f"%:{station_code}:%"),
            col(Assignment.status).in_(FILLED),
            col(Task.starts_at) < end,
            col(Task.ends_at) > start,
        )
        .order_by(col(Task.starts_at), col(Assignment.id))
    ).all()
    pairs = [(a, t) for a, t in rows if station_code_of(t) == station_code]
    records = records_of(session=session, assignment_ids=[a.id or 0 for a, _ in pairs])
    out = []
    for a, task in pairs:
        mine = records.get(a.id or 0, [])
        arrived = next((r for r in mine if r.kind == RecordKind.CHECK_IN), None)
        left = next((r for r in mine if r.kind == RecordKind.CHECK_OUT), None)
        out.append((a, task, arrived, left))
    return out


@dataclass(frozen=True)
class ServedShift:
    """One assignment's time served with what its task was and where: a line of a service
    record (`coordinator.records`), read from the ledger with corrections applied."""

    assignment_id: int
    volunteer_id: int
    incident_id: int
    task_kind: str
    task_title: str
    place: str
    district_code: str | None
    served: hours.Served


def served_shifts(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    tolerance: timedelta,
    now: datetime,
    incident_id: int | None = None,
    volunteer_ids: Iterable[int] | None = None,
) -> list[ServedShift]:
    """Every assignment with ledger rows whose counted start (else its window's start) lies
    in [start, end), of one incident or any, of some volunteers or all, as the ledger's
    rules count it (`hours.served`), in the volunteer's and then the task's order. The
    same selection as a volunteer's year (`flows.attendance.year_hours`), in a few queries
    for many volunteers: the assignments in one, their rows in chunks of 500."""
    with_records = select(ServiceRecord.assignment_id)
    query = (
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            col(Assignment.id).in_(with_records),
            col(Task.starts_at) < end,
            col(Task.ends_at) > start - timedelta(days=1),
        )
    )
    if incident_id is not None:
        query = query.where(Task.incident_id == incident_id)
    if volunteer_ids is not None:
        wanted = sorted(set(volunteer_ids))
        if not wanted:
            return []
        query = query.where(col(Assignment.volunteer_id).in_(wanted))
    rows = session.exec(
        query.order_by(col(Assignment.volunteer_id), col(Task.starts_at), col(Assignment.id))
    ).all()
    records = records_of(session=session, assignment_ids=[a.id or 0 for a, _ in rows])
    out = []
    for a, task in rows:
        got = hours.served(
            assignment_id=a.id or 0,
            window_start=task.starts_at,
            window_end=task.ends_at,
            records=records.get(a.id or 0, []),
            now=now,
            tolerance=tolerance,
        )
        anchor = got.started_at or got.window_start
        if start <= anchor < end:
            out.append(
                ServedShift(
                    assignment_id=a.id or 0,
                    volunteer_id=a.volunteer_id,
                    incident_id=task.incident_id,
                    task_kind=task.kind,
                    task_title=task.title,
                    place=task.place,
                    district_code=task.district_code,
                    served=got,
                )
            )
    return out


def served_volunteer_ids(
    *, session: Session, start: datetime, end: datetime, incident_id: int | None = None
) -> list[int]:
    """The volunteers with ledger rows on tasks whose window overlaps [start, end) (of one
    incident or any), in id order: those `served_shifts` may find hours for, so a batch can
    read them a chunk at a time."""
    query = (
        select(ServiceRecord.volunteer_id)
        .join(Task, col(Task.id) == ServiceRecord.task_id)
        .where(col(Task.starts_at) < end, col(Task.ends_at) > start - timedelta(days=1))
        .distinct()
    )
    if incident_id is not None:
        query = query.where(Task.incident_id == incident_id)
    return sorted(session.exec(query).all())
