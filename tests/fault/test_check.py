"""`nuanliu check`: a database that went through the real paths is clean; each breach, planted
by hand with SQL, is reported with a readable message; the command's exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from consumers import consumer_tables
from consumers.redrive import scan
from coordinator.common import utcnow
from coordinator.dispatch.models import Assignment, Incident, Task
from coordinator.logistics.models import Item, Place, StockBalance
from coordinator.volunteers.models import Volunteer
from nuanliu.check import Breach, check
from tests.conftest import bearer, wait_for, wait_quiet
from tests.dispatch.helpers import (
    assignments,
    outbound,
    phone_of,
    post_alert,
    reply,
    use_playbook,
    wait_offers,
)

#: a station manager's receipt text (the inventory consumer's, never dispatch's)
RECEIPT = "收 S123 全"


@pytest.mark.integration
def test_a_database_after_the_real_paths_is_clean(client, tokens, engine):
    """Alert → offers → SMS → accept/decline/refill; shipment → receipt → hand-out → ticket."""
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    a, b, _c = wait_offers(engine, 3)
    for offer in (a, b):
        wait_for(
            lambda o=offer: [m for m in outbound(engine, assignment_id=o.id) if m.kind == "offer"]
        )
    reply(client, token, phone_of(engine, a.volunteer_id), "1")
    reply(client, token, phone_of(engine, b.volunteer_id), "2")
    wait_for(lambda: assignments(engine, id=a.id)[0].status == "accepted")
    # the refill of B's slot is offered and texted too
    refill = wait_for(
        lambda: [x for x in assignments(engine, slot=b.slot, status="offered") if x.id != b.id]
    )[0]
    wait_for(lambda: [m for m in outbound(engine, assignment_id=refill.id) if m.kind == "offer"])

    with Session(engine) as s:
        warehouse = s.exec(select(Place).where(Place.kind == "warehouse")).first()
        station = s.exec(
            select(Place).where(Place.kind == "station").order_by(col(Place.id))
        ).first()
        stocked = s.exec(
            select(Item)
            .join(StockBalance, col(StockBalance.item_id) == Item.id)
            .where(StockBalance.place_id == warehouse.id, StockBalance.quantity >= 10)
            .where(Item.category != "ticket")
        ).first()
        ticket = s.exec(select(Item).where(Item.category == "ticket")).first()
    assert warehouse and station and stocked and ticket
    r = client.post(
        "/api/shipments",
        json={
            "from_id": warehouse.id,
            "to_id": station.id,
            "lines": [{"item": stocked.sku, "quantity": 10}],
        },
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    shipment_id = r.json()["id"]
    manager = tokens["manager_a"]
    r = client.post(
        f"/api/shipments/{shipment_id}/receipt",
        json={"lines": [{"item": stocked.sku, "received": 9, "note": "one box crushed"}]},
        headers=bearer(manager),
    )
    assert r.status_code in (200, 201), r.text
    r = client.post(
        f"/api/stations/{station.id}/distributions",
        json={"item": stocked.sku, "quantity": 3},
        headers=bearer(manager),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/stations/{station.id}/distributions",
        json={"item": ticket.sku, "quantity": 1, "destination": "遵义", "cost_fen": 8800},
        headers=bearer(manager),
    )
    assert r.status_code == 201, r.text

    wait_quiet(engine)

    def nothing_owed() -> bool:  # every consumer applied what it was sent (provision plans
        with Session(engine) as s:  # supplies for the alert: an LP, slow under load)
            return not scan(s, consumer_tables()).owed

    wait_for(nothing_owed, timeout=60)
    with Session(engine) as s:
        assert check(session=s, grace=timedelta(0)) == []


# -- planted breaches ------------------------------------------------------------------------
@pytest.fixture
def world(engine: Engine, demo: None) -> dict[str, Any]:
    """One incident with a two-slot task and a same-shift second task, two volunteers, one
    accepted offer texted once, and a published acceptance: clean, until a test breaks it.
    Both tasks are flagged unfillable (the matching found nobody else), so their free slots
    are on record rather than forgotten."""
    now = utcnow()
    with Session(engine) as s:
        v1, v2 = s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(2)).all()
        inc = Incident(kind="ice_storm", level="orange", title="test", districts=["520103"])
        s.add(inc)
        s.flush()
        tasks = []
        for n in range(2):
            t = Task(
                incident_id=inc.id,
                plan_key=f"k{n}",
                kind="de_icing",
                title=f"task {n}",
                lat=26.58,
                lon=106.71,
                slots=2,
                starts_at=now + timedelta(hours=1),
                ends_at=now + timedelta(hours=5),
                unfillable=True,
                unfillable_since=now,
            )
            s.add(t)
            tasks.append(t)
        s.flush()
        a = Assignment(
            task_id=tasks[0].id,
            incident_id=inc.id,
            volunteer_id=v1.id,
            slot=0,
            status="accepted",
            short_code="A1",
            offered_at=now - timedelta(minutes=1),
            responded_at=now,
        )
        s.add(a)
        s.flush()
        from coordinator.sms import service as sms
        from events.outbox import stage
        from events.payloads.assignments import AssignmentAccepted

        sms.queue_outbound(
            session=s,
            phone=v1.phone,
            body="offer",
            kind="offer",
            volunteer_id=v1.id,
            assignment_id=a.id,
        )
        stage(
            s,
            AssignmentAccepted(
                assignment_id=a.id, task_id=a.task_id, incident_id=inc.id, volunteer_id=v1.id
            ),
        )
        s.execute(text("UPDATE outbox SET published_at = created_at"))
        s.commit()
        return {
            "incident": inc.id,
            "tasks": [t.id for t in tasks],
            "volunteers": [v1.id, v2.id],
            "phones": [v1.phone, v2.phone],
            "assignment": a.id,
        }


def _insert_assignment(
    s: Session,
    w: dict[str, Any],
    *,
    task: int = 0,
    volunteer: int = 1,
    slot: int = 1,
    status: str = "accepted",
    source: str = "matching",
    minutes_ago: int = 1,
) -> int:
    row = s.execute(
        text(
            "INSERT INTO assignments (task_id, incident_id, volunteer_id, slot, status, short_code,"
            " source, reason, offered_at, closed_reason)"
            " VALUES (:t, :i, :v, :slot, :st, :code, :src, '', :at, '') RETURNING id"
        ),
        {
            "t": w["tasks"][task],
            "i": w["incident"],
            "v": w["volunteers"][volunteer],
            "slot": slot,
            "st": status,
            "code": f"Z{slot}{volunteer}{task}",
            "src": source,
            "at": utcnow() - timedelta(minutes=minutes_ago),
        },
    ).one()
    return int(row[0])


def _sms(s: Session, w: dict[str, Any], assignment_id: int, volunteer: int = 1) -> None:
    now = utcnow()
    s.execute(
        text(
            "INSERT INTO sms_messages (direction, phone, body, segments, encoding, status,"
            " volunteer_id, assignment_id, kind, created_at, updated_at)"
            " VALUES ('outbound', :p, 'offer', 1, 'GSM-7', 'sent', :v, :a, 'offer', :n, :n)"
        ),
        {
            "p": w["phones"][volunteer],
            "v": w["volunteers"][volunteer],
            "a": assignment_id,
            "n": now,
        },
    )


def _accepted_event(s: Session, assignment_id: int) -> None:
    s.execute(
        text(
            # settled: the planted world's consumers applied it (nothing is owed to them)
            "INSERT INTO outbox (event_id, topic, type, data, schema_version, created_at,"
            " published_at, attempts, settled_at) VALUES (:e, 'assignments',"
            " 'nuanliu.assignment.accepted', :d, 1, :n, :n, 1, :n)"
        ),
        {
            "e": f"planted-{assignment_id}",
            "d": f'{{"assignment_id": {assignment_id}}}',
            "n": utcnow(),
        },
    )


def plant_overfilled(s: Session, w: dict[str, Any]) -> None:
    # the partial unique index forbids two live rows on a slot; a third slot number does not
    s.execute(text("UPDATE tasks SET slots = 1 WHERE id = :t"), {"t": w["tasks"][0]})
    aid = _insert_assignment(s, w, slot=1, volunteer=1)
    _sms(s, w, aid)
    _accepted_event(s, aid)


def plant_slot_held_twice(s: Session, w: dict[str, Any]) -> None:
    s.execute(text("DROP INDEX uq_assignment_open_slot"))
    aid = _insert_assignment(s, w, slot=0, volunteer=1, task=0)
    _sms(s, w, aid)
    _accepted_event(s, aid)


def plant_two_tasks_one_shift(s: Session, w: dict[str, Any]) -> None:
    aid = _insert_assignment(s, w, task=1, volunteer=0, slot=0)
    _sms(s, w, aid, volunteer=0)
    _accepted_event(s, aid)


def plant_offer_without_sms(s: Session, w: dict[str, Any]) -> None:
    _insert_assignment(s, w, status="offered", minutes_ago=30)


def plant_offer_sms_twice(s: Session, w: dict[str, Any]) -> None:
    _sms(s, w, w["assignment"], volunteer=0)


def plant_acceptance_not_counted(s: Session, w: dict[str, Any]) -> None:
    aid = _insert_assignment(s, w, source="dispatcher")
    assert aid


def _balance(s: Session) -> tuple[int, int, int]:
    row = s.execute(
        text(
            "SELECT place_id, item_id, quantity FROM stock_balances WHERE quantity > 0 ORDER BY id"
        )
    ).first()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def plant_stock_mismatch(s: Session, w: dict[str, Any]) -> None:
    place, item, _ = _balance(s)
    s.execute(
        text(
            "UPDATE stock_balances SET quantity = quantity + 7 WHERE place_id = :p AND item_id = :i"
        ),
        {"p": place, "i": item},
    )


def plant_stock_negative(s: Session, w: dict[str, Any]) -> None:
    s.execute(text("ALTER TABLE stock_balances RENAME TO stock_balances_old"))
    s.execute(text("CREATE TABLE stock_balances AS SELECT * FROM stock_balances_old"))
    place, item, qty = _balance(s)
    s.execute(
        text("UPDATE stock_balances SET quantity = -5 WHERE place_id = :p AND item_id = :i"),
        {"p": place, "i": item},
    )
    s.execute(
        text(
            "INSERT INTO stock_movements (place_id, item_id, delta, kind, balance_after, actor,"
            " reason, at) VALUES (:p, :i, :d, 'write_off', -5, 'planted', '', :n)"
        ),
        {"p": place, "i": item, "d": -5 - qty, "n": utcnow()},
    )


def plant_received_twice(s: Session, w: dict[str, Any]) -> None:
    place, item, _ = _balance(s)
    now = utcnow()
    sid = s.execute(
        text(
            "INSERT INTO shipments (from_id, to_id, status, origin, created_by, dispatched_at,"
            " receipt_note) VALUES (:p, :p, 'received', 'manual', 'x', :n, '') RETURNING id"
        ),
        {"p": place, "n": now},
    ).one()[0]
    for _ in range(2):
        s.execute(
            text(
                "INSERT INTO stock_movements (place_id, item_id, delta, kind, balance_after, actor,"
                " reason, shipment_id, at) VALUES (:p, :i, 0, 'receipt', 0, 'x', '', :s, :n)"
            ),
            {"p": place, "i": item, "s": sid, "n": now},
        )


def plant_fund_mismatch(s: Session, w: dict[str, Any]) -> None:
    s.execute(text("UPDATE funds SET spent_fen = spent_fen + 100"))


def plant_outbox_unpublished(s: Session, w: dict[str, Any]) -> None:
    s.execute(
        text(
            "INSERT INTO outbox (event_id, topic, type, data, schema_version, created_at,"
            " attempts) VALUES ('stuck', 'alerts', 'nuanliu.alert.raised', '{}', 1, :t, 3)"
        ),
        {"t": utcnow() - timedelta(minutes=30)},
    )


def plant_event_never_applied(s: Session, w: dict[str, Any]) -> None:
    """Published ten minutes ago, and the dispatch consumer never saw it (the broker died)."""
    s.execute(
        text(
            "INSERT INTO outbox (event_id, topic, type, data, schema_version, created_at,"
            " published_at, attempts) VALUES ('planted-lost', 'incidents',"
            " 'nuanliu.incident.closed', :d, 1, :n, :n, 1)"
        ),
        {"d": '{"incident_id": 1, "reason": "lost"}', "n": utcnow() - timedelta(minutes=10)},
    )


def plant_event_applied_twice(s: Session, w: dict[str, Any]) -> None:
    s.execute(text("ALTER TABLE processed_events RENAME TO processed_events_old"))
    s.execute(text("CREATE TABLE processed_events AS SELECT * FROM processed_events_old"))
    for _ in range(2):
        s.execute(
            text(
                "INSERT INTO processed_events (id, consumer, event_id, event_type, applied_at)"
                " VALUES (NULL, 'dispatch', 'ev-1', 'nuanliu.alert.raised', :n)"
            ),
            {"n": utcnow()},
        )


def plant_incident_without_tasks(s: Session, w: dict[str, Any]) -> None:
    s.execute(
        text(
            "INSERT INTO incidents (kind, level, title, districts, status, opened_at,"
            " close_reason) VALUES ('ice_storm', 'orange', 'lost', '[\"520103\"]', 'open', :t, '')"
        ),
        {"t": utcnow() - timedelta(minutes=30)},
    )


def plant_slot_without_live_assignment(s: Session, w: dict[str, Any]) -> None:
    # task 0's slot 1 is free; unflagged and planned long ago, it is simply forgotten
    s.execute(
        text(
            "UPDATE tasks SET unfillable = false, unfillable_since = NULL, created_at = :t"
            " WHERE id = :id"
        ),
        {"t": utcnow() - timedelta(minutes=30), "id": w["tasks"][0]},
    )


def _inbound(
    s: Session,
    w: dict[str, Any],
    body: str = "1",
    *,
    minutes_ago: int = 30,
    published: bool = True,
    event_id: str = "text-1",
) -> int:
    """An inbound text and its nuanliu.sms.received event, as the intake stores them."""
    at = utcnow() - timedelta(minutes=minutes_ago)
    mid = int(
        s.execute(
            text(
                "INSERT INTO sms_messages (direction, phone, body, segments, encoding, status,"
                " volunteer_id, kind, created_at, updated_at) VALUES ('inbound', :p, :b, 1,"
                " 'GSM-7', 'received', :v, 'reply', :n, :n) RETURNING id"
            ),
            {"p": w["phones"][0], "b": body, "v": w["volunteers"][0], "n": at},
        ).one()[0]
    )
    s.execute(
        text(
            "INSERT INTO outbox (event_id, topic, type, key, data, schema_version, created_at,"
            " published_at, attempts) VALUES (:e, 'sms', 'nuanliu.sms.received', :p, :d, 1, :n,"
            " :pub, 1)"
        ),
        {
            "e": event_id,
            "p": w["phones"][0],
            "d": json.dumps({"message_id": mid, "phone": w["phones"][0], "body": body}),
            "n": at,
            "pub": at if published else None,
        },
    )
    return mid


def _applied(s: Session, consumer: str, event_id: str = "text-1") -> None:
    s.execute(
        text(
            "INSERT INTO processed_events (consumer, event_id, event_type, applied_at)"
            " VALUES (:c, :e, 'nuanliu.sms.received', :n)"
        ),
        {"c": consumer, "e": event_id, "n": utcnow()},
    )


def plant_reply_never_applied(s: Session, w: dict[str, Any]) -> None:
    _inbound(s, w, "1")


def plant_receipt_never_applied(s: Session, w: dict[str, Any]) -> None:
    # a receipt is owed by inventory alone (dispatch skips it without bookkeeping)
    _inbound(s, w, RECEIPT)


def plant_movements_without_balance(s: Session, w: dict[str, Any]) -> None:
    """Movements that sum to zero, written around the ledger: no balance row."""
    row = s.execute(
        text(
            "SELECT p.id, i.id FROM places p, items i WHERE NOT EXISTS (SELECT 1 FROM"
            " stock_balances b WHERE b.place_id = p.id AND b.item_id = i.id) ORDER BY p.id, i.id"
        )
    ).first()
    assert row is not None
    for delta, kind in ((4, "receipt"), (-4, "distribution")):
        s.execute(
            text(
                "INSERT INTO stock_movements (place_id, item_id, delta, kind, balance_after,"
                " actor, reason, at) VALUES (:p, :i, :d, :k, 0, 'planted', '', :n)"
            ),
            {"p": row[0], "i": row[1], "d": delta, "k": kind, "n": utcnow()},
        )


def _record(
    s: Session,
    w: dict[str, Any],
    kind: str,
    *,
    assignment: int | None = None,
    task: int | None = None,
    at: Any = None,
    started: Any = None,
    ended: Any = None,
) -> None:
    """A row of the hours ledger, written around the flows (for the world's volunteer 0)."""
    s.execute(
        text(
            "INSERT INTO service_records (assignment_id, task_id, volunteer_id, kind, at,"
            " started_at, ended_at, source, actor, reason, recorded_at) VALUES (:a, :t, :v, :k,"
            " :at, :s, :e, 'api', 'planted', '', :n)"
        ),
        {
            "a": assignment or w["assignment"],
            "t": task or w["tasks"][0],
            "v": w["volunteers"][0],
            "k": kind,
            "at": at,
            "s": started,
            "e": ended,
            "n": utcnow(),
        },
    )


def _window(s: Session, task_id: int) -> tuple[Any, Any]:
    task = s.get(Task, task_id)
    assert task is not None
    from coordinator.common import aware

    return aware(task.starts_at), aware(task.ends_at)


def plant_hours_beyond_window(s: Session, w: dict[str, Any]) -> None:
    """A correction claiming 45 minutes past the end (30 are allowed)."""
    start, end = _window(s, w["tasks"][0])
    _record(s, w, "correction", started=start, ended=end + timedelta(minutes=45))


def plant_hours_overlap(s: Session, w: dict[str, Any]) -> None:
    """Two back-to-back tasks of one volunteer whose corrected hours overlap by half an hour
    (each within its own window and tolerance)."""
    start, end = _window(s, w["tasks"][0])
    later = Task(
        incident_id=w["incident"],
        plan_key="k-later",
        kind="de_icing",
        title="later",
        lat=26.58,
        lon=106.71,
        slots=1,
        starts_at=end,
        ends_at=end + timedelta(hours=4),
        unfillable=True,
        unfillable_since=utcnow(),
    )
    s.add(later)
    s.flush()
    other = _insert_assignment(s, w, volunteer=0, slot=0, status="cancelled")
    s.execute(
        text("UPDATE assignments SET task_id = :t WHERE id = :a"), {"t": later.id, "a": other}
    )
    _record(s, w, "correction", started=start, ended=end + timedelta(minutes=20))
    _record(
        s,
        w,
        "correction",
        assignment=other,
        task=later.id,
        started=end - timedelta(minutes=10),
        ended=end + timedelta(hours=4),
    )


def plant_check_out_without_check_in(s: Session, w: dict[str, Any]) -> None:
    start, _ = _window(s, w["tasks"][0])
    _record(s, w, "check_out", at=start + timedelta(hours=1))


def plant_check_out_before_check_in(s: Session, w: dict[str, Any]) -> None:
    start, _ = _window(s, w["tasks"][0])
    _record(s, w, "check_in", at=start + timedelta(hours=1))
    _record(s, w, "check_out", at=start + timedelta(minutes=30))


PLANTS: list[tuple[Callable[[Session, dict[str, Any]], None], str, str]] = [
    (plant_overfilled, "slot_overfilled", "accepted/completed assignments for 1 slot(s)"),
    (plant_slot_held_twice, "slot_held_twice", "hold the same slot"),
    (plant_two_tasks_one_shift, "two_tasks_one_shift", "overlapping shifts"),
    (plant_offer_without_sms, "offer_without_sms", "still no offer SMS"),
    (plant_offer_sms_twice, "offer_sms_twice", "2 offer SMS were sent"),
    (plant_acceptance_not_counted, "acceptance_not_counted", "no nuanliu.assignment.accepted"),
    (plant_stock_mismatch, "stock_mismatch", "movements sum to"),
    (plant_stock_negative, "stock_negative", "balance is -5"),
    (plant_movements_without_balance, "stock_mismatch", "sum to 0 but there is no balance row"),
    (plant_received_twice, "shipment_received_twice", "booked in 2 times"),
    (plant_fund_mismatch, "fund_mismatch", "charges sum to"),
    (plant_outbox_unpublished, "outbox_unpublished", "was never published"),
    (plant_event_never_applied, "event_never_applied", "never applied by dispatch"),
    (plant_event_applied_twice, "event_applied_twice", "applied 2 times"),
    (plant_incident_without_tasks, "incident_without_tasks", "alert was never planned"),
    (plant_slot_without_live_assignment, "slot_without_live_assignment", "not flagged"),
    (plant_reply_never_applied, "reply_never_applied", "never applied by dispatch"),
    (plant_receipt_never_applied, "reply_never_applied", "never applied by inventory"),
    (plant_hours_beyond_window, "hours_exceed_window", "(+30 min allowed)"),
    (plant_hours_overlap, "hours_overlap", "overlap"),
    (plant_check_out_without_check_in, "ledger_out_of_order", "checked out, never in"),
    (plant_check_out_before_check_in, "ledger_out_of_order", "before the check-in"),
]


def test_the_planted_world_is_clean(engine, world):
    with Session(engine) as s:
        assert check(session=s) == []


@pytest.mark.parametrize(
    ("plant", "rule", "words"), PLANTS, ids=[p[0].__name__[6:] for p in PLANTS]
)
def test_each_planted_breach_is_reported(engine, world, plant, rule, words):
    with Session(engine) as s:
        plant(s, world)
        s.flush()
        found = check(session=s)
        s.rollback()
    # over-filling a task means a slot number past its slots too (the partial index forbids
    # two live rows on one slot); every other plant breaks exactly one rule
    also = {"slot_out_of_range"} if rule == "slot_overfilled" else set()
    assert {b.rule for b in found} == {rule} | also, found
    breach = next(b for b in found if b.rule == rule)
    assert isinstance(breach, Breach) and words in breach.message
    assert str(breach).startswith(f"[{rule}] ")


def test_the_hours_tolerance_is_the_callers(engine, world):
    with Session(engine) as s:
        plant_hours_beyond_window(s, world)
        s.flush()
        assert [b.rule for b in check(session=s)] == ["hours_exceed_window"]
        assert check(session=s, hours_tolerance=timedelta(hours=1)) == []
        s.rollback()


def test_a_young_offer_and_a_fresh_outbox_row_are_not_breaches(engine, world):
    with Session(engine) as s:
        _insert_assignment(s, world, status="offered", minutes_ago=0)
        s.execute(
            text(
                "INSERT INTO outbox (event_id, topic, type, data, schema_version, created_at,"
                " attempts) VALUES ('fresh', 'alerts', 'nuanliu.alert.raised', '{}', 1, :t, 0)"
            ),
            {"t": utcnow()},
        )
        s.flush()
        assert check(session=s) == []
        rules = {b.rule for b in check(session=s, grace=timedelta(0))}
        s.rollback()
    # the world's own events were published and no consumer ran: owed, once grace is 0
    assert rules == {"offer_without_sms", "outbox_unpublished", "event_never_applied"}


def test_young_incidents_slots_and_texts_are_not_breaches(engine, world):
    """Within the grace the normal path may still be at work: a fresh incident waiting for
    its plan, a slot freed a moment ago (its refill on the way), a text just stored."""
    with Session(engine) as s:
        s.execute(
            text(
                "INSERT INTO incidents (kind, level, title, districts, status, opened_at,"
                " close_reason) VALUES ('ice_storm', 'orange', 'new', '[]', 'open', :t, '')"
            ),
            {"t": utcnow()},
        )
        plant_slot_without_live_assignment(s, world)
        declined = _insert_assignment(s, world, status="declined", minutes_ago=30)
        _sms(s, world, declined)
        s.execute(
            text(
                "INSERT INTO outbox (event_id, topic, type, data, schema_version, created_at,"
                " attempts) VALUES ('freed', 'assignments', 'nuanliu.assignment.declined', :d,"
                " 1, :t, 0)"
            ),
            {"d": json.dumps({"assignment_id": declined}), "t": utcnow()},
        )
        _inbound(s, world, "1", minutes_ago=0)
        s.flush()
        found = check(session=s)
        s.rollback()
    assert found == []


def test_applied_and_dead_lettered_texts_and_flagged_or_closed_work_are_not_breaches(engine, world):
    with Session(engine) as s:
        _inbound(s, world, "1", event_id="text-1")
        _applied(s, "dispatch", "text-1")
        _inbound(s, world, RECEIPT, event_id="text-2")
        _applied(s, "inventory", "text-2")
        _inbound(s, world, "2", event_id="text-3")
        s.execute(
            text(
                'INSERT INTO dead_letters (consumer, topic, partition, "offset", event_id,'
                " event_type, reason, value_preview, created_at) VALUES ('dispatch', 'sms', 0,"
                " 7, 'text-3', 'nuanliu.sms.received', 'bad', '', :n)"
            ),
            {"n": utcnow()},
        )
        # an old closed incident without tasks; an empty slot of a task that is over
        s.execute(
            text(
                "INSERT INTO incidents (kind, level, title, districts, status, opened_at,"
                " close_reason) VALUES ('ice_storm', 'orange', 'old', '[]', 'closed', :t, 'x')"
            ),
            {"t": utcnow() - timedelta(days=1)},
        )
        plant_slot_without_live_assignment(s, world)
        s.execute(
            text("UPDATE tasks SET starts_at = :a, ends_at = :b WHERE id = :id"),
            {
                "a": utcnow() - timedelta(hours=5),
                "b": utcnow() - timedelta(hours=1),
                "id": world["tasks"][0],
            },
        )
        s.flush()
        found = check(session=s)
        s.rollback()
    assert found == []


def test_an_incident_waiting_for_its_alert_event_says_so(engine, world):
    with Session(engine) as s:
        plant_incident_without_tasks(s, world)
        iid = s.execute(text("SELECT max(id) FROM incidents")).one()[0]
        s.execute(
            text(
                "INSERT INTO outbox (event_id, topic, type, key, data, schema_version, created_at,"
                " attempts) VALUES ('waiting', 'alerts', 'nuanliu.alert.raised', :k, :d, 1, :t, 3)"
            ),
            {"k": str(iid), "d": json.dumps({"incident_id": iid}), "t": utcnow()},
        )
        s.flush()
        found = check(session=s)
        s.rollback()
    assert [b.rule for b in found] == ["incident_without_tasks"]
    assert "still waiting in the outbox" in found[0].message


def test_the_command_exits_0_when_clean_and_1_with_the_list(engine, world, settings, monkeypatch):
    from coordinator.config import get_settings
    from nuanliu.cli import app as cli

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output
    with Session(engine) as s:
        s.execute(text("UPDATE funds SET spent_fen = spent_fen + 100"))
        s.commit()
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1, result.output
    assert "fund_mismatch: 1" in result.output and "charges sum to" in result.output
    get_settings.cache_clear()
