"""`nuanliu simulate travel-rush`: the curve maths (fast, no server) and a short run against
the app through the real broker."""

from __future__ import annotations

import pytest

from coordinator.logistics import planning
from coordinator.logistics.simulate import Simulation, expected_daily


def test_default_curves_give_the_seeds_totals_at_the_demo_stations():
    # the demo: two city-level bus stations, two railway stations, eight district bus stations
    weights = [4.0, 4.0, 3.0, 3.0] + [0.75] * 8
    expected = expected_daily(weights, planning.RATES_BY_SKU)
    assert expected.shape == (40, 12, len(planning.RATES_BY_SKU))
    skus = list(planning.RATES_BY_SKU)
    per_item = expected.sum(axis=(0, 1))
    food = sum(per_item[k] for k, s in enumerate(skus) if s.startswith(("FOOD", "DRINK")))
    medicine = sum(per_item[k] for k, s in enumerate(skus) if s.startswith("MED"))
    tickets = per_item[skus.index("TICKET-HOME")]
    assert food == pytest.approx(8000, rel=0.10) and food >= 8000
    assert medicine == pytest.approx(3000, rel=0.10) and medicine >= 3000
    assert tickets == pytest.approx(124, rel=0.10)
    # the city-level stations carry the most
    by_station = expected.sum(axis=(0, 2))
    assert by_station[0] == by_station.max() and by_station[-1] == by_station.min()


@pytest.mark.integration
def test_a_short_run_against_the_app(client, tokens):
    client.headers["Authorization"] = f"Bearer {tokens['admin']}"
    outcome = Simulation(client, speed=1e9, days=3, seed=7).run()
    assert outcome.plan_id is not None and outcome.days == 3
    assert sum(t.receipts for t in outcome.stations.values()) >= 12
    assert sum(t.handed_out for t in outcome.stations.values()) > 0
    assert outcome.fund["spent_fen"] >= sum(t.fund_spent_fen for t in outcome.stations.values())
    check = client.get("/api/fund").json()
    assert check["remaining_fen"] >= 0
