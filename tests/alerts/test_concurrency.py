"""Races on PostgreSQL: the same JSON alert posted by many threads at once opens one incident,
with an Idempotency-Key and without."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.alerts.models import Alert, AlertClaim
from coordinator.dispatch.models import Incident
from coordinator.process import Services
from events.outbox import OutboxEvent
from nuanliu.app import create_app
from tests.alerts.test_api import GOOD
from tests.conftest import bearer

N = 12


def _count(engine: Any, model: Any, *where: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


@pytest.mark.parametrize("key", [None, "burst-1"], ids=["same body", "same key"])
def test_the_same_alert_posted_at_once_opens_one_incident(
    on_postgres: None, settings: Any, engine: Any, tokens: dict[str, str], key: str | None
):
    services = Services(settings=settings, engine=engine)
    headers = bearer(tokens["dispatcher"])
    if key is not None:
        headers["Idempotency-Key"] = key
    barrier = threading.Barrier(N)
    answers: list[Any] = [None] * N
    with TestClient(create_app(services=services)) as c:

        def post(k: int) -> None:
            barrier.wait()
            try:
                answers[k] = c.post("/api/alerts", json=GOOD, headers=headers)
            except Exception as exc:  # the server's error, raised in the client
                answers[k] = exc

        threads = [threading.Thread(target=post, args=(k,)) for k in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not [a for a in answers if isinstance(a, Exception)], answers
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (N - 1) + [202], [a.text for a in answers]
    assert len({(a.json()["alert_id"], a.json()["incident_id"]) for a in answers}) == 1
    assert _count(engine, Alert) == 1 and _count(engine, Incident) == 1
    assert _count(engine, AlertClaim) == 1
    assert _count(engine, OutboxEvent, OutboxEvent.type == "nuanliu.alert.raised") == 1
    assert _count(engine, OutboxEvent, OutboxEvent.type == "nuanliu.incident.opened") == 1
