"""`POST /api/alerts/cap`: identity, Update and Cancel, areas outside Guiyang, hostile bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.alerts import cap
from coordinator.alerts.models import Alert
from coordinator.dispatch.models import Incident
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from tests.alerts.test_cap import HOSTILE
from tests.conftest import SHARED_CAP, bearer

REAL = SHARED_CAP
SENT = datetime(2014, 1, 5, 6, 0, tzinfo=UTC)
SEED = [("520103", "云岩区"), ("520102", "南明区"), ("520112", "乌当区"), ("520111", "花溪区")]


@pytest.fixture
def api(make_runtime, tokens):
    rt = make_runtime(relay=False)
    with TestClient(create_app(runtime=rt)) as c:
        yield c


def _post(api, tokens, body: bytes | str):
    if isinstance(body, str):
        body = body.encode()
    return api.post(
        "/api/alerts/cap",
        content=body,
        headers={**bearer(tokens["dispatcher"]), "content-type": "application/cap+xml"},
    )


def _icing(**kw) -> str:
    args = dict(
        identifier="GY-2014-0105-01",
        sender="gzqxt@cma.gov.cn",
        sent=SENT,
        event="道路结冰",
        headline="贵阳市气象台发布道路结冰橙色预警[Ⅱ级/严重]",
        severity="Severe",
        districts=SEED,
    )
    args.update(kw)
    return cap.build(**args)


def _events(engine, kind: str) -> int:
    with Session(engine) as s:
        return int(
            s.exec(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == kind)
            ).one()
        )


def _count(engine, model) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def test_same_alert_twice_is_one_incident(api, tokens, engine):
    first = _post(api, tokens, _icing())
    assert first.status_code == 202, first.text
    again = _post(api, tokens, _icing())
    assert again.status_code == 200
    assert (again.json()["alert_id"], again.json()["incident_id"]) == (
        first.json()["alert_id"],
        first.json()["incident_id"],
    )
    # the same identity with the offset written differently is still the same alert
    shifted = _icing(sent=SENT.astimezone(datetime.now().astimezone().tzinfo))
    assert _post(api, tokens, shifted).status_code == 200
    with Session(engine) as s:
        incident = s.get(Incident, first.json()["incident_id"])
        assert incident is not None
        assert (incident.kind, incident.level) == ("ice_storm", "orange")
        assert sorted(incident.districts) == sorted(code for code, _ in SEED)
    assert _count(engine, Alert) == 1 and _events(engine, "nuanliu.alert.raised") == 1


def test_update_changes_and_cancel_closes_the_incident(api, tokens, engine):
    first = _post(api, tokens, _icing()).json()
    ref = f"gzqxt@cma.gov.cn,GY-2014-0105-01,{SENT.isoformat()}"
    update = _icing(
        identifier="GY-2014-0105-02",
        sent=SENT.replace(hour=9),
        msg_type="Update",
        references=ref,
        headline="贵阳市气象台升级道路结冰红色预警[Ⅰ级/特别严重]",
        severity="Extreme",
        districts=[*SEED, ("520115", "观山湖区")],
    )
    r = _post(api, tokens, update)
    assert r.status_code == 202 and r.json()["incident_id"] == first["incident_id"]
    with Session(engine) as s:
        incident = s.get(Incident, first["incident_id"])
        assert incident is not None and incident.level == "red" and "520115" in incident.districts
    assert _events(engine, "nuanliu.alert.raised") == 2  # dispatch plans what is new

    cancel = _icing(
        identifier="GY-2014-0105-03",
        sent=SENT.replace(hour=15),
        msg_type="Cancel",
        references=f"{ref} gzqxt@cma.gov.cn,GY-2014-0105-02,{SENT.replace(hour=9).isoformat()}",
        headline="贵阳市气象台解除道路结冰预警",
        districts=[],
    )
    r = _post(api, tokens, cancel)
    assert r.status_code == 202 and r.json()["incident_id"] == first["incident_id"]
    with Session(engine) as s:
        incident = s.get(Incident, first["incident_id"])
        assert incident is not None and incident.status == "closed"
    assert _events(engine, "nuanliu.incident.closed") == 1
    # a Cancel of something we never had changes nothing
    orphan = _icing(identifier="X", msg_type="Cancel", references="a,b,2014-01-01T00:00:00+08:00")
    assert _post(api, tokens, orphan).status_code == 422


def test_alerts_outside_guiyang_are_refused_and_store_nothing(api, tokens, engine):
    beijing = _icing(districts=[("110101", "东城区")], headline="北京市道路结冰橙色预警")
    r = _post(api, tokens, beijing)
    assert r.status_code == 422 and "outside our districts" in r.text
    assert r.json()["code"] == "no_alert_taken"
    if REAL.is_dir():
        for f in sorted(REAL.glob("*.xml")):
            r = _post(api, tokens, f.read_bytes())
            assert r.status_code == 422, f.name
            assert "outside our districts" in r.text
    assert _count(engine, Alert) == 0 and _count(engine, Incident) == 0


def _live(xml: str) -> str:
    """The real message's `<expires>` (2024) moved to tomorrow: what arrives on time."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return xml.replace("2024-07-13T03:31:38+08:00", tomorrow)


