"""The approval queue over HTTP (issue 15, item 1): `GET /api/volunteers/pending`,
`POST /api/volunteers/{id}/approve|decline`, the texts that tell the person, the refusals,
and two dispatchers deciding at once (PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlmodel import Session, col, select

from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from tests.dispatch.helpers import handle_text
from tests.volunteers.conftest import Api


def _sign_up(engine: Any, phone: str, text: str = "报名 张三 云岩区 急救") -> int:
    with Session(engine) as s:
        assert handle_text(s, phone, text) == "signed_up"
        s.commit()
        v = s.exec(select(Volunteer).where(Volunteer.phone == phone)).one()
        return v.id or 0


def _texts(engine: Any, phone: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        rows = s.exec(
            select(SmsMessage)
            .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
            .order_by(col(SmsMessage.id))
        ).all()
        return [(m.kind, m.body) for m in rows]


def test_pending_list_masks_phones_and_approve_tells_the_person(api: Api, engine: Any) -> None:
    first = _sign_up(engine, "+8613900001111")
    second = _sign_up(engine, "+8613900002222", "JOIN Li Nanming driving")
    r = api.client.get("/api/volunteers/pending", headers=api.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2
    assert [i["id"] for i in body["items"]] == [first, second]
    item = body["items"][0]
    assert item["phone"] == "+86 139****1111"  # masked for a dispatcher
    assert (item["name"], item["district"], item["skills"]) == ("张三", "云岩区", ["first_aid"])
    r = api.client.post(f"/api/volunteers/{first}/approve", headers=api.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["active"] is True
    assert _texts(engine, "+8613900001111")[-1][0] == "signup_approved"
    assert "欢迎加入" in _texts(engine, "+8613900001111")[-1][1]
    r = api.client.post(
        f"/api/volunteers/{second}/decline", headers=api.headers, json={"reason": "未满18岁"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined" and r.json()["active"] is False
    kind, text = _texts(engine, "+8613900002222")[-1]
    assert kind == "signup_declined" and text.startswith("Nuanliu: sorry")
    assert "未满18岁" not in text  # the reason is for the audit log
    assert api.client.get("/api/volunteers/pending", headers=api.headers).json()["count"] == 0
    from coordinator.accounts.models import AuditLog

    with Session(engine) as s:
        actions = s.exec(
            select(AuditLog.action, AuditLog.detail).where(
                col(AuditLog.action).in_(["volunteer.approved", "volunteer.declined"])
            )
        ).all()
        assert sorted(a for a, _ in actions) == ["volunteer.approved", "volunteer.declined"]
        assert any(d and d.get("reason") == "未满18岁" for _, d in actions)


def test_decisions_are_refused_clearly(api: Api, engine: Any) -> None:
    vid = _sign_up(engine, "+8613900003333")
    assert api.client.post(f"/api/volunteers/{vid}/approve", headers=api.headers).status_code == 200
    again = api.client.post(f"/api/volunteers/{vid}/decline", headers=api.headers)
    assert again.status_code == 409 and again.json()["code"] == "volunteer_not_pending"
    missing = api.client.post("/api/volunteers/999999/approve", headers=api.headers)
    assert missing.status_code == 404
    bad = api.client.post("/api/volunteers/abc/approve", headers=api.headers)
    assert bad.status_code == 422
    long = api.client.post(
        f"/api/volunteers/{vid}/decline", headers=api.headers, json={"reason": "x" * 201}
    )
    assert long.status_code == 422
    assert api.client.post(f"/api/volunteers/{vid}/approve").status_code == 401
    # only one approval text went out
    kinds = [k for k, _ in _texts(engine, "+8613900003333")]
    assert kinds == ["signup_received", "signup_approved"]


def test_an_approved_volunteer_signing_up_again_is_told_they_are_in(api: Api, engine: Any) -> None:
    vid = _sign_up(engine, "+8613900005555")
    api.client.post(f"/api/volunteers/{vid}/approve", headers=api.headers)
    with Session(engine) as s:
        assert handle_text(s, "+8613900005555", "报名 张三 云岩区") == "signup_refused"
        s.commit()
    assert _texts(engine, "+8613900005555")[-1][0] == "signup_duplicate"


def test_two_dispatchers_deciding_at_once_decide_once(
    api: Api, engine: Any, on_postgres: None
) -> None:
    vid = _sign_up(engine, "+8613900006666")
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def decide(action: str) -> None:
        barrier.wait()
        r = api.client.post(f"/api/volunteers/{vid}/{action}", headers=api.headers)
        codes.append(r.status_code)

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("approve", "decline")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    kinds = [k for k, _ in _texts(engine, "+8613900006666")]
    assert kinds[0] == "signup_received" and len(kinds) == 2


def test_two_signups_from_one_number_at_once_store_one(
    engine: Any, districts: None, on_postgres: None
) -> None:
    phone = "+8613900007777"
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def text() -> None:
        with Session(engine) as s:
            barrier.wait()
            outcomes.append(handle_text(s, phone, "报名 张三 云岩区"))
            s.commit()

    threads = [threading.Thread(target=text) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["signed_up", "signup_refused"]
    with Session(engine) as s:
        assert len(s.exec(select(Volunteer).where(Volunteer.phone == phone)).all()) == 1


@pytest.fixture
def demo() -> None:
    """The roster tests use Guiyang's districts only (`districts`, through `api`)."""
