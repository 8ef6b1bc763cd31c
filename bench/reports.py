"""`nuanliu bench reports`: the campaign report of a season of 40 days × 12 stations × 20
items (three hand-outs a day of every item at every station, a delivery each morning) and the
after-action report of an incident of 5,000 slots (250 tasks, offers, declines, silences, the
texts and the audit log's acceptances), each as figures, PDF and XLSX: time and peak Python
memory (tracemalloc) printed, beside the one aggregate query the figures at least cost
(a GROUP BY over the same rows, the board's summary of the incident) measured in the same run.
Printed, never asserted.

The rows are inserted in bulk (the report's cost is reading them, not how they were written),
on a scratch SQLite file, or on BENCH_DATABASE_URL's PostgreSQL server when it is set.
"""

from __future__ import annotations

import os
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from bench.scratch import drop_scratch, scratch_database

console = Console()
YEAR = 2026


def _measure(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak MiB of Python allocations). Timed on a plain run, the memory on
    a second one under tracemalloc, which slows reportlab's many small allocations tenfold."""
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, elapsed, peak / 2**20


def _season(engine: Any, days: int, stations: int, items: int) -> int:
    """A season's rows; the number of hand-outs."""
    from coordinator.alerts.calendar import travel_rush_window
    from coordinator.logistics.models import (
        Distribution,
        Fund,
        FundCharge,
        Item,
        Place,
        StockBalance,
        StockMovement,
    )

    rng = random.Random(16)
    first, _ = travel_rush_window(YEAR, days_before=15, length_days=40)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    with Session(engine) as s:
        places = [
            Place(
                kind="station", code=f"ST-B{k}", name_zh=f"服务站{k}", name_en=f"S{k}", lat=0, lon=0
            )
            for k in range(stations)
        ]
        catalogue = [
            Item(
                sku=f"FOOD-B{k}" if k < items - 4 else f"MED-B{k}",
                name_zh=f"物资{k}",
                name_en=f"item {k}",
                short_name=f"B{k}",
                unit="piece" if k < items - 4 else "box",
                category="food" if k < items - 4 else "medicine",
                unit_cost_fen=300,
            )
            for k in range(items - 1)
        ]
        ticket = Item(
            sku="TICKET-B",
            name_zh="返乡车票",
            name_en="ticket",
            short_name="票",
            unit="ticket",
            category="ticket",
            unit_cost_fen=15_000,
        )
        fund = Fund(name="bench fund", year=YEAR, budget_fen=10**9)
        s.add_all([*places, *catalogue, ticket, fund])
        s.flush()
        distributions, movements, charges = [], [], []
        balances: dict[tuple[int, int], int] = {}
        next_id = 1
        for day in range(days):
            morning = start + timedelta(days=day, hours=7)
            for p in places:
                assert p.id is not None
                for item in catalogue:
                    assert item.id is not None
                    key = (p.id, item.id)
                    delivered = rng.randint(30, 60)
                    balances[key] = balances.get(key, 0) + delivered
                    movements.append(
                        {
                            "place_id": p.id,
                            "item_id": item.id,
                            "delta": delivered,
                            "kind": "receipt",
                            "balance_after": balances[key],
                            "actor": "bench",
                            "reason": "",
                            "at": morning,
                        }
                    )
                    for hand_out in range(3):
                        n = min(balances[key], rng.randint(5, 25))
                        if n == 0:
                            continue
                        at = morning + timedelta(hours=2 + 4 * hand_out)
                        balances[key] -= n
                        distributions.append(
                            {
                                "id": next_id,
                                "place_id": p.id,
                                "item_id": item.id,
                                "quantity": n,
                                "note": "",
                                "actor": "bench",
                                "at": at,
                            }
                        )
                        movements.append(
                            {
                                "place_id": p.id,
                                "item_id": item.id,
                                "delta": -n,
                                "kind": "distribution",
                                "balance_after": balances[key],
                                "actor": "bench",
                                "reason": "",
                                "distribution_id": next_id,
                                "at": at,
                            }
                        )
                        next_id += 1
                if rng.random() < 0.3:
                    distributions.append(
                        {
                            "id": next_id,
                            "place_id": p.id,
                            "item_id": ticket.id,
                            "quantity": 1,
                            "note": "",
                            "actor": "bench",
                            "destination": rng.choice(["毕节", "遵义", "铜仁"]),
                            "cost_fen": 15_000,
                            "at": morning,
                        }
                    )
                    charges.append(
                        {
                            "fund_id": fund.id,
                            "amount_fen": 15_000,
                            "kind": "ticket",
                            "reason": "",
                            "actor": "bench",
                            "distribution_id": next_id,
                            "at": morning,
                        }
                    )
                    next_id += 1
        s.execute(insert(Distribution), distributions)
        s.execute(insert(StockMovement), movements)
        s.execute(insert(FundCharge), charges)
        s.execute(
            insert(StockBalance),
            [
                {"place_id": p, "item_id": i, "quantity": q, "updated_at": start}
                for (p, i), q in balances.items()
            ],
        )
        s.commit()
    return len(distributions)


