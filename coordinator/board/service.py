"""What the board, the station page and the demo phone show, read-only.

Incidents, tasks, assignments and SMS traffic are a projection of the events themselves (the
outbox holds every committed event in order), so the board depends only on the event contract
for them. Stations, stock, shipments, discrepancies, plans and the fund are read through the
logistics domain's service. Nothing here writes.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from coordinator.board.hub import masked_event
from coordinator.common import aware, mask_phone, mask_phones_in, utcnow
from coordinator.dispatch import service as dispatch
from coordinator.geo import service as geo
from coordinator.logistics import service as logistics
from coordinator.logistics.errors import NoOpenFund
from coordinator.logistics.schemas import MovementPublic
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster
from events.outbox import OutboxEvent

#: how many of the newest events a projection reads (a season's worth on a city's board)
PROJECTION_WINDOW = 50_000
FEED_LENGTH = 150
SMS_LENGTH = 300


def _compact(event_id: str, type_: str, subject: str | None, data: str, at: Any) -> dict[str, Any]:
    """The same shape the board consumer pushes (see consumers/board.py)."""
    when = aware(at) or utcnow()
    return {
        "type": type_,
        "id": event_id,
        "time": when.isoformat(),
        "subject": subject,
        "data": json.loads(data),
    }


_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        OutboxEvent.id,
        OutboxEvent.event_id,
        OutboxEvent.type,
        OutboxEvent.subject,
        OutboxEvent.data,
        OutboxEvent.created_at,
    )
)


@dataclass
class Projection:
    """Incidents with their tasks and assignment states, and the SMS log, folded from events."""

    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    sms: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"].removeprefix("nuanliu.")
        data = event["data"]
        at = event["time"]
        if kind == "incident.opened":
            self.incidents[data["incident_id"]] = {
                "id": data["incident_id"],
                "kind": data["kind"],
                "level": data["level"],
                "title": data["title"],
                "districts": data["districts"],
                "opened_at": at,
                "closed_at": None,
                "task_ids": [],
            }
        elif kind == "incident.closed" and data["incident_id"] in self.incidents:
            self.incidents[data["incident_id"]]["closed_at"] = at
        elif kind == "task.planned":
            self.tasks[data["task_id"]] = {
                "id": data["task_id"],
                "incident_id": data["incident_id"],
                "title": data["title"],
                "district_code": data.get("district_code"),
                "slots": data["slots"],
                "skills": data.get("skills", []),
                "planned_at": at,
                "assignments": {},
            }
            incident = self.incidents.get(data["incident_id"])
            if incident is not None and data["task_id"] not in incident["task_ids"]:
                incident["task_ids"].append(data["task_id"])
        elif kind.startswith("assignment."):
            task = self.tasks.get(data["task_id"])
            if task is not None:
                task["assignments"][data["assignment_id"]] = {
                    "id": data["assignment_id"],
                    "volunteer_id": data["volunteer_id"],
                    "state": kind.removeprefix("assignment."),
                    "at": at,
                }
        elif kind in ("sms.sent", "sms.received", "sms.failed"):
            self.sms.append(
                {
                    "id": data["message_id"],
                    "direction": "inbound" if kind == "sms.received" else "outbound",
                    "failed": kind == "sms.failed",
                    "phone": data["phone"],
                    "body": data.get("body") or data.get("error", ""),
                    "volunteer_id": data.get("volunteer_id"),
                    "time": at,
                }
            )


@dataclass
class _Folded:
    """One database's projection, kept up to date incrementally between snapshots."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    last_row: int = 0
    seen: set[str] = field(default_factory=set)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FEED_LENGTH))
    projection: Projection = field(default_factory=lambda: Projection())


_FOLDED: weakref.WeakKeyDictionary[Any, _Folded] = weakref.WeakKeyDictionary()
#: rows re-read behind the newest one seen: a transaction that took a lower id can commit
#: after a higher id is visible, and its event must still be counted (once: ids are deduped)
REREAD = 500


