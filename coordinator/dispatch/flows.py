"""Dispatch use cases: each writes state and stages its events in the caller's transaction,
and records its decision in the audit log.

Slots: a task with `slots = n` has slots 0..n-1; at most one offered/accepted/completed
assignment holds a slot (a partial unique index enforces it). A decline, an expiry or a cancel
frees the slot, and the dispatch consumer refills that one slot (`refill_slot`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import aware, mask_phone, utcnow
from coordinator.config import Settings, get_settings
from coordinator.dispatch import matching, playbooks
from coordinator.dispatch import service as svc
from coordinator.dispatch.models import HOLDING, Assignment, Incident, Task
from coordinator.dispatch.texts import task_params
from coordinator.geo.models import District
from coordinator.logistics import service as logistics
from coordinator.logistics.models import Place
from coordinator.sms import service as sms
from coordinator.sms.replies import parse_reply
from coordinator.volunteers.models import Volunteer
from coordinator.volunteers.service import InvalidPhone
from events.outbox import stage
from events.payloads.assignments import (
    AssignmentAccepted,
    AssignmentCancelled,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
)
from events.payloads.incidents import IncidentClosed, TaskPlanned

log = logging.getLogger(__name__)

SYSTEM = "system:dispatch"
AUTO_WINDOW = sms.AUTO_ANSWER_WINDOW
#: how many of the nearest volunteers a refill looks at first
REFILL_SHORTLIST = 200


# -- planning ----------------------------------------------------------------------------------
def plan_incident(
    *, session: Session, incident: Incident, start: datetime, settings: Settings
) -> list[Task]:
    """Create the tasks the playbook asks for (or grow ones planned before, e.g. after an
    Update raised the level); stages TaskPlanned for each new or grown task. Returns every
    task of the incident."""
    assert incident.id is not None
    data = svc.playbook_for(session=session, kind=incident.kind, level=incident.level)
    districts = [
        playbooks.DistrictInfo(d.code, d.name_zh, d.name_en, d.lat, d.lon, d.radius_km)
        for code in incident.districts
        if (d := session.get(District, code)) is not None
    ]
    stations = [
        playbooks.Place(p.name_zh, p.name_en, p.lat, p.lon, p.district_code, p.code)
        for p in session.exec(
            select(Place).where(Place.kind == "station").order_by(col(Place.id))
        ).all()
    ]
    day = start.astimezone(ZoneInfo(settings.timezone)).date()
    specs = playbooks.plan(
        data,
        level=incident.level,
        districts=districts,
        stations=stations,
        start=start,
        day=day,
        tz=settings.timezone,
    )
    existing = {t.plan_key: t for t in svc.tasks_of(session=session, incident_id=incident.id)}
    changed: list[Task] = []
    for spec in specs:
        task = existing.get(spec.plan_key)
        if task is None:
            task = Task(
                incident_id=incident.id,
                plan_key=spec.plan_key,
                kind=spec.kind,
                title=spec.title[:120],
                title_en=spec.title_en[:160],
                place=spec.place.name_zh[:120],
                place_en=spec.place.name_en[:160],
                district_code=spec.place.district_code,
                lat=spec.place.lat,
                lon=spec.place.lon,
                slots=spec.slots,
                skills=spec.skills,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                team_task=spec.team_task,
            )
            session.add(task)
            existing[spec.plan_key] = task
            changed.append(task)
        elif spec.slots > task.slots:
            task.slots = spec.slots  # a higher level needs more hands; never fewer
            session.add(task)
            changed.append(task)
    session.flush()
    for task in changed:
        assert task.id is not None
        stage(
            session,
            TaskPlanned(
                task_id=task.id,
                incident_id=incident.id,
                title=task.title,
                district_code=task.district_code,
                slots=task.slots,
                skills=list(task.skills),
                starts_at=aware(task.starts_at),
                ends_at=aware(task.ends_at),
            ),
        )
    if changed:
        record_audit(
            session=session,
            actor=SYSTEM,
            action="dispatch.planned",
            subject=f"incident:{incident.id}",
            detail={"tasks": len(changed), "slots": sum(t.slots for t in changed)},
        )
    return list(existing.values())


def plan_and_offer(
    *,
    session: Session,
    incident: Incident,
    starts_at: datetime | None,
    settings: Settings,
    now: datetime | None = None,
) -> list[Offer]:
    """What an AlertRaised does to its open incident: plan the playbook's tasks from
    `starts_at` (or now, whichever is later) and offer every free slot. Safe to run again
    (planning adds only what is new; offers go only to free slots). The caller schedules the
    offers' expiry timers after its commit (`jobs.schedule_expiries`)."""
    now = now or utcnow()
    start = max(aware(starts_at) or now, now)
    tasks = plan_incident(session=session, incident=incident, start=start, settings=settings)
    return offer_open_slots(session=session, tasks=tasks, settings=settings, now=now)


