"""The travel-rush station rota (issue 15, item 7): for the 40 days of the rush, stations'
shifts are published ahead; a registered volunteer picks shifts on the rota page or answers
the weekly SMS offer, and gives a shift back until `rota_give_back_notice` (24 h) before
it starts, after which the refusal says why.

The shifts are the rush incident's station tasks, planned by its playbook exactly as the
daily calendar plans them (`planning.plan_incident`, one day at a time: the same plan keys,
so the calendar's own planning of a day published ahead adds nothing). A pick is an
assignment made accepted (source `rota`), as a dispatcher's is; a give-back cancels it
(`by="volunteer"`), and the dispatch consumer refills the slot from the `AssignmentCancelled`
it stages, through the refill path every freed slot takes. The weekly offer is
`RotaWeekOpened`, which the dispatch consumer answers with :func:`plan_week`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from coordinator.accounts.service import record_audit
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.dispatch import candidates as eligible
from coordinator.dispatch import errors
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.offers import Offer, offer_open_slots
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.planning import plan_incident
from coordinator.dispatch.flows.transitions import assigned, reload
from coordinator.dispatch.models import HOLDING, Assignment, Incident, IncidentStatus, Task
from coordinator.dispatch.models import AssignmentStatus as S
from coordinator.dispatch.texts import task_params
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster
from coordinator.volunteers.service import Volunteer, VolunteerStatus

RUSH = "travel_rush"
#: the most days one publication may cover: the rush itself
MAX_DAYS = 60


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def publish(
    *, session: Session, incident: Incident, first: date, last: date, settings: Settings
) -> list[Task]:
    """Plan the rush's station shifts for every local day from `first` to `last` (in the
    caller's transaction; TaskPlanned staged for each new one) and return the shifts of
    those days. Safe to run again: a day planned before gains nothing."""
    if last < first or (last - first).days >= MAX_DAYS:
        raise errors.NotARotaShift(f"a rota covers 1 to {MAX_DAYS} days, not {first} to {last}")
    zone = ZoneInfo(settings.timezone)
    tasks: list[Task] = []
    for day in _days(first, last):
        midnight = datetime.combine(day, time(0, 0), tzinfo=zone)
        tasks = plan_incident(session=session, incident=incident, start=midnight, settings=settings)
    wanted = set(_days(first, last))
    return [
        t
        for t in tasks
        if svc.station_code_of(t)
        and (aware(t.starts_at) or midnight).astimezone(zone).date() in wanted
    ]


def plan_week(
    *,
    session: Session,
    incident: Incident,
    first: date,
    last: date,
    settings: Settings,
    now: datetime | None = None,
) -> list[Offer]:
    """What a `RotaWeekOpened` does: publish the week's shifts and offer every free slot to
    the matching's choice (the offer SMS and its answer window as for any task). The caller
    sets the offers' timers after commit."""
    if incident.status != IncidentStatus.OPEN or incident.kind != RUSH:
        return []
    tasks = publish(session=session, incident=incident, first=first, last=last, settings=settings)
    return offer_open_slots(session=session, tasks=tasks, settings=settings, now=now)


# -- what the page shows -----------------------------------------------------------------------
@dataclass(frozen=True)
class RotaShift:
    """One shift as a volunteer sees it on the rota page."""

    task_id: int
    title: str
    title_en: str
    place: str
    place_en: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    #: slots nobody holds (an open offer holds one)
    free: int
    #: the volunteer's own accepted assignment in it, if any
    assignment_id: int | None
    code: str | None
    #: whether they may still give it back (more than the notice before the start)
    can_give_back: bool
    #: why they cannot pick it, if they cannot: "", "busy", "skill"
    blocked: str


def rota_tasks(*, session: Session, now: datetime, limit: int = 2000) -> list[Task]:
    """The station shifts of open travel rushes that start after `now`, soonest first."""
    rushes = select(Incident.id).where(
        Incident.kind == RUSH, Incident.status == IncidentStatus.OPEN
    )
    rows = session.exec(
        select(Task)
        .where(col(Task.incident_id).in_(rushes), col(Task.starts_at) > now)
        .order_by(col(Task.starts_at), col(Task.id))
        .limit(limit)
    ).all()
    return [t for t in rows if svc.station_code_of(t)]


