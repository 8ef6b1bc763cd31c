"""Report fixtures: an API client without consumers, for reports over data a test wrote."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from events.embedded import EmbeddedBroker


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