# -- offers ------------------------------------------------------------------------------------
def _slot(task: Task, slot: int, shift: str) -> matching.Slot:
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
        row.update(status="offered", source=source, offered_at=now)
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
        if i.status == "open"
    }
    live = [t for t in live if t.incident_id in open_ids]
    if not live:
        return []
    # Lock the tasks (in id order, so two solvers cannot deadlock) so that a dispatcher's
    # assignment cannot take a slot between our reading it free and offering it.
    svc.lock_tasks(session=session, task_ids=sorted(t.id for t in live if t.id is not None))
    shift_of = svc.shift_components(live)
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
            sl = _slot(task, n, key)
            slots.append(sl)
            where[sl.slot_id] = (task, n)
    if not slots:
        return []
    start = min(w[0] for w in windows.values())
    end = max(w[1] for w in windows.values())
    rows = svc.candidate_rows(session=session)
    busy = svc.busy_windows(session=session, start=start, end=end)
    served = svc.served_hours(session=session, now=now)
    candidates = svc.to_candidates(rows, busy, windows, served)
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
    if incident is None or incident.status != "open":
        return None
    if slot in svc.holding_slots(session=session, task_id=task_id):
        return None  # already taken again (a dispatcher assigned someone)
    exclude = svc.offered_to(session=session, task_id=task_id)
    teams = svc.teams_on_task(session=session, task_id=task_id) if task.team_task else set()
    s, e = aware(task.starts_at), aware(task.ends_at)
    assert s is not None and e is not None
    key = s.isoformat()
    target = _slot(task, slot, key)
    match = None
    # The nearest few hundred first (a refill must not cost a scan of the whole roster in
    # Python), widening only when none of them has the skills and time.
    for limit in (REFILL_SHORTLIST, 8 * REFILL_SHORTLIST, None):
        if limit is None:
            rows = svc.candidate_rows(session=session, exclude=exclude)
        else:
            rows = svc.nearest_candidate_rows(
                session=session, lat=task.lat, lon=task.lon, task_id=task_id, limit=limit
            )
        if rows:
            ids = [r[0] for r in rows]
            busy = svc.busy_windows(session=session, start=s, end=e, volunteer_ids=ids)
            served = svc.served_hours(session=session, now=now, volunteer_ids=ids)
            candidates = svc.to_candidates(rows, busy, {key: (s, e)}, served)
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


# -- a volunteer's answers ---------------------------------------------------------------------
def _ids(a: Assignment) -> dict[str, int]:
    assert a.id is not None
    return {
        "assignment_id": a.id,
        "task_id": a.task_id,
        "incident_id": a.incident_id,
        "volunteer_id": a.volunteer_id,
    }


def _reload(session: Session, assignment_id: int) -> Assignment:
    return session.exec(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .execution_options(populate_existing=True)
    ).one()


def give_late_offer_its_time(
    *, session: Session, assignment_id: int, now: datetime, timeout: timedelta
) -> datetime | None:
    """An offer about to be texted long after it was made (its event waited out a crash and
    a redrive) gets the whole answer window from now, as its text promises. Returns the new
    deadline when it moved, for the caller to set a timer after commit."""
    a = session.get(Assignment, assignment_id)
    if a is None or a.status != "offered" or a.expires_at is None:
        return None
    left = (aware(a.expires_at) or now) - now
    if left >= timeout * 0.9:
        return None  # texted about as soon as it was made: the usual case
    svc.lock_task(session=session, task_id=a.task_id)  # as the expiry sweep does
    a = _reload(session, assignment_id)
    if a.status != "offered":
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


