"""`nuanliu bench soak`: a day of the travel rush at 50 events a second (4.32 million events),
scaled down and compressed into minutes, through the real runtime (embedded broker, relay,
the dispatch consumer recording each event) on SQLite. Two runs in the same process: the
baseline keeps every event in the broker, as before; the other lets the outbox keeper restart
the broker empty whenever it passes a memory limit. Printed: broker and process memory at the
start and the end, events applied, broker restarts, rate. Never asserted.

The events are `nuanliu.incident.closed` for incidents that do not exist: the dispatch
consumer decodes, dedupes and records each one (its handler finds nothing to stand down), so
the broker and the bookkeeping see a real event's bytes without the domain work."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, func, select

from consumers.models import ProcessedEvent
from coordinator.config import Settings
from coordinator.db import make_engine
from events.outbox import stage
from events.payloads.incidents import IncidentClosed
from nuanliu.runtime import Runtime

console = Console(width=150)
PER_DAY = 50 * 86_400


def _applied(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(ProcessedEvent)).one())


def soak(events: int, limit_mb: int | None, workdir: Path) -> dict[str, float]:
    settings = Settings(
        DATABASE_URL=f"sqlite:///{workdir}/soak.db",
        NUANLIU_DATA_DIR=workdir,
        NUANLIU_RUN_SCHEDULER=False,
        NUANLIU_KEEPER_INTERVAL=2.0,
        NUANLIU_BROKER_MAX_RSS_MB=limit_mb if limit_mb is not None else 1 << 30,
    )
    engine = make_engine(settings)
    rt = Runtime(settings, engine=engine, relay=True, consumers=("dispatch",)).start()
    me = psutil.Process()
    try:
        assert rt.broker is not None
        time.sleep(4)  # the group join (half the session timeout): set-up, not the rate
        start_broker, start_self = rt.broker.rss_bytes(), me.memory_info().rss
        peak = start_broker
        started = time.monotonic()
        done = 0
        while done < events:
            with Session(engine) as s:
                for i in range(done, min(events, done + 500)):
                    stage(s, IncidentClosed(incident_id=10_000_000 + i, reason="soak " + "x" * 120))
                s.commit()
            done = min(events, done + 500)
            peak = max(peak, rt.broker.rss_bytes())
            while done - _applied(engine) > 5_000:  # keep a backlog, not the whole day
                time.sleep(0.05)
                peak = max(peak, rt.broker.rss_bytes())
        while _applied(engine) < events:
            time.sleep(0.2)
        took = time.monotonic() - started
        if rt._keeper is not None:
            rt._keeper.once()  # the last round, as the keeper would run it next
        return {
            "events": events,
            "rate": events / took,
            "broker_start_mb": start_broker / 2**20,
            "broker_peak_mb": peak / 2**20,
            "broker_end_mb": rt.broker.rss_bytes() / 2**20,
            "self_start_mb": start_self / 2**20,
            "self_end_mb": me.memory_info().rss / 2**20,
            "restarts": rt.broker_restarts,
        }
    finally:
        rt.stop()
        engine.dispose()


def run(quick: bool = False) -> None:
    events = 20_000 if quick else 200_000
    limit = 24 if quick else 64
    table = Table(title=f"soak: {events:,} events (a rush day is {PER_DAY:,}), SQLite")
    for col_ in (
        "run",
        "events/s",
        "broker start MB",
        "broker peak MB",
        "broker end MB",
        "process start MB",
        "process end MB",
        "broker restarts",
    ):
        table.add_column(col_, justify="right")
    growth = 0.0
    for name, cap in (("baseline: broker keeps all", None), (f"restart past {limit} MB", limit)):
        with tempfile.TemporaryDirectory() as tmp:
            console.print(f"{name}…")
            r = soak(events, cap, Path(tmp))
        table.add_row(
            name,
            f"{r['rate']:,.0f}",
            f"{r['broker_start_mb']:.0f}",
            f"{r['broker_peak_mb']:.0f}",
            f"{r['broker_end_mb']:.0f}",
            f"{r['self_start_mb']:.0f}",
            f"{r['self_end_mb']:.0f}",
            str(int(r["restarts"])),
        )
        if cap is None:
            growth = (r["broker_peak_mb"] - r["broker_start_mb"]) / events
    console.print(table)
    load = os.getloadavg()
    console.print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
        f"at the baseline's growth ({growth * 1e6:,.0f} MB per million events) a "
        f"{PER_DAY:,}-event rush day would hold {growth * PER_DAY:,.0f} MB in the broker, and "
        f"a 40-day rush {growth * PER_DAY * 40 / 1024:,.1f} GB"
    )
