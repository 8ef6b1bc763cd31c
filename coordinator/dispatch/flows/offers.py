"""Offers: the matching's choice for every free slot of many tasks at once, a freed slot
offered to the next best volunteer, and an offer's answer window.

Slots: a task with `slots = n` has slots 0..n-1; at most one offered/accepted/completed
assignment holds a slot (a partial unique index enforces it). A decline, an expiry or a cancel
frees the slot, and the dispatch consumer refills that one slot (`refill_slot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from coordinator.accounts.service import record_audit
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.dispatch import candidates as eligible
from coordinator.dispatch import matching
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.transitions import SYSTEM, reload
from coordinator.dispatch.models import Assignment, AssignmentStatus, Incident, IncidentStatus, Task
from events.outbox import stage
from events.payloads.assignments import AssignmentOffered

#: how many of the nearest volunteers a refill looks at first
REFILL_SHORTLIST = 200


def slot_of(task: Task, slot: int, shift: str) -> matching.Slot:
    """Slot `slot` of `task` as the matching sees it (`shift`: its shift component)."""
    return matching.Slot(
        slot_id=f"{task.id}:{slot}",
        task_id=task.id or 0,
        lat=task.lat,
        lon=task.lon,
        skills=frozenset(task.skills),
        shift=shift,
        team_task=task.team_task,
    )


@dataclass(frozen=True)
class Offer:
    """An offer just made (what the caller needs: its deadline for the expiry timer)."""

    id: int
    task_id: int
    volunteer_id: int
    slot: int
    short_code: str
    expires_at: datetime


def _offer_rows(
    session: Session, rows: list[dict[str, Any]], source: str, now: datetime
) -> list[Offer]:
    """Insert offers in one statement (thousands at once after a big alert) and stage an
    AssignmentOffered for each, in the caller's transaction."""
    if not rows:
        return []
    for row in rows:
        row.update(status=AssignmentStatus.OFFERED, source=source, offered_at=now)
    ids = (
        session.execute(
            insert(Assignment).returning(col(Assignment.id), sort_by_parameter_order=True), rows
        )
        .scalars()
        .all()
    )
    offers = []
    for new_id, row in zip(ids, rows, strict=True):
        stage(
            session,
            AssignmentOffered(
                assignment_id=new_id,
                task_id=row["task_id"],
                incident_id=row["incident_id"],
                volunteer_id=row["volunteer_id"],
                short_code=row["short_code"],
                expires_at=row["expires_at"],
                reason=row["reason"],
            ),
        )
        offers.append(
            Offer(
                new_id,
                row["task_id"],
                row["volunteer_id"],
                row["slot"],
                row["short_code"],
                row["expires_at"],
            )
        )
    return offers


def _row(
    task: Task, slot: int, match: matching.Match, code: str, expires_at: datetime
) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "incident_id": task.incident_id,
        "volunteer_id": match.volunteer_id,
        "slot": slot,
        "short_code": code,
        "reason": match.reason,
        "distance_km": round(match.distance_km, 3),
        "cost": round(match.cost, 3),
        "expires_at": expires_at,
    }


def _flag_unfillable(session: Session, task: Task, missing: int, now: datetime) -> None:
    if not task.unfillable:
        task.unfillable = True
        task.unfillable_since = now
        session.add(task)
    record_audit(
        session=session,
        actor=SYSTEM,
        action="task.unfillable",
        subject=f"task:{task.id}",
        detail={"incident_id": task.incident_id, "missing": missing, "title": task.title},
    )


def offer_open_slots(
    *, session: Session, tasks: Sequence[Task], settings: Settings, now: datetime | None = None
) -> list[Offer]:
    """Solve the matching for every free slot of `tasks` (still to come, in open incidents)
    and offer each match; tasks left short are flagged unfillable. Returns the new offers."""
    now = now or utcnow()
    live = [t for t in tasks if (aware(t.ends_at) or now) > now]
    incidents = {t.incident_id for t in live}
    open_ids = {
        i.id
        for i in session.exec(select(Incident).where(col(Incident.id).in_(incidents))).all()
        if i.status == IncidentStatus.OPEN
    }
    live = [t for t in live if t.incident_id in open_ids]
    if not live:
        return []
    # Lock the tasks (in id order, so two solvers cannot deadlock) so that a dispatcher's
    # assignment cannot take a slot between our reading it free and offering it.
    svc.lock_tasks(session=session, task_ids=sorted(t.id for t in live if t.id is not None))
    shift_of = eligible.shift_components(live)
    windows: dict[str, tuple[datetime, datetime]] = {}
    slots: list[matching.Slot] = []
    where: dict[str, tuple[Task, int]] = {}
    for task in live:
        assert task.id is not None
        key = shift_of[task.id]
        s, e = aware(task.starts_at), aware(task.ends_at)
        assert s is not None and e is not None
        lo, hi = windows.get(key, (s, e))
        windows[key] = (min(lo, s), max(hi, e))
        for n in svc.free_slots(session=session, task=task):
            sl = slot_of(task, n, key)
            slots.append(sl)
            where[sl.slot_id] = (task, n)
    if not slots:
        return []
    start = min(w[0] for w in windows.values())
    end = max(w[1] for w in windows.values())
    rows = eligible.candidate_rows(session=session)
    busy = eligible.busy_windows(session=session, start=start, end=end)
    served = eligible.served_hours(session=session, now=now)
    tz = settings.timezone
    lapsing = eligible.expiring_by(session=session, shifts=windows, tz=tz)
    candidates = eligible.to_candidates(rows, busy, windows, served, expiring=lapsing, tz=tz)
    matches = matching.solve(slots, candidates)
    expires_at = now + settings.offer_timeout
    codes = svc.open_codes(session=session, volunteer_ids={m.volunteer_id for m in matches})
    rows = []
    for m in matches:
        task, n = where[m.slot_id]
        code = svc.fresh_code(codes[m.volunteer_id])
        codes[m.volunteer_id].add(code)
        rows.append(_row(task, n, m, code, expires_at))
    session.flush()
    offers = _offer_rows(session, rows, "matching", now)
    filled: dict[int, int] = {}
    for m in matches:
        filled[m.task_id] = filled.get(m.task_id, 0) + 1
    wanted: dict[int, int] = {}
    for sl in slots:
        wanted[sl.task_id] = wanted.get(sl.task_id, 0) + 1
    for task in live:
        assert task.id is not None
        missing = wanted.get(task.id, 0) - filled.get(task.id, 0)
        if missing > 0:
            _flag_unfillable(session, task, missing, now)
    if offers:
        record_audit(
            session=session,
            actor=SYSTEM,
            action="dispatch.offered",
            subject=f"incident:{','.join(str(i) for i in sorted(incidents))}",
            detail={
                "slots": len(slots),
                "offers": len(offers),
                "total_cost": round(sum(m.cost for m in matches), 3),
            },
        )
    return offers


