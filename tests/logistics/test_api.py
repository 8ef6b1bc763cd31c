"""The logistics HTTP API: shipments, receipts, hand-outs, who may do what, bad inputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.logistics import ledger
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    Fund,
    Shipment,
    StockMovement,
)
from tests.conftest import bearer


def _ship(api: Any, tokens: dict[str, str], places: dict[str, int], to: str = "a", **q: int):
    lines = [{"item": sku, "quantity": n} for sku, n in (q or {"FOOD-NOODLE": 50}).items()]
    r = api.post(
        "/api/shipments",
        json={"from_id": places["warehouse"], "to_id": places[to], "lines": lines},
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _stock(engine: Any, place_id: int, item_id: int) -> int:
    with Session(engine) as s:
        return ledger.balance(session=s, place_id=place_id, item_id=item_id)


def _counts(engine: Any) -> tuple[int, ...]:
    with Session(engine) as s:
        return tuple(
            int(s.exec(select(func.count()).select_from(m)).one())
            for m in (StockMovement, Discrepancy, Distribution, Shipment)
        )


def test_catalogue_and_places(api, tokens, places):
    h = bearer(tokens["dispatcher"])
    items = api.get("/api/items", headers=h).json()
    assert {"FOOD-NOODLE", "MED-COLD", "TICKET-HOME"} <= {i["sku"] for i in items}
    assert [w["id"] for w in api.get("/api/warehouses", headers=h).json()] == [places["warehouse"]]
    stock = api.get(f"/api/warehouses/{places['warehouse']}/stock", headers=h).json()
    noodles = next(i for i in stock["items"] if i["sku"] == "FOOD-NOODLE")
    assert noodles["quantity"] == 1500
    stations = api.get("/api/stations", headers=h).json()
    assert len(stations) == 12
    mine = api.get("/api/stations", headers=bearer(tokens["manager_a"])).json()
    assert [s["id"] for s in mine] == [places["a"]]
    assert api.get("/api/items", headers=bearer(tokens["manager_a"])).status_code == 403
    assert api.get("/api/items").status_code == 401


def test_station_stock_only_for_own_station(api, tokens, places):
    ok = api.get(f"/api/stations/{places['a']}/stock", headers=bearer(tokens["manager_a"]))
    assert ok.status_code == 200
    line = next(i for i in ok.json()["items"] if i["sku"] == "FOOD-NOODLE")
    assert line["target"] > line["reorder_point"] > 0
    other = api.get(f"/api/stations/{places['b']}/stock", headers=bearer(tokens["manager_a"]))
    assert other.status_code == 403
    missing = api.get("/api/stations/9999/stock", headers=bearer(tokens["dispatcher"]))
    assert (missing.status_code, missing.json()["code"]) == (404, "place_not_found")
    # a manager hears "not your station" whether or not the station exists
    assert (
        api.get("/api/stations/9999/stock", headers=bearer(tokens["manager_a"])).status_code == 403
    )


def test_shipment_receipt_with_shortfall_books_only_what_arrived(api, tokens, places, skus, engine):
    wh_before = _stock(engine, places["warehouse"], skus["FOOD-NOODLE"])
    shipment = _ship(api, tokens, places, **{"FOOD-NOODLE": 100, "DRINK-WATER": 40})
    assert shipment["short_code"] == f"S{shipment['id']}" and shipment["status"] == "in_transit"
    assert _stock(engine, places["warehouse"], skus["FOOD-NOODLE"]) == wh_before - 100
    listed = api.get(
        f"/api/shipments?station_id={places['a']}", headers=bearer(tokens["manager_a"])
    ).json()
    assert [s["id"] for s in listed] == [shipment["id"]]
    r = api.post(
        f"/api/shipments/{shipment['id']}/receipt",
        json={
            "lines": [
                {"item": "FOOD-NOODLE", "received": 95, "note": "one box torn"},
                {"item": "DRINK-WATER", "received": 38, "damaged": 2},
            ],
            "note": "truck late",
        },
        headers=bearer(tokens["manager_a"]),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "received"
    assert sorted((d["sku"], d["kind"], d["quantity"]) for d in body["discrepancies"]) == [
        ("DRINK-WATER", "damaged", 2),
        ("FOOD-NOODLE", "short", 5),
    ]
    assert _stock(engine, places["a"], skus["FOOD-NOODLE"]) == 95
    assert _stock(engine, places["a"], skus["DRINK-WATER"]) == 38
    found = api.get("/api/discrepancies?open=true", headers=bearer(tokens["dispatcher"])).json()
    assert len(found) == 2
    ack = api.post(
        f"/api/discrepancies/{found[0]['id']}/acknowledge", headers=bearer(tokens["dispatcher"])
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"]
    assert (
        len(api.get("/api/discrepancies?open=true", headers=bearer(tokens["dispatcher"])).json())
        == 1
    )


def test_second_receipt_is_refused(api, tokens, places, skus, engine):
    shipment = _ship(api, tokens, places)
    url = f"/api/shipments/{shipment['id']}/receipt"
    body = {"lines": [{"item": "FOOD-NOODLE", "received": 50}]}
    assert api.post(url, json=body, headers=bearer(tokens["manager_a"])).status_code == 200
    before = _counts(engine)
    again = api.post(url, json=body, headers=bearer(tokens["manager_a"]))
    assert again.status_code == 409
    assert "already received" in again.json()["detail"]
    assert again.json()["code"] == "shipment_already_received"
    assert _counts(engine) == before
    assert _stock(engine, places["a"], skus["FOOD-NOODLE"]) == 50


def test_correction_once_within_the_hour(api, tokens, places, skus, engine):
    shipment = _ship(api, tokens, places)
    url = f"/api/shipments/{shipment['id']}/receipt"
    h = bearer(tokens["manager_a"])
    api.post(url, json={"lines": [{"item": "FOOD-NOODLE", "received": 40}]}, headers=h)
    fixed = api.post(
        url + "/correction", json={"lines": [{"item": "FOOD-NOODLE", "received": 48}]}, headers=h
    )
    assert fixed.status_code == 200, fixed.text
    assert _stock(engine, places["a"], skus["FOOD-NOODLE"]) == 48
    [d] = fixed.json()["discrepancies"]
    assert (d["kind"], d["quantity"]) == ("short", 2)
    twice = api.put(url, json={"lines": [{"item": "FOOD-NOODLE", "received": 50}]}, headers=h)
    assert twice.status_code == 409 and "already corrected" in twice.json()["detail"]
    assert _stock(engine, places["a"], skus["FOOD-NOODLE"]) == 48


def test_correction_after_an_hour_needs_a_dispatcher(api, tokens, places, skus, engine):
    shipment = _ship(api, tokens, places)
    url = f"/api/shipments/{shipment['id']}/receipt"
    h = bearer(tokens["manager_a"])
    api.post(url, json={"lines": [{"item": "FOOD-NOODLE", "received": 40}]}, headers=h)
    with Session(engine) as s:
        row = s.get(Shipment, shipment["id"])
        assert row is not None and row.received_at is not None
        row.received_at = row.received_at - timedelta(hours=2)
        s.add(row)
        s.commit()
    late = api.put(url, json={"lines": [{"item": "FOOD-NOODLE", "received": 50}]}, headers=h)
    assert late.status_code == 409 and "dispatcher" in late.json()["detail"]
    adj = api.post(
        f"/api/stations/{places['a']}/adjustments",
        json={"item": "FOOD-NOODLE", "delta": 10, "reason": "found a box in the van"},
        headers=bearer(tokens["dispatcher"]),
    )
    assert adj.status_code == 201, adj.text
    assert _stock(engine, places["a"], skus["FOOD-NOODLE"]) == 50
    refused = api.post(
        f"/api/stations/{places['a']}/adjustments",
        json={"item": "FOOD-NOODLE", "delta": 10, "reason": "x"},
        headers=h,
    )
    assert refused.status_code == 403


def test_manager_of_another_station_gets_403_and_nothing_changes(api, tokens, places, engine):
    shipment = _ship(api, tokens, places, to="a")
    before = _counts(engine)
    intruder = bearer(tokens["manager_b"])
    r = api.post(
        f"/api/shipments/{shipment['id']}/receipt",
        json={"lines": [{"item": "FOOD-NOODLE", "received": 50}]},
        headers=intruder,
    )
    assert r.status_code == 403
    r = api.post(
        f"/api/stations/{places['a']}/distributions",
        json={"item": "FOOD-NOODLE", "quantity": 1},
        headers=intruder,
    )
    assert r.status_code == 403
    assert api.get(f"/api/shipments?station_id={places['a']}", headers=intruder).status_code == 403
    assert api.get(f"/api/shipments/{shipment['id']}", headers=intruder).status_code == 403
    assert api.get("/api/shipments", headers=intruder).json() == []
    assert _counts(engine) == before


def test_distribution_and_stock_limit(api, tokens, places, skus, engine):
    shipment = _ship(api, tokens, places)
    h = bearer(tokens["manager_a"])
    api.post(
        f"/api/shipments/{shipment['id']}/receipt",
        json={"lines": [{"item": "FOOD-NOODLE", "received": 50}]},
        headers=h,
    )
    url = f"/api/stations/{places['a']}/distributions"
    r = api.post(
        url, json={"item": "FOOD-NOODLE", "quantity": 20, "note": "bus to Bijie"}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 30
    before = _counts(engine)
    too_many = api.post(url, json={"item": "FOOD-NOODLE", "quantity": 31}, headers=h)
    assert too_many.status_code == 422 and too_many.json()["code"] == "insufficient_stock"
    assert too_many.json()["detail"] == (
        "not enough Instant noodles (FOOD-NOODLE) at Jinyang bus station: "
        "30 piece in stock, 31 requested"
    )
    assert _counts(engine) == before
    assert len(api.get(url, headers=h).json()) == 1


def test_ticket_charges_the_fund_and_overdraft_is_refused(api, tokens, places, engine):
    h = bearer(tokens["manager_a"])
    url = f"/api/stations/{places['a']}/distributions"
    r = api.post(
        url,
        json={"item": "TICKET-HOME", "quantity": 1, "destination": "毕节", "cost_fen": 12_000},
        headers=h,
    )
    assert r.status_code == 201, r.text
    fund = api.get("/api/fund", headers=bearer(tokens["dispatcher"])).json()
    assert fund["spent_fen"] == 12_000 and fund["remaining_fen"] == 5_000_000 - 12_000
    assert fund["by_kind"] == {"ticket": 12_000}
    with Session(engine) as s:
        row = s.exec(select(Fund)).one()
        row.spent_fen = row.budget_fen - 5_000
        s.add(row)
        s.commit()
    over = api.post(
        url,
        json={"item": "TICKET-HOME", "quantity": 1, "destination": "遵义", "cost_fen": 9_000},
        headers=h,
    )
    assert over.status_code == 422 and "overdraw" in over.json()["detail"]
    no_dest = api.post(url, json={"item": "TICKET-HOME", "quantity": 1, "cost_fen": 9}, headers=h)
    assert no_dest.status_code == 422 and "destination" in no_dest.json()["detail"]
    from coordinator.accounts.models import AuditLog

    with Session(engine) as s:
        flagged = s.exec(select(AuditLog).where(AuditLog.action == "fund.overdraw_refused")).all()
        assert len(flagged) == 1


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": -5}]}, "greater than 0"),
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": 0}]}, "greater than 0"),
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": 10**12}]}, "less than"),
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": 1.5}]}, "integer"),
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": "5"}]}, "integer"),
        ("shipments", {"lines": [{"item": "NOPE-1", "quantity": 5}]}, "unknown item SKU"),
        (
            "shipments",
            {"lines": [{"item": "FOOD-NOODLE", "quantity": 5, "unit": "box"}]},
            "counted in piece",
        ),
        ("shipments", {"lines": []}, "at least 1"),
        ("shipments", {"lines": [{"item": "FOOD-NOODLE", "quantity": 99999}]}, "not enough"),
        ("distributions", {"item": "FOOD-NOODLE", "quantity": 0}, "greater than 0"),
        ("distributions", {"item": "FOOD-NOODLE", "quantity": -1}, "greater than 0"),
        ("distributions", {"item": "BOGUS", "quantity": 1}, "unknown item SKU"),
        ("distributions", {"item": "MED-COLD", "quantity": 1, "unit": "piece"}, "counted in box"),
        ("distributions", {"item": "FOOD-NOODLE", "quantity": 1, "cost_fen": 5}, "only emergency"),
        ("distributions", {"item": "FOOD-NOODLE", "quantity": 1, "extra": 1}, "xtra"),
        ("distributions", {"item": "FOOD-NOODLE", "quantity": 10**9}, "less than"),
    ],
)
def test_bad_inputs_get_clear_422s(api, tokens, places, engine, path, body, needle):
    before = _counts(engine)
    if path == "shipments":
        r = api.post(
            "/api/shipments",
            json={"from_id": places["warehouse"], "to_id": places["a"], **body},
            headers=bearer(tokens["dispatcher"]),
        )
    else:
        r = api.post(
            f"/api/stations/{places['a']}/distributions",
            json=body,
            headers=bearer(tokens["manager_a"]),
        )
    assert r.status_code == 422, r.text
    assert needle in str(r.json()["detail"])
    assert _counts(engine) == before


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ([{"item": "FOOD-NOODLE", "received": -1}], "greater than or equal"),
        ([{"item": "MED-COLD", "received": 3}], "not on this shipment"),
        ([{"item": "FOOD-NOODLE", "received": 3}], "missing: DRINK-WATER"),
        (
            [{"item": "FOOD-NOODLE", "received": 10**8}, {"item": "DRINK-WATER", "received": 1}],
            "less than",
        ),
        ([{"item": "XX", "received": 3}], "unknown item SKU"),
    ],
)
def test_bad_receipts_get_422_and_change_nothing(api, tokens, places, engine, lines, needle):
    shipment = _ship(api, tokens, places, **{"FOOD-NOODLE": 10, "DRINK-WATER": 10})
    before = _counts(engine)
    r = api.post(
        f"/api/shipments/{shipment['id']}/receipt",
        json={"lines": lines},
        headers=bearer(tokens["manager_a"]),
    )
    assert r.status_code == 422, r.text
    assert needle in str(r.json()["detail"])
    assert _counts(engine) == before
    assert (
        api.get(f"/api/shipments/{shipment['id']}", headers=bearer(tokens["manager_a"])).json()[
            "status"
        ]
        == "in_transit"
    )


def test_every_logistics_route_documents_a_read_model():
    """Each JSON answer is a named schema (a `response_model`), not a bare object."""
    from nuanliu.app import create_app

    schema = create_app().openapi()
    operations = [
        (method, path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if "logistics" in op.get("tags", [])
    ]
    assert len(operations) == 29
    for method, path, op in operations:
        [answer] = [r for code, r in op["responses"].items() if code.startswith("2")]
        if "application/json" not in answer.get("content", {}):
            assert path == "/api/exports/{filename}", (method, path)
            continue
        body = answer["content"]["application/json"]["schema"]
        assert "$ref" in body or "$ref" in body.get("items", {}), (method, path, body)
