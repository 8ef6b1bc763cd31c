"""`nuanliu bench volunteers`: a city's volunteers from the first text to a certificate.

1. 3,446 people (the seed's roster size) text `报名 姓名 区` to the real intake path
   (`POST /api/sms/inbound` over HTTP → the intake's group commit → `nuanliu.sms.received`
   → the dispatch consumer → the approval queue), 16 at a time; timed until all are pending.
2. A dispatcher approves them all (the approval flow, one transaction; not the point here).
3. Each serves one to three 4-hour shifts of a past incident, checked in and out (ledger rows
   inserted in bulk: the certificates' cost is reading them, not writing them), a few with a
   forgotten check-out, a few early.
4. Certificates for all of them: the year's batch (`GET /api/certificates/{year}.zip`,
   streamed to a file), next to the one-at-a-time baseline measured in the same run (one
   `GET /api/volunteers/{id}/certificate.pdf` per volunteer, collected into a zip in memory,
   as a script would). The certificates table is emptied before each, so both issue every
   serial. Time, and the process's peak RSS above its level before (sampled every 20 ms:
   server and client are this one process; reportlab's C allocations count too).

The app is served by uvicorn on a loopback port (bench.serving): a test client would buffer
the whole zip and hide the streaming. A scratch SQLite file, or a database of its own on
BENCH_DATABASE_URL's PostgreSQL server. Printed, never asserted. `--quick`: 300 people.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func
from sqlmodel import Session, select

from bench.scratch import drop_scratch, scratch_database
from bench.serving import serve

console = Console(width=120)  # the table is wider than a terminal's default 80
PEOPLE = 3_446
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鹏辉"


class PeakRss:
    """A process's resident memory, sampled in a thread: the peak above the start."""

    def __init__(self, process: psutil.Process, every: float = 0.02) -> None:
        self.process = process
        self.every = every
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the bench waited too long")
        time.sleep(0.1)


def run(quick: bool = False) -> None:
    people = 300 if quick else PEOPLE
    from events.embedded import EmbeddedBroker

    url, admin_url = scratch_database(os.environ.get("BENCH_DATABASE_URL"))
    broker = EmbeddedBroker().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _run(url, broker.bootstrap, Path(tmp), people)
    finally:
        broker.stop()
        drop_scratch(url, admin_url)


