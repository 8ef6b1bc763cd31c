"""Closing an incident with a reason (kept, audited, shown) and the history of past incidents
with their figures (`GET /api/reports/incidents`): the report's figures, newest first, a page
at a time; bad requests refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.dispatch.models import Incident
from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer
from tests.dispatch.helpers import add_assignment, add_task


def _served_incident(engine: Engine) -> int:
    """An incident over Yunyan whose 3-hour shift ended 2 hours ago: one volunteer completed
    it, one accepted and never came (a no-show)."""
    with Session(engine) as s:
        task = add_task(s, slots=3, starts_in=timedelta(hours=-5), lasts=timedelta(hours=3))
        people = [v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(2))]
        add_assignment(s, task, people[0], slot=0, code="A1", status="completed")
        add_assignment(s, task, people[1], slot=1, code="A2", status="accepted")
        s.commit()
        return task.incident_id


def _incident(engine: Engine, incident_id: int) -> Incident:
    with Session(engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None
        return row


def test_close_with_a_reason_keeps_it_audits_it_and_the_history_shows_it(
    api: Any, tokens: dict[str, str], engine: Engine
) -> None:
    auth = bearer(tokens["dispatcher"])
    incident_id = _served_incident(engine)
    still_open = _served_incident(engine)
    reason = "气象台解除道路结冰预警，路面已恢复通行"
    r = api.post(
        f"/api/incidents/{incident_id}/close", json={"reason": f"  {reason} "}, headers=auth
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["close_reason"] == reason
    assert _incident(engine, incident_id).close_reason == reason
    with Session(engine) as s:
        audit = s.exec(
            select(AuditLog).where(
                AuditLog.action == "incident.closed", AuditLog.subject == f"incident:{incident_id}"
            )
        ).one()
        assert audit.detail["reason"] == reason
    assert api.get(f"/api/incidents/{incident_id}", headers=auth).json()["close_reason"] == reason

    history = api.get("/api/reports/incidents?status=closed", headers=auth).json()
    assert history["count"] == 1
    (row,) = history["data"]
    assert row["id"] == incident_id and row["close_reason"] == reason
    assert (row["kind"], row["level"], row["status"]) == ("ice_storm", "orange", "closed")
    assert row["districts"] == [
        {"code": "520103", "name_zh": "云岩区", "name_en": "Yunyan District"}
    ]
    # the report's figures: 3 slots, 2 taken, 2 volunteers, 3 hours (the completed shift as
    # planned), one no-show
    assert (row["slots"], row["filled"], row["volunteers"], row["no_shows"]) == (3, 2, 2, 1)
    assert row["hours_served"] == pytest.approx(3.0)
    assert row["opened_at"] and row["closed_at"]
    # the report page says why it was closed too
    page = api.get(f"/board/incidents/{incident_id}/report", headers=auth)
    assert reason in page.text
    both = api.get("/api/reports/incidents", headers=auth).json()
    assert [x["id"] for x in both["data"]] == [still_open, incident_id]  # newest first
    assert api.get("/api/reports/incidents?status=open", headers=auth).json()["count"] == 1


def test_without_a_reason_the_close_says_who(api: Any, tokens: dict[str, str], engine: Engine):
    incident_id = _served_incident(engine)
    r = api.post(f"/api/incidents/{incident_id}/close", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 200, r.text
    assert r.json()["close_reason"].startswith("closed by ")
    again = api.post(
        f"/api/incidents/{incident_id}/close",
        json={"reason": "twice"},
        headers=bearer(tokens["dispatcher"]),
    )
    assert again.status_code == 409 and again.json()["code"] == "incident_closed"
    assert _incident(engine, incident_id).close_reason.startswith("closed by ")


@pytest.mark.parametrize(
    "body",
    [
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 201},
        {"reason": 5},
        {"reason": "ok", "other": 1},
        "not an object",
    ],
)
def test_bad_reasons_are_refused_and_the_incident_stays_open(
    api: Any, tokens: dict[str, str], engine: Engine, body: Any
) -> None:
    incident_id = _served_incident(engine)
    r = api.post(
        f"/api/incidents/{incident_id}/close", json=body, headers=bearer(tokens["dispatcher"])
    )
    assert r.status_code == 422, r.text
    row = _incident(engine, incident_id)
    assert row.status == "open" and row.close_reason == "" and row.closed_at is None


def test_history_pages_and_bad_queries(api: Any, tokens: dict[str, str], engine: Engine) -> None:
    auth = bearer(tokens["dispatcher"])
    ids = [_served_incident(engine) for _ in range(3)]
    for i in ids:
        r = api.post(f"/api/incidents/{i}/close", json={"reason": f"over {i}"}, headers=auth)
        assert r.status_code == 200
    first = api.get("/api/reports/incidents?status=closed&limit=2", headers=auth).json()
    second = api.get("/api/reports/incidents?status=closed&limit=2&offset=2", headers=auth).json()
    assert first["count"] == second["count"] == 3
    assert [x["id"] for x in first["data"] + second["data"]] == sorted(ids, reverse=True)
    for query in ("status=gone", "limit=0", "limit=51", "offset=-1", "limit=abc"):
        r = api.get(f"/api/reports/incidents?{query}", headers=auth)
        assert r.status_code == 422, query
    assert api.get("/api/reports/incidents", headers=bearer(tokens["manager_a"])).status_code == 403
