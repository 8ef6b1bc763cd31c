"""`POST /api/alerts`: one transaction makes the alert, the incident and their events; bad
bodies get a clear 4xx and store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.alerts import jobs
from coordinator.alerts.models import Alert, AlertClaim
from coordinator.dispatch.models import Incident
from coordinator.scheduling import JobContext, NoTimers
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from nuanliu.scheduler import recurring_jobs
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


@pytest.mark.parametrize(
    ("body", "detail", "code"),
    [
        (
            {**GOOD, "districts": ["Atlantis"]},
            "unknown district: Atlantis",
            "unknown_district",
        ),
        (
            {**GOOD, "ends_at": "2014-01-05T06:00:00+08:00"},
            "ends_at must be after starts_at",
            "invalid_alert_period",
        ),
    ],
)
def test_refusals_say_their_code(api, tokens, engine, body, detail, code):
    r = api.post("/api/alerts", json=body, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 422 and r.json() == {"detail": detail, "code": code}


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


# -- the same alert twice --------------------------------------------------------------------
def _ids(r) -> tuple[int, int]:
    return r.json()["alert_id"], r.json()["incident_id"]


@pytest.fixture
def clock(monkeypatch):
    """The route's clock, moved by hand: `clock.now += timedelta(...)`."""
    from types import SimpleNamespace

    from coordinator.alerts import views

    state = SimpleNamespace(now=datetime(2014, 1, 5, 6, 0, tzinfo=UTC))
    monkeypatch.setattr(views, "utcnow", lambda: state.now)
    return state


def _post(api, tokens, body, key=None, role="dispatcher"):
    headers = bearer(tokens[role])
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post("/api/alerts", json=body, headers=headers)


def test_the_same_key_twice_is_one_alert_and_one_incident(api, tokens, engine, clock):
    first = _post(api, tokens, GOOD, key="3f1c-retry-me")
    assert first.status_code == 202, first.text
    clock.now += timedelta(hours=23)
    again = _post(api, tokens, GOOD, key="3f1c-retry-me")
    assert again.status_code == 200 and _ids(again) == _ids(first)
    assert _count(engine, Alert) == 1 and _count(engine, Incident) == 1
    assert _count(engine, OutboxEvent) == 2  # one incident.opened, one alert.raised


def test_a_key_sent_again_with_another_alert_is_refused(api, tokens, engine, clock):
    assert _post(api, tokens, GOOD, key="k-1").status_code == 202
    other = {**GOOD, "level": "red"}
    r = _post(api, tokens, other, key="k-1")
    assert r.status_code == 422 and "Idempotency-Key was used for a different alert" in r.text
    assert r.json()["code"] == "idempotency_key_reused"
    assert _count(engine, Alert) == 1 and _count(engine, Incident) == 1
    # the same content written differently is the same alert: district names or codes in
    # another order, the start in UTC, spaces around the headline
    same = {
        **GOOD,
        "districts": ["乌当区", "520111", "南明", "云岩"],
        "starts_at": "2014-01-04T23:00:00Z",
        "headline": f"  {GOOD['headline']} ",
    }
    assert _post(api, tokens, same, key="k-1").status_code == 200
    assert _count(engine, Alert) == 1


def test_a_key_is_kept_24_hours_and_per_dispatcher(api, tokens, engine, clock, session):
    from coordinator.accounts.service import create_token

    first = _post(api, tokens, GOOD, key="k-2")
    other_token = create_token(session=session, role="dispatcher", label="another-dispatcher")
    session.commit()
    tokens = {**tokens, "other": other_token}
    theirs = _post(api, tokens, GOOD, key="k-2", role="other")
    assert theirs.status_code == 202 and _ids(theirs) != _ids(first)
    clock.now += timedelta(hours=24, seconds=1)
    later = _post(api, tokens, GOOD, key="k-2")
    assert later.status_code == 202 and _ids(later) != _ids(first)
    assert _count(engine, Incident) == 3


