"""Check-in and check-out by hand, the hours ledger and its corrections over HTTP (issue 15,
items 2 and 4): `POST /api/assignments/{id}/check-in|check-out` (dispatcher, or the manager
of the task's station), `POST /api/assignments/{id}/corrections`,
`GET /api/volunteers/{id}/hours?year=`, and the bad inputs each refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.common import utcnow
from coordinator.dispatch.models import Assignment, ServiceRecord
from coordinator.logistics.models import Place
from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer
from tests.dispatch.helpers import add_assignment, add_task


@pytest.fixture
def api(settings: Any, engine: Any, broker: Any, tokens: dict[str, str]) -> Iterator[TestClient]:
    from coordinator.process import Services
    from nuanliu.app import create_app

    # these routes need the settings and the database only: no consumers
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield client


def _shift(
    engine: Any, *, station: bool = False, starts_in: timedelta = timedelta(0), hours: float = 4
) -> tuple[int, int, Any]:
    """An accepted assignment (id, volunteer id, task start) of a task starting `starts_in`
    from now; with `station`, a shift at the first station (as `playbooks.plan` keys it)."""
    now = utcnow()
    with Session(engine) as s:
        fields: dict[str, Any] = {}
        if station:
            first = s.exec(
                select(Place).where(Place.kind == "station").order_by(col(Place.id))
            ).first()
            assert first is not None
            fields = {"plan_key": f"station:{first.code}:2026-12-04:08:00", "kind": "station_shift"}
        v = s.exec(select(Volunteer).where(Volunteer.status == "active")).first()
        assert v is not None
        task = add_task(s, now=now, starts_in=starts_in, lasts=timedelta(hours=hours), **fields)
        a = add_assignment(s, task, v.id, status="accepted", code="K4F")
        s.commit()
        return a.id or 0, v.id or 0, task.starts_at


def test_dispatcher_checks_in_and_out_by_hand(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    aid, vid, start = _shift(engine, starts_in=-timedelta(hours=1))
    d = bearer(tokens["dispatcher"])
    arrived = (start + timedelta(minutes=10)).isoformat()
    r = api.post(
        f"/api/assignments/{aid}/check-in", headers=d, json={"at": arrived, "note": "没带手机"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "checked_in"
    again = api.post(f"/api/assignments/{aid}/check-in", headers=d)
    assert again.status_code == 409 and again.json()["code"] == "attendance_refused"
    before = api.post(
        f"/api/assignments/{aid}/check-out",
        headers=d,
        json={"at": start.isoformat()},
    )
    assert before.status_code == 422 and before.json()["code"] == "invalid_attendance"
    r = api.post(f"/api/assignments/{aid}/check-out", headers=d)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "checked_out" and 0.8 < r.json()["hours"] < 0.9
    with Session(engine) as s:
        assert s.get(Assignment, aid).status == "completed"  # type: ignore[union-attr]
        rows = s.exec(select(ServiceRecord).where(ServiceRecord.assignment_id == aid)).all()
        assert [(r.kind, r.source, r.actor, r.reason) for r in rows] == [
            ("check_in", "api", "dispatcher:test-dispatcher", "没带手机"),
            ("check_out", "api", "dispatcher:test-dispatcher", ""),
        ]
    hours = api.get(f"/api/volunteers/{vid}/hours", headers=d)
    assert hours.status_code == 200, hours.text
    body = hours.json()
    assert 0.8 < body["hours"] < 0.9 and body["tasks"] == 1
    assert [r["kind"] for r in body["records"]] == ["check_in", "check_out"]


def test_bad_check_ins_are_refused(api: TestClient, engine: Any, tokens: dict[str, str]) -> None:
    aid, _, _ = _shift(engine)
    d = bearer(tokens["dispatcher"])
    future = (utcnow() + timedelta(hours=1)).isoformat()
    old = (utcnow() - timedelta(days=2)).isoformat()
    for body in ({"at": future}, {"at": old}, {"at": "yesterday"}, {"note": "x" * 201}):
        r = api.post(f"/api/assignments/{aid}/check-in", headers=d, json=body)
        assert r.status_code == 422, (body, r.text)
    assert api.post("/api/assignments/999999/check-in", headers=d).status_code == 404
    out = api.post(f"/api/assignments/{aid}/check-out", headers=d)
    assert out.status_code == 409 and "not checked in" in out.json()["detail"]
    early, _, _ = _shift(engine, starts_in=timedelta(hours=3))
    too_early = api.post(f"/api/assignments/{early}/check-in", headers=d)
    assert too_early.status_code == 409 and "too early" in too_early.json()["detail"]
    with Session(engine) as s:
        assert s.exec(select(ServiceRecord)).all() == []


def test_station_managers_check_in_only_at_their_own_station(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    at_a, _, _ = _shift(engine, station=True)
    elsewhere, _, _ = _shift(engine)
    a, b = bearer(tokens["manager_a"]), bearer(tokens["manager_b"])
    assert api.post(f"/api/assignments/{at_a}/check-in", headers=b).status_code == 403
    assert api.post(f"/api/assignments/{elsewhere}/check-in", headers=a).status_code == 403
    r = api.post(f"/api/assignments/{at_a}/check-in", headers=a)
    assert r.status_code == 200, r.text
    assert api.post(f"/api/assignments/{at_a}/check-out", headers=a).status_code == 200
    # the ledger itself is the dispatchers'
    assert api.get("/api/volunteers/1/hours", headers=a).status_code == 403


def test_a_correction_is_a_new_audited_record(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    aid, vid, start = _shift(engine, starts_in=-timedelta(hours=5), hours=4)
    d = bearer(tokens["dispatcher"])
    api.post(
        f"/api/assignments/{aid}/check-in",
        headers=d,
        json={"at": (start + timedelta(hours=1)).isoformat()},
    )
    # forgotten check-out: closed at the window's end on read, flagged
    body = api.get(f"/api/volunteers/{vid}/hours", headers=d).json()
    [served] = body["assignments"]
    assert served["hours"] == 3.0 and "auto_closed" in served["flags"]
    fix = {
        "started_at": (start + timedelta(minutes=30)).isoformat(),
        "ended_at": (start + timedelta(hours=4, minutes=15)).isoformat(),
        "reason": "站长确认：8:30到岗，12:15离开",
    }
    r = api.post(f"/api/assignments/{aid}/corrections", headers=d, json=fix)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "correction" and r.json()["corrects_id"] is not None
    body = api.get(f"/api/volunteers/{vid}/hours", headers=d).json()
    [served] = body["assignments"]
    assert served["hours"] == 3.75 and served["flags"] == ["corrected"]
    assert [r["kind"] for r in body["records"]] == ["check_in", "correction"]  # both kept
    with Session(engine) as s:
        audit = s.exec(
            select(AuditLog).where(AuditLog.action == "assignment.hours_corrected")
        ).one()
        assert audit.detail["reason"] == fix["reason"] and audit.detail["hours_before"] == 3.0
    # the year filter
    year = start.year
    assert api.get(f"/api/volunteers/{vid}/hours?year={year - 1}", headers=d).json()["hours"] == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"reason": ""}, 422),  # a reason is required
        ({"reason": "   "}, 422),
        ({"reason": "x" * 201}, 422),
        ({"ended_at": "not a time"}, 422),
        ({"started_at": "+5h"}, 422),  # ends before it starts
        ({"ended_at": "+6h"}, 422),  # past the window's end plus the tolerance
        ({"started_at": "-1h"}, 422),  # before the window's start minus the tolerance
    ],
)
def test_bad_corrections_store_nothing(
    api: TestClient, engine: Any, tokens: dict[str, str], change: dict[str, str], code: int
) -> None:
    aid, _, start = _shift(engine, starts_in=-timedelta(hours=5), hours=4)
    body: dict[str, Any] = {
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=2)).isoformat(),
        "reason": "fix",
    }
    for key, value in change.items():
        if value.startswith(("+", "-")) and value.endswith("h"):
            value = (start + timedelta(hours=int(value[:-1]))).isoformat()
        body[key] = value
    r = api.post(
        f"/api/assignments/{aid}/corrections", headers=bearer(tokens["dispatcher"]), json=body
    )
    assert r.status_code == code, r.text
    with Session(engine) as s:
        assert s.exec(select(ServiceRecord)).all() == []


def test_corrections_may_not_overlap_the_volunteers_other_hours(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    first, vid, start = _shift(engine, starts_in=-timedelta(hours=8), hours=4)
    d = bearer(tokens["dispatcher"])
    ok = {
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=3)).isoformat(),
        "reason": "ok",
    }
    r = api.post(f"/api/assignments/{first}/corrections", headers=d, json=ok)
    assert r.status_code == 201, r.text
    with Session(engine) as s:
        task = add_task(s, now=start, starts_in=timedelta(hours=2), lasts=timedelta(hours=4))
        second = add_assignment(s, task, vid, status="accepted", code="M7P").id
        s.commit()
    overlap = {
        "started_at": (start + timedelta(hours=2)).isoformat(),
        "ended_at": (start + timedelta(hours=5)).isoformat(),
        "reason": "overlaps",
    }
    r = api.post(f"/api/assignments/{second}/corrections", headers=d, json=overlap)
    assert r.status_code == 422 and "overlap" in r.json()["detail"]


def test_hours_of_nobody_and_bad_years(api: TestClient, tokens: dict[str, str]) -> None:
    d = bearer(tokens["dispatcher"])
    assert api.get("/api/volunteers/999999/hours", headers=d).status_code == 404
    assert api.get("/api/volunteers/1/hours?year=1900", headers=d).status_code == 422
    assert api.get("/api/volunteers/1/hours?year=abc", headers=d).status_code == 422
    assert api.get("/api/volunteers/1/hours").status_code == 401
