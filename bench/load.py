"""`nuanliu bench load`: the whole system under a mixed workload at a rising rate.

Everything runs in this process as `nuanliu run` would: uvicorn on a free loopback port, the
relay, every consumer, the embedded broker, SQLite in a temporary file (or the database in
BENCH_DATABASE_URL). An open-loop client, in a process of its own, sends at a fixed rate per
step: SMS replies (most of it), board viewers reading the snapshot, station hand-outs,
shipment receipts and alerts. The rate rises step by step until a step's p99 passes 1 s or the
client cannot keep the rate. Printed per route: p50/p99; per consumer: commit → applied
p50/p99; memory. The baseline is a static file fetched in the same steps: the HTTP floor of
this machine. Never asserted.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from consumers import CONSUMERS
from consumers.models import ProcessedEvent
from coordinator.config import Settings
from events.embedded import free_port
from events.outbox import OutboxEvent

console = Console(width=120)

#: route → share of the requests
MIX: dict[str, float] = {
    "POST /api/sms/inbound": 0.62,
    "GET /board/snapshot": 0.15,
    "POST /api/stations/{id}/distributions": 0.125,
    "POST /api/shipments/{id}/receipt": 0.05,
    # each alert plans tasks and solves the matching over the roster: a storm, not a stream
    "POST /api/alerts": 0.005,
    "GET /board/static (baseline)": 0.05,
}
REPLIES = ["1", "2", "是", "否", "完成", "Y", "N", "好的", "我在路上", "DONE"]
P99_LIMIT_MS = 1000.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class World:
    """The app serving on loopback with its runtime, and what the client needs to call it."""

    def __init__(self, tmp: Path) -> None:
        from coordinator.accounts.service import create_token
        from coordinator.demo import load_demo
        from coordinator.logistics.models import Item, Place
        from coordinator.main import create_app
        from coordinator.runtime import Runtime
        from coordinator.volunteers.models import Volunteer

        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'load.db'}"
        self.settings = Settings(
            DATABASE_URL=url,
            NUANLIU_TOPIC_PREFIX=f"load{uuid.uuid4().hex[:6]}.",
            NUANLIU_RUN_SCHEDULER=False,
            NUANLIU_DATA_DIR=tmp,
            NUANLIU_RELAY_IDLE=0.05,
        )
        self.runtime = Runtime(self.settings, relay=True, consumers=CONSUMERS).start()
        engine = self.runtime.engine
        assert engine is not None
        self.engine = engine
        with Session(engine) as s:
            load_demo(s)
            self.phones = [v.phone for v in s.exec(select(Volunteer)).all()]
            station = s.exec(
                select(Place).where(Place.kind == "station").order_by(col(Place.id))
            ).first()
            warehouse = s.exec(select(Place).where(Place.kind == "warehouse")).first()
            item = s.exec(select(Item).where(Item.category == "food")).first()
            assert station and warehouse and item and station.id and warehouse.id
            self.station_id, self.warehouse_id, self.sku = station.id, warehouse.id, item.sku
            self.dispatcher = create_token(session=s, role="dispatcher", label="bench")
            self.manager = create_token(
                session=s, role="station_manager", station_ids=[station.id], label="bench"
            )
            s.commit()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        import uvicorn

        config = uvicorn.Config(
            create_app(runtime=self.runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.shipments: list[int] = []
        self.lock = threading.Lock()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.runtime.stop()

    def stock_station(self, client: httpx.Client, n: int) -> None:
        """Shipments on the road to the station (for receipts) and stock there (for hand-outs)."""
        h = {"Authorization": f"Bearer {self.dispatcher}"}
        client.post(
            f"/api/warehouses/{self.warehouse_id}/adjustments",
            json={"item": self.sku, "delta": 100_000, "reason": "bench stock"},
            headers=h,
        )
        client.post(
            f"/api/stations/{self.station_id}/adjustments",
            json={"item": self.sku, "delta": 100_000, "reason": "bench stock"},
            headers=h,
        )
        for _ in range(n):
            r = client.post(
                "/api/shipments",
                json={
                    "from_id": self.warehouse_id,
                    "to_id": self.station_id,
                    "lines": [{"item": self.sku, "quantity": 1}],
                },
                headers=h,
            )
            if r.status_code == 201:
                self.shipments.append(int(r.json()["id"]))

    def target(self, receipts: int) -> Target:
        """What a client process needs, with `receipts` shipments of its own to book in."""
        with self.lock:
            mine, self.shipments = self.shipments[:receipts], self.shipments[receipts:]
        return Target(
            base=self.base,
            dispatcher=self.dispatcher,
            manager=self.manager,
            station_id=self.station_id,
            sku=self.sku,
            phones=self.phones,
            shipments=mine,
        )


@dataclass
class Target:
    """The running app as a client process sees it (picklable)."""

    base: str
    dispatcher: str
    manager: str
    station_id: int
    sku: str
    phones: list[str]
    shipments: list[int] = field(default_factory=list)

    def request(self, route: str, rng: random.Random) -> Callable[[httpx.Client], httpx.Response]:
        d = {"Authorization": f"Bearer {self.dispatcher}"}
        m = {"Authorization": f"Bearer {self.manager}"}
        if route == "POST /api/sms/inbound":
            body: dict[str, Any] = {"from": rng.choice(self.phones), "body": rng.choice(REPLIES)}
            return lambda c: c.post("/api/sms/inbound", json=body, headers=d)
        if route == "GET /board/snapshot":
            return lambda c: c.get("/board/snapshot", headers=d)
        if route == "POST /api/stations/{id}/distributions":
            body = {"item": self.sku, "quantity": 1}
            path = f"/api/stations/{self.station_id}/distributions"
            return lambda c: c.post(path, json=body, headers=m)
        if route == "POST /api/shipments/{id}/receipt":
            sid = self.shipments.pop() if self.shipments else 0
            body = {"lines": [{"item": self.sku, "received": 1}]}
            return lambda c: c.post(f"/api/shipments/{sid}/receipt", json=body, headers=m)
        if route == "POST /api/alerts":
            body = {
                "kind": "snow",
                "level": "blue",
                "districts": [rng.choice(["云岩区", "南明区", "花溪区", "乌当区"])],
                "headline": f"bench {uuid.uuid4().hex[:8]}",
            }
            return lambda c: c.post("/api/alerts", json=body, headers=d)
        return lambda c: c.get("/board/static/board.css")


def step(target: Target, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Send `rate` requests per second for `seconds`, open loop; latencies per route. Runs in
    a process of its own, so the client does not share the app's interpreter (and GIL)."""
    rng = random.Random(seed)
    routes, weights = list(MIX), list(MIX.values())
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    n = int(rate * seconds)
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=target.base, timeout=30)
        return local.client  # type: ignore[no-any-return]

    def one(route: str, call: Callable[[httpx.Client], httpx.Response], due: float) -> None:
        try:
            response = call(client())
            ok = response.status_code < 500
        except httpx.HTTPError:
            ok = False
        # latency from when the request was due, so a client falling behind counts as slow
        latencies[route].append((time.perf_counter() - due) * 1000)
        if not ok:
            errors[route] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(256, max(16, int(rate)))) as pool:
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            route = rng.choices(routes, weights)[0]
            pool.submit(one, route, target.request(route, rng), due)
    elapsed = time.perf_counter() - start
    every = [x for v in latencies.values() for x in v]
    return {
        "rate": rate,
        "achieved": n / elapsed,
        "p50": _pct(every, 50),
        "p99": _pct(every, 99),
        "routes": {r: (_pct(v, 50), _pct(v, 99), len(v), errors[r]) for r, v in latencies.items()},
    }