def expire(*, session: Session, assignment: Assignment, now: datetime) -> None:
    assignment.status = "expired"
    assignment.closed_reason = "no answer in time"
    session.add(assignment)
    stage(session, AssignmentExpired(**_ids(assignment)))
    record_audit(
        session=session,
        actor=SYSTEM,
        action="assignment.expired",
        subject=f"assignment:{assignment.id}",
    )


@dataclass(frozen=True)
class Outcome:
    """What a reply did: "accepted", "declined", "completed", "closed" (the offer is no longer
    open), "already" (nothing to do, e.g. a repeated accept)."""

    result: str
    assignment: Assignment


def accept(
    *,
    session: Session,
    assignment_id: int,
    now: datetime | None = None,
    actor: str = "volunteer",
    answered_at: datetime | None = None,
) -> Outcome:
    """Accept an offer. The task row is locked and the counts re-checked, so accepting the last
    slot concurrently fills it exactly once.

    `answered_at` is when the volunteer's answer arrived (`now` by default): an answer sent
    before the deadline counts even when it is applied after it. If the offer was expired
    meanwhile (the expiry runs on the clock while the answer waits its turn), it is accepted
    after all, provided its slot is free or only offered to someone else since (that offer is
    withdrawn) and the volunteer has not been asked for another task in that shift since. A
    slot someone has accepted since stays theirs."""
    now = now or utcnow()
    answered = answered_at or now
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise svc.DispatchError("no such assignment", 404)
    task = svc.lock_task(session=session, task_id=a.task_id)
    a = _reload(session, assignment_id)
    if a.status == "accepted":
        return Outcome("already", a)
    in_time = _before_deadline(a, answered)
    late_expired = a.status == "expired" and in_time
    if (a.status != "offered" and not late_expired) or task is None:
        return Outcome("closed", a)
    if not in_time:
        expire(session=session, assignment=a, now=now)
        return Outcome("closed", a)
    incident = session.get(Incident, a.incident_id)
    if incident is None or incident.status != "open":
        return Outcome("closed", a)
    if svc.filled_count(session=session, task_id=task.id or 0) >= task.slots:
        return Outcome("closed", a)
    if late_expired and (_asked_elsewhere(session, a, task) or not _reclaim_slot(session, a)):
        return Outcome("closed", a)
    a.status = "accepted"
    a.responded_at = answered
    a.closed_reason = ""
    session.add(a)
    stage(session, AssignmentAccepted(**_ids(a)))
    record_audit(
        session=session,
        actor=actor,
        action="assignment.accepted",
        subject=f"assignment:{a.id}",
        detail={"answered_at": answered.isoformat(), "after_expiry": True}
        if late_expired
        else None,
    )
    return Outcome("accepted", a)


def _before_deadline(a: Assignment, answered: datetime) -> bool:
    expires = aware(a.expires_at)
    return expires is None or answered < expires


def _asked_elsewhere(session: Session, a: Assignment, task: Task) -> bool:
    """Whether `a`'s volunteer holds another task in `task`'s shift (offered or accepted):
    once `a` expired they could be asked again, and a late "yes" must not give them two."""
    busy = svc.busy_windows(
        session=session, start=task.starts_at, end=task.ends_at, volunteer_ids=[a.volunteer_id]
    )
    return bool(busy)


def _reclaim_slot(session: Session, a: Assignment) -> bool:
    """Free `a`'s slot for it: withdraw an offer made for that slot since `a` expired. False
    when someone holds it for good (accepted or done)."""
    holder = svc.holding_slots(session=session, task_id=a.task_id).get(a.slot)
    if holder is None or holder.id == a.id:
        return True
    if holder.status != "offered":
        return False
    cancel_assignment(
        session=session,
        assignment_id=holder.id or 0,
        actor=SYSTEM,
        reason="the slot went back to the volunteer offered it before, who answered in time",
        by="system",
    )
    session.flush()  # the slot's one holder changes before `a` takes it (a unique index)
    return True


