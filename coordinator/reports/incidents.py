"""An incident's after-action figures, computed from the facts alone: the incident's tasks and
every assignment it ever had (dispatch), the audit log's record of when each slot was taken
(accounts), the alert that opened it (alerts) and the texts sent about it (sms). Nothing here
is stored; the PDF and the XLSX draw the same `IncidentReport`.

Definitions a reader of the report can check against the database:
- filled: assignments now accepted or completed, or taken and then stood down when the
  incident closed (the audit log says they were taken); fill rate = filled / slots needed;
- offers: assignments made by the matching or a refill (a dispatcher's assignment is not an
  offer); declines, silences (expired without an answer) and cancellations by their status;
- no-show: the hours ledger's no-show (not checked in 45 minutes past the start, the slot
  given to someone else), or accepted with the shift over and neither a check-in nor 完成;
- hours served: the time actually served as the hours ledger gives it (check-in to
  check-out within the window plus the tolerance, corrections applied: `dispatch.hours`);
  an assignment completed without any check-in counts its task's planned shift;
- time to fill: from the task being planned to the moment its last slot was taken.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from coordinator.accounts import service as audit
from coordinator.alerts import service as alerts
from coordinator.common import aware
from coordinator.config import Settings
from coordinator.dispatch import service as dispatch
from coordinator.geo import service as geo
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster

#: the audit actions that mark a slot taken: an accepted offer, a dispatcher's assignment
TAKEN = ("assignment.accepted", "assignment.assigned")
FILLED = ("accepted", "completed")
#: why `dispatch.flows.incidents.stand_down` cancels the open assignments of a closed incident
STOOD_DOWN = "incident closed"


@dataclass
class TaskLine:
    task_id: int
    title: str
    title_en: str
    district_code: str
    slots: int
    filled: int = 0
    offers: int = 0
    declines: int = 0
    silences: int = 0
    cancelled: int = 0
    completed: int = 0
    no_shows: int = 0
    hours_served: float = 0.0
    #: minutes from planning to the last slot taken; None while a slot is open
    minutes_to_fill: float | None = None
    #: the playbook rule the task came from (its plan key up to the first colon)
    rule_key: str = ""
    #: the shift as planned, in hours, and when each completed volunteer reported done
    #: (hours after the shift began)
    shift_hours: float = 0.0
    done_after_hours: list[float] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        return self.filled / self.slots if self.slots else 0.0


@dataclass
class DistrictLine:
    code: str
    name_zh: str
    name_en: str
    tasks: int = 0
    slots: int = 0
    filled: int = 0
    offers: int = 0
    declines: int = 0
    silences: int = 0
    no_shows: int = 0
    hours_served: float = 0.0
    #: the slowest of its filled tasks (minutes), None if none filled
    minutes_to_fill: float | None = None

    @property
    def fill_rate(self) -> float:
        return self.filled / self.slots if self.slots else 0.0


@dataclass
class IncidentReport:
    incident_id: int
    title: str
    kind: str
    level: str
    status: str
    generated_at: datetime
    #: (key, when): alert_received, tasks_planned, first_offer, half_filled, all_filled, closed
    timeline: list[tuple[str, datetime | None]]
    tasks: list[TaskLine]
    districts: list[DistrictLine]
    needed: int
    filled: int
    offers: int
    assigned_by_hand: int
    declines: int
    silences: int
    cancelled: int
    completed: int
    no_shows: int
    volunteers: int
    hours_served: float
    sms_sent: int
    sms_segments: int
    sms_failed: int
    sms_by_kind: dict[str, int]
    #: (when, slots filled so far) at each slot taken, for the fill curve
    fill_curve: list[tuple[datetime, int]] = field(default_factory=list)
    #: team name → (volunteers who accepted, of whom no-shows)
    teams: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: why it was closed, in the words of whoever closed it ("" while open)
    close_reason: str = ""

    @property
    def fill_rate(self) -> float:
        return self.filled / self.needed if self.needed else 0.0


#: the settings' default, for callers without settings (the season report passes its own)
HOURS_TOLERANCE: timedelta = Settings.model_fields["hours_tolerance"].default


def _hours(starts: datetime, ends: datetime) -> float:
    return max((ends - starts).total_seconds(), 0.0) / 3600.0


def build(
    *,
    session: Session,
    incident: dispatch.Incident,
    now: datetime,
    tolerance: timedelta = HOURS_TOLERANCE,
) -> IncidentReport:
    """The report of `incident` as the database has it at `now`; `tolerance` is how far past
    a window's end a check-out still counts (the setting `NUANLIU_HOURS_TOLERANCE`)."""
    assert incident.id is not None
    tasks = dispatch.tasks_of(session=session, incident_id=incident.id)
    assignments = dispatch.assignments_of_incident(session=session, incident_id=incident.id)
    tasks_by_id = {t.id: t for t in tasks}
    ledger = dispatch.served_on(
        session=session,
        pairs=[(a, tasks_by_id[a.task_id]) for a in assignments],
        now=now,
        tolerance=tolerance,
    )
    lines = {
        t.id: TaskLine(
            task_id=t.id,
            title=t.title,
            title_en=t.title_en or t.title,
            district_code=t.district_code or "",
            slots=t.slots,
            rule_key=t.plan_key.split(":", 1)[0],
            shift_hours=_hours(t.starts_at, t.ends_at),
        )
        for t in tasks
        if t.id is not None
    }
    by_task = {t.id: t for t in tasks}
    # closing an incident stands its volunteers down (their assignments cancelled): those
    # who had taken a slot still filled it, which is what an after-action report is about
    maybe = [
        a.id
        for a in assignments
        if a.id is not None and (a.status in FILLED or a.closed_reason == STOOD_DOWN)
    ]
    taken_at = audit.first_audit_times(
        session=session, actions=TAKEN, subjects=[f"assignment:{i}" for i in maybe]
    )
    filled_ids = {
        a.id
        for a in assignments
        if a.status in FILLED
        or (
            a.status == "cancelled"
            and a.closed_reason == STOOD_DOWN
            and f"assignment:{a.id}" in taken_at
        )
    }
    taken: list[tuple[datetime, int]] = []
    by_hand = 0
    volunteers: set[int] = set()
    no_shows: set[int] = set()
    for a in assignments:
        line = lines[a.task_id]
        task = by_task[a.task_id]
        if a.source == "dispatcher":
            by_hand += 1
        else:
            line.offers += 1
        if a.id in filled_ids:
            line.filled += 1
            volunteers.add(a.volunteer_id)
            at = aware(taken_at.get(f"assignment:{a.id}")) or aware(a.responded_at)
            taken.append((at or aware(a.offered_at) or now, a.task_id))
        if a.status == "declined":
            line.declines += 1
        elif a.status == "expired":
            line.silences += 1
        elif a.status == "cancelled" and a.id not in filled_ids:
            line.cancelled += 1
        served = ledger.get(a.id or 0)
        if served is not None and "no_show" in served.flags:
            line.no_shows += 1
            no_shows.add(a.id or 0)
        elif served is not None and served.started_at is not None:
            line.hours_served += served.hours(now)
        elif a.status == "completed":  # 完成 without a check-in: the shift as planned
            line.hours_served += _hours(task.starts_at, task.ends_at)
        if a.status == "completed":
            line.completed += 1
            done = aware(a.responded_at)
            if done is not None:
                line.done_after_hours.append(_hours(aware(task.starts_at) or done, done))
        elif (
            a.status == "accepted"
            and served is None
            and (aware(task.ends_at) or now) < now
            and a.id not in no_shows
        ):
            line.no_shows += 1
            no_shows.add(a.id or 0)
    taken.sort()
    count_per_task: dict[int, int] = defaultdict(int)
    curve: list[tuple[datetime, int]] = []
    for n, (at, task_id) in enumerate(taken, start=1):
        count_per_task[task_id] += 1
        curve.append((at, n))
        task = by_task[task_id]
        if count_per_task[task_id] == task.slots:
            planned = aware(task.created_at) or at
            lines[task_id].minutes_to_fill = max((at - planned).total_seconds(), 0.0) / 60.0
    needed = sum(t.slots for t in tasks)

    def reached(share: float) -> datetime | None:
        mark = math.ceil(needed * share)
        return curve[mark - 1][0] if needed and len(curve) >= mark else None

    created = [aware(t.created_at) for t in tasks]
    offered = [aware(a.offered_at) for a in assignments if a.source != "dispatcher"]
    timeline = [
        (
            "alert_received",
            aware(alerts.first_received_at(session=session, incident_id=incident.id)),
        ),
        ("tasks_planned", min((c for c in created if c), default=None)),
        ("first_offer", min((o for o in offered if o), default=None)),
        ("half_filled", reached(0.5)),
        ("all_filled", reached(1.0)),
        ("closed", aware(incident.closed_at)),
    ]
    districts = _by_district(session, list(lines.values()))
    usage = sms.usage_for_assignments(
        session=session, assignment_ids=[a.id for a in assignments if a.id is not None]
    )
    every = list(lines.values())
    team_of = roster.team_names_of(
        session=session,
        volunteer_ids={a.volunteer_id for a in assignments if a.id in filled_ids},
    )
    teams: dict[str, list[int]] = {}
    for a in assignments:
        name = team_of.get(a.volunteer_id)
        if name is not None and a.id in filled_ids:
            counts = teams.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += a.id in no_shows
    return IncidentReport(
        incident_id=incident.id,
        title=incident.title,
        kind=incident.kind,
        level=incident.level,
        status=incident.status,
        generated_at=now,
        timeline=timeline,
        tasks=every,
        districts=districts,
        needed=needed,
        filled=sum(t.filled for t in every),
        offers=sum(t.offers for t in every),
        assigned_by_hand=by_hand,
        declines=sum(t.declines for t in every),
        silences=sum(t.silences for t in every),
        cancelled=sum(t.cancelled for t in every),
        completed=sum(t.completed for t in every),
        no_shows=sum(t.no_shows for t in every),
        volunteers=len(volunteers),
        hours_served=sum(t.hours_served for t in every),
        sms_sent=usage.outbound,
        sms_segments=usage.segments,
        sms_failed=usage.failed,
        sms_by_kind=dict(sorted(usage.by_kind.items())),
        fill_curve=curve,
        teams={name: (n, missed) for name, (n, missed) in sorted(teams.items())},
        close_reason=incident.close_reason,
    )


def _by_district(session: Session, tasks: list[TaskLine]) -> list[DistrictLine]:
    names = {d.code: d for d in geo.list_districts(session=session)}
    out: dict[str, DistrictLine] = {}
    for t in tasks:
        known = names.get(t.district_code)
        line = out.get(t.district_code)
        if line is None:
            line = out[t.district_code] = DistrictLine(
                code=t.district_code,
                name_zh=known.name_zh if known else (t.district_code or "全市"),
                name_en=known.name_en if known else (t.district_code or "city-wide"),
            )
        line.tasks += 1
        line.slots += t.slots
        line.filled += t.filled
        line.offers += t.offers
        line.declines += t.declines
        line.silences += t.silences
        line.no_shows += t.no_shows
        line.hours_served += t.hours_served
        if t.minutes_to_fill is not None:
            line.minutes_to_fill = max(line.minutes_to_fill or 0.0, t.minutes_to_fill)
    return sorted(out.values(), key=lambda d: d.code)
