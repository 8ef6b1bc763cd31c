"""Service records and certificates (issue 15, items 5 and 8): the 志愿服务证明 as a PDF
read back with pdfplumber (the name, the hours, the serial), its QR code decoded by a real
decoder (zxing-cpp) to the verify URL, the public verify page for a real, a superseded and a
forged serial (the name masked, nothing else of the person), the batch zip with one valid
PDF per volunteer who served, the CSV/XLSX export parsed back, the audit rows of every
hand-out, and the bad inputs (an unknown volunteer, a year out of range, no hours)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pdfplumber
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.common import utcnow
from coordinator.records import exports
from coordinator.records.models import Certificate
from coordinator.records.service import mask_name, new_serial, normalise_serial
from tests.conftest import bearer
from tests.records.helpers import accepted_only, serve, shift, volunteer

SERIAL = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")
PHONE = "+8613912345678"


@pytest.fixture
def api(settings: Any, engine: Any, broker: Any, tokens: dict[str, str]) -> Iterator[TestClient]:
    from coordinator.process import Services
    from nuanliu.app import create_app

    # these routes need the settings and the database only: no consumers
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield client


def _year() -> int:
    return (utcnow() - timedelta(hours=6)).astimezone(ZoneInfo("Asia/Shanghai")).year


def _served_one(engine: Any, hours: float = 3.5) -> tuple[int, int]:
    """张三丰, who served `hours` on one task; (volunteer id, assignment id)."""
    with Session(engine) as s:
        vid = volunteer(s, "张三丰", PHONE)
        aid = serve(s, shift(s), vid, hours=hours)
        s.commit()
    return vid, aid


def _certificates(engine: Any) -> list[Certificate]:
    with Session(engine) as s:
        return list(s.exec(select(Certificate).order_by(col(Certificate.id))).all())


def _audits(engine: Any, action: str) -> list[AuditLog]:
    with Session(engine) as s:
        return list(
            s.exec(select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id)))
        )


def _text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 1
        # a line break may fall anywhere in the paragraph: read it as one
        return (doc.pages[0].extract_text() or "").replace("\n", "")


def _qr(pdf: bytes) -> list[str]:
    """Every QR code on the page, decoded from the page rendered at 200 dpi."""
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        image = doc.pages[0].to_image(resolution=200).original
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def test_the_certificate_reads_back_and_its_qr_code_opens_the_verify_page(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    vid, _ = _served_one(engine)
    d = bearer(tokens["dispatcher"])
    r = api.get(f"/api/volunteers/{vid}/certificate.pdf?year={_year()}", headers=d)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    [issued] = _certificates(engine)
    assert SERIAL.fullmatch(issued.serial) and issued.hours == 3.5
    text = _text(r.content)
    assert "志愿服务证明" in text and "张三丰" in text
    assert "3.5" in text and issued.serial in text
    assert "暖流志愿服务队" in text and "路面除冰" in text and "云岩区" in text
    assert "139****5678" in text and "13912345678" not in text  # the phone masked
    [url] = _qr(r.content)
    assert url == f"http://testserver/verify/{issued.serial}"
    # the QR code's address, opened as a phone would: no login
    page = api.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200 and "有效" in page.text and "3.5" in page.text

    # asked again with the hours unchanged: the same serial, each hand-out audited
    again = api.get(f"/api/volunteers/{vid}/certificate.pdf?year={_year()}", headers=d)
    assert again.status_code == 200
    assert [c.serial for c in _certificates(engine)] == [issued.serial]
    assert issued.serial in _text(again.content)
    rows = _audits(engine, "records.certificate_exported")
    assert [(a.subject, a.detail["serial"], a.detail["new"]) for a in rows] == [
        (f"volunteer:{vid}", issued.serial, True),
        (f"volunteer:{vid}", issued.serial, False),
    ]
    assert rows[0].actor == "dispatcher:test-dispatcher"


def test_a_correction_supersedes_the_old_serial(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    vid, aid = _served_one(engine)
    d = bearer(tokens["dispatcher"])
    assert api.get(f"/api/volunteers/{vid}/certificate.pdf", headers=d).status_code == 200
    [old] = _certificates(engine)
    with Session(engine) as s:
        from coordinator.dispatch.models import Task

        [task] = s.exec(select(Task)).all()
        start = task.starts_at
    fixed = api.post(
        f"/api/assignments/{aid}/corrections",
        headers=d,
        json={
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(hours=4)).isoformat(),
            "reason": "签退短信迟到",
        },
    )
    assert fixed.status_code == 201, fixed.text
    r = api.get(f"/api/volunteers/{vid}/certificate.pdf", headers=d)
    assert r.status_code == 200
    first, second = _certificates(engine)
    assert first.serial == old.serial and first.superseded_at is not None
    assert second.serial != old.serial and second.hours == 4.0 and second.superseded_at is None
    assert second.serial in _text(r.content) and "4 小时" in _text(r.content)
    stale = api.get(f"/verify/{old.serial}")
    assert stale.status_code == 200 and "已作废" in stale.text and "有效：" not in stale.text
    assert "有效" in api.get(f"/verify/{second.serial}").text


def test_the_verify_page_shows_the_masked_name_only_and_refuses_a_forged_serial(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    vid, _ = _served_one(engine)
    assert (
        api.get(
            f"/api/volunteers/{vid}/certificate.pdf", headers=bearer(tokens["dispatcher"])
        ).status_code
        == 200
    )
    [c] = _certificates(engine)
    page = api.get(f"/verify/{c.serial}")
    assert page.status_code == 200
    assert page.headers["x-robots-tag"] == "noindex"
    body = page.text
    assert "张**" in body and "暖流志愿服务队" in body and "3.5" in body
    for secret in ("三丰", "13912345678", "5678", f"volunteers/{vid}", "路面除冰", "中华北路"):
        assert secret not in body, secret
    # typed by hand: lower case, spaces, O for 0
    typed = c.serial.lower().replace("-", " ").replace("0", "o")
    assert api.get(f"/verify/{typed}").status_code == 200
    for forged in (new_serial(), "NL-2026-000001", "ABCD' OR '1'='1", "<b>x", "x" * 300, "%00"):
        r = api.get(f"/verify/{forged}")
        assert r.status_code == 404, forged
        assert "未找到" in r.text and "张" not in r.text


def test_a_batch_zip_holds_one_valid_pdf_per_volunteer_who_served(
    api: TestClient, engine: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordinator.records import views

    monkeypatch.setattr(views, "BATCH_CHUNK", 2)  # three volunteers: two chunks
    names = ["李雷", "韩梅梅", "王芳"]
    with Session(engine) as s:
        task = shift(s, slots=4)
        ids = [volunteer(s, n, f"+861391234500{k}") for k, n in enumerate(names)]
        for k, vid in enumerate(ids):
            serve(s, task, vid, slot=k, hours=1 + k)
        idle = volunteer(s, "赵六", "+8613912345009")
        accepted_only(s, task, idle, slot=3)  # accepted, never came: no certificate
        other = shift(s)  # another incident's hours stay out of this one's zip
        serve(s, other, ids[0], hours=2)
        incident_id = task.incident_id
        s.commit()
    d = bearer(tokens["dispatcher"])
    r = api.get(f"/api/incidents/{incident_id}/certificates.zip", headers=d)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.testzip() is None
        members = archive.namelist()
        assert len(members) == 3
        texts = {name: _text(archive.read(name)) for name in members}
    for k, name in enumerate(names):
        [member] = [m for m in members if m.startswith(name + "-")]
        assert name in texts[member] and f"{1 + k} 小时" in texts[member]
    assert not any("赵六" in t for t in texts.values())
    [audit] = _audits(engine, "records.certificates_exported")
    assert audit.subject == f"incident:{incident_id}" and audit.detail["volunteers"] == 3
    # the year's batch has李雷's other incident too: one certificate each, 李雷 with 3 h
    year = api.get(f"/api/certificates/{_year()}.zip", headers=d)
    assert year.status_code == 200
    with zipfile.ZipFile(io.BytesIO(year.content)) as archive:
        assert len(archive.namelist()) == 3
        [li] = [m for m in archive.namelist() if m.startswith("李雷-")]
        assert "3 小时" in _text(archive.read(li))
    assert api.get("/api/incidents/999999/certificates.zip", headers=d).status_code == 404
    # nobody served on an incident: an empty, valid zip
    with Session(engine) as s:
        empty = shift(s).incident_id
        s.commit()
    r = api.get(f"/api/incidents/{empty}/certificates.zip", headers=d)
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.namelist() == []


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads Chinese CSV only with the BOM
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_service_records_export_as_csv_and_xlsx_masked_unless_admin(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    with Session(engine) as s:
        a = volunteer(s, "张三丰", PHONE)
        b = volunteer(s, '=HYPERLINK("http://x")', "+8613912345001")
        serve(s, shift(s), a, hours=3.5)
        serve(s, shift(s, title="+服务站值守", place="贵阳站"), b, hours=2)
        s.commit()
    year = _year()
    r = api.get(
        f"/api/exports/service-records.csv?year={year}", headers=bearer(tokens["dispatcher"])
    )
    assert r.status_code == 200, r.text
    header, *rows = _csv(r.content)
    assert tuple(header) == exports.HEADERS
    assert header[:4] == ["志愿者姓名", "证件类型", "证件号码", "手机号"]
    by_name = {row[0]: row for row in rows}
    zhang = by_name["张三丰"]
    assert zhang[3] == "139****5678"
    assert zhang[4:6] == ["路面除冰", "云岩区 中华北路"]
    assert zhang[8] == "3.5" and zhang[9] == "暖流志愿服务队"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", zhang[6])
    # a name or title that looks like a formula is shown, never evaluated
    hostile = by_name['\'=HYPERLINK("http://x")']
    assert hostile[4] == "'+服务站值守"

    x = api.get(
        f"/api/exports/service-records.xlsx?start={year}-01-01&end={year}-12-31",
        headers=bearer(tokens["admin"]),
    )
    assert x.status_code == 200, x.text
    sheet = load_workbook(io.BytesIO(x.content), read_only=True).worksheets[0]
    header, *values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(header) == exports.HEADERS
    zhang_x = next(row for row in values if row[0] == "张三丰")
    assert (
        zhang_x[3] == "13912345678" and zhang_x[8] == 3.5
    )  # an admin sees the number; hours a number
    audits = _audits(engine, "records.service_records_exported")
    assert [(a.detail["format"], a.detail["rows"], a.detail["masked"]) for a in audits] == [
        ("csv", 2, True),
        ("xlsx", 2, False),
    ]
    assert audits[1].actor == "admin:test-admin"


@pytest.mark.parametrize(
    "query",
    [
        "year=1999",
        "year=2101",
        "year=abc",
        "start=2026-12-31&end=2026-01-01",
        "start=2026-01-01",
        "start=2025-01-01&end=2026-12-31",
        "start=2026-02-30&end=2026-03-01",
        "year=2026&start=2026-01-01&end=2026-01-31",
    ],
)
def test_bad_export_periods_are_refused_and_not_audited(
    api: TestClient, engine: Any, tokens: dict[str, str], query: str
) -> None:
    r = api.get(f"/api/exports/service-records.csv?{query}", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 422, (query, r.text)
    assert _audits(engine, "records.service_records_exported") == []


def test_bad_certificate_requests(api: TestClient, engine: Any, tokens: dict[str, str]) -> None:
    d = bearer(tokens["dispatcher"])
    missing = api.get("/api/volunteers/999999/certificate.pdf", headers=d)
    assert missing.status_code == 404 and missing.json()["code"] == "records_volunteer_not_found"
    for year in ("1999", "2101", "twenty", "2026.5"):
        assert api.get(f"/api/volunteers/1/certificate.pdf?year={year}", headers=d).status_code == (
            422
        ), year
    assert api.get("/api/volunteers/0/certificate.pdf", headers=d).status_code == 422
    assert api.get("/api/certificates/1999.zip", headers=d).status_code == 422
    assert api.get("/api/exports/service-records.pdf", headers=d).status_code == 422
    # a volunteer with no hours (accepted, never checked in), and hours in another year
    with Session(engine) as s:
        vid = volunteer(s, "钱七", PHONE)
        accepted_only(s, shift(s), vid, slot=0)
        s.commit()
    none = api.get(f"/api/volunteers/{vid}/certificate.pdf", headers=d)
    assert none.status_code == 409 and none.json()["code"] == "no_service_in_period"
    assert "no hours" in none.json()["detail"]
    vid2, _ = _served_one_other(engine)
    other_year = api.get(f"/api/volunteers/{vid2}/certificate.pdf?year={_year() - 1}", headers=d)
    assert other_year.status_code == 409
    assert _certificates(engine) == []
    assert _audits(engine, "records.certificate_exported") == []


def _served_one_other(engine: Any) -> tuple[int, int]:
    with Session(engine) as s:
        vid = volunteer(s, "孙八", "+8613912345002")
        aid = serve(s, shift(s), vid)
        s.commit()
    return vid, aid


def test_station_managers_get_no_certificates_or_exports(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    vid, _ = _served_one(engine)
    m = bearer(tokens["manager_a"])
    for path in (
        f"/api/volunteers/{vid}/certificate.pdf",
        "/api/exports/service-records.csv",
        "/api/exports/service-records.xlsx",
        f"/api/certificates/{_year()}.zip",
    ):
        assert api.get(path, headers=m).status_code == 403, path
        assert api.get(path).status_code == 401, path
    assert _certificates(engine) == []


def test_serials_and_masked_names() -> None:
    serials = {new_serial() for _ in range(2000)}
    assert len(serials) == 2000 and all(SERIAL.fullmatch(s) for s in serials)
    one = next(iter(serials))
    assert normalise_serial(one.lower()) == one
    assert normalise_serial(one.replace("-", "")) == one
    for bad in ("", "ABCD", "ABCD-EFGH-JKMN-PQRU", "ABCD-EFGH-JKMN-PQRS-TVWX", "x" * 41):
        assert normalise_serial(bad) is None, bad
    assert [mask_name(n) for n in ("张三", "张三丰", "欧阳娜娜", "Z", " ", "Zhang San")] == [
        "张*",
        "张**",
        "欧***",
        "Z*",
        "*",
        "Z********",
    ]


def test_two_requests_at_once_store_one_current_certificate(
    on_postgres: None, api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    vid, _ = _served_one(engine)
    d = bearer(tokens["dispatcher"])
    with ThreadPoolExecutor(4) as pool:
        codes = list(
            pool.map(
                lambda _: api.get(f"/api/volunteers/{vid}/certificate.pdf", headers=d).status_code,
                range(4),
            )
        )
    assert codes == [200] * 4
    current = [c for c in _certificates(engine) if c.superseded_at is None]
    assert len(current) == 1


def test_a_name_with_a_path_in_it_stays_inside_the_zip(
    api: TestClient, engine: Any, tokens: dict[str, str]
) -> None:
    with Session(engine) as s:
        task = shift(s, slots=2)
        serve(s, task, volunteer(s, "../../etc/cron.d/x", "+8613912345003"), slot=0)
        serve(s, task, volunteer(s, "..\\..\\boot", "+8613912345004"), slot=1)
        incident_id = task.incident_id
        s.commit()
    r = api.get(
        f"/api/incidents/{incident_id}/certificates.zip",
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        names = archive.namelist()
    assert len(names) == 2
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith("."), name
