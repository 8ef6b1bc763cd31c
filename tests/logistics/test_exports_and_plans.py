"""Exports (formula injection escaped), plans on demand and forecast uploads over HTTP."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from coordinator.logistics.exports import escape
from coordinator.logistics.models import Forecast
from tests.conftest import bearer


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+86", "'+86"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("面", "面"),
        (-5, -5),
        (None, None),
    ],
)
def test_escape(raw, safe):
    assert escape(raw) == safe


def _receive_with_note(api, tokens, places, note: str) -> None:
    r = api.post(
        "/api/shipments",
        json={
            "from_id": places["warehouse"],
            "to_id": places["a"],
            "lines": [{"item": "FOOD-NOODLE", "quantity": 10}],
        },
        headers=bearer(tokens["dispatcher"]),
    )
    api.post(
        f"/api/shipments/{r.json()['id']}/receipt",
        json={"lines": [{"item": "FOOD-NOODLE", "received": 7, "note": note}]},
        headers=bearer(tokens["manager_a"]),
    )


def test_exports_csv_and_xlsx_escape_formulas(api, tokens, places):
    evil = '=HYPERLINK("http://evil","x")'
    _receive_with_note(api, tokens, places, evil)
    h = bearer(tokens["dispatcher"])
    r = api.get("/api/exports/discrepancies.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "id" and rows[1][rows[0].index("note")] == "'" + evil
    x = api.get("/api/exports/discrepancies.xlsx", headers=h)
    sheet = load_workbook(io.BytesIO(x.content)).active
    values = [c.value for c in sheet[2]]
    assert "'" + evil in values
    stock = api.get("/api/exports/stock.xlsx", headers=h)
    assert stock.status_code == 200
    moves = api.get("/api/exports/movements.csv", headers=h).content.decode("utf-8-sig")
    assert "transfer_out" in moves and ",-10," in moves  # numbers stay numbers
    assert api.get("/api/exports/passwords.csv", headers=h).status_code == 404
    assert api.get("/api/exports/stock.pdf", headers=h).status_code == 404
    assert api.get("/api/exports/stock.csv", headers=bearer(tokens["manager_a"])).status_code == 403


def test_plan_on_demand(api, tokens, places):
    h = bearer(tokens["dispatcher"])
    r = api.post("/api/plans", json={"as_of": "2026-02-08", "target_days": 3}, headers=h)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["status"] == "proposed" and plan["worst_coverage_days"] > 0
    assert {line["station_id"] for line in plan["lines"]} >= {places["a"], places["b"]}
    for body in (
        {"target_days": 0},
        {"target_days": 999},
        {"as_of": "yesterday"},
        {"station_ids": [places["warehouse"]]},
        {"station_ids": []},
    ):
        bad = api.post("/api/plans", json=body, headers=h)
        assert bad.status_code == 422, body
    assert api.post("/api/plans/9999/approve", headers=h).status_code == 404


def test_forecast_upload(api, tokens, places, engine):
    h = {**bearer(tokens["dispatcher"]), "content-type": "text/csv"}
    good = "station,date,travellers\nST-JINYANG,2026-02-08,400\n"
    r = api.post("/api/forecasts", content=good.encode(), headers=h)
    assert r.status_code == 200 and r.json() == {"rows": 1}
    got = api.get(
        f"/api/forecasts?station_id={places['a']}&start=2026-02-08&days=2", headers=h
    ).json()
    assert got["days"][0]["travellers"] == 400 and got["days"][1]["travellers"] < 400
    bad = "station,date,travellers\nST-JINYANG,2026-02-09,-3\nST-NOWHERE,2026-02-09,3\n"
    r = api.post("/api/forecasts", content=bad.encode(), headers=h)
    assert r.status_code == 422
    assert [e["row"] for e in r.json()["detail"]["errors"]] == [2, 3]
    assert api.post("/api/forecasts", content=b"\xff\xfe\x00", headers=h).status_code == 422
    files = {"file": ("f.csv", b"station,date,travellers\nST-JINYANG,2026-02-10,5\n", "text/csv")}
    multi = api.post("/api/forecasts", files=files, headers=bearer(tokens["dispatcher"]))
    assert multi.status_code == 200, multi.text
    with Session(engine) as s:
        assert len(s.exec(select(Forecast)).all()) == 2


def test_targets_and_manager_phones(api, tokens, places):
    h = bearer(tokens["dispatcher"])
    url = f"/api/stations/{places['c']}"
    r = api.put(
        url + "/targets",
        json=[{"item": "FOOD-NOODLE", "target": 90, "reorder_point": 30}],
        headers=h,
    )
    assert r.status_code == 200, r.text
    line = next(i for i in r.json()["items"] if i["sku"] == "FOOD-NOODLE")
    assert (line["target"], line["reorder_point"]) == (90, 30)
    bad = api.put(
        url + "/targets",
        json=[{"item": "FOOD-NOODLE", "target": 9, "reorder_point": 30}],
        headers=h,
    )
    assert bad.status_code == 422 and "reorder point" in bad.json()["detail"]
    r = api.put(url + "/managers", json={"phones": ["13912345678", "+86 139 1234 5678"]}, headers=h)
    assert r.status_code == 200 and r.json()["manager_phones"] == ["+8613912345678"]
    bad = api.put(url + "/managers", json={"phones": ["0851-1234567"]}, headers=h)
    assert bad.status_code == 422
    assert (
        api.put(
            url + "/managers", json={"phones": []}, headers=bearer(tokens["manager_a"])
        ).status_code
        == 403
    )


HUGE = 10**25


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/shipments/{HUGE}", None),
        ("GET", f"/api/stations/{HUGE}/stock", None),
        ("GET", f"/api/plans/{HUGE}", None),
        ("GET", f"/api/forecasts?station_id={HUGE}", None),
        ("GET", f"/api/shipments?station_id={HUGE}", None),
        ("POST", "/api/plans", {"station_ids": [HUGE]}),
        ("POST", "/api/shipments", {"from_id": HUGE, "to_id": 1, "lines": []}),
        ("POST", "/api/plans", {"as_of": "1145-11-15"}),
        ("GET", "/api/forecasts?station_id=2&start=2099-12-30&days=5", None),
    ],
)
def test_ids_past_the_column_and_dates_past_the_calendar_are_422(api, tokens, method, path, body):
    r = api.request(method, path, json=body, headers=bearer(tokens["admin"]))
    assert r.status_code == 422, (r.status_code, r.text[:200])
