"""Receipts by SMS: booked exactly as the page books them, questions for anything unclear,
only the station's registered manager phones."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from coordinator.logistics import flows, ledger, service
from coordinator.logistics.models import Discrepancy, Place, Shipment, StockMovement
from coordinator.logistics.sms_receipts import handle_receipt_sms
from coordinator.sms.models import SmsMessage
from coordinator.sms.replies import parse_reply
from tests.conftest import bearer, wait_for


def _setup(engine: Any, places: dict[str, int], skus: dict[str, int], to: str = "a"):
    with Session(engine, expire_on_commit=False) as s:
        shipment = flows.dispatch_shipment(
            session=s,
            from_id=places["warehouse"],
            to_id=places[to],
            lines=[(skus["FOOD-NOODLE"], 100), (skus["DRINK-WATER"], 40)],
            actor="test",
        )
        station = s.get(Place, places["a"])
        assert station is not None
        phone = service.manager_phones(station)[0]
        s.commit()
    return shipment, phone


def _handle(engine: Any, phone: str, body: str):
    with Session(engine, expire_on_commit=False) as s:
        outcome = handle_receipt_sms(session=s, phone=phone, reply=parse_reply(body))
        s.commit()
    return outcome


def _state(engine: Any, shipment_id: int) -> tuple[str, int, int]:
    with Session(engine) as s:
        row = s.get(Shipment, shipment_id)
        assert row is not None
        moves = s.exec(
            select(StockMovement).where(
                StockMovement.kind == "receipt", StockMovement.shipment_id == shipment_id
            )
        ).all()
        found = s.exec(select(Discrepancy)).all()
        return row.status, len(moves), len(found)


def test_all_received(engine, demo, places, skus):
    shipment, phone = _setup(engine, places, skus)
    outcome = _handle(engine, phone, f"收 {shipment.short_code} 全")
    assert outcome.status == "booked"
    assert f"{shipment.short_code}已收货：面100 水40" in (outcome.answer or "")
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 100
        row = s.get(Shipment, shipment.id)
        assert row is not None and row.received_via == "sms"
        texts = s.exec(select(SmsMessage).where(SmsMessage.kind == "receipt")).all()
        assert [t.phone for t in texts] == [phone]


def test_counts_per_item_book_shortfalls_like_the_page(engine, demo, places, skus):
    shipment, phone = _setup(engine, places, skus)
    outcome = _handle(engine, phone, f"收{shipment.short_code}面95，水40")
    assert outcome.status == "booked", outcome.answer
    assert "少面5" in (outcome.answer or "")
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 95
        [d] = s.exec(select(Discrepancy)).all()
        assert (d.kind, d.quantity) == ("short", 5)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("收 {code} 面95", "水”没有数量"),
        ("收 {code} 面95 水40 面3", "报了两次"),
        ("收 {code} 面95 饼40", "没有“饼”"),
        ("收 {code} 差不多吧", "看不懂"),
        ("收 {code}", "没有数量"),
        ("收 {code} 面95 水99999999", "数量过大"),
        ("收 S99999 全", "找不到货单"),
    ],
)
def test_anything_unclear_is_a_question_and_books_nothing(engine, demo, places, skus, body, needle):
    shipment, phone = _setup(engine, places, skus)
    outcome = _handle(engine, phone, body.format(code=shipment.short_code))
    assert outcome.status == "question"
    assert needle in (outcome.answer or "")
    assert _state(engine, shipment.id) == ("in_transit", 0, 0)


def test_only_the_stations_registered_phones(engine, demo, places, skus):
    shipment, phone = _setup(engine, places, skus)
    stranger = _handle(engine, "+8613900000001", f"收 {shipment.short_code} 全")
    assert stranger.status == "refused" and "未登记" in (stranger.answer or "")
    other, _ = _setup(engine, places, skus, to="b")
    wrong = _handle(engine, phone, f"收 {other.short_code} 全")
    assert wrong.status == "refused" and "不是发往" in (wrong.answer or "")
    assert _state(engine, shipment.id)[0] == "in_transit"
    assert _state(engine, other.id) == ("in_transit", 0, 0)


def test_second_receipt_by_sms_is_refused(engine, demo, places, skus):
    shipment, phone = _setup(engine, places, skus)
    assert _handle(engine, phone, f"RCV {shipment.short_code} ALL").status == "booked"
    again = _handle(engine, phone, f"收 {shipment.short_code} 面1 水1")
    assert again.status == "refused" and "已确认" in (again.answer or "")
    assert _state(engine, shipment.id) == ("received", 2, 0)


def test_not_a_receipt_is_ignored(engine, demo, places, skus):
    _, phone = _setup(engine, places, skus)
    assert _handle(engine, phone, "1").status == "ignored"


@pytest.mark.integration
def test_receipt_text_through_the_broker(client, engine, tokens, places, skus):
    shipment, phone = _setup(engine, places, skus)
    r = client.post(
        "/api/sms/inbound",
        json={"from": phone, "body": f"收 {shipment.short_code} 面90 水40"},
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code < 300, r.text
    wait_for(lambda: _state(engine, shipment.id)[0] == "received")
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 90
    wait_for(
        lambda: Session(engine).exec(select(SmsMessage).where(SmsMessage.kind == "receipt")).all()
    )
