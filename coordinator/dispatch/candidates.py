"""Who can be asked: the volunteers eligible for a task's shift as the matching sees them
(rows read in bulk, busy windows, hours already served, teams on a task), and the shift
components that group tasks whose windows overlap. Reads only; the offers module asks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from coordinator.common import aware
from coordinator.dispatch import matching
from coordinator.dispatch.models import (
    FILLED,
    HOLDING,
    Assignment,
    RecordKind,
    ServiceRecord,
    Task,
)
from coordinator.volunteers import service as roster


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def shift_components(tasks: Sequence[Task]) -> dict[int, str]:
    """Task id → shift key. Tasks whose windows overlap (directly or through others) share a
    key, so the matching gives a volunteer at most one of them."""
    order = sorted(tasks, key=lambda t: (aware(t.starts_at), aware(t.ends_at), t.id))
    out: dict[int, str] = {}
    current_end: datetime | None = None
    key = ""
    for t in order:
        start, end = aware(t.starts_at), aware(t.ends_at)
        assert start is not None and end is not None and t.id is not None
        if current_end is None or start >= current_end:
            key = start.isoformat()
            current_end = end
        else:
            current_end = max(current_end, end)
        out[t.id] = key
    return out


def busy_windows(
    *, session: Session, start: datetime, end: datetime, volunteer_ids: Iterable[int] | None = None
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Volunteer id → windows of assignments they hold (offered or accepted) that overlap
    [start, end)."""
    query = (
        select(Assignment.volunteer_id, Task.starts_at, Task.ends_at)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            col(Assignment.status).in_(("offered", "accepted")),
            col(Task.starts_at) < end,
            col(Task.ends_at) > start,
        )
    )
    if volunteer_ids is not None:
        query = query.where(col(Assignment.volunteer_id).in_(list(volunteer_ids)))
    out: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for vid, s, e in session.exec(query).all():
        out[vid].append((aware(s) or s, aware(e) or e))
    return out


#: how far back a volunteer's hours count towards fairness (as the roster's `recent_hours`)
SERVED_WINDOW = timedelta(days=30)


def served_hours(
    *, session: Session, now: datetime, volunteer_ids: Iterable[int] | None = None
) -> dict[int, float]:
    """Volunteer id → hours of the tasks they accepted or completed here that end within
    SERVED_WINDOW before `now` or later: what Nuanliu adds to the roster's `recent_hours`, so
    the volunteers who took this morning's shift are not the first asked for the next one.
    A no-show (issue 15) counts as the shift's hours too: they had their turn, and the
    fairness must not put them first in line for the next one."""
    query = (
        select(Assignment.volunteer_id, Task.starts_at, Task.ends_at)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(col(Assignment.status).in_(FILLED), col(Task.ends_at) > now - SERVED_WINDOW)
    )
    missed = (
        select(ServiceRecord.volunteer_id, Task.starts_at, Task.ends_at)
        .join(Task, col(Task.id) == ServiceRecord.task_id)
        .where(ServiceRecord.kind == RecordKind.NO_SHOW, col(Task.ends_at) > now - SERVED_WINDOW)
    )
    if volunteer_ids is not None:
        wanted = list(volunteer_ids)
        query = query.where(col(Assignment.volunteer_id).in_(wanted))
        missed = missed.where(col(ServiceRecord.volunteer_id).in_(wanted))
    out: dict[int, float] = defaultdict(float)
    for vid, s, e in [*session.exec(query).all(), *session.exec(missed).all()]:
        out[vid] += max(0.0, ((aware(e) or e) - (aware(s) or s)).total_seconds() / 3600)
    return dict(out)


def teams_on_task(*, session: Session, task_id: int) -> set[int]:
    """Teams with a member offered, accepted or done on the task (a refill prefers them)."""
    holders = session.exec(
        select(Assignment.volunteer_id)
        .where(Assignment.task_id == task_id, col(Assignment.status).in_(HOLDING))
        .distinct()
    ).all()
    return roster.team_ids(session=session, volunteer_ids=holders)


def candidate_rows(
    *,
    session: Session,
    near: tuple[float, float] | None = None,
    box_deg: float = 0.15,
    exclude: Iterable[int] = (),
) -> list[Any]:
    """Active, opted-in volunteers as the roster's plain rows (`volunteers.service.available`),
    optionally only those within `box_deg` degrees of `near`."""
    return roster.available(session=session, near=near, box_deg=box_deg, exclude=exclude)


def nearest_candidate_rows(
    *, session: Session, lat: float, lon: float, task_id: int, limit: int
) -> list[Any]:
    """The `limit` active, opted-in volunteers nearest to (lat, lon) who were never offered
    `task_id`; keeps a refill independent of the roster's size."""
    asked = select(Assignment.volunteer_id).where(Assignment.task_id == task_id)
    return roster.nearest_available(session=session, lat=lat, lon=lon, limit=limit, excluding=asked)


def expiring_by(
    *, session: Session, shifts: Mapping[str, tuple[datetime, datetime]], tz: str
) -> dict[int, dict[str, date]]:
    """Volunteer id → skill → expiry for the certificates that end before the last of
    `shifts` does (only those can lapse within them); for :func:`to_candidates`."""
    if not shifts:
        return {}
    last = max(end for _, end in shifts.values()).astimezone(ZoneInfo(tz)).date()
    return roster.skills_expiring_before(session=session, before=last)


def to_candidates(
    rows: Sequence[Any],
    busy: dict[int, list[tuple[datetime, datetime]]],
    shifts: dict[str, tuple[datetime, datetime]],
    served: dict[int, float] | None = None,
    *,
    expiring: Mapping[int, Mapping[str, date]] | None = None,
    tz: str = "Asia/Shanghai",
) -> list[matching.Candidate]:
    """Rows from :func:`candidate_rows` (`volunteers.service.ROSTER_COLUMNS`) as the
    matching's candidates; a volunteer is busy in a shift when something they hold overlaps
    the shift's window; `served` (from :func:`served_hours`) adds to the roster's recent
    hours; `expiring` (from :func:`expiring_by`) marks the skills whose certificate has
    lapsed by a shift's end (local dates in `tz`)."""
    served = served or {}
    expiring = expiring or {}
    out = []
    for vid, lat, lon, clat, clon, skills, hours, team_id in rows:
        held = busy.get(vid)
        busy_shifts = (
            frozenset(
                key
                for key, (s, e) in shifts.items()
                if any(overlaps(s, e, hs, he) for hs, he in held)
            )
            if held
            else frozenset()
        )
        here = clat is not None and clon is not None
        dated = expiring.get(vid)
        out.append(
            matching.Candidate(
                volunteer_id=vid,
                lat=clat if here else lat,
                lon=clon if here else lon,
                skills=frozenset(skills or ()),
                recent_hours=float(hours or 0.0) + served.get(vid, 0.0),
                team_id=team_id,
                busy_shifts=busy_shifts,
                at_home=not here,
                lapsed=roster.lapsed_pairs(dated, shifts, tz) if dated else frozenset(),
            )
        )
    return out
