"""The after-action report of an incident: replayed through the real app (the ice-storm
simulation's phones answering offers over HTTP), then read back from the PDF and the workbook
and compared with what the database holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.dispatch.models import Assignment, Task
from coordinator.dispatch.simulate import Behaviour, Simulation
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from nuanliu.check import check
from tests.conftest import bearer, wait_quiet
from tests.dispatch.helpers import add_assignment, add_task, use_playbook
from tests.reports.readers import pdf_fonts, pdf_text, sheets, table

TWO_PER_DISTRICT = {
    "tasks": [
        {
            "key": "deice",
            "kind": "de_icing",
            "title_zh": "路面除冰",
            "title_en": "Road de-icing",
            "per": "district",
            "slots": 2,
            "skills": [],
            "hours": 4,
        }
    ]
}


@pytest.mark.integration
def test_report_after_the_simulated_ice_storm_agrees_with_the_database(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token, data=TWO_PER_DISTRICT)
    client.headers.update(bearer(token))
    outcome = Simulation(
        client,
        speed=600,
        settle_s=4,
        max_s=90,
        seed=11,
        behaviour=Behaviour(accept=0.7, decline=0.3),
        console=Console(quiet=True),
    ).run()
    wait_quiet(engine)
    incident_id = outcome.incident_id

    with Session(engine) as s:
        rows = s.exec(select(Assignment).where(Assignment.incident_id == incident_id)).all()
        slots = int(
            s.exec(select(func.sum(Task.slots)).where(Task.incident_id == incident_id)).one()
        )
        ids = [a.id for a in rows]
        texts = s.exec(
            select(SmsMessage).where(
                col(SmsMessage.assignment_id).in_(ids), SmsMessage.direction == "outbound"
            )
        ).all()
        assert check(session=s) == []  # the facts the report reads are sound
        # the run closes its incident, which stands its volunteers down: a slot taken and
        # then stood down was filled all the same (the audit log says it was taken)
        taken = set(
            s.exec(
                select(AuditLog.subject).where(
                    col(AuditLog.action).in_(("assignment.accepted", "assignment.assigned"))
                )
            ).all()
        )
    held = [
        a
        for a in rows
        if a.status in ("accepted", "completed")
        or (a.status == "cancelled" and f"assignment:{a.id}" in taken)
    ]
    assert outcome.closed and any(a.status == "cancelled" for a in held)
    filled = len(held)
    declined = sum(a.status == "declined" for a in rows)
    assert slots == 8 and filled == 8 and declined >= 1

    response = client.get(f"/api/incidents/{incident_id}/report.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    flat = text.replace("\n", "")  # a paragraph wraps where the page ends
    # Chinese, as the union reads it, with real glyphs (not boxes: the text is extracted back)
    assert "事件总结报告" in text and "到位率" in text and "云岩区" in text
    assert "路面除冰" in text
    assert any("WenQuanYi" in f or "wqy" in f.lower() for f in pdf_fonts(response.content))
    people = len({a.volunteer_id for a in held})
    summary = f"共需志愿者{slots}人次，已到位{filled}人次（到位率100.0%），{people}名志愿者参与"
    assert summary in flat
    assert f"婉拒{declined}次" in flat
    assert f"发送短信{len(texts)}条（计费{sum(m.segments for m in texts)}条）" in flat
    for step in ("收到预警", "任务生成", "首条邀请", "半数到位", "全部到位"):
        assert step in text

    english = client.get(f"/api/incidents/{incident_id}/report.pdf?lang=en")
    assert english.status_code == 200
    en = pdf_text(english.content).replace("\n", " ")
    assert "After-action report" in en and f"{filled} of {slots} slots filled (100.0%)" in en

    book = client.get(f"/api/incidents/{incident_id}/report.xlsx")
    assert book.status_code == 200
    wb = sheets(book.content)
    assert set(wb) >= {"summary", "timeline", "figures", "tasks", "districts", "sms"}
    header, body = table(wb["tasks"])
    total = body[-1]
    assert total[header.index("人次")] == slots
    assert total[header.index("已到位")] == filled
    assert total[header.index("婉拒")] == declined
    assert total[header.index("发出邀请")] == sum(a.source != "dispatcher" for a in rows)
    assert sum(r[header.index("已到位")] for r in body[:-1]) == filled
    header, body = table(wb["districts"])
    assert len(body) == 4 and all(r[header.index("到位率")] == 1.0 for r in body)
    header, body = table(wb["sms"])
    assert body[-1][1] == len(texts)
    assert sum(r[1] for r in body[:-1]) == len(texts)
    header, body = table(wb["timeline"])
    assert [r[0] for r in body][:5] == ["收到预警", "任务生成", "首条邀请", "半数到位", "全部到位"]
    assert all(r[1] != "尚未" for r in body[:6])  # closed too: the run closes its incident


def test_an_incident_with_no_offers_reports_zeros_and_no_curve(api, tokens, engine):
    with Session(engine) as s:
        task = add_task(s, slots=3, title='=HYPERLINK("x")')
        incident_id = task.incident_id
        s.commit()
    api.headers.update(bearer(tokens["dispatcher"]))
    text = pdf_text(api.get(f"/api/incidents/{incident_id}/report.pdf").content).replace("\n", "")
    assert "共需志愿者3人次，已到位0人次（到位率0.0%）" in text
    assert "发出邀请0条" in text and "发送短信0条（计费0条）" in text
    assert "到位曲线" not in text  # nothing to draw
    wb = sheets(api.get(f"/api/incidents/{incident_id}/report.xlsx").content)
    header, body = table(wb["tasks"])
    assert body[0][header.index("任务")] == '\'=HYPERLINK("x")'  # shown, never evaluated
    assert body[0][header.index("到位用时（分钟）")] is None
    header, body = table(wb["timeline"])
    assert [r[1] for r in body[2:]] == ["尚未"] * 4


def test_no_shows_hours_and_time_to_fill(api, tokens, engine):
    with Session(engine) as s:
        over = add_task(s, slots=2, starts_in=timedelta(hours=-5), lasts=timedelta(hours=3))
        people = [v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(2))]
        add_assignment(s, over, people[0], slot=0, code="A1", status="completed")
        add_assignment(s, over, people[1], slot=1, code="A2", status="accepted")
        s.commit()
        incident_id = over.incident_id
    api.headers.update(bearer(tokens["dispatcher"]))
    wb = sheets(api.get(f"/api/incidents/{incident_id}/report.xlsx?lang=en").content)
    header, body = table(wb["figures"])
    figures = {r[0]: r[1] for r in body}
    assert figures["slots filled"] == 2 and figures["completed"] == 1
    assert figures["no-shows"] == 1  # accepted, the shift ended two hours ago, never done
    assert figures["hours served"] == pytest.approx(3.0)
    assert figures["volunteers"] == 2
    header, body = table(wb["tasks"])
    # both slots taken (no audit rows here: the report falls back on the answer's time)
    assert body[0][header.index("minutes to fill")] is not None


def test_bad_requests_are_refused(api, tokens, engine):
    with Session(engine) as s:
        incident_id = add_task(s).incident_id
        s.commit()
    url = f"/api/incidents/{incident_id}/report"
    assert api.get(f"{url}.pdf").status_code == 401
    api.headers.update(bearer(tokens["manager_a"]))
    assert api.get(f"{url}.pdf").status_code == 403
    api.headers.update(bearer(tokens["dispatcher"]))
    assert api.get("/api/incidents/999999/report.pdf").json()["code"] == "incident_not_found"
    assert api.get(f"{url}.docx").status_code == 422
    assert api.get(f"{url}.pdf?lang=fr").status_code == 422
    assert api.get("/api/incidents/0/report.pdf").status_code == 422
    assert api.get(f"{url}.xlsx?lang=en").status_code == 200


def test_without_the_font_no_pdf_of_empty_boxes_is_made(settings, engine, broker, tokens):
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from coordinator.process import Services
    from nuanliu.app import create_app

    bare = settings.model_copy(update={"report_font": Path("/nonexistent/wqy-microhei.ttc")})
    rt = SimpleNamespace(
        settings=bare,
        engine=engine,
        bootstrap=broker.bootstrap,
        services=Services(settings=bare, engine=engine),
    )
    with Session(engine) as s:
        incident_id = add_task(s).incident_id
        s.commit()
    with TestClient(create_app(runtime=rt)) as c:
        c.headers.update(bearer(tokens["dispatcher"]))
        r = c.get(f"/api/incidents/{incident_id}/report.pdf")
        assert r.status_code == 503 and r.json()["code"] == "report_font_missing"
        assert "fonts-wqy-microhei" in r.json()["detail"]
        # the workbook has no glyphs to draw: it is made all the same
        assert c.get(f"/api/incidents/{incident_id}/report.xlsx").status_code == 200


def test_hours_are_the_ledgers_time_actually_served(api, tokens, engine):
    """A volunteer checked in 30 minutes late and out an hour later served 1 hour, not the
    3-hour shift; one completed by 完成 without a check-in counts the shift as planned; the
    ledger's no-show counts as a no-show, once. The report agrees with the hours API."""
    d = bearer(tokens["dispatcher"])
    with Session(engine) as s:
        shift = add_task(s, slots=3, starts_in=timedelta(hours=-2), lasts=timedelta(hours=3))
        people = [v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(3))]
        served = add_assignment(s, shift, people[0], slot=0, code="A1", status="accepted")
        add_assignment(s, shift, people[1], slot=1, code="A2", status="completed")
        s.commit()
        incident_id, start, served_id = shift.incident_id, shift.starts_at, served.id
    arrived = (start + timedelta(minutes=30)).isoformat()
    left = (start + timedelta(minutes=90)).isoformat()
    assert (
        api.post(
            f"/api/assignments/{served_id}/check-in", headers=d, json={"at": arrived}
        ).status_code
        == 200
    )
    assert (
        api.post(
            f"/api/assignments/{served_id}/check-out", headers=d, json={"at": left}
        ).status_code
        == 200
    )
    ledger = api.get(f"/api/volunteers/{people[0]}/hours", headers=d).json()["hours"]
    assert ledger == pytest.approx(1.0)

    wb = sheets(api.get(f"/api/incidents/{incident_id}/report.xlsx?lang=en", headers=d).content)
    _, body = table(wb["figures"])
    figures = {r[0]: r[1] for r in body}
    assert figures["hours served"] == pytest.approx(ledger + 3.0)  # 1 h + the planned 3 h
    assert figures["completed"] == 2
