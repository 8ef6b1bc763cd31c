"""Dispatch's invariants, which `nuanliu check` runs (`RULES`; those in `TIMED` take `now`
and `grace`) and the repair sweep reads: a slot held once, one task per volunteer per shift,
an open incident has tasks, a slot has a live assignment or is flagged, an accepted offer's
event was staged; the hours ledger's (in `LEDGER`, which take `now` and the hours
`tolerance`): hours within the window plus the tolerance, never two at once for one
volunteer, a check-out only after its check-in. Read only; each returns `Breach`es with a
message a dispatcher can act on."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from coordinator.common import aware
from coordinator.dispatch import hours as ledger
from coordinator.dispatch.models import (
    FILLED,
    HOLDING,
    LIVE,
    Assignment,
    Incident,
    RecordKind,
    ServiceRecord,
    Task,
)
from coordinator.invariants import Breach, Rule
from events.outbox import OutboxEvent
from events.payloads.alerts import AlertRaised
from events.payloads.assignments import (
    AssignmentCancelled,
    AssignmentDeclined,
    AssignmentExpired,
)


def slots_filled_twice(session: Session) -> list[Breach]:
    """More filled assignments than slots; two live assignments on one slot; a slot number
    past the task's slots."""
    out: list[Breach] = []
    filled = session.exec(
        select(Task.id, Task.slots, func.count(col(Assignment.id)))
        .join(Assignment, col(Assignment.task_id) == Task.id)
        .where(col(Assignment.status).in_(FILLED))
        .group_by(col(Task.id), col(Task.slots))
        .having(func.count(col(Assignment.id)) > Task.slots)
    ).all()
    for task_id, slots, n in filled:
        out.append(
            Breach(
                "slot_overfilled",
                f"task {task_id}",
                f"{n} accepted/completed assignments for {slots} slot(s)",
            )
        )
    doubled = session.exec(
        select(Assignment.task_id, Assignment.slot, func.count(col(Assignment.id)))
        .where(col(Assignment.status).in_(HOLDING))
        .group_by(col(Assignment.task_id), col(Assignment.slot))
        .having(func.count(col(Assignment.id)) > 1)
    ).all()
    for task_id, slot, n in doubled:
        out.append(
            Breach(
                "slot_held_twice",
                f"task {task_id} slot {slot}",
                f"{n} offered/accepted/completed assignments hold the same slot",
            )
        )
    outside = session.exec(
        select(Assignment.id, Assignment.task_id, Assignment.slot, Task.slots)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(col(Assignment.status).in_(HOLDING), col(Assignment.slot) >= Task.slots)
    ).all()
    for aid, task_id, slot, slots in outside:
        out.append(
            Breach(
                "slot_out_of_range",
                f"assignment {aid}",
                f"holds slot {slot} of task {task_id}, which has only {slots} slot(s)",
            )
        )
    return out


def two_tasks_in_one_shift(session: Session) -> list[Breach]:
    """A volunteer offered or holding two tasks whose windows overlap."""
    rows = session.execute(
        sa_select(
            col(Assignment.volunteer_id),
            col(Assignment.id),
            col(Assignment.task_id),
            col(Task.starts_at),
            col(Task.ends_at),
        )
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(col(Assignment.status).in_(LIVE))  # busy in that shift, as the matching sees it
        .order_by(col(Assignment.volunteer_id), col(Task.starts_at), col(Assignment.id))
    ).all()
    held: dict[int, list[tuple[int | None, int, datetime, datetime]]] = defaultdict(list)
    for vid, aid, task_id, starts, ends in rows:
        held[vid].append((aid, task_id, aware(starts) or starts, aware(ends) or ends))
    out: list[Breach] = []
    for vid, items in held.items():
        for i, (x, tx, sx, ex) in enumerate(items):
            for y, ty, sy, ey in items[i + 1 :]:
                if sy >= ex:
                    break  # sorted by start: nothing later overlaps x
                if sx < ey:
                    out.append(
                        Breach(
                            "two_tasks_one_shift",
                            f"volunteer {vid}",
                            f"holds assignment {x} (task {tx}) and assignment {y} (task {ty})"
                            " in overlapping shifts",
                        )
                    )
    return out


def open_incidents_without_tasks(session: Session, *, before: datetime) -> list[int]:
    """Open incidents opened before `before` that have no task at all, in id order."""
    return [
        int(i)
        for i in session.exec(
            select(Incident.id)
            .where(
                Incident.status == "open",
                col(Incident.opened_at) < before,
                ~sa_select(col(Task.id)).where(col(Task.incident_id) == Incident.id).exists(),
            )
            .order_by(col(Incident.id))
        ).all()
        if i is not None
    ]


