"""Ordered publication: events are published in the order their transactions staged them, and
a consumer applies the events of one key in that order, also across a consumer restart."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from consumers.registry import Context, Handlers
from consumers.runner import ConsumerRunner
from coordinator.accounts.models import AuditLog
from coordinator.accounts.service import record_audit
from events.outbox import OutboxEvent, stage
from events.payloads.incidents import IncidentClosed
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.fault]

KEYS = (11, 12, 13)
PER_KEY = 20


def _handlers() -> Handlers:
    handlers = Handlers("order")

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        record_audit(
            session=ctx.session,
            actor="test",
            action="order.applied",
            subject=f"{event.incident_id}:{event.reason}",
            event_id=ctx.envelope.id,
        )

    return handlers


def _applied(engine: Any) -> list[tuple[int, int]]:
    with Session(engine) as s:
        rows = s.exec(
            select(AuditLog.subject)
            .where(AuditLog.action == "order.applied")
            .order_by(col(AuditLog.id))
        ).all()
    return [(int(k), int(n)) for k, n in (r.split(":") for r in rows)]


def _stage(engine: Any, n: int) -> None:
    with Session(engine) as s:
        stage(s, IncidentClosed(incident_id=KEYS[n % len(KEYS)], reason=str(n)))
        s.commit()


def test_events_of_one_key_apply_in_staging_order_across_a_restart(engine, make_runtime):
    rt = make_runtime(relay=True)
    runner = ConsumerRunner(_handlers(), engine, rt.runner_config(), services=rt.services)
    total = len(KEYS) * PER_KEY
    half = total // 2
    for n in range(half):
        _stage(engine, n)
    wait_for(lambda: runner.poll_once(timeout_ms=300) >= 0 and len(_applied(engine)) >= 5, 60)
    runner.close()  # a consumer goes away mid-stream; the next one resumes from its offsets
    for n in range(half, total):
        _stage(engine, n)
    runner = ConsumerRunner(_handlers(), engine, rt.runner_config(), services=rt.services)
    try:
        wait_for(
            lambda: runner.poll_once(timeout_ms=300) >= 0 and len(_applied(engine)) >= total, 90
        )
    finally:
        runner.close()

    applied = _applied(engine)
    assert len(applied) == total == len(set(applied)), "each event applied exactly once"
    for key in KEYS:
        seen = [n for k, n in applied if k == key]
        assert seen == sorted(seen), f"key {key} applied out of order: {seen}"
    with Session(engine) as s:
        rows = s.exec(select(OutboxEvent).order_by(col(OutboxEvent.id))).all()
    published = [r.published_at for r in rows]
    assert all(published), "every staged event was published"
    assert published == sorted(published), "the relay published in staging order"