def _missing_skill(session: Session, volunteer: Volunteer, task: Task, tz: str) -> str | None:
    """The first skill the task needs that the volunteer lacks or whose certificate lapses
    before the shift ends; None when they have them all."""
    if not task.skills:
        return None
    dated = roster.skill_expiries(session=session, volunteer_ids=[volunteer.id or 0]).get(
        volunteer.id or 0, {}
    )
    end = aware(task.ends_at)
    assert end is not None
    for skill in task.skills:
        if skill not in volunteer.skills:
            return skill
        if skill in dated and not roster.is_valid_for(dated[skill], end, tz):
            return skill
    return None


def shifts_for(
    *, session: Session, volunteer: Volunteer, settings: Settings, now: datetime | None = None
) -> list[RotaShift]:
    """Every rota shift still to come, with the volunteer's own in it and whether they may
    pick or give back each."""
    now = now or utcnow()
    tasks = rota_tasks(session=session, now=now)
    if not tasks:
        return []
    ids = [t.id or 0 for t in tasks]
    holding = session.exec(
        select(Assignment).where(
            col(Assignment.task_id).in_(ids), col(Assignment.status).in_(HOLDING)
        )
    ).all()
    held: dict[int, int] = {}
    mine: dict[int, Assignment] = {}
    for a in holding:
        held[a.task_id] = held.get(a.task_id, 0) + 1
        if a.volunteer_id == volunteer.id and a.status == S.ACCEPTED:
            mine[a.task_id] = a
    start = min(aware(t.starts_at) or now for t in tasks)
    end = max(aware(t.ends_at) or now for t in tasks)
    busy = eligible.busy_windows(
        session=session, start=start, end=end, volunteer_ids=[volunteer.id or 0]
    ).get(volunteer.id or 0, [])
    out = []
    for t in tasks:
        s, e = aware(t.starts_at), aware(t.ends_at)
        assert s is not None and e is not None and t.id is not None
        own = mine.get(t.id)
        blocked = ""
        if own is None:
            if any(eligible.overlaps(s, e, bs, be) for bs, be in busy):
                blocked = "busy"
            elif _missing_skill(session, volunteer, t, settings.timezone):
                blocked = "skill"
        out.append(
            RotaShift(
                task_id=t.id,
                title=t.title,
                title_en=t.title_en,
                place=t.place,
                place_en=t.place_en,
                starts_at=s,
                ends_at=e,
                slots=t.slots,
                free=max(0, t.slots - held.get(t.id, 0)),
                assignment_id=own.id if own else None,
                code=own.short_code if own else None,
                can_give_back=own is not None and s - now > settings.rota_give_back_notice,
                blocked=blocked,
            )
        )
    return out


