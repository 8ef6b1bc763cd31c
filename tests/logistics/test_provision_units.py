"""Provision handlers called directly with odd events: nothing crashes, nothing is made."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from consumers.provision import on_alert_raised, on_stock_low
from consumers.registry import Context
from coordinator.config import Settings, get_settings
from coordinator.logistics.models import Plan, Shipment
from coordinator.process import Services
from events.envelope import Envelope
from events.payloads.alerts import AlertRaised
from events.payloads.logistics import StockLow


def _ctx(s: Session, payload, settings: Settings | None = None) -> Context:
    services = Services(settings=settings or get_settings(), engine=s.get_bind())
    return Context(session=s, envelope=Envelope.wrap(payload), services=services)


def test_stock_low_for_a_warehouse_or_unknown_place_does_nothing(engine, demo, places):
    with Session(engine) as s:
        for place_id in (places["warehouse"], 999_999):
            event = StockLow(
                place_id=place_id, sku="FOOD-NOODLE", balance=0, reorder_point=5, target=9
            )
            on_stock_low(_ctx(s, event), event)
        assert s.exec(select(Shipment)).all() == []


def _alert(kind: str, districts: list[str], starts: datetime | None = None) -> AlertRaised:
    return AlertRaised(
        alert_id=1,
        incident_id=7,
        kind=kind,
        level="orange",
        districts=districts,
        headline="test",
        starts_at=starts,
    )


def test_alerts_that_need_no_plan(engine, demo):
    with Session(engine) as s:
        for event in (
            _alert("snow", ["520103"]),  # not a kind that strands travellers
            _alert("ice_storm", ["520199"]),  # no station in that district
            _alert("travel_rush", ["520103"], datetime(1900, 1, 20, tzinfo=UTC)),  # no calendar
        ):
            on_alert_raised(_ctx(s, event), event)
        assert s.exec(select(Plan)).all() == []


def test_ice_storm_plans_for_the_stations_in_its_districts(engine, demo, places):
    with Session(engine) as s:
        event = _alert("ice_storm", ["520102"], datetime(2026, 2, 10, tzinfo=UTC))
        on_alert_raised(_ctx(s, event), event)
        on_alert_raised(_ctx(s, event), event)  # once per incident
        [plan] = s.exec(select(Plan)).all()
        assert plan.trigger == "ice_storm" and plan.incident_id == 7


def test_auto_approve_dispatches_at_once(engine, demo, settings):
    auto = settings.model_copy(update={"plan_auto_approve": True})
    with Session(engine) as s:
        event = _alert("travel_rush", ["520103"], datetime(2026, 2, 8, tzinfo=UTC))
        on_alert_raised(_ctx(s, event, auto), event)
        [plan] = s.exec(select(Plan)).all()
        assert plan.status == "approved" and plan.approved_by == "provision:auto-approve"
        assert len(s.exec(select(Shipment)).all()) == 12
