"""The board's projection of events: counts per task, and events it cannot place are ignored
rather than breaking the board."""

from __future__ import annotations

from typing import Any

from coordinator.board.service import project, task_counts


def ev(event_type: str, t: str = "2026-01-05T08:00:00+00:00", /, **data: Any) -> dict[str, Any]:
    return {
        "type": f"nuanliu.{event_type}",
        "id": f"{event_type}-{data}",
        "time": t,
        "subject": None,
        "data": data,
    }


def test_counts_follow_each_assignment_to_its_latest_state() -> None:
    a = {"task_id": 10, "incident_id": 1}
    events = [
        ev(
            "incident.opened",
            incident_id=1,
            kind="ice_storm",
            level="red",
            title="t",
            districts=["520103"],
        ),
        ev("task.planned", task_id=10, incident_id=1, title="de-ice", slots=3),
        *[ev("assignment.offered", assignment_id=i, volunteer_id=i, **a) for i in (1, 2, 3, 4)],
        ev("assignment.accepted", assignment_id=1, volunteer_id=1, **a),
        ev("assignment.declined", assignment_id=2, volunteer_id=2, **a),
        ev("assignment.accepted", assignment_id=3, volunteer_id=3, **a),
        ev("assignment.completed", assignment_id=3, volunteer_id=3, **a),
        ev("assignment.expired", assignment_id=4, volunteer_id=4, **a),
    ]
    projection = project(events)
    counts = task_counts(projection.tasks[10])
    assert counts == {
        "needed": 3,
        "offered": 0,
        "accepted": 1,
        "done": 1,
        "declined": 1,
        "expired": 1,
        "unfilled": 1,
    }
    assert projection.incidents[1]["task_ids"] == [10]


def test_events_for_unknown_tasks_and_incidents_are_ignored() -> None:
    projection = project(
        [
            ev("assignment.accepted", assignment_id=1, task_id=99, incident_id=9, volunteer_id=1),
            ev("incident.closed", incident_id=42, reason="x"),
            ev("stock.changed", place_id=1, sku="X", delta=1, balance=1, kind="k", movement_id=1),
            ev("sms.failed", message_id=5, phone="+8613800000000", error="gateway down"),
        ]
    )
    assert projection.tasks == {} and projection.incidents == {}
    assert projection.sms[0]["failed"] and projection.sms[0]["body"] == "gateway down"


def test_a_closed_incident_is_marked() -> None:
    projection = project(
        [
            ev(
                "incident.opened", incident_id=1, kind="snow", level="blue", title="t", districts=[]
            ),
            ev("incident.closed", "2026-01-05T09:00:00+00:00", incident_id=1, reason="clear"),
        ]
    )
    assert projection.incidents[1]["closed_at"] == "2026-01-05T09:00:00+00:00"


def test_folded_reads_only_new_rows_and_counts_each_event_once(engine: Any) -> None:
    from sqlmodel import Session

    from coordinator.board.service import folded
    from events.outbox import stage
    from events.payloads.sms import SmsReceived

    def receive(n: int) -> None:
        with Session(engine) as s:
            stage(s, SmsReceived(message_id=n, phone="+8613800000000", body=f"m{n}"))
            s.commit()

    receive(1)
    with Session(engine) as s:
        projection, events = folded(session=s)
        assert [m["body"] for m in projection.sms] == ["m1"]
    receive(2)
    receive(3)
    with Session(engine) as s:
        projection, events = folded(session=s)
        again, _ = folded(session=s)  # re-reading the trailing rows adds nothing twice
    assert [m["body"] for m in again.sms] == ["m1", "m2", "m3"]
    assert [e["data"]["body"] for e in events] == ["m1", "m2", "m3"]