def _incident(engine: Any, slots: int) -> int:
    """An ice storm of `slots` slots over 250 tasks, every slot taken after a decline or a
    silence now and then; the incident's id."""
    from coordinator.accounts.models import AuditLog
    from coordinator.dispatch.models import Assignment, Incident, Task
    from coordinator.sms.models import SmsMessage
    from coordinator.volunteers.models import Volunteer

    rng = random.Random(5)
    now = datetime.now(UTC)
    tasks_n = 250
    per_task = slots // tasks_n
    with Session(engine) as s:
        s.execute(
            insert(Volunteer),
            [
                {"name": f"v{k}", "phone": f"+86139{k:08d}", "skills": [], "lat": 0, "lon": 0}
                for k in range(slots * 2)
            ],
        )
        people = list(s.exec(select(Volunteer.id)).all())
        incident = Incident(kind="ice_storm", level="orange", title="bench", districts=[])
        s.add(incident)
        s.flush()
        tasks = [
            Task(
                incident_id=incident.id,
                plan_key=f"b{k}",
                kind="de_icing",
                title="除冰",
                district_code=f"5201{k % 12:02d}",
                lat=0,
                lon=0,
                slots=per_task,
                starts_at=now - timedelta(hours=6),
                ends_at=now - timedelta(hours=2),
                created_at=now - timedelta(hours=8),
            )
            for k in range(tasks_n)
        ]
        s.add_all(tasks)
        s.flush()
        rows, who = [], iter(people)
        for task in tasks:
            for slot in range(per_task):
                for status in (
                    *(["declined"] if rng.random() < 0.2 else []),
                    *(["expired"] if rng.random() < 0.1 else []),
                    rng.choice(["accepted", "completed", "completed"]),
                ):
                    rows.append(
                        {
                            "task_id": task.id,
                            "incident_id": incident.id,
                            "volunteer_id": next(who),
                            "slot": slot,
                            "status": status,
                            "short_code": "B1",
                            "source": "matching",
                            "reason": "",
                            "offered_at": now - timedelta(hours=7),
                            "responded_at": now - timedelta(hours=7, minutes=-rng.randint(1, 50)),
                            "closed_reason": "",
                        }
                    )
        s.execute(insert(Assignment), rows)
        made = s.exec(
            select(Assignment.id, Assignment.status).where(Assignment.incident_id == incident.id)
        ).all()
        s.execute(
            insert(AuditLog),
            [
                {
                    "actor": "bench",
                    "action": "assignment.accepted",
                    "subject": f"assignment:{a}",
                    "detail": {},
                    "at": now - timedelta(hours=7, minutes=-rng.randint(1, 50)),
                }
                for a, status in made
                if status in ("accepted", "completed")
            ],
        )
        s.execute(
            insert(SmsMessage),
            [
                {
                    "direction": "outbound",
                    "phone": "+8613900000000",
                    "body": "offer",
                    "segments": 2,
                    "status": "delivered",
                    "assignment_id": a,
                    "kind": "offer",
                    "created_at": now,
                    "updated_at": now,
                }
                for a, _ in made
            ],
        )
        s.commit()
        assert incident.id is not None
        return incident.id


