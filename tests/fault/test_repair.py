"""The repair sweep: each loss a crash leaves (planted by hand, as in test_check) is mended
through the normal flow and audited, after which the checker is clean; a healthy database,
young work and an alert still waiting in the outbox are left alone; a second sweep does
nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from consumers.models import ProcessedEvent
from coordinator.accounts.models import AuditLog
from coordinator.common import utcnow
from coordinator.config import Settings
from coordinator.dispatch.models import Assignment, Task
from events.outbox import OutboxEvent
from nuanliu.check import check, unapplied_replies
from nuanliu.repair import Repairs, sweep
from nuanliu.scheduler import recurring_jobs
from tests.conftest import wait_for
from tests.fault import test_check as planted
from tests.fault.test_check import (
    _inbound,
    plant_incident_without_tasks,
    plant_slot_without_live_assignment,
)

#: the checker tests' clean world (a fixture: pytest finds it by this name)
world = planted.world


def _plant(engine: Engine, w: dict[str, Any], *plants: Any) -> None:
    with Session(engine) as s:
        for plant in plants:
            plant(s, w)
        s.commit()


def _audits(engine: Engine, action: str) -> list[AuditLog]:
    with Session(engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.action == action)).all())


def _counts(engine: Engine) -> dict[str, int]:
    tables = ("incidents", "tasks", "assignments", "outbox", "audit_log", "processed_events")
    with Session(engine) as s:
        counts = {t: int(s.execute(text(f"SELECT count(*) FROM {t}")).one()[0]) for t in tables}
        counts["unpublished"] = int(
            s.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).one()[0]
        )
    return counts


def _latest_incident(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(text("SELECT max(id) FROM incidents")).one()[0])


def test_the_sweep_is_a_recurring_job(settings: Settings) -> None:
    assert "repair-sweep" in {job_id for job_id, *_ in recurring_jobs(settings)}


def test_a_healthy_database_is_left_unchanged(engine, world, settings):
    before = _counts(engine)
    assert not sweep(engine=engine, settings=settings)
    assert _counts(engine) == before


def test_an_incident_without_tasks_is_planned_and_offered(engine, world, settings):
    _plant(engine, world, plant_incident_without_tasks)
    iid = _latest_incident(engine)
    done = sweep(engine=engine, settings=settings)
    assert done == Repairs(replanned=1)
    with Session(engine) as s:
        tasks = s.exec(select(Task).where(Task.incident_id == iid)).all()
        offered = s.exec(select(Assignment).where(Assignment.incident_id == iid)).all()
        assert check(session=s) == []
    assert tasks and offered
    (audit,) = _audits(engine, "repair.replanned")
    assert audit.subject == f"incident:{iid}" and audit.detail["tasks"] == len(tasks)
    before = _counts(engine)
    assert not sweep(engine=engine, settings=settings)  # idempotent
    assert _counts(engine) == before


def test_an_incident_whose_alert_waits_in_the_outbox_is_left_to_the_consumer(
    engine, world, settings
):
    _plant(engine, world, plant_incident_without_tasks)
    iid = _latest_incident(engine)
    with Session(engine) as s:
        s.execute(
            text(
                "INSERT INTO outbox (event_id, topic, type, key, data, schema_version, created_at,"
                " attempts) VALUES ('waiting', 'alerts', 'nuanliu.alert.raised', :k, :d, 1, :t, 3)"
            ),
            {"k": str(iid), "d": json.dumps({"incident_id": iid}), "t": utcnow()},
        )
        s.commit()
    before = _counts(engine)
    assert not sweep(engine=engine, settings=settings)
    assert _counts(engine) == before


def test_young_work_is_left_to_the_normal_path(engine, world, settings):
    """Within `repair_grace` the consumer may still be on it: nothing is touched."""
    _plant(engine, world, plant_incident_without_tasks, plant_slot_without_live_assignment)
    with Session(engine) as s:
        _inbound(s, world, "1")
        s.commit()
    before = _counts(engine)
    young = settings.model_copy(update={"repair_grace": timedelta(hours=1)})
    assert not sweep(engine=engine, settings=young)
    assert _counts(engine) == before


def test_an_empty_slot_is_refilled(engine, world, settings):
    _plant(engine, world, plant_slot_without_live_assignment)
    task_id = world["tasks"][0]
    assert sweep(engine=engine, settings=settings) == Repairs(refilled=1)
    with Session(engine) as s:
        (offer,) = s.exec(
            select(Assignment).where(
                Assignment.task_id == task_id, Assignment.slot == 1, Assignment.status == "offered"
            )
        ).all()
        assert offer.source == "refill"
        assert check(session=s) == []
    (audit,) = _audits(engine, "repair.refilled")
    assert audit.subject == f"task:{task_id}" and audit.detail == {
        "slot": 1,
        "assignment_id": offer.id,
    }
    before = _counts(engine)
    assert not sweep(engine=engine, settings=settings)
    assert _counts(engine) == before


def test_an_empty_slot_nobody_can_fill_is_flagged(engine, world, settings):
    _plant(engine, world, plant_slot_without_live_assignment)
    with Session(engine) as s:
        s.execute(text("UPDATE volunteers SET active = false"))
        s.commit()
    assert sweep(engine=engine, settings=settings) == Repairs(flagged=1)
    with Session(engine) as s:
        task = s.get(Task, world["tasks"][0])
        assert task is not None and task.unfillable
        assert check(session=s) == []
    (audit,) = _audits(engine, "repair.flagged_unfillable")
    assert audit.detail == {"slot": 1}
    assert not sweep(engine=engine, settings=settings)


def test_a_text_never_applied_is_published_again_not_applied(engine, world, settings):
    with Session(engine) as s:
        _inbound(s, world, "1", event_id="lost-1")
        s.commit()
        (oid,) = unapplied_replies(s, older_than=utcnow())
    assert sweep(engine=engine, settings=settings) == Repairs(republished=1)
    with Session(engine) as s:
        row = s.get(OutboxEvent, oid)
        assert row is not None and row.published_at is None
        # the sweep applied nothing itself: that is the consumer's, once the relay publishes
        assert not s.exec(select(ProcessedEvent)).all()
    (audit,) = _audits(engine, "repair.republished")
    assert audit.subject == f"outbox:{oid}" and audit.detail["consumers"] == ["dispatch"]
    # waiting for the relay: a second sweep leaves it (and audits nothing)
    assert not sweep(engine=engine, settings=settings)
    assert len(_audits(engine, "repair.republished")) == 1


def test_a_text_published_again_is_applied_by_the_consumer(engine, world, settings, make_runtime):
    """The whole repair: the relay publishes the reset row and dispatch applies it."""
    with Session(engine) as s:
        _inbound(s, world, "1", event_id="lost-2")
        s.commit()
    make_runtime(consumers=("dispatch",))
    assert sweep(engine=engine, settings=settings) == Repairs(republished=1)

    def applied() -> list[ProcessedEvent]:
        with Session(engine) as s:
            return list(
                s.exec(
                    select(ProcessedEvent).where(
                        ProcessedEvent.consumer == "dispatch", ProcessedEvent.event_id == "lost-2"
                    )
                ).all()
            )

    wait_for(applied)
    with Session(engine) as s:
        found = check(session=s)
        pending = s.exec(select(OutboxEvent).where(col(OutboxEvent.published_at).is_(None))).all()
    assert [b for b in found if b.rule in ("reply_never_applied", "outbox_unpublished")] == []
    assert not [p for p in pending if p.event_id == "lost-2"]
