"""Resupply buys what the warehouse lacks, within the fund less the ticket reserve."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from coordinator.logistics import flows, ledger, planning, service
from coordinator.logistics.models import Fund, FundCharge, StationTarget


def _empty_warehouse(s: Session, places: dict[str, int], item_id: int) -> None:
    stock = ledger.balance(session=s, place_id=places["warehouse"], item_id=item_id)
    flows.adjust_stock(
        session=s,
        place_id=places["warehouse"],
        item_id=item_id,
        delta=-stock,
        reason="test: sold out",
        actor="test",
    )


def test_resupply_buys_what_the_warehouse_lacks(engine, demo, places, skus):
    noodles = skus["FOOD-NOODLE"]
    with Session(engine) as s:
        _empty_warehouse(s, places, noodles)
        shipment = flows.resupply_station(session=s, station_id=places["a"], today=date(2026, 2, 2))
        assert shipment is not None
        target = s.exec(
            select(StationTarget).where(
                StationTarget.place_id == places["a"], StationTarget.item_id == noodles
            )
        ).one()
        [charge] = [c for c in s.exec(select(FundCharge)).all() if "FOOD-NOODLE" in c.reason]
        assert charge.kind == "purchase" and charge.amount_fen == target.target * 450
        assert ledger.balance(session=s, place_id=places["warehouse"], item_id=noodles) == 0
        assert ledger.breaches(session=s) == []


def test_resupply_keeps_the_ticket_reserve(engine, demo, places, skus):
    noodles = skus["FOOD-NOODLE"]
    with Session(engine) as s:
        _empty_warehouse(s, places, noodles)
        stations = [places[k] for k in ("a", "b", "c")]
        reserve = planning.ticket_reserve_fen(
            session=s, station_ids=stations, as_of=date(2026, 2, 2)
        )
        assert reserve > 0
        fund = s.exec(select(Fund)).one()
        fund.spent_fen = fund.budget_fen - 1_000  # ten yuan left: less than any reserve
        s.add(fund)
        shipment = flows.resupply_station(session=s, station_id=places["a"], today=date(2026, 2, 2))
        assert shipment is not None  # the other items still come from the warehouse
        lines = service.shipment_lines(session=s, shipment_id=shipment.id or 0)
        assert noodles not in {line.item_id for line in lines}
        assert s.exec(select(FundCharge)).all() == []