def run(quick: bool) -> None:
    from coordinator.config import Settings
    from coordinator.db import make_engine
    from coordinator.dispatch import service as dispatch
    from coordinator.logistics.models import Distribution, StockMovement
    from coordinator.reports import incident_doc, incidents, pdf, season_doc, service, xlsx
    from nuanliu.schema import migrate

    days, stations, items, slots = (10, 4, 8, 500) if quick else (40, 12, 20, 5_000)
    url, admin_url = scratch_database(os.environ.get("BENCH_DATABASE_URL"))
    settings = Settings(DATABASE_URL=url, NUANLIU_RUN_SCHEDULER=False)
    engine = make_engine(settings)
    try:
        migrate(engine)
        handed = _season(engine, days, stations, items)
        incident_id = _incident(engine, slots)
        table = Table(title=f"Reports ({engine.dialect.name})")
        for column in ("what", "rows", "time", "peak memory"):
            table.add_column(column, justify="right")
        now = datetime.now(UTC)
        with Session(engine) as s:

            def baseline() -> Any:
                return s.exec(
                    select(
                        Distribution.place_id, Distribution.item_id, func.sum(Distribution.quantity)
                    ).group_by(col(Distribution.place_id), col(Distribution.item_id))
                ).all()

            moves = int(s.exec(select(func.count()).select_from(StockMovement)).one())
            _, t, m = _measure(baseline)
            label = f"{days} days × {stations} stations × {items} items"
            table.add_row(
                "season: one GROUP BY of the hand-outs (baseline)",
                f"{handed:,}",
                f"{t * 1000:.0f} ms",
                f"{m:.1f} MiB",
            )

            def figures() -> Any:
                report = service.season(session=s, settings=settings, year=YEAR, now=now)
                previous = service.season(session=s, settings=settings, year=YEAR - 1, now=now)
                return report, previous, service.proposal(session=s, report=report)

            (report, previous, proposal), t, m = _measure(figures)
            table.add_row(
                f"season figures, {label}", f"{handed + moves:,}", f"{t:.2f} s", f"{m:.1f} MiB"
            )

            def season_file() -> Any:
                # a document of its own each time: its charts are drawn once, when first shown
                return season_doc.document(
                    report, previous, proposal, lang="zh", font_path=settings.report_font
                )

            body, t, m = _measure(lambda: pdf.render(season_file(), font_path=settings.report_font))
            table.add_row(
                "season PDF (document, charts, reportlab)",
                f"{len(body) / 1024:,.0f} KiB",
                f"{t:.2f} s",
                f"{m:.1f} MiB",
            )
            body, t, m = _measure(lambda: xlsx.render(season_file()))
            table.add_row(
                "season XLSX (document, openpyxl)",
                f"{len(body) / 1024:,.0f} KiB",
                f"{t:.2f} s",
                f"{m:.1f} MiB",
            )

            incident = dispatch.get_incident(session=s, incident_id=incident_id)
            assert incident is not None
            offers = len(dispatch.assignments_of_incident(session=s, incident_id=incident_id))
            _, t, m = _measure(lambda: dispatch.summarise(session=s, incidents=[incident]))
            table.add_row(
                f"incident of {slots:,} slots: the board's summary (baseline)",
                f"{offers:,}",
                f"{t * 1000:.0f} ms",
                f"{m:.1f} MiB",
            )
            figures_, t, m = _measure(
                lambda: incidents.build(session=s, incident=incident, now=now)
            )
            table.add_row("incident figures", f"{offers:,}", f"{t:.2f} s", f"{m:.1f} MiB")
            advice, _ = service.playbook_suggestions(session=s, incident=incident, report=figures_)

            def incident_file() -> Any:
                return incident_doc.document(
                    figures_,
                    advice,
                    lang="zh",
                    tz=settings.timezone,
                    font_path=settings.report_font,
                )

            body, t, m = _measure(
                lambda: pdf.render(incident_file(), font_path=settings.report_font)
            )
            table.add_row(
                "incident PDF (document, charts, reportlab)",
                f"{len(body) / 1024:,.0f} KiB",
                f"{t:.2f} s",
                f"{m:.1f} MiB",
            )
            body, t, m = _measure(lambda: xlsx.render(incident_file()))
            table.add_row(
                "incident XLSX (document, openpyxl)",
                f"{len(body) / 1024:,.0f} KiB",
                f"{t:.2f} s",
                f"{m:.1f} MiB",
            )
        console.print(table)
        console.print(
            f"season: {report.total('food_drink') + report.total('medicine'):,} goods and "
            f"{report.tickets:,} tickets counted; incident: {figures_.filled:,} of "
            f"{figures_.needed:,} slots filled, {figures_.sms_segments:,} segments"
        )
    finally:
        engine.dispose()
        drop_scratch(url, admin_url)
