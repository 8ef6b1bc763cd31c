"""`POST /api/alerts/preview`: what a real alert with the same body would make dispatch plan,
by the same planning, and nothing stored, staged or audited; the same refusals as
`POST /api/alerts`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from coordinator.accounts.models import AuditLog
from coordinator.alerts.models import Alert, AlertClaim
from coordinator.dispatch.models import Incident, Task
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from tests.conftest import bearer, wait_for

GOOD = {
    "kind": "ice_storm",
    "level": "orange",
    "districts": ["云岩区", "南明区"],
    "headline": "道路结冰橙色预警",
}

#: what a preview must never add a row to
WATCHED: tuple[type[SQLModel], ...] = (Alert, AlertClaim, Incident, Task, OutboxEvent, AuditLog)


@pytest.fixture
def api(make_runtime: Any, tokens: dict[str, str]) -> Any:
    """The API alone (no consumers, no relay): what the POST itself stores."""
    rt = make_runtime(relay=False)
    with TestClient(create_app(runtime=rt)) as c:
        yield c


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {m.__name__: int(s.exec(select(func.count()).select_from(m)).one()) for m in WATCHED}


def test_preview_plans_the_playbook_and_stores_nothing(
    api: Any, tokens: dict[str, str], engine: Engine
) -> None:
    before = _counts(engine)
    r = api.post("/api/alerts/preview", json=GOOD, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 200, r.text
    p = r.json()
    # the default ice-storm playbook at orange: per district 6 hotspots × 10 + 25 + 15
    assert p["total_tasks"] == 2 * 8 and p["total_slots"] == 2 * 100
    assert [(d["code"], d["name_zh"], d["tasks"], d["slots"]) for d in p["districts"]] == [
        ("520103", "云岩区", 8, 100),
        ("520102", "南明区", 8, 100),
    ]
    assert sum(t["slots"] for t in p["tasks"]) == p["total_slots"]
    assert "花果园立交桥" in {t["place"] for t in p["tasks"]}
    assert p["expired"] is False
    assert _counts(engine) == before
    # the level scales the slots, as planning does: blue is half of orange
    blue = api.post(
        "/api/alerts/preview", json={**GOOD, "level": "blue"}, headers=bearer(tokens["admin"])
    ).json()
    assert blue["total_tasks"] == 16 and blue["total_slots"] == 2 * (
        6 * 5 + 12 + 8
    )  # round(12.5) is 12


def test_preview_of_a_window_in_the_past_says_nobody_goes(
    api: Any, tokens: dict[str, str], engine: Engine
) -> None:
    before = _counts(engine)
    now = datetime.now(UTC)
    body = {
        **GOOD,
        "starts_at": (now - timedelta(hours=5)).isoformat(),
        "ends_at": (now - timedelta(hours=1)).isoformat(),
    }
    p = api.post("/api/alerts/preview", json=body, headers=bearer(tokens["dispatcher"])).json()
    assert p["expired"] is True and p["tasks"] == [] and p["total_slots"] == 0
    assert _counts(engine) == before


def test_preview_starts_the_windows_at_the_alerts_start(api: Any, tokens: dict[str, str]) -> None:
    starts = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    body = {**GOOD, "starts_at": starts.isoformat()}
    p = api.post("/api/alerts/preview", json=body, headers=bearer(tokens["dispatcher"])).json()
    assert datetime.fromisoformat(p["starts_at"]) == starts
    first = min(datetime.fromisoformat(t["starts_at"]) for t in p["tasks"])
    assert first == starts


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({**GOOD, "districts": []}, 422, "districts"),
        ({**GOOD, "districts": ["Atlantis"]}, 422, "Atlantis"),
        ({**GOOD, "kind": "volcano"}, 422, "kind"),
        ({**GOOD, "level": "purple"}, 422, "level"),
        ({**GOOD, "headline": ""}, 422, "headline"),
        ({**GOOD, "starts_at": "2026-12-05T08:00:00"}, 422, "offset"),
        ({**GOOD, "starts_at": "yesterday"}, 422, "starts_at"),
        (
            {
                **GOOD,
                "starts_at": "2026-12-05T10:00:00+08:00",
                "ends_at": "2026-12-05T08:00:00+08:00",
            },
            422,
            "invalid_alert_period",
        ),
        ({**GOOD, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_previews_are_refused_and_store_nothing(
    api: Any, tokens: dict[str, str], engine: Engine, body: Any, status: int, needle: str
) -> None:
    before = _counts(engine)
    r = api.post("/api/alerts/preview", json=body, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == status, r.text
    assert needle in r.text
    assert _counts(engine) == before


def test_preview_is_for_dispatchers(api: Any, tokens: dict[str, str]) -> None:
    assert api.post("/api/alerts/preview", json=GOOD).status_code == 401
    r = api.post("/api/alerts/preview", json=GOOD, headers=bearer(tokens["manager_a"]))
    assert r.status_code == 403
    r = api.post(
        "/api/alerts/preview",
        content=b"{not json",
        headers={**bearer(tokens["dispatcher"]), "content-type": "application/json"},
    )
    assert r.status_code == 422


def _plan(engine: Engine, incident_id: int) -> list[tuple[str, int, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(Task).where(Task.incident_id == incident_id)).all()
        return sorted((t.plan_key, t.slots, t.title, t.place) for t in rows)


def test_the_real_alert_plans_what_its_preview_showed(
    client: Any, tokens: dict[str, str], engine: Engine
) -> None:
    """Through the whole system: the dispatch consumer plans the raised alert's tasks; they
    are the preview's, key for key and slot for slot."""
    auth = bearer(tokens["dispatcher"])
    body = {**GOOD, "districts": ["白云区", "花溪区", "云岩区"], "level": "red"}
    p = client.post("/api/alerts/preview", json=body, headers=auth).json()
    r = client.post("/api/alerts", json=body, headers=auth)
    assert r.status_code == 202, r.text
    incident_id = r.json()["incident_id"]
    planned = wait_for(
        lambda: (rows := _plan(engine, incident_id)) and len(rows) == p["total_tasks"] and rows,
        timeout=30,
    )
    assert planned == sorted(
        (t["plan_key"], t["slots"], t["title"], t["place"]) for t in p["tasks"]
    )
    assert sum(slots for _, slots, _, _ in planned) == p["total_slots"]
