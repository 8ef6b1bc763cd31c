"""`nuanliu bench pipeline`: events from the outbox through the broker into a consumer that
records each one in the database, next to raw kafka-python producing and consuming the same
messages in the same run, with the same consumer settings (`fetch_max_wait_ms`, session and
heartbeat). Every consume rate is timed from the moment the group assigned the partitions;
the group join is printed on its own line. Printed, never asserted."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlmodel import Session, col, select

from consumers.models import ProcessedEvent
from consumers.registry import Context, Handlers
from consumers.runner import ConsumerRunner, RunnerConfig
from coordinator.config import Settings
from coordinator.db import make_engine
from coordinator.process import Services
from events.bus import ensure_topics, make_consumer, make_producer
from events.embedded import EmbeddedBroker
from events.envelope import Envelope, encode
from events.outbox import OutboxEvent, Relay, stage
from events.payloads.incidents import IncidentClosed
from events.topics import all_topic_names
from nuanliu.schema import migrate

console = Console()

#: the pipeline's consumer settings, which the raw baseline uses too
CONFIG = RunnerConfig(bootstrap="", prefix="", session_timeout_ms=3000, heartbeat_ms=500)


@dataclass(frozen=True)
class Rates:
    produce: float
    consume: float
    #: subscribe → partitions assigned, excluded from `consume`
    join_s: float


def _payload(i: int) -> IncidentClosed:
    # ~300 bytes on the wire with the CloudEvents headers
    return IncidentClosed(incident_id=i, reason="道路结冰已清除 " + "x" * 60)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} CPUs"


def raw_kafka(bootstrap: str, n: int) -> Rates:
    """kafka-python alone: `n` messages produced, then consumed by a group member with the
    pipeline consumer's settings, timed from its assignment."""
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic])
    key, value, headers = encode(Envelope.wrap(_payload(1)))
    producer = make_producer(bootstrap)
    started = time.perf_counter()
    for _ in range(n):
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    produce_rate = n / (time.perf_counter() - started)
    producer.close()
    consumer = make_consumer(
        bootstrap,
        f"raw-{uuid.uuid4().hex[:6]}",
        [topic],
        session_timeout_ms=CONFIG.session_timeout_ms,
        heartbeat_interval_ms=CONFIG.heartbeat_ms,
        fetch_max_wait_ms=CONFIG.fetch_max_wait_ms,
    )
    subscribed = time.perf_counter()
    got = 0
    while not consumer.assignment():
        got += sum(len(r) for r in consumer.poll(timeout_ms=100).values())
    assigned = time.perf_counter()
    while got < n:
        got += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
    consume_rate = n / (time.perf_counter() - assigned)
    consumer.close()
    return Rates(produce_rate, consume_rate, assigned - subscribed)


