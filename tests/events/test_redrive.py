"""What the broker forgot is published again: an embedded broker that died with events on it,
an operator's `nuanliu redrive`, the settling and pruning that keep the scan short, and the
embedded broker restarted empty to give its memory back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from consumers import consumer_tables
from consumers.models import DeadLetter, ProcessedEvent
from consumers.redrive import prune, redrive, scan, settle
from consumers.registry import Handlers
from coordinator.dispatch.models import Assignment, Task
from events.outbox import OutboxEvent, stage
from events.payloads.incidents import IncidentClosed
from nuanliu.app import create_app
from nuanliu.runtime import Runtime
from tests.conftest import bearer, wait_for

pytestmark = [pytest.mark.integration]


def _tables() -> dict[str, Handlers]:
    applies = Handlers("applies")
    applies.on(IncidentClosed)(lambda ctx, e: None)
    picky = Handlers("picky")  # only reasons that say "storm"
    picky.on(IncidentClosed, when=lambda e: "storm" in e.reason)(lambda ctx, e: None)
    board = Handlers("board", exactly_once=False)  # keeps no books: nothing is owed to it
    board.on(IncidentClosed)(lambda ctx, e: None)
    return {"applies": applies, "picky": picky, "board": board}


def _published(session: Session, *reasons: str) -> list[OutboxEvent]:
    rows = [stage(session, IncidentClosed(incident_id=i, reason=r)) for i, r in enumerate(reasons)]
    session.commit()
    session.execute(update(OutboxEvent).values(published_at=datetime.now(UTC)))
    session.commit()
    return rows


def test_a_published_event_a_consumer_never_applied_is_owed_to_that_consumer_only(session):
    tables = _tables()
    quiet, storm, refused, applied = _published(session, "over", "storm over", "storm", "storm!")
    session.add(ProcessedEvent(consumer="applies", event_id=applied.event_id, event_type="x"))
    session.add(ProcessedEvent(consumer="picky", event_id=applied.event_id, event_type="x"))
    # a consumer that dead-lettered an event owes nothing more for it
    session.add(ProcessedEvent(consumer="applies", event_id=refused.event_id, event_type="x"))
    session.add(
        DeadLetter(
            consumer="picky",
            topic="t",
            partition=0,
            offset=0,
            event_id=refused.event_id,
            reason="r",
        )
    )
    session.commit()

    found = scan(session, tables)

    owed = {row.event_id: row.consumers for row in found.owed}
    assert owed == {quiet.event_id: ("applies",), storm.event_id: ("applies", "picky")}
    assert sorted(found.settled) == sorted([refused.id, applied.id])


def test_redrive_marks_what_is_owed_unpublished_in_order_and_settles_the_rest(engine, session):
    tables = _tables()
    rows = _published(session, "a", "b", "storm")
    session.add(ProcessedEvent(consumer="applies", event_id=rows[1].event_id, event_type="x"))
    session.commit()

    redriven = redrive(engine, tables)

    assert [r.outbox_id for r in redriven] == [rows[0].id, rows[2].id]
    session.expire_all()
    state = {r.id: (r.published_at, r.settled_at) for r in session.exec(select(OutboxEvent))}
    assert state[rows[0].id][0] is None and state[rows[2].id][0] is None  # the relay sends again
    assert state[rows[1].id][0] is not None and state[rows[1].id][1] is not None  # settled
    session.rollback()  # SQLite: let go of the database before the next writer
    # nothing is owed twice: a second redrive before the relay ran finds nothing published
    assert redrive(engine, tables) == []


def test_redrive_since_leaves_older_events_alone(engine, session):
    tables = _tables()
    old, new = _published(session, "old", "new")
    session.execute(
        update(OutboxEvent)
        .where(col(OutboxEvent.id) == old.id)
        .values(created_at=datetime.now(UTC) - timedelta(days=2))
    )
    session.commit()

    redriven = redrive(engine, tables, since=datetime.now(UTC) - timedelta(hours=1))

    assert [r.outbox_id for r in redriven] == [new.id]


def test_prune_deletes_only_settled_rows_past_the_retention(engine, session):
    tables = _tables()
    done, owed = _published(session, "done", "owed")
    for consumer in ("applies",):
        session.add(ProcessedEvent(consumer=consumer, event_id=done.event_id, event_type="x"))
    session.commit()
    settle(engine, tables)
    session.execute(update(OutboxEvent).values(created_at=datetime.now(UTC) - timedelta(days=40)))
    session.commit()

    assert prune(engine, older_than=timedelta(days=30)) == 1

    left = session.exec(select(OutboxEvent.event_id)).all()
    assert left == [owed.event_id]  # still owed: kept, whatever its age


def _alert(client: TestClient, tokens: dict[str, str], headline: str) -> int:
    r = client.post(
        "/api/alerts",
        json={
            "kind": "ice_storm",
            "level": "orange",
            "districts": ["云岩区"],
            "headline": headline,
        },
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code == 202, r.text
    return int(r.json()["incident_id"])


def _tasks(engine, incident_id: int) -> int:
    with Session(engine) as s:
        return int(
            s.exec(
                select(func.count()).select_from(Task).where(Task.incident_id == incident_id)
            ).one()
        )


def _unpublished(engine) -> int:
    with Session(engine) as s:  # a new session each time: SQLite reads keep their snapshot
        return int(
            s.exec(
                select(func.count())
                .select_from(OutboxEvent)
                .where(col(OutboxEvent.published_at).is_(None))
            ).one()
        )


def _offers(engine, incident_id: int) -> int:
    with Session(engine) as s:
        return int(
            s.exec(
                select(func.count())
                .select_from(Assignment)
                .join(Task, col(Task.id) == Assignment.task_id)
                .where(Task.incident_id == incident_id)
            ).one()
        )


def test_an_alert_the_embedded_broker_forgot_is_planned_after_the_restart(
    settings, engine, demo, tokens
):
    """The issue's first loss: the process died with the alert on the broker, not applied."""
    own = settings.model_copy(update={"kafka_bootstrap_servers": None})
    first = Runtime(own, engine=engine, relay=True, consumers=()).start()
    try:
        with TestClient(create_app(runtime=first)) as client:
            incident = _alert(client, tokens, "贵阳市道路结冰橙色预警（重启前）")
            wait_for(lambda: _unpublished(engine) == 0, timeout=30)
    finally:
        first.stop()  # the broker goes with it, holding the alert nobody consumed
    assert _tasks(engine, incident) == 0

    second = Runtime(own, engine=engine, relay=True, consumers=("dispatch", "notify")).start()
    try:
        wait_for(lambda: _tasks(engine, incident) > 0, timeout=60)
        wait_for(lambda: _offers(engine, incident) > 0, timeout=30)
    finally:
        second.stop()


