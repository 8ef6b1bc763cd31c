"""The nightly stock check: expired medicine written off, stations below reorder topped up."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from coordinator.logistics import ledger
from coordinator.logistics.jobs import recurring, run_stock_check
from coordinator.logistics.models import Item, Shipment


def test_stock_check_writes_off_expired_and_resupplies(engine, settings, demo, places, skus):
    with Session(engine) as s:
        cold = s.get(Item, skus["MED-COLD"])
        assert cold is not None
        cold.expires_on, cold.batch = date(2026, 1, 31), "B-7"
        s.add(cold)
        s.commit()
    outcome = run_stock_check(engine=engine, settings=settings, today=date(2026, 2, 1))
    assert outcome == {"written_off": 1, "resupplied": 12}
    with Session(engine) as s:
        assert (
            ledger.balance(session=s, place_id=places["warehouse"], item_id=skus["MED-COLD"]) == 0
        )
        assert len(s.exec(select(Shipment)).all()) == 12
        assert ledger.breaches(session=s) == []
    again = run_stock_check(engine=engine, settings=settings, today=date(2026, 2, 1))
    assert again == {"written_off": 0, "resupplied": 0}
    assert [job[0] for job in recurring(settings)] == ["logistics-stock-check"]
