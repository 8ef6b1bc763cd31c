"""Planning an incident's work: the playbook's tasks for its districts and level, then
offers for their slots."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coordinator.accounts.service import record_audit
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.dispatch import playbooks
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.offers import Offer, offer_open_slots
from coordinator.dispatch.flows.transitions import SYSTEM
from coordinator.dispatch.models import Incident, Task
from coordinator.geo import service as geo
from coordinator.logistics import service as logistics
from events.outbox import stage
from events.payloads.incidents import TaskPlanned


def plan_start(*, starts_at: datetime | None, now: datetime) -> datetime:
    """Where an alert's hour-based windows begin: its start, or now if that is later (work
    is never planned in the past)."""
    return max(aware(starts_at) or now, now)


def plan_specs(
    *,
    session: Session,
    kind: str,
    level: str,
    districts: list[str],
    start: datetime,
    settings: Settings,
) -> list[playbooks.TaskSpec]:
    """The tasks the playbook of (`kind`, `level`) asks for in `districts` (GB/T 2260 codes)
    from `start`: what :func:`plan_incident` stores, and what a preview of an alert shows
    before it is raised (nothing is written here)."""
    data = svc.playbook_for(session=session, kind=kind, level=level)
    infos = [
        playbooks.DistrictInfo(d.code, d.name_zh, d.name_en, d.lat, d.lon, d.radius_km)
        for code in districts
        if (d := geo.get_district(session=session, code=code)) is not None
    ]
    stations = [
        playbooks.Place(p.name_zh, p.name_en, p.lat, p.lon, p.district_code, p.code)
        for p in logistics.places_of_kind(session=session, kind="station")
    ]
    day = start.astimezone(ZoneInfo(settings.timezone)).date()
    return playbooks.plan(
        data,
        level=level,
        districts=infos,
        stations=stations,
        start=start,
        day=day,
        tz=settings.timezone,
    )


def plan_incident(
    *, session: Session, incident: Incident, start: datetime, settings: Settings
) -> list[Task]:
    """Create the tasks the playbook asks for (or grow ones planned before, e.g. after an
    Update raised the level); stages TaskPlanned for each new or grown task. Returns every
    task of the incident."""
    assert incident.id is not None
    specs = plan_specs(
        session=session,
        kind=incident.kind,
        level=incident.level,
        districts=list(incident.districts),
        start=start,
        settings=settings,
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
    start = plan_start(starts_at=starts_at, now=now)
    tasks = plan_incident(session=session, incident=incident, start=start, settings=settings)
    return offer_open_slots(session=session, tasks=tasks, settings=settings, now=now)


def plan_day(
    *,
    session: Session,
    incident: Incident,
    day: date,
    starts_at: datetime,
    settings: Settings,
    now: datetime | None = None,
) -> list[Offer]:
    """A travel-rush day: plan the incident's shifts from `starts_at` and offer the free
    slots of the tasks on `day` (local date). The caller sets the offers' timers after commit."""
    zone = ZoneInfo(settings.timezone)
    tasks = plan_incident(session=session, incident=incident, start=starts_at, settings=settings)
    today = [t for t in tasks if (aware(t.starts_at) or starts_at).astimezone(zone).date() == day]
    return offer_open_slots(session=session, tasks=today, settings=settings, now=now)