def folded(*, session: Session) -> tuple[Projection, list[dict[str, Any]]]:
    """The projection of every event so far and the newest `FEED_LENGTH` events (oldest
    first), reading only the rows added since the last call for this database."""
    # keyed by the connection pool: the same for an engine and its read-only variant
    key = session.get_bind().pool  # type: ignore[union-attr]
    with _LOCK:
        state = _FOLDED.get(key)
        if state is None:
            state = _FOLDED[key] = _Folded()
    with state.lock:
        if state.last_row == 0:
            query = (
                sa_select(*_COLUMNS).order_by(col(OutboxEvent.id).desc()).limit(PROJECTION_WINDOW)
            )
            rows = list(reversed(session.execute(query).all()))
        else:
            query = (
                sa_select(*_COLUMNS)
                .where(col(OutboxEvent.id) > state.last_row - REREAD)
                .order_by(col(OutboxEvent.id))
            )
            rows = list(session.execute(query).all())
        if rows and rows[-1][0] < state.last_row:  # the table was emptied (a restore)
            with _LOCK:
                _FOLDED[key] = _Folded()
            return folded(session=session)
        for row_id, event_id, type_, subject, data, at in rows:
            state.last_row = max(state.last_row, int(row_id))
            if event_id in state.seen:
                continue
            state.seen.add(event_id)
            event = _compact(event_id, type_, subject, data, at)
            state.projection.apply(event)
            state.events.append(event)
        return state.projection, list(state.events)


_LOCK = threading.Lock()


def masked_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """`snapshot` with every phone number masked, for a board watched by a dispatcher (a wall
    screen shows it to whoever passes); admins see the numbers."""
    return {
        **snapshot,
        "feed": [masked_event(e) for e in snapshot["feed"]],
        "sms": [{**m, "phone": mask_phone(m["phone"])} for m in snapshot["sms"]],
    }


def project(events: list[dict[str, Any]]) -> Projection:
    projection = Projection()
    for event in events:
        projection.apply(event)
    return projection


def task_counts(task: dict[str, Any]) -> dict[str, int]:
    """needed / offered (outstanding) / accepted / done, and what the slots lack."""
    states = [a["state"] for a in task["assignments"].values()]
    accepted = states.count("accepted")
    done = states.count("completed")
    return {
        "needed": task["slots"],
        "offered": states.count("offered"),
        "accepted": accepted,
        "done": done,
        "declined": states.count("declined"),
        "expired": states.count("expired"),
        "unfilled": max(0, task["slots"] - accepted - done),
    }


def _since(iso: str, now: datetime) -> int:
    return max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))


def _volunteer_names(session: Session, ids: set[int]) -> dict[int, str]:
    return roster.names_by_id(session=session, volunteer_ids=ids) if ids else {}