def _run(url: str, bootstrap: str, tmp: Path, people: int) -> None:
    from coordinator.accounts.service import SYSTEM, create_token
    from coordinator.config import Settings
    from coordinator.db import make_engine
    from coordinator.demo import DATA
    from coordinator.geo.models import District
    from coordinator.volunteers import flows as signups
    from coordinator.volunteers.models import Volunteer
    from nuanliu.runtime import Runtime
    from nuanliu.schema import migrate

    settings = Settings(
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        NUANLIU_TOPIC_PREFIX=f"b{uuid.uuid4().hex[:8]}.",
        NUANLIU_SESSION_TIMEOUT_MS=3000,
        NUANLIU_HEARTBEAT_MS=500,
        NUANLIU_RELAY_IDLE=0.05,
        NUANLIU_RUN_SCHEDULER=False,
        NUANLIU_DATA_DIR=tmp,
        NUANLIU_PUBLIC_URL="https://nuanliu.example",
    )
    engine = make_engine(settings)
    migrate(engine)
    with Session(engine) as s:
        for d in DATA["districts"]:
            s.add(District(**d))
        token = create_token(session=s, role="dispatcher", label="bench")
        s.commit()
    districts = [d["name_zh"] for d in DATA["districts"]]
    rng = random.Random(20261204)
    texts = [
        (
            f"+86139{k:08d}",
            f"报名 {rng.choice(SURNAMES)}{''.join(rng.choices(GIVEN, k=rng.randint(1, 2)))} "
            f"{rng.choice(districts)}",
        )
        for k in range(people)
    ]
    rt = Runtime(settings, engine=engine, relay=True, consumers=("dispatch",)).start()
    served = serve(rt)
    headers = {"Authorization": f"Bearer {token}"}
    figures: dict[str, Any] = {}
    try:
        for runner in rt.runners.values():
            _wait(lambda r=runner: bool(r.assigned), 60)  # type: ignore[misc]
        with httpx.Client(base_url=served.url, headers=headers, timeout=600) as http:

            def text(item: tuple[str, str]) -> int:
                return http.post(
                    "/api/sms/inbound", json={"from": item[0], "body": item[1]}
                ).status_code

            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(text, texts))
            stored_s = time.perf_counter() - t0
            assert all(c == 201 for c in codes), {c for c in codes if c != 201}

            def pending() -> int:
                with Session(engine) as s:
                    return s.exec(select(func.count()).where(Volunteer.status == "pending")).one()

            _wait(lambda: pending() >= people, 600)
            queued_s = time.perf_counter() - t0
            figures["signups"] = (people, stored_s, queued_s)
            console.print(
                f"{people:,} sign-ups by SMS: stored in {stored_s:.1f} s, all pending "
                f"approval after {queued_s:.1f} s ({people / queued_s:,.0f}/s)"
            )

            t = time.perf_counter()
            with Session(engine) as s:
                ids = [v for v in s.exec(select(Volunteer.id).order_by(Volunteer.id)).all()]
                for vid in ids:
                    assert vid is not None
                    signups.approve(session=s, volunteer_id=vid, actor=SYSTEM)
                s.commit()
            console.print(f"approved {len(ids):,} in {time.perf_counter() - t:.1f} s")
            volunteer_ids = [v for v in ids if v is not None]
            year = _serve_shifts(engine, volunteer_ids, settings.timezone, rng)

    finally:
        served.stop()
        rt.stop()
    figures["batch"] = _measure(
        engine, settings, tmp, token, "batch", lambda http: _batch(http, year, tmp)
    )
    figures["one"] = _measure(
        engine, settings, tmp, token, "one", lambda http: _one_each(http, year, volunteer_ids)
    )
    engine.dispose()
    _print(figures)


def _batch(http: httpx.Client, year: int, tmp: Path) -> tuple[int, int, int]:
    """The year's zip streamed to a file: (certificates, zip bytes, bytes the client held)."""
    zip_path = tmp / "batch.zip"
    held = 0
    with http.stream("GET", f"/api/certificates/{year}.zip") as r, zip_path.open("wb") as out:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            held = max(held, len(chunk))
            out.write(chunk)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        members = len(archive.namelist())
    return members, zip_path.stat().st_size, held


