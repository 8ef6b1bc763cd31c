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
import json
import multiprocessing as mp
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

console = Console()


#: events committed per second: a busy storm night, well above what dispatch produces, paced so
#: the latency measured is the pipeline's, not a queue of a burst
RATE = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server process ------------------------------------------------------------------------
def _server(data_dir: str, port: int, commands: Any, answers: Any) -> None:
    import logging
    import threading

    import uvicorn
    from sqlmodel import Session

    from coordinator.accounts.service import create_token
    from coordinator.config import Settings
    from coordinator.main import create_app
    from coordinator.runtime import Runtime
    from events.outbox import stage
    from events.payloads.sms import SmsSent

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
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime=runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    runner = runtime.runners["board"]
    runner.ready.wait(30)
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
    from coordinator.board.hub import hub_for

    hub_for(runtime.services).close_all()
    server.should_exit = True
    thread.join(10)
    runtime.stop()


# -- the clients -------------------------------------------------------------------------------
async def _client(
    url: str, token: str, arrivals: dict[str, float], connected: asyncio.Event, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(None)) as http,
        http.stream("GET", f"{url}/board/stream", headers=headers) as response,
    ):
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "snapshot":
                    connected.set()
                elif event == "board":
                    arrivals[json.loads(line[5:])["id"]] = time.time()
            if stop.is_set():
                return


async def _phase(
    url: str, token: str, clients: int, events: int, commands: Any, answers: Any, pid: int
) -> dict[str, Any]:
    arrivals: list[dict[str, float]] = [{} for _ in range(clients)]
    connected = [asyncio.Event() for _ in range(clients)]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_client(url, token, arrivals[i], connected[i], stop))
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 60)
    server = psutil.Process(pid)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.time()
    commands.put(("write", events))
    _, commits = await asyncio.to_thread(answers.get)
    deadline = time.time() + 60
    while time.time() < deadline and any(len(a) < events for a in arrivals):
        await asyncio.sleep(0.05)
    wall = time.time() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    rss = server.memory_info().rss
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
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
        "cpu": 100 * cpu / wall,
        "rss_mb": rss / 2**20,
        "write_rate": events / (max(commits.values()) - min(commits.values()) or 1),
    }


def run(quick: bool = False) -> None:
    """Print the commit → browser latency for 1 client (baseline) and for 50 clients."""
    clients, events = (10, 100) if quick else (50, 1000)
    ctx = mp.get_context("spawn")
    commands, answers = ctx.Queue(), ctx.Queue()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).mkdir(exist_ok=True)
        process = ctx.Process(target=_server, args=(tmp, port, commands, answers), daemon=True)
        process.start()
        try:
            console.print("starting the server (embedded broker, relay, board consumer)…")
            _, token = answers.get(timeout=120)
            url = f"http://127.0.0.1:{port}"
            assert process.pid is not None
            rows = [
                asyncio.run(_phase(url, token, 1, events, commands, answers, process.pid)),
                asyncio.run(_phase(url, token, clients, events, commands, answers, process.pid)),
            ]
        finally:
            commands.put(("stop", 0))
            process.join(30)
            if process.is_alive():
                process.terminate()
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
    for name, row in zip(("baseline", "measured"), rows, strict=True):
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
    base, measured = rows
    if base["p99"] > 0:
        console.print(
            f"p99 with {clients} clients / 1 client: {measured['p99'] / base['p99']:.2f}×"
        )