def test_the_same_body_without_a_key_within_the_window_is_one_alert(
    api, tokens, engine, clock, settings
):
    window = settings.alert_dedupe_window
    assert window == timedelta(minutes=5)
    first = _post(api, tokens, GOOD)
    assert first.status_code == 202
    clock.now += window - timedelta(seconds=1)
    again = _post(api, tokens, GOOD)
    assert again.status_code == 200 and _ids(again) == _ids(first)
    # a different alert is a different alert, even at once
    other = _post(api, tokens, {**GOOD, "districts": ["云岩区"]})
    assert other.status_code == 202
    assert _count(engine, Incident) == 2
    # the window runs from the alert raised, not from the last copy
    clock.now += timedelta(seconds=2)
    after = _post(api, tokens, GOOD)
    assert after.status_code == 202 and _ids(after) != _ids(first)
    assert _count(engine, Alert) == 3 and _count(engine, Incident) == 3
    # and that one now answers the copies
    assert _ids(_post(api, tokens, GOOD)) == _ids(after)


def test_copies_a_second_apart_across_a_minute_boundary_are_one_alert(api, tokens, clock):
    clock.now = datetime(2014, 1, 5, 6, 4, 59, 500000, tzinfo=UTC)
    first = _post(api, tokens, GOOD)
    clock.now += timedelta(seconds=1)
    assert _ids(_post(api, tokens, GOOD)) == _ids(first)


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "has space", "naïve", "tab\tkey"],
    ids=["empty", "too long", "space", "non-ascii", "control"],
)
def test_a_bad_idempotency_key_is_refused_and_stores_nothing(api, tokens, engine, key):
    headers = {**bearer(tokens["dispatcher"]), "Idempotency-Key": key.encode("utf-8")}
    r = api.post("/api/alerts", json=GOOD, headers=headers)
    assert r.status_code == 422, r.text
    assert "Idempotency-Key" in r.text or "idempotency-key" in r.text.lower()
    assert _count(engine, Alert) == 0 and _count(engine, Incident) == 0


def test_the_dedupe_window_setting(monkeypatch):
    """An ISO 8601 duration, like the other times in the settings; 0 turns it off."""
    from coordinator.config import Settings

    monkeypatch.setenv("NUANLIU_ALERT_DEDUPE_WINDOW", "PT2M")
    assert Settings().alert_dedupe_window == timedelta(minutes=2)
    monkeypatch.setenv("NUANLIU_ALERT_DEDUPE_WINDOW", "PT0S")
    assert Settings().alert_dedupe_window == timedelta(0)
    for bad in ("-PT1M", "five minutes"):
        monkeypatch.setenv("NUANLIU_ALERT_DEDUPE_WINDOW", bad)
        with pytest.raises(ValueError, match="NUANLIU_ALERT_DEDUPE_WINDOW"):
            Settings()


def test_a_window_of_zero_takes_every_copy_as_a_new_alert(api, tokens, engine, settings, clock):
    settings.alert_dedupe_window = timedelta(0)
    assert _post(api, tokens, GOOD).status_code == 202
    assert _post(api, tokens, GOOD).status_code == 202
    assert _count(engine, Incident) == 2


def test_the_hourly_prune_forgets_old_claims_and_keeps_a_days_keys(
    api, tokens, engine, clock, settings, monkeypatch
):
    """Claims older than a day go, so the table does not grow with every alert ever raised;
    a key used within the day still answers with its alert after a prune."""
    start = clock.now
    old = _post(api, tokens, GOOD, key="old-key")
    assert old.status_code == 202, old.text
    clock.now = start + timedelta(hours=20)
    red = {**GOOD, "level": "red"}
    fresh = _post(api, tokens, red, key="fresh-key")
    assert fresh.status_code == 202, fresh.text

    clock.now = start + timedelta(hours=25)
    monkeypatch.setattr(jobs, "utcnow", lambda: clock.now)
    context = JobContext(settings=settings, engine=engine, timers=NoTimers())
    assert jobs.prune_alert_claims(context) == 1
    with Session(engine) as s:
        assert [c.key for c in s.exec(select(AlertClaim)).all()] == ["key:fresh-key"]
        assert len(s.exec(select(Alert)).all()) == 2  # the alerts themselves stay

    again = _post(api, tokens, red, key="fresh-key")
    assert again.status_code == 200 and _ids(again) == _ids(fresh)
    assert jobs.prune_alert_claims(context) == 0
    assert "alerts-prune-claims" in {job_id for job_id, *_ in recurring_jobs(settings)}