def consumer_lag(world: World, since_id: int) -> dict[str, tuple[float, float, int]]:
    """Per consumer, commit (outbox row) → applied (processed row), for events after `since_id`."""
    with Session(world.engine) as s:
        rows = s.execute(
            sa_select(
                col(ProcessedEvent.consumer),
                col(OutboxEvent.created_at),
                col(ProcessedEvent.applied_at),
            )
            .join(OutboxEvent, col(OutboxEvent.event_id) == ProcessedEvent.event_id)
            .where(col(OutboxEvent.id) > since_id)
        ).all()
    out: dict[str, list[float]] = defaultdict(list)
    for consumer, created, applied in rows:
        if created is None or applied is None:
            continue
        if created.tzinfo is None or applied.tzinfo is None:
            created, applied = created.replace(tzinfo=None), applied.replace(tzinfo=None)
        out[consumer].append((applied - created).total_seconds() * 1000)
    return {c: (_pct(v, 50), _pct(v, 99), len(v)) for c, v in out.items()}


def _last_outbox_id(world: World) -> int:
    with Session(world.engine) as s:
        row = s.exec(select(OutboxEvent.id).order_by(col(OutboxEvent.id).desc())).first()
    return int(row or 0)


def run(quick: bool = False) -> None:
    rates = [5.0, 10.0, 20.0] if quick else [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 500.0]
    seconds = 4.0 if quick else 10.0
    with tempfile.TemporaryDirectory() as tmp:
        console.print("starting the app, consumers, relay and embedded broker; loading the demo…")
        world = World(Path(tmp))
        try:
            with httpx.Client(base_url=world.base, timeout=30) as c:
                world.stock_station(
                    c,
                    int(sum(rates) * seconds * MIX["POST /api/shipments/{id}/receipt"] * 1.2) + 10,
                )
            results = []
            seed = 20140105
            clients = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            held: dict[str, Any] | None = None
            first_event = _last_outbox_id(world)
            for rate in rates:
                console.print(f"{rate:.0f} requests/s for {seconds:.0f} s…")
                receipts = int(rate * seconds * MIX["POST /api/shipments/{id}/receipt"] * 1.5) + 5
                r = clients.submit(step, world.target(receipts), rate, seconds, seed).result()
                seed += 1
                # the app's memory: this process holds server, relay, consumers, broker client
                r["rss"] = psutil.Process().memory_info().rss / 2**20
                results.append(r)
                console.print(
                    f"  achieved {r['achieved']:.0f}/s,"
                    f" p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms"
                )
                if r["p99"] > P99_LIMIT_MS or r["achieved"] < 0.9 * rate:
                    break
                held = r
            clients.shutdown()
            time.sleep(2)  # let the consumers catch up before reading their lag
            lag = consumer_lag(world, first_event)
        finally:
            world.stop()
    _print(results, held, lag, quick)


