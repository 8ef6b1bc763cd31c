"""Report fixtures: an API client without consumers, for reports over data a test wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.config import Settings
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    FundCharge,
    Place,
    Shipment,
    StockMovement,
)
from events.embedded import EmbeddedBroker
from tests.conftest import bearer


@pytest.fixture
def api(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, tokens: dict[str, str]
) -> Iterator[TestClient]:
    """The app over the test database with no relay and no consumers: requests only."""
    from coordinator.process import Services
    from nuanliu.app import create_app

    rt = SimpleNamespace(
        settings=settings,
        engine=engine,
        bootstrap=broker.bootstrap,
        services=Services(settings=settings, engine=engine),
    )
    with TestClient(create_app(runtime=rt)) as c:
        yield c


#: 10:00 in Guiyang on days of the rushes of 2025 (LNY 29 January) and 2026 (LNY 17 February)
DAY_2025 = datetime(2025, 1, 20, 2, 0, tzinfo=UTC)
DAY_1 = datetime(2026, 2, 5, 2, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 2, 20, 2, 0, tzinfo=UTC)
SEASON_END_2026 = datetime(2026, 3, 13, 16, 0, tzinfo=UTC)  # 14 March 00:00 in Guiyang


def _ship(api: Any, to_id: int, warehouse: int, lines: dict[str, int], received: dict[str, int]):
    r = api.post(
        "/api/shipments",
        json={
            "from_id": warehouse,
            "to_id": to_id,
            "lines": [{"item": k, "quantity": v} for k, v in lines.items()],
        },
    )
    assert r.status_code == 201, r.text
    got = {**lines, **received}
    r = api.post(
        f"/api/shipments/{r.json()['id']}/receipt",
        json={"lines": [{"item": k, "received": v} for k, v in got.items()]},
    )
    assert r.status_code == 200, r.text


def _hand_out(api: Any, station: int, sku: str, n: int, **ticket: Any) -> None:
    r = api.post(
        f"/api/stations/{station}/distributions", json={"item": sku, "quantity": n, **ticket}
    )
    assert r.status_code == 201, r.text


def _stamp(engine: Any, at: datetime, after: dict[str, int]) -> dict[str, int]:
    """Move every row written since `after` (table → last id) to `at`; the new last ids."""
    columns = {
        "movements": (StockMovement, StockMovement.at),
        "distributions": (Distribution, Distribution.at),
        "charges": (FundCharge, FundCharge.at),
        "discrepancies": (Discrepancy, Discrepancy.created_at),
        "shipments": (Shipment, Shipment.dispatched_at),
    }
    last = {}
    with Session(engine) as s:
        for name, (model, column) in columns.items():
            s.exec(
                update(model).where(col(model.id) > after.get(name, 0)).values({column: at})  # type: ignore[call-overload]
            )
            last[name] = int(s.exec(select(func.coalesce(func.max(model.id), 0))).one())
        s.exec(
            update(Shipment)
            .where(col(Shipment.id) > after.get("shipments", 0))
            .values(received_at=at)  # type: ignore[call-overload]
        )
        s.commit()
    return last


@pytest.fixture
def season(api, tokens, engine) -> dict[str, int]:
    """Stations a, b, c, d: a and b stocked on day 1 (a's noodles came 5 short), c opened on
    day 2, d served the season before only."""
    api.headers.update(bearer(tokens["admin"]))
    with Session(engine) as s:
        ids = [
            p.id
            for p in s.exec(select(Place).where(Place.kind == "station").order_by(col(Place.id)))
        ]
        warehouse = s.exec(select(Place).where(Place.kind == "warehouse")).one().id
    a, b, c, d = ids[:4]
    _ship(api, d, warehouse, {"FOOD-NOODLE": 20}, {})
    _hand_out(api, d, "FOOD-NOODLE", 10)
    _hand_out(api, d, "TICKET-HOME", 1, destination="遵义", cost_fen=9_000)
    last = _stamp(engine, DAY_2025, {})
    _ship(
        api,
        a,
        warehouse,
        {"FOOD-NOODLE": 100, "MED-MOTION": 40, "DRINK-WATER": 50},
        {"FOOD-NOODLE": 95},
    )
    _ship(api, b, warehouse, {"FOOD-NOODLE": 30, "FOOD-CAKE": 12}, {})
    _hand_out(api, a, "FOOD-NOODLE", 60)
    _hand_out(api, a, "MED-MOTION", 12)
    _hand_out(api, a, "DRINK-WATER", 50)  # a holds no water from here on
    _hand_out(api, a, "TICKET-HOME", 1, destination="毕节", cost_fen=15_050)
    _hand_out(api, b, "FOOD-NOODLE", 30)  # b out of noodles until day 2
    _hand_out(api, b, "FOOD-CAKE", 2)
    last = _stamp(engine, DAY_1, last)
    _ship(api, b, warehouse, {"FOOD-NOODLE": 10}, {})
    _ship(api, c, warehouse, {"MED-COLD": 20, "FOOD-BISCUIT": 30}, {})
    _hand_out(api, c, "MED-COLD", 7)
    _hand_out(api, c, "FOOD-BISCUIT", 4)
    _hand_out(api, c, "TICKET-HOME", 2, destination="毕节", cost_fen=24_000)
    _stamp(engine, DAY_2, last)
    return {"a": a, "b": b, "c": c, "d": d}
