"""GET/POST /api/volunteers with good and bad data."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.accounts.models import AuditLog
from coordinator.volunteers.models import Volunteer
from tests.volunteers.conftest import Api


def create(api: Api, **body: Any) -> Any:
    return api.client.post("/api/volunteers", json=body, headers=api.headers)


def test_create_and_list(api: Api, engine: Engine) -> None:
    response = create(
        api, name="王芳", phone="138 0013 8000", district="Yunyan", skills=["除冰"], team="云岩一队"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    # stored as E.164; the answer to a dispatcher shows it masked (an admin's in full)
    assert body["phone"] == "+86 138****8000" and body["district_code"] == "520103"
    with Session(engine) as s:
        assert s.get(Volunteer, body["id"]).phone == "+8613800138000"
    assert body["skills"] == ["de_icing"] and body["team_id"] is not None
    assert (
        create(
            api, name="李强", phone="13900139000", district="南明区", skills=["first_aid"]
        ).status_code
        == 201
    )
    assert (
        create(
            api, name="Tom", phone="+447911123456", lat=26.6, lon=106.7, language="en"
        ).status_code
        == 201
    )
    everyone = api.client.get("/api/volunteers", headers=api.headers).json()
    assert everyone["count"] == 3 and [v["name"] for v in everyone["items"]] == [
        "王芳",
        "李强",
        "Tom",
    ]
    nanming = api.client.get("/api/volunteers?district=南明", headers=api.headers).json()
    assert [v["name"] for v in nanming["items"]] == ["李强"]
    deicers = api.client.get("/api/volunteers", params={"skill": "除冰"}, headers=api.headers)
    assert [v["name"] for v in deicers.json()["items"]] == ["王芳"]
    found = api.client.get("/api/volunteers", params={"q": "Tom"}, headers=api.headers).json()
    assert found["count"] == 1
    team = api.client.get("/api/volunteers", params={"team": "云岩一队"}, headers=api.headers)
    assert team.json()["count"] == 1
    none = api.client.get("/api/volunteers", params={"team": "nobody"}, headers=api.headers)
    assert none.json()["count"] == 0
    page = api.client.get("/api/volunteers?offset=2&limit=1", headers=api.headers).json()
    assert page["count"] == 3 and [v["name"] for v in page["items"]] == ["Tom"]
    with Session(engine) as s:
        audits = s.exec(select(AuditLog).where(AuditLog.action == "volunteer.created")).all()
    assert len(audits) == 3


def test_duplicate_phone_is_409(api: Api, engine: Engine) -> None:
    assert create(api, name="a", phone="13800138000", district="云岩").status_code == 201
    response = create(api, name="b", phone="+8613800138000", district="云岩")
    assert response.status_code == 409 and response.json()["detail"]["column"] == "phone"
    assert response.json()["code"] == "phone_on_roster"


@pytest.mark.parametrize(
    ("body", "column"),
    [
        ({"name": "x", "phone": "0851-86812345", "district": "云岩"}, "phone"),
        ({"name": "x", "phone": "12", "district": "云岩"}, "phone"),
        ({"name": "x", "phone": "+86" + "1" * 100, "district": "云岩"}, "phone"),
        ({"name": "x", "phone": "13800138000", "district": "Atlantis"}, "district"),
        ({"name": "x", "phone": "13800138000"}, "district"),
        ({"name": "", "phone": "13800138000", "district": "云岩"}, "name"),
        ({"name": "x", "phone": "13800138000", "lat": 200, "lon": 1}, "lat"),
        ({"name": "x", "phone": "13800138000", "district": "云岩", "language": "xx"}, "language"),
    ],
)
def test_create_bad_fields_are_422(
    api: Api, engine: Engine, body: dict[str, Any], column: str
) -> None:
    response = create(api, **body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["column"] == column
    with Session(engine) as s:
        assert s.exec(select(Volunteer)).all() == []


@pytest.mark.parametrize(
    "body", [{"phone": "13800138000"}, {"name": 1, "phone": "13800138000"}, {"name": "x"}, []]
)
def test_create_malformed_body_is_422(api: Api, body: Any) -> None:
    response = api.client.post("/api/volunteers", json=body, headers=api.headers)
    assert response.status_code == 422


@pytest.mark.parametrize("query", ["district=Atlantis", "limit=0", "limit=501", "offset=-1"])
def test_list_bad_query_is_422(api: Api, query: str) -> None:
    assert api.client.get(f"/api/volunteers?{query}", headers=api.headers).status_code == 422


def test_roster_needs_a_dispatcher(api: Api) -> None:
    assert api.client.get("/api/volunteers").status_code == 401
    assert api.client.post("/api/volunteers", json={}).status_code == 401


def test_get_one(api: Api) -> None:
    created = create(api, name="王芳", phone="13800138000", district="云岩").json()
    response = api.client.get(f"/api/volunteers/{created['id']}", headers=api.headers)
    assert response.status_code == 200 and response.json()["name"] == "王芳"
    missing = api.client.get("/api/volunteers/999999", headers=api.headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no volunteer 999999", "code": "volunteer_not_found"}
    assert api.client.get("/api/volunteers/abc", headers=api.headers).status_code == 422


def test_number_added_concurrently_is_409_and_stores_nothing(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other writer's insert lands between our duplicate check and our insert
    assert create(api, name="a", phone="13800138000", district="云岩").status_code == 201
    monkeypatch.setattr("coordinator.volunteers.service.get_by_phone", lambda **_: None)
    monkeypatch.setattr("coordinator.volunteers.importer.existing_phones", lambda **_: {})
    response = create(api, name="b", phone="13800138000", district="云岩")
    assert response.status_code == 409 and response.json()["code"] == "roster_conflict"
    csv = "name,phone,district\nc,13900139000,云岩\nd,13800138000,云岩\n".encode()
    response = api.client.post("/api/volunteers/import", content=csv, headers=api.headers)
    assert response.status_code == 409
    with Session(engine) as s:
        assert [v.name for v in s.exec(select(Volunteer)).all()] == ["a"]
