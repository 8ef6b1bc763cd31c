"""Logistics fixtures: an API client without consumers (fast), ids of the demo's places."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.config import Settings
from coordinator.logistics.models import Item, Place
from events.embedded import EmbeddedBroker


@pytest.fixture
def demo(engine: Engine) -> None:
    """The demo's places, items and logistics data, without the 3,446-strong roster (which
    logistics never reads and which takes seconds to generate)."""
    import random

    from coordinator.demo import load_places, make_phone
    from coordinator.logistics.demo import load_logistics_demo

    with Session(engine) as s:
        load_places(s)
        load_logistics_demo(s, random.Random(20140105), make_phone)
        s.commit()


@pytest.fixture
def api(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, tokens: dict[str, str]
) -> Iterator[TestClient]:
    """The app over the test database, no relay and no consumers: requests only."""
    from coordinator.process import Services
    from nuanliu.app import create_app

    # no runtime started: no relay, no consumers, the schema is already there; the app only
    # needs its services, so no topics are created and each test starts in milliseconds
    rt = SimpleNamespace(
        settings=settings,
        engine=engine,
        bootstrap=broker.bootstrap,
        services=Services(settings=settings, engine=engine),
    )
    with TestClient(create_app(runtime=rt)) as c:
        yield c


@pytest.fixture
def places(engine: Engine, demo: None) -> dict[str, int]:
    """`warehouse`, `a` and `b` (the stations manager_a and manager_b run), `c` (neither)."""
    with Session(engine) as s:
        stations = s.exec(select(Place).where(Place.kind == "station").order_by(col(Place.id)))
        ids = [p.id for p in stations]
        warehouse = s.exec(select(Place).where(Place.kind == "warehouse")).one()
    return {"warehouse": warehouse.id, "a": ids[0], "b": ids[1], "c": ids[2]}  # type: ignore[dict-item]


@pytest.fixture
def skus(engine: Engine, demo: None) -> dict[str, int]:
    with Session(engine) as s:
        return {i.sku: i.id for i in s.exec(select(Item)).all()}  # type: ignore[misc]
