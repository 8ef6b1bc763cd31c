"""`nuanliu bench board`: many browsers on `/board/stream` while events are committed.

A server process runs what `nuanliu api` runs plus the relay (embedded broker, SQLite, the
board consumer, uvicorn) and commits events one transaction each, recording the commit time.
This process holds the SSE clients and records when each event arrives at each of them. The
latency is commit → arrival at a client (same machine, same clock), over every (client, event).
The baseline is the same run with one client. Server CPU and memory are the server process's
(uvicorn, relay, consumer and writer together; the broker is a separate process, left out).
Printed, never asserted.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from bench import board_browser
from bench.serving import serve
from events.embedded import free_port

console = Console(width=132)


#: the consumer fetch wait of the third row: kafka-python's default, for comparison
SLOW_FETCH_WAIT_MS = 500
#: events committed per second: a busy storm night, well above what dispatch produces, paced so
#: the latency measured is the pipeline's, not a queue of a burst
RATE = 200


# -- the server process ------------------------------------------------------------------------
def _server(
    data_dir: str, port: int, commands: Any, answers: Any, fetch_wait_ms: int | None
) -> None:
    import logging

    from sqlmodel import Session

    from coordinator.accounts.service import create_token
    from coordinator.config import Settings
    from events.outbox import stage
    from events.payloads.sms import SmsSent
    from nuanliu.runtime import Runtime

    if fetch_wait_ms is not None:
        from consumers.board import handlers

        handlers.fetch_max_wait_ms = fetch_wait_ms
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = Settings(
        DATABASE_URL=f"sqlite:///{data_dir}/bench.db",
        NUANLIU_DATA_DIR=data_dir,
        NUANLIU_RUN_SCHEDULER=False,
        NUANLIU_TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
        NUANLIU_SESSION_TIMEOUT_MS=3000,
        NUANLIU_HEARTBEAT_MS=500,
    )
    runtime = Runtime(settings, relay=True, consumers=("board",)).start()
    assert runtime.engine is not None
    with Session(runtime.engine) as session:
        token = create_token(session=session, role="dispatcher", label="bench")
        session.commit()
    served = serve(runtime, port)
    runner = runtime.runners["board"]
    runner.ready.wait(30)
    # warm up: the first events after a group join are slow (partition assignment, first
    # fetches); measure the steady state
    hub = runtime.services.board_hub
    for i in range(20):
        with Session(runtime.engine) as session:
            stage(
                session,
                SmsSent(
                    message_id=-i,
                    phone="+8613800000000",
                    body="warm-up",
                    segments=1,
                    gateway="console",
                ),
            )
            session.commit()
    deadline = time.time() + 30
    while hub.published < 20 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    answers.put(("ready", token))
    while True:
        command, n = commands.get()
        if command == "stop":
            break
        commits: dict[str, float] = {}
        interval = 1 / RATE
        next_at = time.time()
        for i in range(n):
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))
            with Session(runtime.engine) as session:
                row = stage(
                    session,
                    SmsSent(
                        message_id=i,
                        phone="+8613800000000",
                        body="【暖流】云岩区道路结冰，请于19:00到中华北路集合，回复1接受 2谢绝"
                        + str(i),
                        segments=1,
                        gateway="console",
                    ),
                )
                event_id = row.event_id
                session.commit()
            commits[event_id] = time.time()
        answers.put(("written", commits))
    hub.close_all()
    served.stop()
    runtime.stop()


# -- the clients (several processes, so the clients are not what limits the measurement) -------
CLIENT_PROCESSES = 5


async def _client(
    port: int, token: str, arrivals: dict[str, float], connected: asyncio.Event, stop: asyncio.Event
) -> None:
    """A minimal SSE client on a raw socket: the bench measures the server, so the client
    does as little as a browser's EventSource does (no JSON parsing; it reads the id)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(
        (
            "GET /board/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    buffer = b""
    marker = b'data: {"type":'
    try:
        while not stop.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time()
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if b"event: snapshot" in frame:
                    connected.set()
                at = frame.find(marker)
                if at >= 0:
                    start = frame.index(b'"id":"', at) + 6
                    arrivals[frame[start : frame.index(b'"', start)].decode()] = now
    finally:
        writer.close()


def _client_process(port: int, token: str, clients: int, events: int, go: Any, out: Any) -> None:
    async def main() -> None:
        arrivals: list[dict[str, float]] = [{} for _ in range(clients)]
        connected = [asyncio.Event() for _ in range(clients)]
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_client(port, token, arrivals[i], connected[i], stop))
            for i in range(clients)
        ]
        await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 60)
        out.put("connected")
        await asyncio.to_thread(go.wait)
        deadline = time.time() + 60
        while time.time() < deadline and any(len(a) < events for a in arrivals):
            await asyncio.sleep(0.05)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.put(arrivals)

    asyncio.run(main())