def alerts_waiting(session: Session, incident_ids: Iterable[int]) -> set[int]:
    """Those of `incident_ids` with an AlertRaised still unpublished in the outbox: the
    dispatch consumer will plan them when the relay gets to it."""
    keys = [str(i) for i in incident_ids]
    if not keys:
        return set()
    return {
        int(key)
        for key in session.exec(
            select(OutboxEvent.key).where(
                OutboxEvent.type == AlertRaised.TYPE,
                col(OutboxEvent.published_at).is_(None),
                col(OutboxEvent.key).in_(keys),
            )
        ).all()
        if key is not None
    }


def incidents_without_tasks(session: Session, *, now: datetime, grace: timedelta) -> list[Breach]:
    """An open incident older than `grace` with no tasks: nobody is asked to help. The
    dispatch consumer plans in the same transaction as it reads the AlertRaised, so after
    `grace` either the event was lost (a crash) or it waits in the outbox (said so)."""
    ids = open_incidents_without_tasks(session, before=now - grace)
    waiting = alerts_waiting(session, ids)
    return [
        Breach(
            "incident_without_tasks",
            f"incident {iid}",
            "is open and has no tasks"
            + (
                " (its alert event is still waiting in the outbox)"
                if iid in waiting
                else "; its alert was never planned"
            ),
        )
        for iid in ids
    ]


#: events that free a slot; the dispatch consumer refills it when one arrives
_FREES_A_SLOT = (AssignmentDeclined.TYPE, AssignmentExpired.TYPE, AssignmentCancelled.TYPE)


def empty_slots(session: Session, *, now: datetime, before: datetime) -> list[tuple[int, int]]:
    """(task id, slot) of every slot that nobody holds, of a task still to end in an open
    incident, not flagged unfillable, planned before `before` and not freed since (by a
    decline, expiry or cancel staged after `before`: its refill may be on its way)."""
    tasks = session.exec(
        select(Task.id, Task.slots)
        .join(Incident, col(Incident.id) == Task.incident_id)
        .where(
            Incident.status == "open",
            col(Task.unfillable).is_(False),
            col(Task.slots) > 0,
            col(Task.ends_at) > now,
            col(Task.created_at) < before,
        )
        .order_by(col(Task.id))
    ).all()
    if not tasks:
        return []
    ids = [int(t) for t, _ in tasks if t is not None]
    held = set(
        session.exec(
            select(Assignment.task_id, Assignment.slot).where(
                col(Assignment.task_id).in_(ids), col(Assignment.status).in_(HOLDING)
            )
        ).all()
    )
    empty = [
        (int(tid), n)
        for tid, slots in tasks
        if tid is not None
        for n in range(slots)
        if (tid, n) not in held
    ]
    if not empty:
        return []
    freed: set[int] = set()
    for data in session.exec(
        select(OutboxEvent.data).where(
            col(OutboxEvent.type).in_(_FREES_A_SLOT), col(OutboxEvent.created_at) >= before
        )
    ).all():
        try:
            value = json.loads(data).get("assignment_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int):
            freed.add(value)
    recent = (
        set(
            session.exec(
                select(Assignment.task_id, Assignment.slot).where(
                    col(Assignment.id).in_(sorted(freed))
                )
            ).all()
        )
        if freed
        else set()
    )
    return [key for key in empty if key not in recent]


def slots_without_live_assignment(
    session: Session, *, now: datetime, grace: timedelta
) -> list[Breach]:
    """A slot nobody holds and nobody is being asked for, without the task being flagged
    unfillable: planning offers every slot or flags the task, and a freed slot is refilled
    or flagged when its event arrives, so after `grace` an empty slot means lost work."""
    return [
        Breach(
            "slot_without_live_assignment",
            f"task {tid} slot {n}",
            "has no offered/accepted/completed assignment and the task is not flagged unfillable",
        )
        for tid, n in empty_slots(session, now=now, before=now - grace)
    ]


def _outbox_ids(session: Session, event_type: str, field: str) -> set[int]:
    ids: set[int] = set()
    for data in session.exec(select(OutboxEvent.data).where(OutboxEvent.type == event_type)).all():
        try:
            value = json.loads(data).get(field)
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int):
            ids.add(value)
    return ids


def acceptances_not_counted(session: Session) -> list[Breach]:
    """An accepted or completed assignment whose acceptance was never staged as an event: the
    board, the notify consumer and the incident counts downstream never heard of it."""
    told = _outbox_ids(session, "nuanliu.assignment.accepted", "assignment_id")
    rows = session.exec(
        select(Assignment.id, Assignment.status).where(col(Assignment.status).in_(FILLED))
    ).all()
    return [
        Breach(
            "acceptance_not_counted",
            f"assignment {aid}",
            f"is {status} but no nuanliu.assignment.accepted event was ever staged",
        )
        for aid, status in rows
        if aid not in told
    ]