def decline(
    *, session: Session, assignment_id: int, now: datetime | None = None, actor: str = "volunteer"
) -> Outcome:
    """Decline an offer, or step back from an accepted assignment; the slot is refilled."""
    now = now or utcnow()
    a = _reload(session, assignment_id)
    svc.lock_task(session=session, task_id=a.task_id)
    a = _reload(session, assignment_id)
    if a.status not in ("offered", "accepted"):
        return Outcome("closed", a)
    a.status = "declined"
    a.responded_at = now
    session.add(a)
    stage(session, AssignmentDeclined(**_ids(a)))
    record_audit(
        session=session, actor=actor, action="assignment.declined", subject=f"assignment:{a.id}"
    )
    return Outcome("declined", a)


def complete(
    *, session: Session, assignment_id: int, now: datetime | None = None, actor: str = "volunteer"
) -> Outcome:
    now = now or utcnow()
    a = _reload(session, assignment_id)
    if a.status == "completed":
        return Outcome("already", a)
    if a.status != "accepted":
        return Outcome("closed", a)
    a.status = "completed"
    a.responded_at = now
    session.add(a)
    stage(session, AssignmentCompleted(**_ids(a)))
    record_audit(
        session=session, actor=actor, action="assignment.completed", subject=f"assignment:{a.id}"
    )
    return Outcome("completed", a)


def expire_overdue(*, session: Session, now: datetime | None = None) -> int:
    """Expire every offer past its deadline (the sweep behind the per-offer timers)."""
    now = now or utcnow()
    count = 0
    # task order, as the solver locks them, so a sweep and a solve cannot deadlock
    for a in sorted(svc.overdue_offers(session=session, now=now), key=lambda a: a.task_id):
        svc.lock_task(session=session, task_id=a.task_id)
        a = _reload(session, a.id or 0)
        if a.status == "offered":
            expire(session=session, assignment=a, now=now)
            count += 1
    return count


# -- dispatcher overrides ----------------------------------------------------------------------
def cancel_assignment(
    *,
    session: Session,
    assignment_id: int,
    actor: Actor | str,
    reason: str = "",
    by: str = "dispatcher",
) -> Assignment:
    """Cancel an open (offered or accepted) assignment; the volunteer is told and the slot is
    refilled by the dispatch consumer. Raises DispatchError(404/409)."""
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise svc.DispatchError(f"assignment {assignment_id} does not exist", 404)
    svc.lock_task(session=session, task_id=a.task_id)
    a = _reload(session, assignment_id)
    if a.status not in ("offered", "accepted"):
        raise svc.DispatchError(f"assignment {assignment_id} is {a.status}, not open", 409)
    a.status = "cancelled"
    a.closed_reason = (reason or f"cancelled by {by}")[:200]
    session.add(a)
    stage(session, AssignmentCancelled(**_ids(a), by=by, reason=reason[:200]))
    record_audit(
        session=session,
        actor=actor,
        action="assignment.cancelled",
        subject=f"assignment:{a.id}",
        detail={"by": by, "reason": reason},
    )
    return a