def _stage_many(engine, first: int, count: int, per_txn: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for lo in range(first, first + count, per_txn):
        with Session(engine) as s:
            for i in range(lo, min(first + count, lo + per_txn)):
                stage(s, _payload(i))
            s.commit()


def pipeline(bootstrap: str, n: int, workdir: Path, steady_s: float) -> dict[str, float]:
    """Two measures: how fast a backlog of `n` committed events drains through relay, broker
    and consumer, timed from the consumer's assignment (the relay starts then); and
    commit→applied latency at a steady 100 events/s, one per transaction."""
    prefix = f"b{uuid.uuid4().hex[:6]}."
    ensure_topics(bootstrap, all_topic_names(prefix))
    settings = Settings(DATABASE_URL=f"sqlite:///{workdir}/bench.db")
    engine = make_engine(settings)
    migrate(engine)
    handlers = Handlers("bench")

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        """Recording the event is the work: the runner writes (consumer, event id)."""

    with Progress(transient=True) as bar:
        task = bar.add_task("staging the backlog", total=n)
        for lo in range(0, n, 5000):
            _stage_many(engine, lo, min(5000, n - lo))
            bar.update(task, completed=min(n, lo + 5000))
    relay = Relay(engine, bootstrap, prefix, batch_size=1000, idle_s=0.01)
    config = RunnerConfig(
        bootstrap=bootstrap,
        prefix=prefix,
        session_timeout_ms=CONFIG.session_timeout_ms,
        heartbeat_ms=CONFIG.heartbeat_ms,
        fetch_max_wait_ms=CONFIG.fetch_max_wait_ms,
    )
    runner = ConsumerRunner(
        handlers, engine, config, services=Services(settings=settings, engine=engine)
    )
    subscribed = time.perf_counter()
    runner.start()
    while not runner.assigned:
        time.sleep(0.01)
    started = time.perf_counter()
    join_s = started - subscribed
    relay.start()
    with Progress(transient=True) as bar:
        task = bar.add_task("draining", total=n)
        while runner.applied < n:
            bar.update(task, completed=runner.applied)
            time.sleep(0.05)
    rate = n / (time.perf_counter() - started)

    # steady load: one event per transaction, as the API writes them
    first = n
    count = int(steady_s * 100)
    for i in range(count):
        _stage_many(engine, first + i, 1)
        time.sleep(0.01)
    deadline = time.monotonic() + 60
    while runner.applied < n + count and time.monotonic() < deadline:
        time.sleep(0.05)
    relay.stop()
    runner.stop()
    with Session(engine) as s:
        steady = {
            r.event_id: r.created_at
            for r in s.exec(select(OutboxEvent).where(col(OutboxEvent.id) > n)).all()
        }
        latencies = sorted(
            (p.applied_at - steady[p.event_id]).total_seconds() * 1000
            for p in s.exec(select(ProcessedEvent)).all()
            if p.event_id in steady
        )
    engine.dispose()
    q = statistics.quantiles(latencies, n=100)
    return {"rate": rate, "join_s": join_s, "p50": q[49], "p99": q[98]}


def run(quick: bool = False) -> None:
    # 20,000 ~300-byte events take about a second raw: enough that a rate is not noise
    n = 20_000 if quick else 100_000
    process = psutil.Process()
    broker = EmbeddedBroker().start()
    load_before = _load()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            console.print(f"raw kafka-python, {n:,} messages…")
            raw = raw_kafka(broker.bootstrap, n)
            console.print(f"pipeline (outbox → relay → broker → consumer → SQLite), {n:,} events…")
            result = pipeline(broker.bootstrap, n, Path(tmp), steady_s=3 if quick else 10)
    finally:
        broker.stop()
    rss = process.memory_info().rss / 2**20
    table = Table(
        title=f"bench pipeline — {n:,} events of ~300 bytes, SQLite, embedded broker, "
        f"fetch_max_wait_ms={CONFIG.fetch_max_wait_ms} for both consumers"
    )
    for name in ("measure", "events/s", "p50 ms", "p99 ms", "vs slower raw"):
        table.add_column(name, justify="right")
    table.add_row("raw produce (kafka-python)", f"{raw.produce:,.0f}", "", "", "")
    table.add_row("raw consume (kafka-python), from assignment", f"{raw.consume:,.0f}", "", "", "")
    table.add_row(
        "pipeline: backlog drain, from assignment",
        f"{result['rate']:,.0f}",
        "",
        "",
        f"{result['rate'] / min(raw.produce, raw.consume):.2f}×",
    )
    table.add_row(
        "pipeline: commit → applied at 100/s",
        "",
        f"{result['p50']:.0f}",
        f"{result['p99']:.0f}",
        "",
    )
    console.print(table)
    console.print(
        f"group join (excluded from the rates): raw {raw.join_s:.2f} s, "
        f"pipeline {result['join_s']:.2f} s"
    )
    console.print(f"{load_before} before, {_load()} after")
    console.print(
        f"process RSS after the run: {rss:.0f} MB (goal < 300 MB); "
        f"goal: pipeline drain ≥ 0.5× the slower raw rate "
        "(the pipeline produces and consumes at once, on the same cores)"
    )