@pytest.mark.skipif(not REAL.is_dir(), reason="the shared real-world CAP files are absent")
def test_real_cpeas_message_moved_to_yunyan_opens_an_incident(api, tokens, engine):
    xml = (REAL / "cn_cma_baoding_lightning_yellow_2024-07-12.xml").read_text("utf-8")
    r = _post(api, tokens, _live(xml.replace("130602000000", "520103000000")))
    assert r.status_code == 202, r.text
    with Session(engine) as s:
        incident = s.get(Incident, r.json()["incident_id"])
        assert incident is not None
        assert (incident.kind, incident.level, incident.districts) == (
            "other",
            "yellow",
            ["520103"],
        )


@pytest.mark.skipif(not REAL.is_dir(), reason="the shared real-world CAP files are absent")
def test_real_cpeas_message_in_gb2312_is_taken_like_its_utf8_form(api, tokens, engine):
    xml = (REAL / "cn_cma_baoding_lightning_yellow_2024-07-12.xml").read_text("utf-8")
    xml = _live(xml.replace("130602000000", "520103000000"))
    r = _post(api, tokens, xml.replace('encoding="UTF-8"', 'encoding="GB2312"').encode("gb2312"))
    assert r.status_code == 202, r.text
    again = _post(api, tokens, xml.encode("utf-8"))  # the same alert, in UTF-8
    assert again.status_code == 200 and again.json()["alert_id"] == r.json()["alert_id"]
    with Session(engine) as s:
        incident = s.get(Incident, r.json()["incident_id"])
        assert incident is not None and incident.districts == ["520103"]
        alert = s.get(Alert, r.json()["alert_id"])
        assert alert is not None and alert.headline == "保定市气象台更新雷电黄色预警[Ⅲ级/较重]"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_get_422_with_a_reason(api, tokens, engine, name):
    r = _post(api, tokens, HOSTILE[name])
    assert r.status_code == 422 and r.json()["detail"]
    assert r.json()["code"] == "invalid_cap"
    assert _count(engine, Alert) == 0


def test_oversized_and_unauthorised(api, tokens, engine):
    padding = "<!--" + "x" * (1024 * 1024 + 10) + "-->"
    assert _post(api, tokens, padding + _icing()).status_code == 413

    def chunks():
        yield _icing().encode()
        for _ in range(20):
            yield b"<!--" + b"y" * 65536 + b"-->"

    r = api.post(
        "/api/alerts/cap",
        content=chunks(),
        headers={**bearer(tokens["dispatcher"]), "content-type": "application/xml"},
    )
    assert r.status_code == 413
    assert api.post("/api/alerts/cap", content=_icing()).status_code == 401
    assert _count(engine, Alert) == 0
