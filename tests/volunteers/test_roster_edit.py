"""The roster page's API (issue 14): edit a volunteer (PATCH), opt out and back in, the roster
as CSV/XLSX with Chinese or English headers (phones masked for all but admins, audited), the
list's phones masked, and bad bodies refused with nothing stored."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.volunteers.models import Volunteer
from tests.volunteers.conftest import Api


@pytest.fixture
def admin(api: Api, engine: Engine) -> dict[str, str]:
    from coordinator.accounts.service import create_token

    with Session(engine) as s:
        token = create_token(session=s, role="admin", label="roster-admin")
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def _add(api: Api, **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/volunteers", json=body, headers=api.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _row(engine: Engine, volunteer_id: int) -> Volunteer:
    with Session(engine) as s:
        v = s.get(Volunteer, volunteer_id)
        assert v is not None
        return v


def _audits(engine: Engine, action: str) -> list[AuditLog]:
    with Session(engine) as s:
        q = select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id))
        return list(s.exec(q).all())


@pytest.fixture
def wang(api: Api) -> dict[str, Any]:
    return _add(api, name="王芳", phone="13800138000", district="云岩区", skills=["除冰"])


def test_the_list_masks_phones_for_a_dispatcher_and_finds_by_them(
    api: Api, wang: dict[str, Any], admin: dict[str, str]
) -> None:
    assert wang["phone"] == "+86 138****8000"
    listed = api.client.get("/api/volunteers", params={"q": "138 0013"}, headers=api.headers)
    assert [v["phone"] for v in listed.json()["items"]] == ["+86 138****8000"]
    whole = api.client.get(f"/api/volunteers/{wang['id']}", headers=admin).json()
    assert whole["phone"] == "+8613800138000"
    one = api.client.get(f"/api/volunteers/{wang['id']}", headers=api.headers).json()
    assert one["phone"] == "+86 138****8000"


def test_edit_changes_the_row_and_audits_the_fields_not_the_values(
    api: Api, engine: Engine, wang: dict[str, Any]
) -> None:
    before = _row(engine, wang["id"])
    r = api.client.patch(
        f"/api/volunteers/{wang['id']}",
        json={
            "name": "王芳芳",
            "phone": "139 0013 9000",
            "district": "南明区",
            "skills": ["急救", "driving"],
            "language": "English",
        },
        headers=api.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "+86 139****9000"  # masked in the answer too
    after = _row(engine, wang["id"])
    assert after.name == "王芳芳" and after.phone == "+8613900139000"
    assert after.district_code == "520102" and after.skills == ["first_aid", "driving"]
    assert after.language == "en"
    # a new district without coordinates moves the home near its centre
    assert (after.lat, after.lon) != (before.lat, before.lon)
    [audit] = _audits(engine, "volunteer.updated")
    assert audit.subject == f"volunteer:{wang['id']}"
    fields = {"name", "phone", "district_code", "skills", "language", "lat", "lon"}
    assert set(audit.detail["fields"]) == fields
    assert "139" not in str(audit.detail)
    # the same again changes nothing and writes no audit row
    same = api.client.patch(
        f"/api/volunteers/{wang['id']}", json={"name": "王芳芳"}, headers=api.headers
    )
    assert same.status_code == 200 and len(_audits(engine, "volunteer.updated")) == 1


@pytest.mark.parametrize(
    ("body", "column", "status"),
    [
        ({"phone": "0851-86812345"}, "phone", 422),  # a landline receives no SMS
        ({"phone": "12"}, "phone", 422),
        ({"phone": ""}, "phone", 422),
        ({"district": "Atlantis"}, "district", 422),
        ({"district": ""}, "district", 422),
        ({"name": "  "}, "name", 422),
        ({"name": "x" * 65}, "name", 422),
        ({"name": "a\u0007b"}, "name", 422),
        ({"lat": 26.6}, "lon", 422),
        ({"lat": 200, "lon": 1}, "lat", 422),
        ({"language": "klingon"}, "language", 422),
        ({"skills": [f"s{i}" for i in range(21)]}, "skills", 422),
        ({"phone": "13900139000"}, "phone", 409),  # another volunteer's number
    ],
)
def test_bad_edits_say_which_field_and_store_nothing(
    api: Api, engine: Engine, wang: dict[str, Any], body: dict[str, Any], column: str, status: int
) -> None:
    _add(api, name="李强", phone="13900139000", district="南明区")
    before = _row(engine, wang["id"]).model_dump()
    r = api.client.patch(f"/api/volunteers/{wang['id']}", json=body, headers=api.headers)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["column"] == column and detail["message"] and detail["zh"]
    assert _row(engine, wang["id"]).model_dump() == before
    assert _audits(engine, "volunteer.updated") == []


@pytest.mark.parametrize(
    "body",
    [{"nickname": "x"}, {"name": 5}, {"skills": "除冰"}, {"lat": "north"}, [], "name=x"],
)
def test_malformed_edits_are_422_and_store_nothing(
    api: Api, engine: Engine, wang: dict[str, Any], body: Any
) -> None:
    before = _row(engine, wang["id"]).model_dump()
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    r = api.client.patch(f"/api/volunteers/{wang['id']}", headers=api.headers, **kwargs)
    assert r.status_code == 422, r.text
    assert _row(engine, wang["id"]).model_dump() == before


def test_edit_of_a_missing_volunteer_is_404(api: Api) -> None:
    r = api.client.patch("/api/volunteers/999999", json={"name": "x"}, headers=api.headers)
    assert r.status_code == 404 and r.json()["code"] == "volunteer_not_found"
    assert api.client.patch("/api/volunteers/1", json={"name": "x"}).status_code == 401


def test_opt_out_and_back_in(api: Api, engine: Engine, wang: dict[str, Any]) -> None:
    path = f"/api/volunteers/{wang['id']}"
    reason = {"reason": "打电话说不参加了"}
    out = api.client.post(path + "/opt-out", json=reason, headers=api.headers)
    assert out.status_code == 200, out.text
    assert out.json() == {"volunteer_id": wang["id"], "opted_out": True, "cancelled": 0}
    assert _row(engine, wang["id"]).opted_out
    again = api.client.post(path + "/opt-out", headers=api.headers)
    assert again.status_code == 409 and again.json()["code"] == "volunteer_opted_out_already"
    back = api.client.post(path + "/opt-in", json={}, headers=api.headers)
    assert back.status_code == 200 and back.json()["opted_out"] is False
    assert not _row(engine, wang["id"]).opted_out
    twice = api.client.post(path + "/opt-in", headers=api.headers)
    assert twice.status_code == 409 and twice.json()["code"] == "volunteer_not_opted_out"
    [audit_out] = _audits(engine, "volunteer.opted_out")
    assert audit_out.detail == {"cancelled": 0, "by": "dispatcher", "reason": "打电话说不参加了"}
    assert audit_out.actor == "dispatcher:roster-tests"
    [audit_in] = _audits(engine, "volunteer.opted_in")
    assert audit_in.subject == f"volunteer:{wang['id']}"


@pytest.mark.parametrize("body", [{"reason": "x" * 201}, {"why": "x"}, {"reason": 3}, []])
def test_bad_opt_out_bodies_change_nothing(
    api: Api, engine: Engine, wang: dict[str, Any], body: Any
) -> None:
    r = api.client.post(f"/api/volunteers/{wang['id']}/opt-out", json=body, headers=api.headers)
    assert r.status_code == 422, r.text
    assert not _row(engine, wang["id"]).opted_out
    assert _audits(engine, "volunteer.opted_out") == []
    missing = api.client.post("/api/volunteers/999999/opt-out", headers=api.headers)
    assert missing.status_code == 404


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_roster_export_in_chinese_and_english_masked_for_a_dispatcher(
    api: Api, engine: Engine, wang: dict[str, Any], admin: dict[str, str]
) -> None:
    _add(api, name="=HYPERLINK(1)", phone="13900139000", district="南明区", skills=["first_aid"])
    r = api.client.get("/api/exports/volunteers.csv", headers=api.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r.content)
    assert rows[0][:5] == ["编号", "姓名", "手机号", "区县", "技能"]
    # a mainland number as a sheet writes it: a leading + would make a spreadsheet formula
    assert rows[1][1:5] == ["王芳", "138****8000", "云岩区", "除冰"]
    assert rows[2][1] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert "13800138000" not in r.text
    x = api.client.get(
        "/api/exports/volunteers.xlsx", params={"lang": "en", "skill": "急救"}, headers=admin
    )
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:5] == ["ID", "Name", "Phone", "District", "Skills"]
    assert len(values) == 2 and values[1][2] == "13900139000"  # an admin's file: whole
    assert values[1][3] == "Nanming District" and values[1][4] == "first aid"
    audits = _audits(engine, "volunteers.exported")
    assert [a.detail["rows"] for a in audits] == [2, 1]
    assert [a.detail["masked"] for a in audits] == [True, False]


@pytest.mark.parametrize(
    "query", ["lang=fr", "district=Atlantis", "q=" + "x" * 65, "skill=" + "y" * 33]
)
def test_bad_export_queries_are_422_and_not_audited(
    api: Api, engine: Engine, wang: dict[str, Any], query: str
) -> None:
    r = api.client.get(f"/api/exports/volunteers.csv?{query}", headers=api.headers)
    assert r.status_code == 422, r.text
    assert api.client.get("/api/exports/volunteers.pdf", headers=api.headers).status_code in (
        404,
        422,
    )
    assert _audits(engine, "volunteers.exported") == []


def test_import_reasons_in_chinese_with_phones_masked(api: Api, engine: Engine) -> None:
    _add(api, name="王芳", phone="13800138000", district="云岩区")
    data = (
        "姓名,手机号,区县\n"
        "李四,13900139000,南明区\n"  # row 2: good
        "王五,0851-86812345,南明区\n"  # row 3: a landline
        "赵六,13700137000,火星区\n"  # row 4: no such district
        "李四二,139 0013 9000,南明区\n"  # row 5: repeats row 2
        "王芳,13800138000,云岩区\n"  # row 6: on the roster
    ).encode()
    r = api.client.post(
        "/api/volunteers/import", content=data, headers={**api.headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 1 and [e["row"] for e in body["errors"]] == [3, 4, 5, 6]
    zh = [e["zh"] for e in body["errors"]]
    assert "不是手机号" in zh[0] and "火星区" in zh[1] and "与第 2 行重复" in zh[2]
    assert "已在名册中" in zh[3]
    assert "13800138000" not in r.text and "13900139000" not in r.text
    with Session(engine) as s:
        assert len(s.exec(select(Volunteer)).all()) == 2


@pytest.mark.parametrize(
    ("data", "zh"),
    [
        (b"hello,world\n1,2\n", "缺少列：姓名、手机号"),
        (b"\xff\xfe\x00bad", "空字节"),
        ("姓名,手机号\n张三,13800138000\n".encode(), "需要区县列"),
        (b"", "文件是空的"),
    ],
)
def test_a_file_refused_as_a_whole_says_why_in_chinese_too(
    api: Api, engine: Engine, data: bytes, zh: str
) -> None:
    r = api.client.post(
        "/api/volunteers/import", content=data, headers={**api.headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_roster_file" and isinstance(body["detail"], str)
    assert zh in body["zh"]
    with Session(engine) as s:
        assert s.exec(select(Volunteer)).all() == []


def test_an_edit_keeps_an_inline_certificate_date_and_drops_a_removed_skill_s(
    api: Api, engine: Engine, wang: dict[str, Any]
) -> None:
    """`急救:2027-03-01` in an edit's skills sets the certificate's last day, as on a new
    volunteer; taking the skill away again forgets the date."""
    from datetime import date

    from coordinator.volunteers import skills as expiring

    url = f"/api/volunteers/{wang['id']}"
    r = api.client.patch(url, json={"skills": ["除冰", "急救:2027-03-01"]}, headers=api.headers)
    assert r.status_code == 200, r.text
    assert _row(engine, wang["id"]).skills == ["de_icing", "first_aid"]
    with Session(engine) as s:
        held = expiring.expiries_of(session=s, volunteer_ids=[wang["id"]])
    assert held == {wang["id"]: {"first_aid": date(2027, 3, 1)}}
    bad = api.client.patch(url, json={"skills": ["急救:2027-02-30"]}, headers=api.headers)
    assert bad.status_code == 422
    assert api.client.patch(url, json={"skills": ["除冰"]}, headers=api.headers).status_code == 200
    with Session(engine) as s:
        assert expiring.expiries_of(session=s, volunteer_ids=[wang["id"]]) == {}