def _one_each(http: httpx.Client, year: int, volunteer_ids: list[int]) -> tuple[int, int, int]:
    """One request per volunteer, the PDFs collected into a zip in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for vid in volunteer_ids:
            r = http.get(f"/api/volunteers/{vid}/certificate.pdf?year={year}")
            r.raise_for_status()
            archive.writestr(f"{vid}.pdf", r.content)
    size = buffer.getbuffer().nbytes
    return len(volunteer_ids), size, size


def _measure(
    engine: Any,
    settings: Any,
    tmp: Path,
    token: str,
    name: str,
    work: Callable[[httpx.Client], tuple[int, int, int]],
) -> tuple[int, float, float, int, int]:
    """`work` against a fresh `nuanliu api` process (so neither way inherits the other's
    memory), warmed up by one certificate first (the font read, the code imported), with
    the certificates table emptied: (certificates, seconds, the API process's peak RSS
    above its warm level in MiB, zip bytes, bytes the client held)."""
    from bench.cluster import Cluster, wait_until_serving
    from coordinator.records.models import Certificate
    from events.embedded import free_port

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "NUANLIU_TOPIC_PREFIX": settings.topic_prefix,
        "NUANLIU_RUN_SCHEDULER": "false",
        "NUANLIU_DATA_DIR": str(tmp),
        "NUANLIU_PUBLIC_URL": settings.public_base_url or "",
        "NUANLIU_PORT": str(port),
    }
    logs = tmp / f"logs-{name}"
    logs.mkdir()
    cluster = Cluster(env, logs)
    cluster.start("api")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=900) as http:
            warm = http.get("/api/volunteers/1/certificate.pdf")
            assert warm.status_code in (200, 409), warm.text
            with Session(engine) as s:
                s.exec(delete(Certificate))  # type: ignore[call-overload]
                s.commit()
            with PeakRss(psutil.Process(cluster.procs["api"].pid)) as memory:
                t = time.perf_counter()
                count, size, held = work(http)
                seconds = time.perf_counter() - t
    finally:
        cluster.stop()
    return count, seconds, memory.mib, size, held


def _serve_shifts(engine: Any, volunteer_ids: list[int], tz: str, rng: random.Random) -> int:
    """One to three shifts each, on 24 consecutive 4-hour tasks of one incident in the last
    four days; the local year they fall in."""
    from coordinator.common import utcnow
    from coordinator.dispatch.models import Assignment, Incident, ServiceRecord, Task

    now = utcnow().replace(minute=0, second=0, microsecond=0)
    base = now - timedelta(hours=4 * 24 + 2)
    t = time.perf_counter()
    with Session(engine) as s:
        incident = Incident(kind="ice_storm", level="orange", title="贵阳道路结冰", districts=[])
        s.add(incident)
        s.flush()
        tasks = [
            Task(
                incident_id=incident.id or 0,
                plan_key=f"bench:{i}",
                kind="de_icing",
                title="路面除冰",
                place=f"{i + 1}号路段",
                district_code="520103",
                lat=26.58,
                lon=106.71,
                slots=len(volunteer_ids),
                starts_at=base + timedelta(hours=4 * i),
                ends_at=base + timedelta(hours=4 * i + 4),
            )
            for i in range(24)
        ]
        s.add_all(tasks)
        s.flush()
        slots = [0] * len(tasks)
        pairs: list[tuple[Assignment, Task]] = []
        for k, vid in enumerate(volunteer_ids):
            for j in range(1 + k % 3):
                i = (k + 8 * j) % len(tasks)
                task = tasks[i]
                a = Assignment(
                    task_id=task.id or 0,
                    incident_id=incident.id or 0,
                    volunteer_id=vid,
                    slot=slots[i],
                    status="completed",
                    short_code="B1",
                )
                slots[i] += 1
                pairs.append((a, task))
        s.add_all([a for a, _ in pairs])
        s.flush()
        rows = []
        for a, task in pairs:
            arrived = task.starts_at + timedelta(minutes=rng.randint(-20, 25))
            common = {
                "assignment_id": a.id,
                "task_id": task.id,
                "volunteer_id": a.volunteer_id,
                "source": "sms",
                "actor": f"volunteer:{a.volunteer_id}",
            }
            rows.append(ServiceRecord(kind="check_in", at=arrived, **common))
            if rng.random() > 0.05:  # one in twenty forgets to check out
                left = task.ends_at - timedelta(minutes=rng.randint(0, 40))
                rows.append(ServiceRecord(kind="check_out", at=left, **common))
        s.add_all(rows)
        s.commit()
    console.print(
        f"{len(pairs):,} shifts served, {len(rows):,} ledger rows, in "
        f"{time.perf_counter() - t:.1f} s"
    )
    return base.astimezone(ZoneInfo(tz)).year


def _print(figures: dict[str, Any]) -> None:
    table = Table(title="Certificates for every volunteer: the batch zip and one at a time")
    for name in (
        "way",
        "certificates",
        "time",
        "per certificate",
        "API peak RSS +",
        "client held",
        "zip size",
    ):
        table.add_column(name, justify="right")
    for label, key in (
        ("one zip, streamed", "batch"),
        ("one request each (baseline)", "one"),
    ):
        count, seconds, mib, size, held = figures[key]
        table.add_row(
            label,
            f"{count:,}",
            f"{seconds:.1f} s",
            f"{1000 * seconds / max(count, 1):.1f} ms",
            f"{mib:.0f} MiB",
            f"{held / 2**20:.1f} MiB",
            f"{size / 2**20:.1f} MiB",
        )
    console.print(table)