# -- the hours ledger (issue 15) ---------------------------------------------------------------
def _served_all(
    session: Session, now: datetime, tolerance: timedelta
) -> list[tuple[Assignment, Task, list[ServiceRecord], ledger.Served]]:
    """Every assignment with ledger rows, with its task, rows and time served."""
    by_assignment: dict[int, list[ServiceRecord]] = defaultdict(list)
    for r in session.exec(select(ServiceRecord).order_by(col(ServiceRecord.id))).all():
        by_assignment[r.assignment_id].append(r)
    if not by_assignment:
        return []
    out = []
    ids = list(by_assignment)
    for start in range(0, len(ids), 500):
        for a, task in session.exec(
            select(Assignment, Task)
            .join(Task, col(Task.id) == Assignment.task_id)
            .where(col(Assignment.id).in_(ids[start : start + 500]))
        ).all():
            rows = by_assignment[a.id or 0]
            served = ledger.served(
                assignment_id=a.id or 0,
                window_start=task.starts_at,
                window_end=task.ends_at,
                records=rows,
                now=now,
                tolerance=tolerance,
            )
            out.append((a, task, rows, served))
    return out


def hours_beyond_window(session: Session, *, now: datetime, tolerance: timedelta) -> list[Breach]:
    """Hours served outside the task's window widened by the tolerance, or more of them than
    the window plus the tolerance: the ledger claims time nobody could have served."""
    out: list[Breach] = []
    for a, task, _, served in _served_all(session, now, tolerance):
        if served.started_at is None:
            continue
        ws, we = served.window_start, served.window_end
        end = served.ended_at or now
        hours = served.hours(now)
        limit = ((we - ws) + tolerance).total_seconds() / 3600
        if served.started_at < ws - tolerance or end > we + tolerance or hours > limit + 0.01:
            out.append(
                Breach(
                    "hours_exceed_window",
                    f"assignment {a.id}",
                    f"{hours} h served {served.started_at.isoformat()} to {end.isoformat()}, "
                    f"but task {task.id} ran {ws.isoformat()} to {we.isoformat()} "
                    f"(+{int(tolerance.total_seconds() // 60)} min allowed)",
                )
            )
    return out


def hours_overlap(session: Session, *, now: datetime, tolerance: timedelta) -> list[Breach]:
    """One volunteer served on two assignments at the same time."""
    by_volunteer: dict[int, list[tuple[int, datetime, datetime]]] = defaultdict(list)
    for a, _, _, served in _served_all(session, now, tolerance):
        if served.started_at is not None:
            by_volunteer[a.volunteer_id].append(
                (a.id or 0, served.started_at, served.ended_at or now)
            )
    return [
        Breach(
            "hours_overlap",
            f"volunteer {vid}",
            f"hours on assignment {x} and assignment {y} overlap",
        )
        for vid, intervals in by_volunteer.items()
        for x, y in ledger.overlapping(intervals)
    ]


def ledger_out_of_order(session: Session, *, now: datetime, tolerance: timedelta) -> list[Breach]:
    """A check-out without a check-in, or before it."""
    out: list[Breach] = []
    for a, _, rows, served in _served_all(session, now, tolerance):
        if not any(r.kind == RecordKind.CHECK_OUT for r in rows):
            continue
        if served.checked_in_at is None:
            out.append(Breach("ledger_out_of_order", f"assignment {a.id}", "checked out, never in"))
        elif served.checked_out_at is not None and served.checked_out_at < served.checked_in_at:
            out.append(
                Breach(
                    "ledger_out_of_order",
                    f"assignment {a.id}",
                    f"checked out at {served.checked_out_at.isoformat()}, before the check-in",
                )
            )
    return out


RULES: tuple[Rule, ...] = (
    slots_filled_twice,
    two_tasks_in_one_shift,
    incidents_without_tasks,
    slots_without_live_assignment,
    acceptances_not_counted,
    hours_beyond_window,
    hours_overlap,
    ledger_out_of_order,
)
#: the rules that take `now` and `grace` (what is lost only once it is old enough)
TIMED = frozenset({incidents_without_tasks, slots_without_live_assignment})
#: the ledger's rules, which take `now` and the hours `tolerance` (`Settings.hours_tolerance`)
LEDGER = frozenset({hours_beyond_window, hours_overlap, ledger_out_of_order})
