"""The provision consumer through the real broker: a travel-rush alert becomes a plan, its
approval dispatches shipments and texts the managers; low stock triggers exactly one resupply
even when the event arrives twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from consumers.models import ProcessedEvent
from coordinator.logistics import ledger
from coordinator.logistics.models import Fund, Plan, Shipment, ShipmentLine, StationTarget
from coordinator.sms.models import SmsMessage
from events.outbox import stage
from events.payloads.alerts import AlertRaised
from events.payloads.logistics import StockLow
from tests.conftest import bearer, wait_for

pytestmark = pytest.mark.integration


def _applied(engine: Any, event_type: str) -> int:
    with Session(engine) as s:
        return int(
            s.exec(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(
                    ProcessedEvent.consumer == "provision", ProcessedEvent.event_type == event_type
                )
            ).one()
        )


def _rush(engine: Any, incident_id: int = 1) -> None:
    with Session(engine) as s:
        stage(
            s,
            AlertRaised(
                alert_id=incident_id,
                incident_id=incident_id,
                kind="travel_rush",
                level="yellow",
                districts=["520100"],
                headline="春运开始",
                starts_at=datetime(2026, 2, 8, 1, tzinfo=UTC),
                source="calendar",
            ),
        )
        s.commit()


def test_travel_rush_plan_then_approval_dispatches_and_texts(
    make_runtime: Any, engine: Any, tokens: dict[str, str], places: dict[str, int]
) -> None:
    rt = make_runtime(consumers=("provision",))
    _rush(engine)
    _rush(engine)  # the same incident again: still one plan
    wait_for(lambda: _applied(engine, "nuanliu.alert.raised") == 2)
    with Session(engine) as s:
        [plan] = s.exec(select(Plan)).all()
        assert plan.status == "proposed" and plan.trigger == "travel_rush"
        assert plan.worst_coverage_days >= plan.baseline_worst_coverage_days
        assert s.exec(select(Shipment)).all() == []
    from nuanliu.app import create_app

    with TestClient(create_app(runtime=rt)) as api:
        listed = api.get("/api/plans", headers=bearer(tokens["dispatcher"])).json()
        assert [p["id"] for p in listed] == [plan.id]
        assert sum(line["allocate"] for line in listed[0]["lines"]) > 0
        assert (
            api.post(
                f"/api/plans/{plan.id}/approve", headers=bearer(tokens["manager_a"])
            ).status_code
            == 403
        )
        r = api.post(f"/api/plans/{plan.id}/approve", headers=bearer(tokens["dispatcher"]))
        assert r.status_code == 200, r.text
        codes = r.json()["shipments"]
        assert len(codes) == 12
        again = api.post(f"/api/plans/{plan.id}/approve", headers=bearer(tokens["dispatcher"]))
        assert again.status_code == 409
    with Session(engine) as s:
        fund = s.exec(select(Fund)).one()
        assert fund.spent_fen == plan.purchase_fen <= fund.budget_fen
        assert ledger.breaches(session=s) == []
        jinyang = s.exec(select(Shipment).where(Shipment.to_id == places["a"])).one()
        texts = s.exec(select(SmsMessage).where(SmsMessage.kind == "shipment")).all()
        assert len(texts) == 4  # two manager phones at each of the two city stations
        assert any(jinyang.short_code in t.body for t in texts)


def test_low_stock_delivered_twice_makes_exactly_one_resupply(
    make_runtime: Any, engine: Any, demo: None, places: dict[str, int], skus: dict[str, int]
) -> None:
    make_runtime(consumers=("provision",))
    station, noodles = places["c"], skus["FOOD-NOODLE"]
    with Session(engine, expire_on_commit=False) as s:
        target = s.exec(
            select(StationTarget).where(
                StationTarget.place_id == station, StationTarget.item_id == noodles
            )
        ).one()
        low = StockLow(
            place_id=station,
            sku="FOOD-NOODLE",
            balance=0,
            reorder_point=target.reorder_point,
            target=target.target,
        )
        stage(s, low)
        stage(s, low)  # a second delivery of the same fact (a new event id)
        s.commit()
    wait_for(lambda: _applied(engine, "nuanliu.stock.low") == 2)
    with Session(engine) as s:
        shipments = s.exec(select(Shipment).where(Shipment.to_id == station)).all()
        assert len(shipments) == 1 and shipments[0].origin == "resupply"
        lines = s.exec(
            select(ShipmentLine).where(ShipmentLine.shipment_id == shipments[0].id)
        ).all()
        by_item = {line.item_id: line.quantity for line in lines}
        assert by_item[noodles] == target.target