def _phase(
    ctx: Any,
    port: int,
    token: str,
    clients: int,
    events: int,
    commands: Any,
    answers: Any,
    pid: int,
) -> dict[str, Any]:
    go, out = ctx.Event(), ctx.Queue()
    processes = min(CLIENT_PROCESSES, clients)
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    workers = [
        ctx.Process(target=_client_process, args=(port, token, n, events, go, out), daemon=True)
        for n in shares
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert out.get(timeout=120) == "connected"
    server = psutil.Process(pid)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.time()
    go.set()
    commands.put(("write", events))
    _, commits = answers.get(timeout=300)
    arrivals: list[dict[str, float]] = []
    for _ in workers:
        arrivals += out.get(timeout=120)
    wall = max(max(a.values(), default=started) for a in arrivals) - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    rss = server.memory_info().rss
    for worker in workers:
        worker.join(10)
    latencies = sorted(
        (a[event_id] - committed) * 1000
        for a in arrivals
        for event_id, committed in commits.items()
        if event_id in a
    )
    expected = clients * events
    return {
        "clients": clients,
        "events": events,
        "delivered": len(latencies) / expected,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "cpu": 100 * cpu / max(wall, 1e-9),
        "rss_mb": rss / 2**20,
        "write_rate": events / (max(commits.values()) - min(commits.values()) or 1),
    }


def _serve_and_measure(
    ctx: Any, plan: list[int], events: int, fetch_wait_ms: int | None
) -> list[dict[str, Any]]:
    """Start a server process, run one phase per entry of `plan` (clients), stop it."""
    commands, answers = ctx.Queue(), ctx.Queue()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process = ctx.Process(
            target=_server, args=(tmp, port, commands, answers, fetch_wait_ms), daemon=True
        )
        process.start()
        try:
            _, token = answers.get(timeout=120)
            assert process.pid is not None
            return [
                _phase(ctx, port, token, clients, events, commands, answers, process.pid)
                for clients in plan
            ]
        finally:
            commands.put(("stop", 0))
            process.join(30)
            if process.is_alive():
                process.terminate()


def run(quick: bool = False) -> None:
    """Print the commit → browser latency for 1 client (baseline) and for 50 clients, and for
    50 clients with the consumer's fetch wait lowered (see the note printed below); then the
    board in Chromium at rest and in a storm (`bench.board_browser`)."""
    clients, events = (10, 100) if quick else (50, 1000)
    ctx = mp.get_context("spawn")
    console.print("starting the server (embedded broker, relay, board consumer)…")
    rows = _serve_and_measure(ctx, [1, clients], events, None)
    rows += _serve_and_measure(ctx, [clients], events, SLOW_FETCH_WAIT_MS)
    names = ("baseline", "measured", f"fetch wait {SLOW_FETCH_WAIT_MS} ms (Kafka's default)")
    table = Table(title="board: commit → SSE client latency (goal p99 < 250 ms)")
    for column in (
        "run",
        "clients",
        "events",
        "delivered",
        "p50 ms",
        "p99 ms",
        "max ms",
        "commits/s",
        "server CPU %",
        "server RSS MB",
    ):
        table.add_column(column, justify="right")
    for name, row in zip(names, rows, strict=True):
        table.add_row(
            name,
            str(row["clients"]),
            str(row["events"]),
            f"{row['delivered']:.1%}",
            f"{row['p50']:.1f}",
            f"{row['p99']:.1f}",
            f"{row['max']:.1f}",
            f"{row['write_rate']:.0f}",
            f"{row['cpu']:.0f}",
            f"{row['rss_mb']:.0f}",
        )
    console.print(table)
    base, measured, slow = rows
    if base["p99"] > 0:
        console.print(
            f"p99 with {clients} clients / 1 client: {measured['p99'] / base['p99']:.2f}×"
        )
    console.print(
        "The board consumer's Kafka fetch sets a floor: the embedded broker does not answer a"
        " waiting fetch when new data arrives, so kafka-python waits out fetch_max_wait_ms."
        " The board polls every 20 ms for that reason; with Kafka's default"
        f" {SLOW_FETCH_WAIT_MS} ms (third row) p99 is {slow['p99']:.0f} ms instead of"
        f" {measured['p99']:.0f} ms. The writer runs in the server process, as the API does,"
        " so it shares the server's CPU."
    )
    board_browser.run(quick=quick)
