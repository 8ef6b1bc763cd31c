"""`nuanliu bench load`: the whole system, deployed as it runs in production, at a rising rate.

Shape (as docker-compose deploys it): the embedded broker, the database (SQLite in a temporary
file, or a scratch database on BENCH_DATABASE_URL's PostgreSQL server), `nuanliu api --workers
N` (N = BENCH_API_WORKERS, default 1 as docker-compose runs it) and one process per worker:
dispatch, notify, provision, inventory, relay. The demo data is loaded first. Three workloads,
each at a rising rate until a step's p99 passes 1 s or the client cannot keep the rate:

- replies: SMS replies only, the issue's goal (500 replies/s held with p99 under 500 ms);
- replies+board: the same with a dispatcher's board open (its live stream gets every event);
- mixed: replies (most of it), board viewers reading the snapshot, station hand-outs, shipment
  receipts and alerts.

The client is open loop (latency counts from when a request was due, so a server falling behind
shows) and runs in a process of its own: asyncio on keep-alive sockets, so that on two cores it
takes as little as it can from the server (0.15 ms of CPU per request; threads with http.client
took 0.35-0.4 ms, httpx about three times that). The baseline is a static file fetched in the
same steps: the HTTP floor of this machine (client, loopback, uvicorn). After each step the
bench waits until the pipeline has applied the step's events (its tail is part of its cost), so
the next step starts from a quiet system. Printed per step: rate held, p50/p99, outbox backlog,
how long dispatch took to apply the step's events (commit → applied: a rate the API holds but
the pipeline does not shows here), memory of every process; per route: p50/p99; per consumer:
commit → applied. Never asserted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from bench.cluster import Cluster, wait_until_serving
from bench.scratch import drop_scratch, scratch_database
from consumers.models import ProcessedEvent
from coordinator.board.hub import LINGER_S
from coordinator.config import Settings
from events.embedded import EmbeddedBroker, free_port
from events.outbox import OutboxEvent, pending_count

console = Console(width=120)

WORKERS = ("dispatch", "notify", "provision", "inventory", "relay")
REPLY = "POST /api/sms/inbound"
STATIC = "GET /board/static (baseline)"
#: workload → route → share of the requests
WORKLOADS: dict[str, dict[str, float]] = {
    "replies": {REPLY: 0.95, STATIC: 0.05},
    # the same, with a dispatcher's board open: every event is then pushed to it
    "replies+board": {REPLY: 0.95, STATIC: 0.05},
    "mixed": {
        REPLY: 0.62,
        "GET /board/snapshot": 0.15,
        "POST /api/stations/{id}/distributions": 0.125,
        "POST /api/shipments/{id}/receipt": 0.05,
        # each alert plans tasks and solves the matching over the roster: a storm, not a stream
        "POST /api/alerts": 0.005,
        STATIC: 0.05,
    },
}
#: workloads run with a board's live stream open (`/board/stream`) from start to end
WATCHED = {"replies+board"}
RATES = {
    # steps of 50 between 300 and 650/s, where the goal's edge is
    "replies": [25.0, 50.0, 100.0, 200.0, 300.0, 350.0, 400.0, 450.0, 500.0, 550.0, 600.0, 650.0],
    "replies+board": [300.0, 350.0, 400.0, 450.0, 500.0, 550.0, 600.0, 650.0],
    "mixed": [10.0, 20.0, 40.0, 60.0, 80.0, 120.0, 160.0, 200.0, 240.0, 320.0],
}
REPLIES = ["1", "2", "是", "否", "完成", "Y", "N", "好的", "我在路上", "DONE"]
P99_LIMIT_MS = 1000.0
#: the issue's goal: SMS replies per second held, with their p99 under this
GOAL_REPLIES, GOAL_P99_MS = 500.0, 500.0
IDLE_S = 4.0
#: an answer later than this is an error (the step must end even if the server does not)
REQUEST_TIMEOUT_S = 30.0
CORES = psutil.cpu_count() or 1


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class World:
    """Nuanliu running as separate processes, with what the client needs to call it."""

    def __init__(self, tmp: Path, api_workers: int) -> None:
        from coordinator.accounts.service import create_token
        from coordinator.db import make_engine
        from coordinator.demo import load_demo
        from coordinator.logistics.models import Item, Place
        from coordinator.volunteers.models import Volunteer
        from nuanliu.schema import migrate

        # a database of its own on BENCH_DATABASE_URL's server: every run starts alike
        url, self._admin_url = scratch_database(os.environ.get("BENCH_DATABASE_URL"))
        self.url = url
        self.broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
        self.settings = Settings(
            DATABASE_URL=url, NUANLIU_DATA_DIR=tmp, KAFKA_BOOTSTRAP_SERVERS=self.broker.bootstrap
        )
        self.engine = make_engine(self.settings)
        migrate(self.engine)
        with Session(self.engine) as s:
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
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "NUANLIU_TOPIC_PREFIX": f"load{uuid.uuid4().hex[:6]}.",
            "NUANLIU_RUN_SCHEDULER": "false",
            "NUANLIU_RELAY_IDLE": "0.05",
            "NUANLIU_DATA_DIR": str(tmp),
        }
        self.cluster = Cluster(env, tmp)
        self.cluster.start(
            "api", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(api_workers)
        )
        for name in WORKERS:
            self.cluster.start(name)
        wait_until_serving(self.base, timeout=120)
        self.serving_since = time.monotonic()
        self.shipments: list[int] = []

    def stop(self) -> None:
        self.cluster.stop()
        self.broker.stop()
        self.engine.dispose()
        drop_scratch(self.url, self._admin_url)

    def _processes(self) -> dict[str, list[psutil.Process]]:
        """Nuanliu's processes by part (the API's workers with it), the broker, PostgreSQL."""
        out: dict[str, list[psutil.Process]] = {}
        for name, proc in self.cluster.procs.items():
            if proc.poll() is None:
                parent = psutil.Process(proc.pid)
                out[name] = [parent, *parent.children(recursive=True)]
        if self.broker.process is not None:
            out["broker"] = [psutil.Process(self.broker.process.pid)]
        if not self.settings.is_sqlite:
            out["postgres"] = [
                p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"
            ]
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far, by part; a step's difference is its cost.
        PostgreSQL counts every local backend: run the bench on an otherwise idle server."""
        out: dict[str, float] = {}
        parts = self._processes()
        pids = {p.pid for p in parts.get("postgres", [])}
        for name, procs in parts.items():
            total = 0.0
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
                    if name == "postgres" and proc.ppid() not in pids:
                        # the postmaster: a backend that exited (a connection closed during
                        # the step) left its time in the postmaster's reaped-children count
                        total += times.children_user + times.children_system
            out[name] = total
        return out

    def rss_mib(self) -> float:
        """Resident memory of every Nuanliu process (API workers included) and the broker."""
        procs = [
            p for name, group in self._processes().items() if name != "postgres" for p in group
        ]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):  # an API worker restarting
                total += proc.memory_info().rss
        return total / 2**20

    def stock_station(self, client: httpx.Client, n: int) -> None:
        """Shipments on the road to the station (for receipts) and stock there (for hand-outs)."""
        h = {"Authorization": f"Bearer {self.dispatcher}"}
        for path in (f"warehouses/{self.warehouse_id}", f"stations/{self.station_id}"):
            client.post(
                f"/api/{path}/adjustments",
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

    def target(self, mix: dict[str, float], receipts: int) -> Target:
        """What a client process needs, with `receipts` shipments of its own to book in."""
        mine, self.shipments = self.shipments[:receipts], self.shipments[receipts:]
        return Target(
            port=self.port,
            dispatcher=self.dispatcher,
            manager=self.manager,
            station_id=self.station_id,
            sku=self.sku,
            phones=self.phones,
            mix=mix,
            shipments=mine,
        )


@dataclass
class Target:
    """The running app as a client process sees it (picklable)."""

    port: int
    dispatcher: str
    manager: str
    station_id: int
    sku: str
    phones: list[str]
    mix: dict[str, float]
    shipments: list[int] = field(default_factory=list)

    def request(self, route: str, rng: random.Random) -> tuple[str, str, Any, str]:
        """(method, path, JSON body or None, token) for one request on `route`."""
        d, m = self.dispatcher, self.manager
        if route == REPLY:
            body: Any = {"from": rng.choice(self.phones), "body": rng.choice(REPLIES)}
            return "POST", "/api/sms/inbound", body, d
        if route == "GET /board/snapshot":
            return "GET", "/board/snapshot", None, d
        if route == "POST /api/stations/{id}/distributions":
            path = f"/api/stations/{self.station_id}/distributions"
            return "POST", path, {"item": self.sku, "quantity": 1}, m
        if route == "POST /api/shipments/{id}/receipt":
            sid = self.shipments.pop() if self.shipments else 0
            body = {"lines": [{"item": self.sku, "received": 1}]}
            return "POST", f"/api/shipments/{sid}/receipt", body, m
        if route == "POST /api/alerts":
            body = {
                "kind": "snow",
                "level": "blue",
                "districts": [rng.choice(["云岩区", "南明区", "花溪区", "乌当区"])],
                "headline": f"bench {uuid.uuid4().hex[:8]}",
            }
            return "POST", "/api/alerts", body, d
        return "GET", "/board/static/board.css", None, d


def step(target: Target, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Send `rate` requests per second for `seconds`, open loop; latencies per route. Runs in
    a process of its own, so the client does not share an interpreter (and GIL) with the app."""
    with _event_loop() as runner:
        return runner.run(_step(target, rate, seconds, seed))


def _event_loop() -> asyncio.Runner:
    try:
        import uvloop  # uvicorn[standard] brings it

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - a plain asyncio loop is only slower
        return asyncio.Runner()


async def _step(target: Target, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    # asyncio on keep-alive sockets with requests written out in advance: the client must take
    # as little of the two cores as it can (threads with http.client took 0.35-0.4 ms of CPU
    # per request, and their GIL waits showed up as server latency); httpx and aiohttp cost
    # more per request than these few lines of HTTP/1.1.
    rng = random.Random(seed)
    routes, weights = list(target.mix), list(target.mix.values())
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    n = int(rate * seconds)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    loop = asyncio.get_running_loop()

    async def one(route: str, request: bytes, due: float) -> None:
        ok = False
        # a kept-alive connection the server has closed meanwhile (uvicorn drops idle ones
        # after 5 s) fails before any answer: that one request goes again on a new connection
        for reused in (True, False):
            conn = idle.pop() if reused and idle else None
            try:
                if conn is None:
                    reused = False
                    conn = await asyncio.open_connection("127.0.0.1", target.port)
                reader, writer = conn
                writer.write(request)
                status = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT_S)
                ok = status < 500
                idle.append(conn)
                break
            except TimeoutError:
                if conn is not None:
                    conn[1].close()  # an answer this late counts as an error, not a wait
                break
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                if conn is not None:
                    conn[1].close()
                if not reused:
                    break
        # latency from when the request was due, so a client falling behind counts as slow
        latencies[route].append((loop.time() - due) * 1000)
        if not ok:
            errors[route] += 1

    cpu_before = time.process_time()
    start = loop.time()
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        route = rng.choices(routes, weights)[0]
        tasks.append(asyncio.create_task(one(route, _raw(*target.request(route, rng)), due)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    for _, writer in idle:
        writer.close()
    every = [x for v in latencies.values() for x in v]
    return {
        "rate": rate,
        "achieved": n / elapsed,
        "requests": n,
        "client_cpu": time.process_time() - cpu_before,
        "p50": _pct(every, 50),
        "p99": _pct(every, 99),
        "routes": {r: (_pct(v, 50), _pct(v, 99), len(v), errors[r]) for r, v in latencies.items()},
    }


def _raw(method: str, path: str, body: Any, token: str) -> bytes:
    """One HTTP/1.1 request, keep-alive."""
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body) and return its status."""
    line = await reader.readline()
    if not line:
        raise ConnectionResetError("the server closed the connection")
    status = int(line.split(b" ", 2)[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while size := int((await reader.readline()).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readline()
    return status


class BoardWatcher:
    """A dispatcher's board: `/board/stream` read in a thread of the bench process for a whole
    ramp, counting the events pushed to it and, like a browser, reconnecting with the last
    event id when the server drops it (a client too slow for its buffer is dropped)."""

    def __init__(self, base: str, token: str) -> None:
        self.events = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(base, token), daemon=True)
        self._thread.start()
        time.sleep(2.0)  # the feed wakes and the snapshot arrives before the first step

    def _watch(self, base: str, token: str) -> None:
        last_id: str | None = None
        while not self._stop.is_set():
            headers = {"Authorization": f"Bearer {token}"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            with (
                contextlib.suppress(httpx.HTTPError),
                httpx.stream(
                    "GET", f"{base}/board/stream", headers=headers, timeout=None
                ) as response,
            ):
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "event: board":
                        self.events += 1
                    elif line.startswith("id: "):
                        last_id = line[4:]
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(0.5)

    def take(self) -> tuple[int, int]:
        """Events pushed and reconnections since the last call."""
        seen, self.events = self.events, 0
        again, self.reconnects = self.reconnects, 0
        return seen, again

    def stop(self) -> None:
        self._stop.set()


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


def _backlog(world: World) -> int:
    with Session(world.engine) as s:
        return pending_count(s)


def _applied(world: World) -> int:
    with Session(world.engine) as s:
        return int(s.exec(select(func.count()).select_from(ProcessedEvent)).one())


def _drain(world: World, timeout: float = 120.0) -> None:
    """Until nothing is left to publish and the consumers have stopped applying (a step's tail
    belongs to it, and the next step starts from a quiet system)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        applied = _applied(world)
        if applied == last and not _backlog(world):
            return
        last = applied
        time.sleep(1.0)


def _ramp(
    world: World, clients: ProcessPoolExecutor, name: str, rates: list[float], seconds: float
) -> dict[str, Any]:
    mix = WORKLOADS[name]
    results: list[dict[str, Any]] = []
    held: dict[str, Any] | None = None
    first_event = _last_outbox_id(world)
    # what the parts burn doing nothing (polling, heartbeats), per second: a step's cost per
    # request is what it adds to this. Measured once the API's board feeds have gone quiet
    # (nobody watches them here) and the previous ramp's tail is applied.
    _drain(world)
    time.sleep(max(0.0, world.serving_since + LINGER_S + 2 - time.monotonic()))
    quiet = world.cpu_seconds()
    time.sleep(IDLE_S)
    now = world.cpu_seconds()
    idle = {part: (cpu - quiet.get(part, 0.0)) / IDLE_S for part, cpu in now.items()}
    watcher = BoardWatcher(world.base, world.dispatcher) if name in WATCHED else None
    seed = 20140105
    for rate in rates:
        console.print(f"{name}: {rate:.0f} requests/s for {seconds:.0f} s…")
        receipts = int(rate * seconds * mix.get("POST /api/shipments/{id}/receipt", 0) * 1.5) + 5
        cpu_before, started = world.cpu_seconds(), time.monotonic()
        since = _last_outbox_id(world)
        r = clients.submit(step, world.target(mix, receipts), rate, seconds, seed).result()
        _drain(world)  # the pipeline's tail of this step belongs to its cost
        cpu, took = world.cpu_seconds(), time.monotonic() - started
        r["lag"] = consumer_lag(world, since)
        r["cpu_ms"] = {
            part: max(0.0, cpu[part] - cpu_before.get(part, 0.0) - idle.get(part, 0.0) * took)
            * 1000
            / r["requests"]
            for part in cpu
        }
        r["cpu_ms"]["client"] = r["client_cpu"] * 1000 / r["requests"]
        seed += 1
        r["rss"] = world.rss_mib()
        r["backlog"] = _backlog(world)
        results.append(r)
        if watcher is not None:
            r["board_events"] = watcher.take()
        dispatch = r["lag"].get("dispatch", (float("nan"),) * 2)
        console.print(
            f"  achieved {r['achieved']:.0f}/s, p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms,"
            f" outbox backlog {r['backlog']}, dispatch applied p99 {dispatch[1]:.0f} ms"
        )
        if r["p99"] > P99_LIMIT_MS or r["achieved"] < 0.9 * rate:
            break
        held = r
    if watcher is not None:
        watcher.stop()
    _drain(world)  # let the pipeline catch up before reading its lag
    return {
        "name": name,
        "idle_cores": sum(idle.values()),
        "results": results,
        "held": held,
        "lag": consumer_lag(world, first_event),
    }


def run(quick: bool = False) -> None:
    """Every workload's ramp, BENCH_LOAD_RUNS times in a row (3, or 1 with --quick), each on
    a fresh system; then the figure each run reached per workload, with the median and the
    spread, beside the load average each run ended at."""
    # one API process, as docker-compose runs it: on two cores a second one costs more (its
    # own idle burn, smaller intake batches) than it brings
    api_workers = int(os.environ.get("BENCH_API_WORKERS", "1"))
    runs = int(os.environ.get("BENCH_LOAD_RUNS", "1" if quick else "3"))
    seconds = 3.0 if quick else 10.0
    # BENCH_WORKLOADS="replies+board mixed" runs only those
    chosen = os.environ.get("BENCH_WORKLOADS", " ".join(WORKLOADS)).split()
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workloads {sorted(unknown)}; choose from {list(WORKLOADS)}")
    rates = {k: (v[:2] if quick else v) for k, v in RATES.items()}
    reached: dict[str, list[float]] = {name: [] for name in chosen}
    loads: list[float] = []
    for n in range(1, runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            console.print(
                f"run {n}/{runs}: starting the broker, {api_workers} API processes and "
                f"{len(WORKERS)} workers; loading the demo…"
            )
            world = World(Path(tmp), api_workers)
            try:
                with httpx.Client(base_url=world.base, timeout=30) as c:
                    receipts = sum(rates["mixed"]) * seconds * 0.05 * 1.6
                    world.stock_station(c, int(receipts) + 10)
                clients = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
                ramps = [_ramp(world, clients, name, rates[name], seconds) for name in chosen]
                clients.shutdown()
            finally:
                world.stop()
        loads.append(os.getloadavg()[0])
        for ramp in ramps:
            reached[ramp["name"]].append(_print(ramp, api_workers))
    if runs > 1:
        _print_runs(reached, loads)
    if quick:
        console.print("quick run: two steps per workload only")


def _print_runs(reached: dict[str, list[float]], loads: list[float]) -> None:
    table = Table(title=f"bench load — {len(loads)} runs in a row: the figure each reached")
    table.add_column("workload")
    table.add_column("figure")
    for n in range(len(loads)):
        table.add_column(f"run {n + 1}", justify="right")
    table.add_column("median", justify="right")
    table.add_column("spread", justify="right")
    for name, figures in reached.items():
        what = (
            f"replies/s with p99 < {GOAL_P99_MS:.0f} ms"
            if WORKLOADS[name][REPLY] >= 0.9
            else f"requests/s held (p99 ≤ {P99_LIMIT_MS:.0f} ms)"
        )
        table.add_row(
            name,
            what,
            *(f"{f:.0f}" for f in figures),
            f"{statistics.median(figures):.0f}",
            f"{min(figures):.0f}–{max(figures):.0f}",
        )
    table.add_row("load average (1 min) at the end", "", *(f"{x:.2f}" for x in loads), "", "")
    console.print(table)


def _print(ramp: dict[str, Any], api_workers: int) -> float:
    """Print one ramp; returns its figure: for the reply workloads the replies per second
    held with their p99 under the goal's, else the highest rate held."""
    name, results, held, lag = ramp["name"], ramp["results"], ramp["held"], ramp["lag"]
    mix = WORKLOADS[name]
    steps = Table(
        title=f"bench load — {name} at a rising rate ({api_workers} API processes, open loop)"
    )
    for column in (
        "rate/s",
        "achieved/s",
        "p50 ms",
        "p99 ms",
        "outbox backlog",
        "dispatch applied p50/p99 ms",
        "board events",
        "RSS MiB",
    ):
        steps.add_column(column, justify="right")
    steps.add_column("held")
    for r in results:
        ok = r["p99"] <= P99_LIMIT_MS and r["achieved"] >= 0.9 * r["rate"]
        applied = r["lag"].get("dispatch")
        steps.add_row(
            f"{r['rate']:.0f}",
            f"{r['achieved']:.0f}",
            f"{r['p50']:.0f}",
            f"{r['p99']:.0f}",
            str(r["backlog"]),
            f"{applied[0]:.0f} / {applied[1]:.0f}" if applied else "-",
            "{} ({} reconnects)".format(*r["board_events"]) if "board_events" in r else "-",
            f"{r['rss']:.0f}",
            "yes" if ok else "no",
        )
    console.print(steps)
    shown = held or results[-1]
    routes = Table(title=f"{name}: per route at {shown['rate']:.0f}/s (the highest rate held)")
    for column in ("route", "share", "requests", "5xx/errors", "p50 ms", "p99 ms"):
        routes.add_column(column, justify="right")
    for route, (p50, p99, n, errors) in sorted(shown["routes"].items()):
        routes.add_row(route, f"{mix[route]:.0%}", str(n), str(errors), f"{p50:.0f}", f"{p99:.0f}")
    console.print(routes)
    consumers = Table(title=f"{name}: per consumer, commit → applied")
    for column in ("consumer", "events", "p50 ms", "p99 ms"):
        consumers.add_column(column, justify="right")
    for consumer, (p50, p99, n) in sorted(lag.items()):
        consumers.add_row(consumer, str(n), f"{p50:.0f}", f"{p99:.0f}")
    console.print(consumers)
    parts = list(results[0]["cpu_ms"])
    spare_ms = (CORES - ramp["idle_cores"]) * 1000
    cpu = Table(
        title=f"{name}: CPU ms per request by process, above what they burn idle"
        f" ({ramp['idle_cores']:.2f} of {CORES} cores); ceiling = spare CPU / total"
    )
    cpu.add_column("rate/s", justify="right")
    for part in parts:
        cpu.add_column(part, justify="right")
    cpu.add_column("total", justify="right")
    cpu.add_column("→ ceiling/s", justify="right")
    for r in results:
        total = sum(r["cpu_ms"].values())
        cpu.add_row(
            f"{r['rate']:.0f}",
            *(f"{r['cpu_ms'].get(part, 0.0):.1f}" for part in parts),
            f"{total:.1f}",
            f"{spare_ms / total:.0f}" if total else "-",
        )
    console.print(cpu)
    rate = held["rate"] if held else 0
    console.print(f"{name}: highest rate held (p99 ≤ {P99_LIMIT_MS:.0f} ms): {rate:.0f} requests/s")
    if mix[REPLY] < 0.9:
        return float(rate)
    # the goal: replies per second held with the replies' own p99 under GOAL_P99_MS
    within = [
        r
        for r in results
        if r["achieved"] >= 0.9 * r["rate"] and r["routes"][REPLY][1] < GOAL_P99_MS
    ]
    best = max(within, key=lambda r: r["achieved"], default=None)
    replies = best["achieved"] * mix[REPLY] if best else 0.0
    console.print(
        f"{name}: SMS replies held with their p99 under {GOAL_P99_MS:.0f} ms: {replies:.0f}/s"
        + (
            f" (the {best['rate']:.0f}/s step, p99 {best['routes'][REPLY][1]:.0f} ms)"
            if best
            else ""
        )
        + f"; goal {GOAL_REPLIES:.0f}/s: {'met' if replies >= GOAL_REPLIES else 'not met'}"
    )
    return replies
