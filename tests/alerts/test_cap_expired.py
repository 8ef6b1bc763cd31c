"""A CAP alert whose `<expires>` has passed when it arrives is recorded and shown as expired,
opens no incident and sends nobody out, and the answer says so: through the API with every
consumer running, the feed poller, the real CPEAS message of `shared/data/cap/`, and the flow
at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.alerts import cap, flows, jobs
from coordinator.alerts.models import Alert
from coordinator.dispatch.models import Assignment, Incident, Task
from coordinator.geo.outlines import guiyang
from coordinator.logistics.models import Plan
from coordinator.sms.models import SmsMessage
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from tests.conftest import SHARED_CAP, bearer, wait_for, wait_quiet

SEED = [("520103", "云岩区"), ("520102", "南明区")]


def _icing(identifier: str, *, expires: datetime | None, **kw: object) -> str:
    now = datetime.now(UTC)
    args: dict[str, object] = dict(
        identifier=identifier,
        sender="gzqxt@cma.gov.cn",
        sent=now - timedelta(hours=13),
        event="道路结冰",
        headline="贵阳市气象台发布道路结冰橙色预警[Ⅱ级/严重]",
        severity="Severe",
        districts=SEED,
        onset=now - timedelta(hours=13),
        expires=expires,
    )
    args.update(kw)
    return cap.build(**args)  # type: ignore[arg-type]


def _post(http: TestClient, token: str, body: str | bytes) -> httpx.Response:
    return http.post(
        "/api/alerts/cap",
        content=body.encode() if isinstance(body, str) else body,
        headers={**bearer(token), "content-type": "application/cap+xml"},
    )


def _count(engine, model, *where) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def _types(engine) -> list[str]:
    with Session(engine) as s:
        types = s.exec(select(OutboxEvent.type).order_by(col(OutboxEvent.id))).all()
        return [t for t in types if "stock" not in t]  # the demo's stock levels


@pytest.fixture
def api(make_runtime, tokens):
    """The API alone (no consumers): what the POST itself stores and answers."""
    rt = make_runtime(relay=False)
    with TestClient(create_app(runtime=rt)) as c:
        yield c


def test_an_expired_alert_is_recorded_and_the_answer_says_so(api, tokens, engine):
    ended = datetime.now(UTC) - timedelta(hours=1)
    xml = _icing("GY-OLD-1", expires=ended)
    r = _post(api, tokens["dispatcher"], xml)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expired"] is True and body["incident_id"] is None
    assert body["alerts"] == [
        {"alert_id": body["alert_id"], "incident_id": None, "new": True, "expired": True}
    ]
    assert "expired when it arrived" in body["detail"] and "nobody sent out" in body["detail"]
    with Session(engine) as s:
        alert = s.get(Alert, body["alert_id"])
        assert alert is not None and alert.incident_id is None
        assert (alert.kind, alert.level) == ("ice_storm", "orange")
        assert "GY-OLD-1" in alert.raw
        audit = s.exec(select(AuditLog).where(AuditLog.action == "alert.arrived_expired")).all()
        assert [a.subject for a in audit] == [f"alert:{alert.id}"]
    assert _count(engine, Incident) == 0
    assert _types(engine) == ["nuanliu.alert.arrived_expired"]  # nothing dispatch acts on
    # the same alert again is the same record, still expired
    again = _post(api, tokens["dispatcher"], xml)
    assert again.status_code == 200 and again.json()["alert_id"] == body["alert_id"]
    assert again.json()["expired"] is True
    assert _count(engine, Alert) == 1 and len(_types(engine)) == 1
    # the board shows it (its feed is every event) and names it in both languages
    feed = api.get("/board/snapshot", headers=bearer(tokens["dispatcher"])).json()["feed"]
    shown = [e for e in feed if e["type"] == "nuanliu.alert.arrived_expired"]
    assert shown and shown[0]["data"]["alert_id"] == body["alert_id"]
    i18n = api.get("/board/static/i18n.js").text
    assert '"ev.alert.arrived_expired": "预警到达时已过期（未派人）"' in i18n
    assert '"ev.alert.arrived_expired": "Alert already expired on arrival' in i18n


def test_a_wrapper_with_one_expired_and_one_live_alert(api, tokens, engine):
    now = datetime.now(UTC)
    old = _icing("GY-W-1", expires=now - timedelta(minutes=5))
    live = _icing("GY-W-2", expires=now + timedelta(hours=6))
    inner = "".join(x.split("?>", 1)[1] for x in (old, live))
    r = _post(api, tokens["dispatcher"], f"<alerts>{inner}</alerts>")
    assert r.status_code == 202, r.text
    flags = [(a["expired"], a["incident_id"] is None) for a in r.json()["alerts"]]
    assert flags == [(True, True), (False, False)]
    assert "detail" not in r.json()
    assert _count(engine, Incident) == 1


@pytest.mark.integration
def test_an_expired_alert_sends_nobody_out(client, tokens, engine):
    """With every consumer running: the expired alert plans no task, offers nothing and makes
    no supply plan, while a live one posted after it does all three."""
    token = tokens["dispatcher"]
    now = datetime.now(UTC)
    old = _post(client, token, _icing("GY-OLD-2", expires=now - timedelta(seconds=30)))
    assert old.status_code == 200 and old.json()["expired"] is True
    live = _post(client, token, _icing("GY-LIVE-2", expires=now + timedelta(hours=6)))
    assert live.status_code == 202
    incident_id = live.json()["incident_id"]
    wait_for(lambda: _count(engine, Assignment, Assignment.incident_id == incident_id), 60)
    wait_quiet(engine)
    assert _count(engine, Incident) == 1
    assert _count(engine, Task) == _count(engine, Task, Task.incident_id == incident_id) > 0
    assert _count(engine, Assignment) == _count(
        engine, Assignment, Assignment.incident_id == incident_id
    )
    with Session(engine) as s:
        offers = s.exec(select(SmsMessage).where(SmsMessage.kind == "offer")).all()
        ours = set(s.exec(select(Assignment.id)).all())
        assert offers and all(m.assignment_id in ours for m in offers)
        plans = s.exec(select(Plan)).all()
        assert [p.incident_id for p in plans] in ([], [incident_id])
        raised = s.exec(
            select(OutboxEvent.type).where(OutboxEvent.type == "nuanliu.alert.raised")
        ).all()
        assert len(raised) == 1


def test_the_boundary_and_what_an_expired_update_or_cancel_does(engine, demo):
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

    def data(identifier: str, ends_at: datetime | None, **kw: object) -> flows.AlertInput:
        args: dict[str, object] = dict(
            sender="gz@cma",
            identifier=identifier,
            sent=now - timedelta(hours=2),
            kind="ice_storm",
            level="yellow",
            districts=["520103"],
            headline="道路结冰黄色预警",
            source="cap",
            ends_at=ends_at,
        )
        args.update(kw)
        return flows.AlertInput(**args)  # type: ignore[arg-type]

    with Session(engine) as s:
        at_end = flows.raise_alert(session=s, data=data("A", now), actor="test", now=now)
        assert at_end.expired and at_end.incident_id is None  # ending now is ended
        live = flows.raise_alert(
            session=s, data=data("B", now + timedelta(seconds=1)), actor="test", now=now
        )
        assert not live.expired and live.incident_id is not None
        # an Update that arrives after its own end changes nothing of the open incident
        update = flows.raise_alert(
            session=s,
            data=data(
                "C",
                now - timedelta(minutes=1),
                msg_type="Update",
                level="red",
                references=[("gz@cma", "B", now - timedelta(hours=2))],
            ),
            actor="test",
            now=now,
        )
        assert update.expired and update.incident_id is None
        incident = s.get(Incident, live.incident_id)
        assert incident is not None and (incident.level, incident.status) == ("yellow", "open")
        # a Cancel is acted on whenever it comes: it sends nobody out anyway
        cancel = flows.raise_alert(
            session=s,
            data=data(
                "D",
                now - timedelta(hours=1),
                msg_type="Cancel",
                references=[("gz@cma", "B", now - timedelta(hours=2))],
            ),
            actor="test",
            now=now,
        )
        assert not cancel.expired and cancel.incident_id == live.incident_id
        s.flush()
        s.refresh(incident)
        assert incident.status == "closed"
        s.rollback()


def test_the_feed_poller_records_an_expired_alert_and_raises_none(engine, settings, demo):
    old = _icing("FEED-OLD", expires=datetime.now(UTC) - timedelta(hours=2)).encode()
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=old)))
    feeds = settings.model_copy(update={"cap_feeds": ["http://feed.example/cap.xml"]})
    assert jobs.poll(engine=engine, settings=feeds, client=http, outlines=guiyang()) == 0
    assert _count(engine, Alert) == 1 and _count(engine, Incident) == 0


@pytest.mark.skipif(not SHARED_CAP.is_dir(), reason="the shared real-world CAP files are absent")
def test_the_real_cpeas_message_of_2024_arrives_expired(api, tokens, engine):
    """The Baoding lightning warning (expires 13 July 2024), its area moved to Yunyan: it is
    ours, but long over."""
    xml = (SHARED_CAP / "cn_cma_baoding_lightning_yellow_2024-07-12.xml").read_text("utf-8")
    r = _post(api, tokens["dispatcher"], xml.replace("130602000000", "520103000000"))
    assert r.status_code == 200, r.text
    assert r.json()["expired"] is True and r.json()["incident_id"] is None
    assert "it ended 2024-07-13T03:31:38+08:00" in r.json()["detail"]
    with Session(engine) as s:
        alert = s.get(Alert, r.json()["alert_id"])
        assert alert is not None and alert.headline == "保定市气象台更新雷电黄色预警[Ⅲ级/较重]"
    assert _count(engine, Incident) == 0


def test_a_json_alert_that_already_ended_is_recorded_as_expired(api, tokens, engine):
    body = {
        "kind": "snow",
        "level": "blue",
        "districts": ["云岩区"],
        "headline": "暴雪蓝色预警",
        "starts_at": "2026-01-05T07:00:00+08:00",
        "ends_at": "2026-01-05T19:00:00+08:00",
    }
    r = api.post("/api/alerts", json=body, headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 200, r.text
    assert r.json()["expired"] is True and r.json()["incident_id"] is None
    assert _count(engine, Incident) == 0


@pytest.mark.browser
@pytest.mark.integration
def test_the_board_shows_the_expired_alert_in_both_languages(make_runtime, tokens, engine):
    """Raised through the API of a served instance, the expired alert is a line of the
    dispatcher's feed, named as expired, with its headline (Debian's Chromium)."""
    from playwright.sync_api import sync_playwright

    from bench.serving import serve
    from consumers import CONSUMERS
    from coordinator.accounts import people
    from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot
    from tests.board.conftest import PASSWORD

    with Session(engine) as s:
        people.create_user(session=s, username="dora", password=PASSWORD, role="dispatcher")
        s.commit()
    served = serve(make_runtime(consumers=CONSUMERS))
    try:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            old = _icing("GY-OLD-B", expires=datetime.now(UTC) - timedelta(hours=3))
            r = _post(http, tokens["dispatcher"], old)  # type: ignore[arg-type]
            assert r.status_code == 200 and r.json()["expired"] is True
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{served.url}/login")
            page.fill("#login-username", "dora")
            page.fill("#login-password", PASSWORD)
            page.click("form.stack button[type=submit]")
            line = 'li[data-type="nuanliu.alert.arrived_expired"]'
            page.wait_for_selector(line, timeout=30_000)
            text = page.text_content(line) or ""
            assert "预警到达时已过期（未派人）" in text and "道路结冰橙色预警" in text
            shot(page, "alerts-expired-on-board-zh")
            page.evaluate("() => { if (I18N.lang !== 'en') I18N.toggle(); }")
            page.wait_for_function(
                "s => document.querySelector(s).textContent.includes('expired on arrival')",
                arg=line,
            )
            shot(page, "alerts-expired-on-board-en")
            page.evaluate("() => I18N.toggle()")
            browser.close()
    finally:
        served.stop()
