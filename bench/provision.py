"""`nuanliu bench provision`: (1) the supply planner for 200 stations x 20 items against a
proportional split (time and worst-station days of cover), (2) 2,000 concurrent receipt and
distribution requests over HTTP on one station and item, on PostgreSQL (throughput, p99
latency, and the ledger checked afterwards: zero lost updates), next to the same requests sent
one at a time. Printed, never asserted.

The database: BENCH_DATABASE_URL or TEST_DATABASE_URL (a PostgreSQL server; a scratch database
is created on it and dropped), else postgresql://postgres@127.0.0.1:5432/test; SQLite when no
PostgreSQL answers (then said so in the table).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.scratch import drop_scratch, scratch_database
from bench.serving import serve
from coordinator.logistics import planning

console = Console()


# -- (1) the planner ---------------------------------------------------------------------------
def _inputs(seed: int, stations: int, items: int) -> planning.PlanInputs:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.5, 30, (stations, items)) * rng.uniform(0.2, 3, (stations, 1))
    return planning.PlanInputs(
        station_ids=list(range(stations)),
        item_ids=list(range(items)),
        stock=np.floor(demand * rng.uniform(0, 2.5, (stations, items))),
        demand=demand,
        warehouse=np.floor(demand.sum(axis=0) * rng.uniform(0.5, 2.0, items)),
        unit_cost_fen=rng.integers(100, 2000, items),
        budget_fen=5_000_000,
        target_days=3.0,
    )


def bench_planner(quick: bool) -> Table:
    stations, items = (50, 10) if quick else (200, 20)
    runs = 1 if quick else 3
    table = Table(title=f"Supply plan: {stations} stations x {items} items (median of {runs})")
    for column in ("method", "time", "worst cover after allocation (days)", "worst after buying"):
        table.add_column(column, justify="right")
    lp_times, split_times = [], []
    lp_worst, lp_final, split_worst = [], [], []
    for seed in range(runs):
        inputs = _inputs(seed, stations, items)
        started = time.perf_counter()
        result = planning.solve(inputs)
        lp_times.append(time.perf_counter() - started)
        lp_worst.append(result.worst_after_allocation)
        lp_final.append(result.worst_coverage_days)
        started = time.perf_counter()
        _, worst = planning.proportional_split(inputs)
        split_times.append(time.perf_counter() - started)
        split_worst.append(worst)
    table.add_row(
        "max-min LP (HiGHS) + purchases",
        f"{statistics.median(lp_times) * 1000:.0f} ms",
        f"{statistics.median(lp_worst):.2f}",
        f"{statistics.median(lp_final):.2f}",
    )
    table.add_row(
        "proportional split (baseline)",
        f"{statistics.median(split_times) * 1000:.1f} ms",
        f"{statistics.median(split_worst):.2f}",
        "-",
    )
    return table


# -- (2) concurrent receipts and hand-outs -------------------------------------------------------
def _database() -> tuple[str, str | None]:
    """A scratch database on BENCH_DATABASE_URL's or TEST_DATABASE_URL's server (this
    machine's PostgreSQL by default): the receipts race only means something there."""
    return scratch_database(
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )


def _prepare(engine: Any, shipments: int, opening: int) -> tuple[int, int, list[int], str]:
    from coordinator.accounts.service import create_token
    from coordinator.logistics import flows, ledger
    from coordinator.logistics.models import Item, Place

    with Session(engine, expire_on_commit=False) as s:
        warehouse = Place(kind="warehouse", code="B-WH", name_zh="仓", name_en="WH", lat=0, lon=0)
        station = Place(kind="station", code="B-ST", name_zh="站", name_en="ST", lat=0, lon=0)
        item = Item(
            sku="B-NOODLE",
            name_zh="面",
            name_en="Noodles",
            short_name="面",
            unit="piece",
            category="food",
            unit_cost_fen=450,
        )
        s.add_all([warehouse, station, item])
        s.flush()
        assert warehouse.id and station.id and item.id
        ledger.record_movement(
            session=s,
            place_id=warehouse.id,
            item_id=item.id,
            delta=shipments * 5,
            kind="receipt",
            actor="bench",
        )
        ledger.record_movement(
            session=s,
            place_id=station.id,
            item_id=item.id,
            delta=opening,
            kind="receipt",
            actor="b",
        )
        ids = []
        for _ in range(shipments):
            made = flows.dispatch_shipment(
                session=s,
                from_id=warehouse.id,
                to_id=station.id,
                lines=[(item.id, 5)],
                actor="bench",
            )
            ids.append(made.id or 0)
        token = create_token(session=s, role="admin", label="bench")
        s.commit()
        return station.id, item.id, ids, token


def _fire(
    http: httpx.Client, station_id: int, ops: list[tuple[str, int]], workers: int
) -> tuple[float, list[float], dict[str, int]]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def one(op: tuple[str, int]) -> None:
        kind, ref = op
        started = time.perf_counter()
        if kind == "receipt":
            r = http.post(
                f"/api/shipments/{ref}/receipt",
                json={"lines": [{"item": "B-NOODLE", "received": 5}]},
            )
        else:
            r = http.post(
                f"/api/stations/{station_id}/distributions",
                json={"item": "B-NOODLE", "quantity": 1},
            )
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            key = f"{kind} {r.status_code}"
            outcomes[key] = outcomes.get(key, 0) + 1

    started = time.perf_counter()
    if workers == 1:
        for op in ops:
            one(op)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, ops))
    return time.perf_counter() - started, latencies, outcomes


