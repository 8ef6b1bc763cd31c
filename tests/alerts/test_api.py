"""`POST /api/alerts`: one transaction makes the alert, the incident and their events; bad
bodies get a clear 4xx and store nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.alerts.models import Alert
from coordinator.dispatch.models import Incident
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from tests.conftest import bearer


@pytest.fixture
def api(make_runtime, tokens):
    """The API alone (no consumers): what the POST itself stores."""
    rt = make_runtime(relay=False)
    with TestClient(create_app(runtime=rt)) as c:
        yield c


def _count(engine, model) -> int:
    with Session(engine) as s:
        query = select(func.count()).select_from(model)
        if model is OutboxEvent:
            query = query.where(~OutboxEvent.type.contains("stock"))  # type: ignore[attr-defined]
        return int(s.exec(query).one())


GOOD = {
    "kind": "ice_storm",
    "level": "orange",
    "districts": ["云岩区", "520102", "Huaxi", "乌当"],
    "headline": "道路结冰橙色预警",
    "starts_at": "2014-01-05T07:00:00+08:00",
}


def test_post_alert_stores_alert_incident_and_events(api, tokens, engine):
    r = api.post("/api/alerts", json=GOOD, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 202, r.text
    ids = r.json()
    with Session(engine) as s:
        alert = s.get(Alert, ids["alert_id"])
        incident = s.get(Incident, ids["incident_id"])
        assert alert is not None and incident is not None
        assert alert.incident_id == incident.id
        assert incident.districts == ["520103", "520102", "520111", "520112"]
        assert (incident.kind, incident.level, incident.status) == ("ice_storm", "orange", "open")
        # the same instant, whichever database: 07:00 in Guiyang is 23:00 UTC the day before
        assert incident.starts_at == datetime(2014, 1, 4, 23, 0, tzinfo=UTC)
        types = sorted(
            t for t in s.exec(select(OutboxEvent.type)).all() if "stock" not in t
        )  # the demo data's opening stock has events of its own
    assert types == ["nuanliu.alert.raised", "nuanliu.incident.opened"]
    detail = api.get(f"/api/incidents/{ids['incident_id']}", headers=bearer(tokens["dispatcher"]))
    assert detail.status_code == 200 and detail.json()["tasks"] == []
    assert api.get("/api/incidents/999", headers=bearer(tokens["dispatcher"])).status_code == 404
    assert api.get("/api/incidents/0", headers=bearer(tokens["dispatcher"])).status_code == 422


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**GOOD, "districts": ["云岩区", "Atlantis", "999999"]}, "Atlantis, 999999"),
        ({**GOOD, "kind": "volcano"}, "kind"),
        ({**GOOD, "level": "purple"}, "level"),
        ({**GOOD, "districts": []}, "districts"),
        ({**GOOD, "districts": "云岩区"}, "districts"),
        ({**GOOD, "headline": ""}, "headline"),
        ({**GOOD, "starts_at": "2014-01-05T07:00:00"}, "offset"),
        ({**GOOD, "starts_at": "yesterday"}, "starts_at"),
        ({**GOOD, "ends_at": "2014-01-05T06:00:00+08:00"}, "ends_at"),
        ({**GOOD, "extra": 1}, "extra"),
        ({k: v for k, v in GOOD.items() if k != "kind"}, "kind"),
        ([GOOD], "dict"),
        ("just a string", ""),
    ],
)
def test_bad_alert_bodies_are_refused_and_store_nothing(api, tokens, engine, body, needle):
    r = api.post("/api/alerts", json=body, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert _count(engine, Alert) == 0 and _count(engine, Incident) == 0
    assert _count(engine, OutboxEvent) == 0


def test_broken_json_huge_bodies_and_roles(api, tokens, engine):
    headers = {**bearer(tokens["dispatcher"]), "content-type": "application/json"}
    assert api.post("/api/alerts", content=b'{"kind": ', headers=headers).status_code == 422
    assert api.post("/api/alerts", content=b"\xff\xfe\x00", headers=headers).status_code in (
        400,
        422,
    )
    big = b'{"headline": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert api.post("/api/alerts", content=big, headers=headers).status_code == 413
    assert api.post("/api/alerts", json=GOOD).status_code == 401
    assert (
        api.post("/api/alerts", json=GOOD, headers=bearer(tokens["manager_a"])).status_code == 403
    )
    assert _count(engine, Alert) == 0
