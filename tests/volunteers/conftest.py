"""Guiyang's districts (no generated roster) and an API client with a dispatcher token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.config import Settings
from events.embedded import EmbeddedBroker


@pytest.fixture
def districts(engine: Engine) -> None:
    from coordinator.demo import DATA
    from coordinator.geo.models import District

    with Session(engine) as s:
        for d in DATA["districts"]:
            s.add(District(**d))
        s.commit()


@dataclass
class Api:
    client: TestClient
    headers: dict[str, str]


@pytest.fixture
def api(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, districts: None
) -> Iterator[Api]:
    from coordinator.accounts.service import create_token
    from coordinator.process import Services
    from nuanliu.app import create_app

    with Session(engine) as s:
        token = create_token(session=s, role="dispatcher", label="roster-tests")
        s.commit()
    # only the settings, engine and broker address of a runtime are needed by these routes
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield Api(client, {"Authorization": f"Bearer {token}"})