def refill_slot(
    *, session: Session, task_id: int, slot: int, settings: Settings, now: datetime | None = None
) -> Offer | None:
    """Offer one freed slot to the next best volunteer, asking nobody who was already offered
    this task. Flags the task unfillable when nobody is left. No re-solve of the world."""
    now = now or utcnow()
    task = svc.lock_task(session=session, task_id=task_id)
    if task is None or slot >= task.slots or (aware(task.ends_at) or now) <= now:
        return None
    incident = session.get(Incident, task.incident_id)
    if incident is None or incident.status != IncidentStatus.OPEN:
        return None
    if slot in svc.holding_slots(session=session, task_id=task_id):
        return None  # already taken again (a dispatcher assigned someone)
    exclude = svc.offered_to(session=session, task_id=task_id)
    teams = eligible.teams_on_task(session=session, task_id=task_id) if task.team_task else set()
    s, e = aware(task.starts_at), aware(task.ends_at)
    assert s is not None and e is not None
    key = s.isoformat()
    target = slot_of(task, slot, key)
    tz = settings.timezone
    lapsing = (
        eligible.expiring_by(session=session, shifts={key: (s, e)}, tz=tz) if task.skills else {}
    )
    match = None
    # The nearest few hundred first (a refill must not cost a scan of the whole roster in
    # Python), widening only when none of them has the skills and time.
    for limit in (REFILL_SHORTLIST, 8 * REFILL_SHORTLIST, None):
        if limit is None:
            rows = eligible.candidate_rows(session=session, exclude=exclude)
        else:
            rows = eligible.nearest_candidate_rows(
                session=session, lat=task.lat, lon=task.lon, task_id=task_id, limit=limit
            )
        if rows:
            ids = [r[0] for r in rows]
            busy = eligible.busy_windows(session=session, start=s, end=e, volunteer_ids=ids)
            served = eligible.served_hours(session=session, now=now, volunteer_ids=ids)
            candidates = eligible.to_candidates(
                rows, busy, {key: (s, e)}, served, expiring=lapsing, tz=tz
            )
            match = matching.refill(target, candidates, exclude=exclude, prefer_teams=teams)
        if match is not None or (limit is not None and len(rows) < limit):
            break
    if match is None:
        _flag_unfillable(session, task, 1, now)
        return None
    code = svc.fresh_code(
        svc.open_codes(session=session, volunteer_ids=[match.volunteer_id])[match.volunteer_id]
    )
    session.flush()
    (offer,) = _offer_rows(
        session, [_row(task, slot, match, code, now + settings.offer_timeout)], "refill", now
    )
    record_audit(
        session=session,
        actor=SYSTEM,
        action="dispatch.refilled",
        subject=f"assignment:{offer.id}",
        detail={"task_id": task_id, "slot": slot, "volunteer_id": offer.volunteer_id},
    )
    return offer


def give_late_offer_its_time(
    *, session: Session, assignment_id: int, now: datetime, timeout: timedelta
) -> datetime | None:
    """An offer about to be texted long after it was made (its event waited out a crash and
    a redrive) gets the whole answer window from now, as its text promises. Returns the new
    deadline when it moved, for the caller to set a timer after commit."""
    a = session.get(Assignment, assignment_id)
    if a is None or a.status != AssignmentStatus.OFFERED or a.expires_at is None:
        return None
    left = (aware(a.expires_at) or now) - now
    if left >= timeout * 0.9:
        return None  # texted about as soon as it was made: the usual case
    svc.lock_task(session=session, task_id=a.task_id)  # as the expiry sweep does
    a = reload(session, assignment_id)
    if a.status != AssignmentStatus.OFFERED:
        return None
    a.expires_at = now + timeout
    session.add(a)
    record_audit(
        session=session,
        actor=SYSTEM,
        action="assignment.offer_window_restarted",
        subject=f"assignment:{a.id}",
        detail={"expires_at": a.expires_at.isoformat()},
    )
    return a.expires_at