def incidents_view(
    *, session: Session, projection: Projection, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Open incidents, newest first, each with its tasks, counts and assignments."""
    now = now or datetime.now(UTC)
    wanted: set[int] = set()
    for task in projection.tasks.values():
        wanted |= {a["volunteer_id"] for a in task["assignments"].values()}
    names = _volunteer_names(session, wanted)
    out = []
    for incident in sorted(projection.incidents.values(), key=lambda i: -i["id"]):
        if incident["closed_at"] is not None:
            continue
        details = _task_details(session, incident["id"])
        tasks = []
        for task_id in incident["task_ids"]:
            task = projection.tasks[task_id]
            counts = task_counts(task)
            tasks.append(
                {
                    **{k: v for k, v in task.items() if k != "assignments"},
                    **details.get(task_id, {}),
                    "counts": counts,
                    "waiting_s": _since(task["planned_at"], now) if counts["unfilled"] else 0,
                    "assignments": [
                        {**a, "volunteer_name": names.get(a["volunteer_id"], "")}
                        for a in sorted(task["assignments"].values(), key=lambda a: a["id"])
                    ],
                }
            )
        out.append({**incident, "tasks": tasks})
    return out


def _task_details(session: Session, incident_id: int) -> dict[int, dict[str, Any]]:
    """Where each task is and its English title, from the dispatch domain (events carry only
    the district)."""
    return {
        task.id: {
            "lat": task.lat,
            "lon": task.lon,
            "place": task.place,
            "place_en": task.place_en,
            "title_en": task.title_en,
        }
        for task in dispatch.tasks_of(session=session, incident_id=incident_id)
        if task.id is not None
    }


def map_view(*, session: Session) -> dict[str, Any]:
    """District centres and every station and warehouse, for the SVG map."""
    districts = [
        {
            "code": d.code,
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "lat": d.lat,
            "lon": d.lon,
            "radius_km": d.radius_km,
        }
        for d in geo.list_districts(session=session)
    ]
    places = logistics.list_places(session=session, kind="station") + logistics.list_places(
        session=session, kind="warehouse"
    )
    return {"districts": districts, "places": [p.model_dump(mode="json") for p in places]}


def stations_view(*, session: Session) -> list[dict[str, Any]]:
    """Every station's stock against its targets, with a short history for the chart."""
    out = []
    for place in logistics.list_places(session=session, kind="station"):
        stock = logistics.station_stock(session=session, station_id=place.id)
        history = logistics.stock_history(session=session, place_id=place.id, limit=400)
        out.append(
            {
                **place.model_dump(mode="json"),
                "items": [line.model_dump(mode="json") for line in stock.items],
                "history": _totals_over_time(history),
            }
        )
    return out


def _totals_over_time(movements: list[MovementPublic]) -> list[list[Any]]:
    """[time, total units] after each movement, oldest first (the chart's one series)."""
    per_item: dict[int, int] = {}
    points: list[list[Any]] = []
    for m in reversed(movements):  # the service answers newest first
        per_item[m.item_id] = m.balance_after
        points.append([m.model_dump(mode="json")["at"], sum(per_item.values())])
    return points


def logistics_view(*, session: Session) -> dict[str, Any]:
    """Shipments on the road, open discrepancies, plans waiting for approval, the fund."""
    try:
        summary = logistics.fund_summary(session=session)
    except NoOpenFund:
        fund = None
    else:
        fund = summary.model_dump(
            mode="json", include={"name", "year", "budget_fen", "spent_fen", "remaining_fen"}
        )
    in_transit = logistics.list_shipments(session=session, status="in_transit", limit=50)
    found = logistics.list_discrepancies(session=session, open_only=True)[:50]
    plans = logistics.list_plans(session=session, limit=20)
    return {
        "in_transit": [s.model_dump(mode="json") for s in in_transit],
        "discrepancies": [d.model_dump(mode="json") for d in found],
        "plans": [p.model_dump(mode="json") for p in plans if p.status == "proposed"],
        "fund": fund,
    }


def signups_view(*, session: Session, limit: int = 50) -> dict[str, Any]:
    """Sign-ups waiting for approval (oldest first), phones masked: the approval queue."""
    rows, total = roster.pending(session=session, limit=limit)
    names = {d.code: d.name_zh for d in geo.list_districts(session=session)}
    return {
        "count": total,
        "items": [
            {
                "id": v.id,
                "name": v.name,
                "phone": mask_phone(v.phone),
                "district": names.get(v.district_code or "", v.district_code),
                "skills": v.skills,
                "created_at": (aware(v.created_at) or v.created_at).isoformat(),
            }
            for v in rows
        ],
    }


def snapshot(*, session: Session, last_id: str | None = None) -> dict[str, Any]:
    """Everything the board shows, as of now. `last_id` is the hub's newest event id, so
    the browser knows which pushed events the snapshot already includes."""
    projection, events = folded(session=session)
    return {
        "as_of": datetime.now(UTC).isoformat(),
        "last_id": last_id,
        "incidents": incidents_view(session=session, projection=projection),
        "feed": list(reversed(events)),
        "sms": list(reversed(projection.sms[-SMS_LENGTH:])),
        "map": map_view(session=session),
        # every item by SKU, so the page names items instead of showing their codes
        "items": {
            i.sku: {
                "name_zh": i.name_zh,
                "name_en": i.name_en,
                "unit": i.unit,
                # a plan's purchases are shown with their cost before it is approved
                "unit_cost_fen": i.unit_cost_fen,
            }
            for i in logistics.list_items(session=session)
        },
        "stations": stations_view(session=session),
        "signups": signups_view(session=session),
        **logistics_view(session=session),
    }


def station_volunteers(*, session: Session, station_code: str) -> list[dict[str, Any]]:
    """The volunteers of the station's shifts from twelve hours ago to a day ahead, with
    whether they have checked in and out (the manager checks in those without a phone)."""
    now = utcnow()
    shifts = dispatch.station_shifts(
        session=session,
        station_code=station_code,
        start=now - timedelta(hours=12),
        end=now + timedelta(hours=24),
    )
    names = roster.names_by_id(session=session, volunteer_ids={a.volunteer_id for a, *_ in shifts})
    return [
        {
            "assignment_id": a.id,
            "name": names.get(a.volunteer_id, ""),
            "task": task.title,
            "task_en": task.title_en,
            "starts_at": (aware(task.starts_at) or task.starts_at).isoformat(),
            "ends_at": (aware(task.ends_at) or task.ends_at).isoformat(),
            "status": a.status,
            "checked_in_at": (aware(arrived.at) or arrived.at).isoformat()
            if arrived and arrived.at
            else None,
            "checked_out_at": (aware(left.at) or left.at).isoformat() if left and left.at else None,
        }
        for a, task, arrived, left in shifts
    ]


def station_page(*, session: Session, station_id: int) -> dict[str, Any]:
    """One station's page: stock, shipments to confirm, what is expected next, hand-outs,
    the volunteers on its shifts."""
    stock = logistics.station_stock(session=session, station_id=station_id)
    shipments = logistics.list_shipments(session=session, station_id=station_id, limit=30)
    handed_out = logistics.list_distributions(session=session, station_id=station_id, limit=10)
    return {
        "station": stock.place.model_dump(mode="json"),
        "items": [line.model_dump(mode="json") for line in stock.items],
        "incoming": [s.model_dump(mode="json") for s in shipments if s.status == "in_transit"],
        "received": [s.model_dump(mode="json") for s in shipments if s.status != "in_transit"][:10],
        "distributions": [d.model_dump(mode="json") for d in handed_out],
        "volunteers": station_volunteers(session=session, station_code=stock.place.code),
    }


#: the demo phone's wall: the phones most recently texted, their newest texts
PHONE_WALL = 200
PHONE_TEXTS = 20
#: how far back a "what changed since" look starts before its cursor: texts are stamped
#: before their transaction commits, so a later look must see stamps a little older
PHONE_OVERLAP = timedelta(seconds=10)


def phone_inboxes(
    *, session: Session, since: datetime | None = None, query: str = "", masked: bool = True
) -> dict[str, Any]:
    """The demo phone's wall: the `PHONE_WALL` phones texted most recently (or those whose
    volunteer's name or number matches `query`), each with its newest texts, oldest first.
    With `since` (the `cursor` of an earlier answer) only the phones changed since then, so
    a wall of the whole roster costs one small read a tick. `total` (first look only) says
    how many phones have texts in all. `masked` shows each number as `label` masked (the
    reply box still needs the number itself: the demo phone exists only with the console
    gateway, where no text reaches a real phone)."""
    phones: set[str] | None = None
    digits = "".join(ch for ch in query if ch.isdigit())
    if query.strip():
        named, _ = roster.list_volunteers(session=session, q=query, limit=PHONE_WALL)
        phones = {v.phone for v in named}
    found, total = sms.inboxes(
        session=session,
        changed_since=since - PHONE_OVERLAP if since is not None else None,
        phones=phones,
        phone_part=digits if len(digits) >= 4 else None,
        limit=PHONE_WALL,
        per_phone=PHONE_TEXTS,
    )
    volunteers = roster.by_phones(session=session, phones=[i.phone for i in found])
    stamps = [t for t in (aware(i.changed_at) for i in found) if t is not None]
    cursor = max([*stamps, since] if since is not None else stamps, default=None)
    return {
        "phones": [
            {
                "phone": inbox.phone,
                "label": mask_phone(inbox.phone) if masked else inbox.phone,
                "name": volunteers[inbox.phone].name if inbox.phone in volunteers else "",
                "messages": [
                    {
                        "id": m.id,
                        "direction": m.direction,
                        "body": mask_phones_in(m.body) if masked else m.body,
                        "time": aware(m.sent_at or m.created_at),
                    }
                    for m in inbox.messages
                ],
            }
            for inbox in found
        ],
        "total": total,
        "cursor": cursor,
    }