def bench_concurrency(quick: bool) -> Table:

    from coordinator.config import Settings
    from coordinator.logistics import ledger
    from nuanliu.runtime import Runtime

    total = 200 if quick else 2000
    sequential = 50 if quick else 200
    workers = 32
    logging.getLogger("kafka").setLevel(logging.ERROR)
    url, admin_url = _database()
    data_dir = Path(tempfile.mkdtemp())
    settings = Settings(
        DATABASE_URL=url,
        NUANLIU_DATA_DIR=data_dir,
        NUANLIU_RUN_SCHEDULER=False,
        NUANLIU_TOPIC_PREFIX=f"benchprov{os.getpid()}.",
    )
    runtime = Runtime(settings, relay=False, consumers=()).start()
    try:
        assert runtime.engine is not None
        receipts = (total + sequential) // 2
        opening = total + sequential  # hand-outs never run dry, so every request should succeed
        station_id, item_id, shipment_ids, token = _prepare(runtime.engine, receipts, opening)
        served = serve(runtime)
        port = served.port
        ops: list[tuple[str, int]] = []
        for k, shipment_id in enumerate(shipment_ids):
            ops.append(("receipt", shipment_id))
            if k < len(shipment_ids):
                ops.append(("distribution", 0))
        first, rest = ops[:sequential], ops[sequential : sequential + total]
        table = Table(
            title=f"Receipts and hand-outs on one station and item "
            f"({make_url(url).get_backend_name()}, HTTP, uvicorn in-process)"
        )
        for column in ("run", "requests", "req/s", "p50", "p99", "outcomes"):
            table.add_column(column, justify="right")
        limits = httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=limits,
        ) as http:
            for label, batch, n_workers in (
                ("one at a time (baseline)", first, 1),
                (f"{workers} concurrent clients", rest, workers),
            ):
                elapsed, latencies, outcomes = _fire(http, station_id, batch, n_workers)
                latencies.sort()
                table.add_row(
                    label,
                    str(len(batch)),
                    f"{len(batch) / elapsed:.0f}",
                    f"{statistics.median(latencies) * 1000:.1f} ms",
                    f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms",
                    ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())),
                )
        served.stop()
        with Session(runtime.engine) as s:
            from sqlmodel import func, select

            from coordinator.logistics.models import Distribution, Shipment

            got = ledger.balance(session=s, place_id=station_id, item_id=item_id)
            summed = ledger.movement_sum(session=s, place_id=station_id, item_id=item_id)
            received = int(
                s.exec(
                    select(func.count())
                    .select_from(Shipment)
                    .where(Shipment.to_id == station_id, Shipment.status == "received")
                ).one()
            )
            handed = int(s.exec(select(func.count()).select_from(Distribution)).one())
        expected = opening + 5 * received - handed
        verdict = "zero lost updates" if got == expected == summed else "LOST UPDATES"
        table.caption = (
            f"balance {got}; expected {opening} + 5 x {received} receipts - {handed} hand-outs "
            f"= {expected}; movements sum to {summed}: {verdict}"
        )
        return table
    finally:
        runtime.stop()
        if runtime.engine is not None:
            runtime.engine.dispose()
        drop_scratch(url, admin_url)


def run(quick: bool = False) -> None:
    console.print(bench_planner(quick))
    console.print(bench_concurrency(quick))
