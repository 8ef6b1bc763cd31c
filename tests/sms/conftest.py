"""An API client for the SMS routes: a runtime without consumers (events stay in the outbox,
where the tests read them), a dispatcher token, Twilio's test auth token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.config import Settings
from events.embedded import EmbeddedBroker

TWILIO_TOKEN = "12345"


@dataclass
class Api:
    client: TestClient
    headers: dict[str, str]
    settings: Settings


@pytest.fixture
def api(settings: Settings, engine: Engine, broker: EmbeddedBroker) -> Iterator[Api]:
    from coordinator.accounts.service import create_token
    from coordinator.process import Services
    from nuanliu.app import create_app

    settings = settings.model_copy(update={"twilio_auth_token": SecretStr(TWILIO_TOKEN)})
    with Session(engine) as s:
        token = create_token(session=s, role="dispatcher", label="sms-tests")
        s.commit()
    # The routes need only the settings, engine and broker address of a runtime; none of its
    # threads (events stay in the outbox, where these tests read them).
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield Api(client, {"Authorization": f"Bearer {token}"}, settings)