def assign_volunteer(
    *, session: Session, task_id: int, volunteer_id: int, actor: Actor, now: datetime | None = None
) -> Assignment:
    """A dispatcher puts a named volunteer into a task: a free slot, or else one only offered
    (that offer is withdrawn). Raises DispatchError: 404 unknown task/volunteer, 409 when the
    task is full or over, the volunteer cannot be asked or is busy in that shift."""
    now = now or utcnow()
    task = svc.lock_task(session=session, task_id=task_id)
    if task is None:
        raise svc.DispatchError(f"task {task_id} does not exist", 404)
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise svc.DispatchError(f"volunteer {volunteer_id} does not exist", 404)
    incident = session.get(Incident, task.incident_id)
    if incident is None or incident.status != "open":
        raise svc.DispatchError("the incident is closed", 409)
    if (aware(task.ends_at) or now) <= now:
        raise svc.DispatchError("the task is over", 409)
    if not volunteer.active or volunteer.opted_out:
        raise svc.DispatchError("the volunteer is inactive or opted out of messages", 409)
    held = svc.holding_slots(session=session, task_id=task_id)
    if any(a.volunteer_id == volunteer_id for a in held.values()):
        raise svc.DispatchError("the volunteer is already in this task", 409)
    s, e = aware(task.starts_at), aware(task.ends_at)
    assert s is not None and e is not None
    if svc.busy_windows(session=session, start=s, end=e, volunteer_ids=[volunteer_id]):
        raise svc.DispatchError("the volunteer holds another task in this shift", 409)
    free = [n for n in range(task.slots) if n not in held]
    if not free:
        bumpable = sorted((a for a in held.values() if a.status == "offered"), key=lambda a: a.slot)
        if not bumpable:
            raise svc.DispatchError("the task is full", 409)
        bumped = bumpable[-1]
        cancel_assignment(
            session=session,
            assignment_id=bumped.id or 0,
            actor=actor,
            reason=f"slot given to volunteer {volunteer_id} by a dispatcher",
        )
        session.flush()
        free = [bumped.slot]
    code = svc.fresh_code(
        svc.open_codes(session=session, volunteer_ids=[volunteer_id])[volunteer_id]
    )
    a = Assignment(
        task_id=task_id,
        incident_id=task.incident_id,
        volunteer_id=volunteer_id,
        slot=free[0],
        status="accepted",
        short_code=code,
        source="dispatcher",
        reason=f"assigned by {actor.name}",
        offered_at=now,
        responded_at=now,
    )
    session.add(a)
    if task.unfillable and len(held) + 1 >= task.slots:
        task.unfillable = False  # the dispatcher found the people the matching could not
        task.unfillable_since = None
        session.add(task)
    session.flush()
    stage(session, AssignmentAccepted(**_ids(a)))
    record_audit(
        session=session,
        actor=actor,
        action="assignment.assigned",
        subject=f"assignment:{a.id}",
        detail={"task_id": task_id, "volunteer_id": volunteer_id, "slot": a.slot},
    )
    return a


# -- incidents ---------------------------------------------------------------------------------
def close_incident(
    *, session: Session, incident: Incident, reason: str, actor: Actor | str
) -> bool:
    """Close an open incident and stage IncidentClosed; False if it was closed already. The
    dispatch consumer stands its volunteers down when the event arrives."""
    if incident.status == "closed":
        return False
    incident.status = "closed"
    incident.closed_at = utcnow()
    incident.close_reason = reason[:200]
    session.add(incident)
    assert incident.id is not None
    stage(session, IncidentClosed(incident_id=incident.id, reason=reason[:200]))
    record_audit(
        session=session,
        actor=actor,
        action="incident.closed",
        subject=f"incident:{incident.id}",
        detail={"reason": reason},
    )
    return True


def stand_down(*, session: Session, incident_id: int) -> int:
    """Cancel every open assignment of a closed incident (the volunteers are told)."""
    rows = session.exec(
        select(Assignment)
        .where(
            Assignment.incident_id == incident_id,
            col(Assignment.status).in_(("offered", "accepted")),
        )
        .order_by(col(Assignment.task_id), col(Assignment.id))  # lock order, as everywhere
    ).all()
    for a in rows:
        cancel_assignment(
            session=session,
            assignment_id=a.id or 0,
            actor=SYSTEM,
            reason="incident closed",
            by="system",
        )
    return len(rows)


# -- SMS replies -------------------------------------------------------------------------------
_WANTED = {"accept": ("offered",), "decline": ("offered", "accepted"), "done": ("accepted",)}
_LIVE = ("offered", "accepted")


def _task_title(session: Session, a: Assignment, lang: str) -> str:
    task = session.get(Task, a.task_id)
    if task is None:
        return ""
    return (task.title_en or task.title) if lang == "en" else task.title


