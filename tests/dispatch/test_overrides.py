"""Dispatcher overrides over HTTP, bad bodies, and the last slot under concurrent accepts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.accounts.service import Actor
from coordinator.common import utcnow
from coordinator.dispatch import service as dispatch_service
from coordinator.dispatch.errors import DispatchError
from coordinator.dispatch.flows import overrides, responses
from coordinator.dispatch.models import Assignment
from coordinator.volunteers.models import Volunteer
from events.outbox import OutboxEvent
from tests.conftest import bearer, wait_for
from tests.dispatch.helpers import (
    add_task,
    assignments,
    outbound,
    post_alert,
    use_playbook,
    wait_offers,
)

DISPATCHER = Actor(name="test-dispatcher", role="dispatcher")


def _free_volunteer(engine, exclude: set[int]) -> int:
    with Session(engine) as s:
        return next(
            v.id
            for v in s.exec(select(Volunteer).order_by(col(Volunteer.id))).all()
            if v.id not in exclude and v.id is not None
        )


@pytest.mark.integration
def test_cancel_and_assign_by_a_dispatcher(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    a, b, _c = wait_offers(engine, 3)

    r = client.post(
        f"/api/assignments/{a.id}/cancel", json={"reason": "road closed"}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    wait_for(
        lambda: [m for m in outbound(engine, volunteer_id=a.volunteer_id) if m.kind == "cancelled"]
    )
    wait_for(lambda: [x for x in assignments(engine, slot=a.slot, status="offered")])
    # cancelling it again is a conflict, a missing one is 404
    assert client.post(f"/api/assignments/{a.id}/cancel", headers=bearer(token)).status_code == 409
    assert client.post("/api/assignments/999999/cancel", headers=bearer(token)).status_code == 404

    offered = {x.volunteer_id for x in assignments(engine)}
    named = _free_volunteer(engine, offered)
    r = client.post(
        f"/api/tasks/{b.task_id}/assign", json={"volunteer_id": named}, headers=bearer(token)
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "accepted" and r.json()["source"] == "dispatcher"
    wait_for(lambda: [m for m in outbound(engine, volunteer_id=named) if m.kind == "assigned"])
    # the task was full of offers: the newest-slot offer made room and its volunteer was told
    with Session(engine) as s:
        holding = dispatch_service.holding(s, b.task_id)
    assert len(holding) == 3 and named in {h.volunteer_id for h in holding}

    # the same person twice, unknown people and tasks, bad bodies
    again = client.post(
        f"/api/tasks/{b.task_id}/assign", json={"volunteer_id": named}, headers=bearer(token)
    )
    assert again.status_code == 409
    assert (
        client.post(
            f"/api/tasks/{b.task_id}/assign", json={"volunteer_id": 10**8}, headers=bearer(token)
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/tasks/999999/assign", json={"volunteer_id": named}, headers=bearer(token)
        ).status_code
        == 404
    )
    for bad in ({}, {"volunteer_id": "x"}, {"volunteer_id": -1}, [1], None):
        r = client.post(f"/api/tasks/{b.task_id}/assign", json=bad, headers=bearer(token))
        assert r.status_code == 422, bad
    r = client.post(
        f"/api/tasks/{b.task_id}/assign",
        content=b"{not json",
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert r.status_code == 422
    # station managers may not override
    assert (
        client.post(
            f"/api/assignments/{b.id}/cancel", headers=bearer(tokens["manager_a"])
        ).status_code
        == 403
    )
    # closing the incident stands every volunteer down by SMS
    incident_id = b.incident_id
    r = client.post(f"/api/incidents/{incident_id}/close", headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert (
        client.post(f"/api/incidents/{incident_id}/close", headers=bearer(token)).status_code == 409
    )
    wait_for(lambda: not [x for x in assignments(engine) if x.status in ("offered", "accepted")])
    wait_for(lambda: [m for m in outbound(engine, volunteer_id=named) if m.kind == "cancelled"])
    with Session(engine) as s:
        actions = set(s.exec(select(AuditLog.action)).all())
    assert {"assignment.cancelled", "assignment.assigned", "incident.closed"} <= actions
    assert (
        client.post(
            f"/api/tasks/{b.task_id}/assign", json={"volunteer_id": named}, headers=bearer(token)
        ).status_code
        == 409
    )  # closed incidents take no one


@pytest.mark.integration
def test_playbooks_can_be_read_and_edited_but_not_broken(client, tokens):
    token = tokens["dispatcher"]
    listed = client.get("/api/playbooks", headers=bearer(token)).json()
    assert {p["kind"] for p in listed} >= {"ice_storm", "travel_rush", "cold_wave"}
    bad = {"tasks": [{"key": "x", "kind": "x", "title_zh": "x", "per": "moon", "slots": 1}]}
    assert (
        client.put("/api/playbooks/ice_storm", json=bad, headers=bearer(token)).status_code == 422
    )
    good = {"tasks": [{"key": "x", "kind": "x", "title_zh": "x", "per": "district", "slots": 1}]}
    assert client.put("/api/playbooks/volcano", json=good, headers=bearer(token)).status_code == 404
    r = client.put("/api/playbooks/ice_storm?level=red", json=good, headers=bearer(token))
    assert r.status_code == 200 and r.json()["level"] == "red"
    assert (
        client.put(
            "/api/playbooks/ice_storm?level=pink", json=good, headers=bearer(token)
        ).status_code
        == 422
    )
    assert (
        client.put(
            "/api/playbooks/ice_storm", json=good, headers=bearer(tokens["manager_a"])
        ).status_code
        == 403
    )


def _last_slot(engine) -> tuple[int, int, list[int]]:
    """A task of two slots: slot 0 accepted, slot 1 offered. Returns task, offer, others."""
    now = utcnow()
    with Session(engine) as s:
        vols = [v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(8))]
        task = add_task(s, now=now, slots=2)
        s.add(
            Assignment(
                task_id=task.id,
                incident_id=task.incident_id,
                volunteer_id=vols[0],
                slot=0,
                status="accepted",
                short_code="A2A",
            )
        )
        offer = Assignment(
            task_id=task.id,
            incident_id=task.incident_id,
            volunteer_id=vols[1],
            slot=1,
            status="offered",
            short_code="C3C",
            expires_at=now + timedelta(hours=1),
        )
        s.add(offer)
        s.commit()
        return task.id, offer.id, vols[2:]


def _race(engine, jobs) -> list[BaseException]:
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            try:
                job(s)
                s.commit()
            except DispatchError:
                s.rollback()
            except BaseException as exc:  # anything else is a bug (e.g. a unique violation)
                s.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_last_slot_fills_exactly_once_under_concurrent_accepts(engine, demo, on_postgres):
    task_id, offer_id, others = _last_slot(engine)
    jobs = [lambda s: responses.accept(session=s, assignment_id=offer_id) for _ in range(6)]
    jobs += [
        lambda s, v=v: overrides.assign_volunteer(
            session=s, task_id=task_id, volunteer_id=v, actor=DISPATCHER
        )
        for v in others[:4]
    ]
    assert _race(engine, jobs) == []
    with Session(engine) as s:
        held = dispatch_service.holding(s, task_id)
        assert sorted(a.slot for a in held) == [0, 1]
        assert all(a.status == "accepted" for a in held)
        accepted_events = s.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "nuanliu.assignment.accepted")
        ).one()
        assert accepted_events == 1  # one fill of the last slot, by whoever won


def test_same_offer_accepted_concurrently_is_accepted_once(engine, demo, on_postgres):
    _task_id, offer_id, _ = _last_slot(engine)
    jobs = [lambda s: responses.accept(session=s, assignment_id=offer_id) for _ in range(8)]
    assert _race(engine, jobs) == []
    with Session(engine) as s:
        assert s.get(Assignment, offer_id).status == "accepted"
        n = s.exec(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "assignment.accepted")
        ).one()
        assert n == 1
