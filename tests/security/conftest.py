"""An app for the security tests: the test database with the demo data, a Twilio auth token, a
token per role, and the ids the route table fills its paths with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.config import Settings
from events.embedded import EmbeddedBroker
from tests.dispatch.helpers import add_task

TWILIO_TOKEN = "twilio-auth-token-do-not-log-4c1d"

ROLES = ("anonymous", "manager_a", "manager_b", "dispatcher", "admin")


@dataclass
class World:
    client: TestClient
    settings: Settings
    tokens: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _seed(engine: Engine) -> dict[str, Any]:
    """An incident with a task and an open offer, two shipments to station A (one with a
    discrepancy), a plan-free fund: every id a path in the table needs."""
    from coordinator.common import utcnow
    from coordinator.dispatch.models import Assignment
    from coordinator.logistics import flows
    from coordinator.logistics.flows import LineCount
    from coordinator.logistics.models import Discrepancy, Item, Place, StockBalance
    from coordinator.volunteers.models import Volunteer

    now = utcnow()
    with Session(engine, expire_on_commit=False) as s:
        stations = s.exec(
            select(Place).where(Place.kind == "station").order_by(col(Place.id))
        ).all()
        warehouse = s.exec(select(Place).where(Place.kind == "warehouse")).first()
        assert warehouse is not None and warehouse.id is not None
        item = s.exec(
            select(Item)
            .join(StockBalance, col(StockBalance.item_id) == Item.id)
            .where(StockBalance.place_id == warehouse.id, StockBalance.quantity >= 100)
            .where(Item.category != "ticket")
        ).first()
        assert item is not None and item.id is not None
        volunteer = s.exec(select(Volunteer).order_by(col(Volunteer.id))).first()
        assert volunteer is not None
        task = add_task(
            s, now=now, slots=2, lasts=timedelta(hours=4), plan_key="sec", lat=26.58, lon=106.71
        )
        offer = Assignment(
            task_id=task.id,
            incident_id=task.incident_id,
            volunteer_id=volunteer.id,
            slot=0,
            status="offered",
            short_code="77",
            expires_at=now + timedelta(minutes=10),
        )
        s.add(offer)
        a, b = stations[0], stations[1]
        assert a.id is not None and b.id is not None
        shipments = [
            flows.dispatch_shipment(
                session=s, from_id=warehouse.id, to_id=a.id, lines=[(item.id, 5)], actor="test"
            )
            for _ in range(3)
        ]
        flows.receive_shipment(
            session=s,
            shipment_id=shipments[2].id or 0,
            counts={item.id: LineCount(received=4, damaged=0, note="")},
            actor="test",
        )
        s.flush()
        discrepancy = s.exec(select(Discrepancy)).first()
        assert discrepancy is not None
        s.commit()
        return {
            "A": a.id,
            "B": b.id,
            "W": warehouse.id,
            "S": shipments[0].id,
            "S2": shipments[1].id,
            "D": discrepancy.id,
            "I": task.incident_id,
            "T": task.id,
            "X": offer.id,
            "V": volunteer.id,
            "sku": item.sku,
            "phone": volunteer.phone,
        }


@pytest.fixture
def world(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, tokens: dict[str, str]
) -> Iterator[World]:
    from coordinator.process import Services
    from nuanliu.app import create_app

    settings = settings.model_copy(update={"twilio_auth_token": SecretStr(TWILIO_TOKEN)})
    ids = _seed(engine)
    # The routes need the settings, engine and broker address of a runtime, not its threads.
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield World(client=client, settings=settings, tokens=tokens, ids=ids)