def _print(
    results: list[dict[str, Any]],
    held: dict[str, Any] | None,
    lag: dict[str, tuple[float, float, int]],
    quick: bool,
) -> None:
    steps = Table(
        title="bench load — mixed workload at a rising rate (open loop; client in its own process)"
    )
    for name in ("rate/s", "achieved/s", "p50 ms", "p99 ms", "RSS MiB", "held"):
        steps.add_column(name, justify="right")
    for r in results:
        ok = r["p99"] <= P99_LIMIT_MS and r["achieved"] >= 0.9 * r["rate"]
        steps.add_row(
            f"{r['rate']:.0f}",
            f"{r['achieved']:.0f}",
            f"{r['p50']:.0f}",
            f"{r['p99']:.0f}",
            f"{r['rss']:.0f}",
            "yes" if ok else "no",
        )
    console.print(steps)
    shown = held or results[-1]
    routes = Table(title=f"per route at {shown['rate']:.0f}/s (the highest rate held)")
    for name in ("route", "share", "requests", "5xx/errors", "p50 ms", "p99 ms"):
        routes.add_column(name, justify="right")
    for route, (p50, p99, n, errors) in sorted(shown["routes"].items()):
        routes.add_row(route, f"{MIX[route]:.0%}", str(n), str(errors), f"{p50:.0f}", f"{p99:.0f}")
    console.print(routes)
    consumers = Table(title="per consumer: commit → applied, over the whole run")
    for name in ("consumer", "events", "p50 ms", "p99 ms"):
        consumers.add_column(name, justify="right")
    for name, (p50, p99, n) in sorted(lag.items()):
        consumers.add_row(name, str(n), f"{p50:.0f}", f"{p99:.0f}")
    console.print(consumers)
    rate = held["rate"] if held else 0
    console.print(
        f"highest rate held (p99 ≤ {P99_LIMIT_MS:.0f} ms): {rate:.0f} requests/s"
        f" (≈{rate * MIX['POST /api/sms/inbound']:.0f} SMS replies/s)"
        + (" — quick run: the steps stop early" if quick else "")
    )