@dataclass
class ReplyContext:
    """What answering texts needs to know about their senders, read for many texts at once
    (a few queries per batch instead of several per text). The assignments are the session's
    own objects, so a decision earlier in the batch (an accept) is seen by the texts after
    it; the state change itself always re-reads its assignment under the task's lock."""

    volunteers: dict[str, Volunteer]
    #: volunteer id → offered and accepted assignments, newest first
    live: dict[int, list[Assignment]]
    #: volunteer id → newest assignment; (volunteer id, short code) → newest with that code
    newest: dict[int, Assignment]
    newest_by_code: dict[tuple[int, str], Assignment]
    #: phones of station managers (their texts are receipts, not replies)
    managers: set[str]


def reply_context(*, session: Session, texts: Sequence[tuple[str, str]]) -> ReplyContext:
    """The context for answering `texts` ((phone, body) pairs, phones in E.164)."""
    phones = {phone for phone, _ in texts}
    volunteers = {
        v.phone: v
        for v in session.exec(select(Volunteer).where(col(Volunteer.phone).in_(phones))).all()
    }
    ids = {v.id for v in volunteers.values() if v.id is not None}
    codes = {
        (volunteers[phone].id or 0, reply.code)
        for phone, body in texts
        if phone in volunteers and (reply := parse_reply(body)).code
    }
    live: dict[int, list[Assignment]] = {}
    for a in svc.assignments_of_many(session=session, volunteer_ids=ids, statuses=_LIVE):
        live.setdefault(a.volunteer_id, []).append(a)
    newest = {a.volunteer_id: a for a in svc.newest_assignments(session=session, volunteer_ids=ids)}
    by_code = {
        (a.volunteer_id, a.short_code): a
        for a in svc.newest_assignments(session=session, volunteer_ids=ids, codes=codes)
    }
    strangers = phones - volunteers.keys()
    managers = logistics.manager_phone_set(session=session) & strangers if strangers else set()
    return ReplyContext(volunteers, live, newest, by_code, managers)


def handle_reply(
    *,
    session: Session,
    phone: str,
    body: str,
    now: datetime | None = None,
    context: ReplyContext | None = None,
    answered_at: datetime | None = None,
    auto_answer_limit: int | None = None,
) -> str:
    """Act on a volunteer's SMS and queue any direct answer. Returns what happened (for logs
    and tests): unknown_number, ignored, opted_out, help, which_offer, offer_closed, accepted,
    declined, completed, already. `context` (from :func:`reply_context`, for many texts at
    once) must include `phone`; without it one is read for this text alone. `answered_at` is
    when the text arrived (`now` by default): a "yes" sent before its offer's deadline counts
    even when the offer expired while the text waited (see :func:`accept`).

    Automatic answers (help, unknown_number, opted_out) are queued at most
    `auto_answer_limit` times per number per hour (`Settings.auto_answer_limit` by default);
    beyond that the text is still acted on (an opt-out still opts out) and the outcome is the
    same, but nothing is queued."""
    now = now or utcnow()
    answered = answered_at or now
    if auto_answer_limit is None:
        auto_answer_limit = get_settings().auto_answer_limit
    limit = auto_answer_limit

    def may_answer(to: str) -> bool:
        sent = sms.auto_answers_since(session=session, phone=to, since=now - AUTO_WINDOW)
        if sent < limit:
            return True
        log.warning(
            "not answering %s automatically: %d automatic answers in the last hour",
            mask_phone(to),
            sent,
        )
        return False

    reply = parse_reply(body)
    if reply.intent == "receipt":
        return "ignored"  # a station manager's receipt: logistics handles it
    context = context or reply_context(session=session, texts=[(phone, body)])
    volunteer = context.volunteers.get(phone)
    if volunteer is None:
        if phone in context.managers:
            return "ignored"
        try:
            if may_answer(phone):
                sms.queue_template(
                    session=session, phone=phone, template="unknown_number", lang="zh"
                )
        except InvalidPhone:
            return "ignored"  # not a number we could answer (a short code, a gateway test)
        return "unknown_number"
    vid, lang = volunteer.id, volunteer.language

    def say(template: str, a: Assignment | None = None, **params: Any) -> None:
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template=template,
            lang=lang,
            volunteer_id=vid,
            assignment_id=a.id if a else None,
            **params,
        )

    def say_auto(template: str) -> None:
        if may_answer(volunteer.phone):
            say(template)

    if reply.intent == "stop":
        if volunteer.opted_out:
            return "ignored"
        opt_out(session=session, volunteer=volunteer)
        say_auto("opted_out")
        return "opted_out"
    if volunteer.opted_out:
        return "ignored"  # they asked for no more messages
    if reply.intent == "unknown":
        say_auto("help")
        return "help"
    assert vid is not None
    statuses = _WANTED[reply.intent]
    open_ = [a for a in context.live.get(vid, []) if a.status in statuses]
    if reply.code:
        open_ = [a for a in open_ if a.short_code == reply.code]
    if not open_:
        recent = (
            context.newest_by_code.get((vid, reply.code)) if reply.code else context.newest.get(vid)
        )
        if reply.intent == "accept" and recent and recent.status in ("accepted", "completed"):
            return "already"  # a repeated "yes": they are confirmed already
        if (
            reply.intent == "accept"
            and recent
            and recent.status == "expired"
            and _before_deadline(recent, answered)
        ):
            open_ = [recent]  # their "yes" was in time; it waited while the offer expired
        elif reply.intent == "accept" and recent:
            say("offer_closed", recent, task=_task_title(session, recent, lang))
            return "offer_closed"
        else:
            say_auto("help")
            return "help"
    if len(open_) > 1:
        say("which_offer", codes=[a.short_code for a in open_])
        return "which_offer"
    target = open_[0]
    assert target.id is not None
    if reply.intent == "accept":
        outcome = accept(session=session, assignment_id=target.id, now=now, answered_at=answered)
        if outcome.result == "closed":
            say("offer_closed", target, task=_task_title(session, target, lang))
            return "offer_closed"
        return outcome.result
    if reply.intent == "decline":
        return decline(session=session, assignment_id=target.id, now=now).result
    return complete(session=session, assignment_id=target.id, now=now).result


