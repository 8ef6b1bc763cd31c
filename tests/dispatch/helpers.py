"""Helpers for dispatch tests: a small playbook, reading offers and replying like a phone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.dispatch.models import Assignment, Incident, Task
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer, wait_for

#: three de-icers at one place: big enough to show every path, small enough for seconds
SMALL_PLAYBOOK: dict[str, Any] = {
    "scale": {"blue": 1, "yellow": 1, "orange": 1, "red": 2},
    "tasks": [
        {
            "key": "deice",
            "kind": "de_icing",
            "title_zh": "路面除冰",
            "title_en": "Road de-icing",
            "per": "incident",
            "slots": 3,
            "skills": ["de_icing"],
            "hours": 4,
        }
    ],
}


def use_playbook(client: Any, token: str, kind: str = "ice_storm", data: Any = None) -> None:
    r = client.put(f"/api/playbooks/{kind}", json=data or SMALL_PLAYBOOK, headers=bearer(token))
    assert r.status_code == 200, r.text


def post_alert(client: Any, token: str, **overrides: Any) -> dict[str, int]:
    body = {
        "kind": "ice_storm",
        "level": "orange",
        "districts": ["云岩区"],
        "headline": "贵阳市气象台发布道路结冰橙色预警",
        **overrides,
    }
    r = client.post("/api/alerts", json=body, headers=bearer(token))
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def assignments(engine: Any, **where: Any) -> list[Assignment]:
    with Session(engine) as s:
        q = select(Assignment).order_by(col(Assignment.id))
        for key, value in where.items():
            q = q.where(getattr(Assignment, key) == value)
        return list(s.exec(q).all())


def outbound(engine: Any, **where: Any) -> list[SmsMessage]:
    with Session(engine) as s:
        q = (
            select(SmsMessage)
            .where(SmsMessage.direction == "outbound")
            .order_by(col(SmsMessage.id))
        )
        for key, value in where.items():
            q = q.where(getattr(SmsMessage, key) == value)
        return list(s.exec(q).all())


def phone_of(engine: Any, volunteer_id: int) -> str:
    with Session(engine) as s:
        v = s.get(Volunteer, volunteer_id)
        assert v is not None
        return v.phone


def reply(client: Any, token: str, phone: str, body: str) -> None:
    r = client.post("/api/sms/inbound", json={"from": phone, "body": body}, headers=bearer(token))
    assert r.status_code == 201, r.text


def wait_offers(engine: Any, n: int, timeout: float = 30) -> list[Assignment]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (rows := assignments(engine, status="offered")) and len(rows) >= n and rows,
        timeout=timeout,
    )


def add_task(
    session: Session,
    *,
    slots: int = 1,
    starts_in: timedelta = timedelta(hours=1),
    lasts: timedelta = timedelta(hours=2),
    now: datetime | None = None,
    **fields: Any,
) -> Task:
    """An open orange ice-storm incident over Yunyan with one task of `slots` slots, flushed so
    both have ids; `fields` override the task's defaults (kind, title, place, skills…)."""
    now = now or utcnow()
    incident = Incident(kind="ice_storm", level="orange", title="t", districts=["520103"])
    session.add(incident)
    session.flush()
    values: dict[str, Any] = {
        "plan_key": "k",
        "kind": "de_icing",
        "title": "除冰",
        "lat": 26.6,
        "lon": 106.7,
    }
    values.update(fields)
    task = Task(
        incident_id=incident.id,
        slots=slots,
        starts_at=now + starts_in,
        ends_at=now + starts_in + lasts,
        **values,
    )
    session.add(task)
    session.flush()
    return task


def add_assignment(
    session: Session,
    task: Task,
    volunteer_id: int | None,
    *,
    slot: int = 0,
    code: str = "A2A",
    status: str = "offered",
    expires_at: datetime | None = None,
) -> Assignment:
    """`volunteer_id` in `slot` of `task` (an open offer by default), flushed so it has an id."""
    a = Assignment(
        task_id=task.id,
        incident_id=task.incident_id,
        volunteer_id=volunteer_id,
        slot=slot,
        status=status,
        short_code=code,
        expires_at=expires_at,
    )
    session.add(a)
    session.flush()
    return a


def handle_text(session: Session, phone: str, body: str, **kwargs: Any) -> str:
    """`replies.handle_reply` on a text as it would arrive: read by the parser first, with
    the default automatic-answer limit unless one is given."""
    from coordinator.dispatch.flows.replies import handle_reply
    from coordinator.sms.replies import parse_reply

    kwargs.setdefault("auto_answer_limit", 3)
    return handle_reply(session=session, phone=phone, reply=parse_reply(body), **kwargs)