def test_the_embedded_broker_restarted_empty_loses_nothing(settings, engine, demo, tokens):
    own = settings.model_copy(update={"kafka_bootstrap_servers": None})
    rt = Runtime(own, engine=engine, relay=True, consumers=("dispatch", "notify")).start()
    try:
        assert rt.broker is not None
        with TestClient(create_app(runtime=rt)) as client:
            before = _alert(client, tokens, "贵阳市道路结冰橙色预警（轮换前）")
            wait_for(lambda: _tasks(engine, before) > 0, timeout=60)
            old_pid = rt.broker.process.pid if rt.broker.process else None

            rt.rotate_broker()

            assert rt.broker.process is not None and rt.broker.process.pid != old_pid
            after = _alert(client, tokens, "贵阳市道路结冰橙色预警（轮换后）")
            wait_for(lambda: _tasks(engine, after) > 0, timeout=60)
            metrics = client.get("/metrics").text
            assert "nuanliu_embedded_broker_restarts_total 1.0" in metrics
    finally:
        rt.stop()


def test_a_stop_during_a_broker_restart_waits_for_it_and_leaves_nothing_running(settings, engine):
    """The keeper restarts the broker from its own thread; a shutdown arriving meanwhile
    (the soak found this) must neither stop the same runners at the same time nor leave the
    new ones running."""
    import threading

    own = settings.model_copy(update={"kafka_bootstrap_servers": None})
    rt = Runtime(own, engine=engine, relay=True, consumers=("dispatch", "notify")).start()
    failed: list[BaseException] = []

    def rotate() -> None:
        try:
            rt.rotate_broker()
        except BaseException as exc:
            failed.append(exc)

    keeper = threading.Thread(target=rotate)
    keeper.start()
    time.sleep(0.3)  # the rotation is stopping the runners now
    rt.stop()
    keeper.join(60)
    assert not keeper.is_alive()
    assert failed == []
    assert rt.runners == {} and rt.broker is None
    assert rt.rotate_broker() == 0  # stopped: nothing to rotate


def test_nothing_is_owed_once_the_real_consumers_caught_up(settings, engine, demo, tokens):
    own = settings.model_copy(update={"kafka_bootstrap_servers": None})
    rt = Runtime(own, engine=engine, relay=True, consumers=tuple(consumer_tables())).start()
    try:
        with TestClient(create_app(runtime=rt)) as client:
            _alert(client, tokens, "贵阳市道路结冰橙色预警")
            assert rt.drain(60), "still owed after 60 s"
        with Session(engine) as s:
            assert scan(s, consumer_tables()).owed == []
    finally:
        rt.stop()
