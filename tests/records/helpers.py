"""Volunteers who served: tasks whose window is over, checked in and out through the
attendance flows (the hours ledger's real path), so the hours a certificate prints are the
ledger's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from coordinator.common import utcnow
from coordinator.dispatch.flows import attendance
from coordinator.dispatch.models import Task
from coordinator.volunteers.models import Volunteer
from tests.dispatch.helpers import add_assignment, add_task

TOLERANCE = timedelta(minutes=30)


def volunteer(s: Session, name: str, phone: str) -> int:
    v = Volunteer(name=name, phone=phone, district_code="520103", lat=26.58, lon=106.71)
    s.add(v)
    s.flush()
    assert v.id is not None
    return v.id


def shift(s: Session, *, slots: int = 1, **fields: Any) -> Task:
    """A task that started 6 hours ago and ended 2 hours ago (4 h window)."""
    values: dict[str, Any] = {
        "title": "路面除冰",
        "place": "中华北路",
        "district_code": "520103",
        **fields,
    }
    return add_task(
        s, slots=slots, starts_in=-timedelta(hours=6), lasts=timedelta(hours=4), **values
    )


def serve(s: Session, task: Task, volunteer_id: int, *, slot: int = 0, hours: float = 3.5) -> int:
    """An accepted assignment on `task`, checked in at its start and out `hours` later."""
    a = add_assignment(s, task, volunteer_id, slot=slot, status="accepted", code=f"S{slot}A")
    assert a.id is not None
    start = task.starts_at
    got = attendance.check_in(
        session=s,
        assignment_id=a.id,
        actor="test",
        source="api",
        early=timedelta(hours=1),
        at=start,
        now=utcnow(),
    )
    assert got.result == attendance.Attendance.CHECKED_IN, got.result
    out = attendance.check_out(
        session=s,
        assignment_id=a.id,
        actor="test",
        source="api",
        tolerance=TOLERANCE,
        at=start + timedelta(hours=hours),
        now=utcnow(),
    )
    assert out.result == attendance.Attendance.CHECKED_OUT, out.result
    return a.id


def accepted_only(s: Session, task: Task, volunteer_id: int, *, slot: int) -> int:
    """Accepted, never checked in: no hours."""
    a = add_assignment(s, task, volunteer_id, slot=slot, status="accepted", code=f"N{slot}A")
    assert a.id is not None
    return a.id