def opt_out(*, session: Session, volunteer: Volunteer) -> int:
    """The volunteer sent STOP: no more messages, and their open assignments are cancelled
    (and refilled). Returns how many were cancelled."""
    volunteer.opted_out = True
    session.add(volunteer)
    open_ = svc.assignments_of(
        session=session, volunteer_id=volunteer.id or 0, statuses=("offered", "accepted")
    )
    for a in open_:
        cancel_assignment(
            session=session,
            assignment_id=a.id or 0,
            actor=f"volunteer:{volunteer.id}",
            reason="volunteer opted out",
            by="volunteer",
        )
    record_audit(
        session=session,
        actor=f"volunteer:{volunteer.id}",
        action="volunteer.opted_out",
        subject=f"volunteer:{volunteer.id}",
        detail={"cancelled": len(open_)},
    )
    return len(open_)


# -- reminders ---------------------------------------------------------------------------------
def send_reminders(
    *, session: Session, before: timedelta, tz: str, now: datetime | None = None
) -> int:
    """Queue a reminder for each accepted assignment whose shift starts within `before`."""
    now = now or utcnow()
    rows = session.exec(
        select(Assignment, Task, Volunteer)
        .join(Task, col(Task.id) == Assignment.task_id)
        .join(Volunteer, col(Volunteer.id) == Assignment.volunteer_id)
        .where(
            Assignment.status == "accepted",
            Assignment.reminded_at == None,  # noqa: E711
            col(Task.starts_at) <= now + before,
            col(Task.starts_at) > now,
        )
    ).all()
    count = 0
    for a, task, volunteer in rows:
        a.reminded_at = now
        session.add(a)
        if volunteer.opted_out:
            continue
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template="reminder",
            lang=volunteer.language,
            kind="reminder",
            volunteer_id=volunteer.id,
            assignment_id=a.id,
            **task_params(task, volunteer.language, tz),
        )
        count += 1
    return count


def holding(session: Session, task_id: int) -> list[Assignment]:
    """Assignments that hold a slot of the task (for tests and the board)."""
    return list(
        session.exec(
            select(Assignment).where(
                Assignment.task_id == task_id, col(Assignment.status).in_(HOLDING)
            )
        ).all()
    )
