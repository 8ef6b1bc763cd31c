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


@pytest.mark.integration
def test_the_run_reports_its_own_rush_and_closes_it(client, tokens, engine):
    """Another station's discrepancy and another spending of the fund before the run are not
    the run's; the run's incident is closed at the end, and its rush starts on the rush's first
    day where it happens (Asia/Shanghai), not in UTC."""
    from zoneinfo import ZoneInfo

    from sqlmodel import Session, select

    from coordinator.dispatch.models import Incident
    from coordinator.logistics.models import Discrepancy

    client.headers["Authorization"] = f"Bearer {tokens['admin']}"
    stations = client.get("/api/stations").json()
    warehouse = client.get("/api/warehouses").json()[0]
    sku = next(i["sku"] for i in client.get("/api/items").json() if i["sku"].startswith("FOOD"))
    sent = client.post(
        "/api/shipments",
        json={
            "from_id": warehouse["id"],
            "to_id": stations[0]["id"],
            "lines": [{"item": sku, "quantity": 5}],
        },
    )
    assert sent.status_code == 201, sent.text
    short = client.post(
        f"/api/shipments/{sent.json()['id']}/receipt",
        json={"lines": [{"item": sku, "received": 3}]},
    )
    assert short.status_code in (200, 201), short.text
    ticket = client.post(
        f"/api/stations/{stations[0]['id']}/distributions",
        json={"item": "TICKET-HOME", "quantity": 1, "destination": "遵义", "cost_fen": 15_000},
    )
    assert ticket.status_code == 201, ticket.text
    with Session(engine) as s:
        before = len(s.exec(select(Discrepancy)).all())
    assert before >= 1
    spent_before = client.get("/api/fund").json()["spent_fen"]
    sim = Simulation(client, speed=1e9, days=2, seed=7)
    outcome = sim.run()
    assert outcome.incident_id is not None and outcome.closed
    with Session(engine) as s:
        incident = s.get(Incident, outcome.incident_id)
        assert incident is not None and incident.status == "closed"
        starts = incident.starts_at
        assert starts is not None
        local = starts.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (local.hour, local.minute, local.date()) == (0, 0, sim.rush_start())
        after = len(s.exec(select(Discrepancy)).all())
    # the run's own short receipts only: the one made before it is not counted
    assert sum(t.discrepancies for t in outcome.stations.values()) == after - before
    assert sent.json()["id"] not in sim.received
    spent_after = client.get("/api/fund").json()["spent_fen"]
    assert outcome.fund_spent_fen == spent_after - spent_before  # the ticket before is not
    assert outcome.fund_spent_fen >= sum(t.fund_spent_fen for t in outcome.stations.values())
    plans = client.get("/api/plans").json()
    assert outcome.plan_id is None or any(
        p["id"] == outcome.plan_id and p["incident_id"] == outcome.incident_id for p in plans
    )