# -- a pick and a give-back ----------------------------------------------------------------
def pick(
    *,
    session: Session,
    volunteer_id: int,
    task_id: int,
    settings: Settings,
    now: datetime | None = None,
) -> Assignment:
    """The volunteer takes a free slot of a rota shift: an accepted assignment (source
    `rota`), AssignmentAccepted staged (the notify consumer texts the confirmation with its
    code). Under the task's lock, so two picks of the last slot fill it once. Raises a
    DispatchError saying why not (not a rota shift, full, busy then, a skill missing)."""
    now = now or utcnow()
    task = svc.lock_task(session=session, task_id=task_id)
    if task is None:
        raise errors.TaskNotFound(f"task {task_id} does not exist")
    incident = session.get(Incident, task.incident_id)
    start, end = aware(task.starts_at), aware(task.ends_at)
    assert start is not None and end is not None
    if (
        incident is None
        or incident.kind != RUSH
        or incident.status != IncidentStatus.OPEN
        or not svc.station_code_of(task)
        or start <= now
    ):
        raise errors.NotARotaShift("this is not a rota shift still to come")
    volunteer = roster.lock_volunteer(session=session, volunteer_id=volunteer_id)
    if (
        volunteer is None
        or not volunteer.active
        or volunteer.opted_out
        or volunteer.status != VolunteerStatus.ACTIVE
    ):
        raise errors.VolunteerUnavailable("the volunteer is inactive or opted out of messages")
    held = svc.holding_slots(session=session, task_id=task_id)
    if any(a.volunteer_id == volunteer_id for a in held.values()):
        raise errors.AlreadyInTask("you hold this shift already (or an offer of it)")
    if eligible.busy_windows(session=session, start=start, end=end, volunteer_ids=[volunteer_id]):
        raise errors.ShiftTaken("you hold another shift at that time")
    missing = _missing_skill(session, volunteer, task, settings.timezone)
    if missing:
        raise errors.MissingSkill(f"the shift needs {missing}, certified until it ends")
    free = [n for n in range(task.slots) if n not in held]
    if not free:
        raise errors.TaskFull("every place of this shift is taken")
    taken = svc.open_codes(session=session, volunteer_ids=[volunteer_id])[volunteer_id]
    taken |= {
        a.short_code for a, _ in svc.accepted_with_tasks(session=session, volunteer_id=volunteer_id)
    }
    a = Assignment(
        task_id=task_id,
        incident_id=task.incident_id,
        volunteer_id=volunteer_id,
        slot=free[0],
        status=S.ACCEPTED,
        short_code=svc.fresh_code(taken),
        source="rota",
        reason="picked on the rota page",
        offered_at=now,
        responded_at=now,
    )
    session.add(a)
    assigned(
        session,
        a,
        actor=f"volunteer:{volunteer_id}",
        detail={"task_id": task_id, "volunteer_id": volunteer_id, "slot": a.slot, "via": "rota"},
    )
    return a


def give_back(
    *,
    session: Session,
    volunteer_id: int,
    assignment_id: int,
    settings: Settings,
    source: str,
    now: datetime | None = None,
) -> Assignment:
    """The volunteer gives an accepted shift back (`source`: page or sms): cancelled by the
    volunteer, the slot refilled by the dispatch consumer from the event, and a text that
    confirms it. Raises AssignmentNotFound (not theirs), AssignmentNotOpen (not accepted),
    GiveBackTooLate (the shift starts within `rota_give_back_notice`)."""
    now = now or utcnow()
    a = session.get(Assignment, assignment_id)
    if a is None or a.volunteer_id != volunteer_id:
        raise errors.AssignmentNotFound(f"you have no assignment {assignment_id}")
    task = svc.lock_task(session=session, task_id=a.task_id)
    a = reload(session, assignment_id)
    assert task is not None
    if a.status != S.ACCEPTED:
        raise errors.AssignmentNotOpen(f"this shift is {a.status}, not one you hold")
    start = aware(task.starts_at)
    assert start is not None
    notice = settings.rota_give_back_notice
    if start - now <= notice:
        hours = round(notice.total_seconds() / 3600)
        raise errors.GiveBackTooLate(
            f"the shift starts within {hours} h: too late to give it back; "
            "call the dispatcher if you cannot come"
        )
    cancel_assignment(
        session=session,
        assignment_id=assignment_id,
        actor=f"volunteer:{volunteer_id}",
        reason=f"given back by the volunteer ({source})",
        by="volunteer",
    )
    volunteer = roster.get_volunteer(session=session, volunteer_id=volunteer_id)
    if volunteer is not None and not volunteer.opted_out:
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template="gave_back",
            lang=volunteer.language,
            volunteer_id=volunteer_id,
            assignment_id=assignment_id,
            code=a.short_code,
            **task_params(task, volunteer.language, settings.timezone),
        )
    record_audit(
        session=session,
        actor=f"volunteer:{volunteer_id}",
        action="rota.given_back",
        subject=f"assignment:{assignment_id}",
        detail={
            "task_id": task.id,
            "source": source,
            "hours_ahead": round((start - now).total_seconds() / 3600, 1),
        },
    )
    return a


def too_late_params(task: Task, lang: str, settings: Settings) -> dict[str, str]:
    """The variables of the `give_back_too_late` text."""
    params = task_params(task, lang, settings.timezone)
    hours = round(settings.rota_give_back_notice.total_seconds() / 3600)
    return {"task": params["task"], "window": params["window"], "hours": str(hours)}
