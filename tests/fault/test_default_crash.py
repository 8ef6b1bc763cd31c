"""The default a union runs, struck again and again: `nuanliu run` as one process on SQLite with
the embedded broker (memory only), killed with kill -9, SIGTERM and SIGINT at random moments
while an alert of about 1,000 slots is offered and volunteers answer, restarted each time on
the same data directory. Nothing acknowledged may be lost and nothing sent twice.

The phones answer what the database says was handed to the gateway (never the log: numbers
in logs are masked), and a reply counts as acknowledged only when the API answered 201.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

from consumers import consumer_tables
from consumers.redrive import scan
from coordinator.dispatch.models import HOLDING, Assignment, Task
from coordinator.geo.models import District
from coordinator.sms.models import SmsMessage
from coordinator.sms.service import HANDED_OVER
from events.embedded import free_port
from events.outbox import OutboxEvent
from nuanliu.check import check, report
from tests.conftest import wait_for
from tests.core.test_run_command import embedded_env
from tests.fault.test_crash import _playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]

TOKEN = "nl_default_crash_admin_token"
SLOTS = int(os.environ.get("NUANLIU_DEFAULT_CRASH_SLOTS", "1000"))
STRIKES = int(os.environ.get("NUANLIU_DEFAULT_CRASH_STRIKES", "20"))
STRIKE_KINDS = ("kill9", "sigterm", "sigint")


class Laptop:
    """`nuanliu run` on one data directory, started and struck again and again."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = embedded_env(
            tmp_path,
            NUANLIU_ADMIN_TOKEN=TOKEN,
            # the product's default: the test is about loss, and a shorter window lets offers
            # expire while a restart loop makes the consumers lag (a late yes then loses its
            # slot to the refill's accept, as it should, and no longer tells us anything)
            NUANLIU_OFFER_TIMEOUT="PT10M",
            NUANLIU_SHUTDOWN_GRACE="10",
            NUANLIU_KEEPER_INTERVAL="5",
            PYTHONUNBUFFERED="1",
        )
        self.logs = tmp_path / "run-logs"
        self.logs.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = open(self.logs / f"run-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nuanliu", "run", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        proc = self.proc

        def healthy() -> bool:
            assert proc.poll() is None, self.log(self.starts)
            try:
                return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=120, interval=0.3)

    def log(self, n: int) -> str:
        return (self.logs / f"run-{n}.log").read_text(errors="replace")[-4000:]

    def strike(self, kind: str) -> float:
        """Strike the process; returns how long it took to exit."""
        assert self.proc is not None
        sig = {"kill9": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT}[kind]
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        took = time.monotonic() - started
        if kind != "kill9":
            # an orderly stop: the runtime's shutdown ran (it prints why it stopped) and the
            # process ended by itself, not by the re-raised signal
            assert code == 0, f"{kind}: exit code {code}\n{self.log(self.starts)}"
            full = (self.logs / f"run-{self.starts}.log").read_text(errors="replace")
            assert "stopping (again to force)" in full, self.log(self.starts)
        return took

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Phones:
    """Volunteers answering every offer they were really sent, once: 85 % yes, 15 % no. A
    reply the server did not take (it was down) is sent again, as a provider retries."""

    def __init__(self, laptop: Laptop, db_url: str, rng: random.Random) -> None:
        self.laptop = laptop
        self.engine = create_engine(db_url)
        self.rng = rng
        self.answered: set[int] = set()
        self.waiting: list[tuple[int, str, str]] = []
        #: assignment id → the reply the API acknowledged with 201
        self.acknowledged: dict[int, str] = {}
        self.retries = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.http = httpx.Client(base_url=laptop.base, timeout=30)

    def start(self) -> Phones:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            try:
                self._read()
            except Exception as exc:  # the database is busy while the laptop starts
                self.errors.append(f"read: {exc!r}")
            self._send()

    def _read(self) -> None:
        with Session(self.engine) as s:
            rows = s.exec(
                select(SmsMessage.assignment_id, SmsMessage.phone, SmsMessage.body).where(
                    SmsMessage.direction == "outbound",
                    SmsMessage.kind == "offer",  # in either language
                    col(SmsMessage.status).in_(HANDED_OVER),
                )
            ).all()
        for aid, phone, _body in rows:
            if aid is None or aid in self.answered:
                continue
            self.answered.add(aid)
            with Session(self.engine) as s:
                code = s.get(Assignment, aid).short_code  # type: ignore[union-attr]
            choice = "2" if self.rng.random() < 0.15 else "1"
            self.waiting.append((aid, phone, f"{choice} {code}"))

    def _send(self) -> None:
        still: list[tuple[int, str, str]] = []
        for aid, phone, body in self.waiting:
            try:
                r = self.http.post(
                    "/api/sms/inbound",
                    json={"from": phone, "body": body},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            except httpx.HTTPError:
                still.append((aid, phone, body))
                self.retries += 1
                continue
            if r.status_code == 201:
                self.acknowledged[aid] = body
            elif r.status_code >= 500 or r.status_code == 409:
                still.append((aid, phone, body))
                self.retries += 1
            else:
                self.errors.append(f"{body} from {phone} → {r.status_code}: {r.text[:200]}")
        self.waiting = still

    @property
    def idle(self) -> bool:
        return not self.waiting


def _quiet(engine: Any) -> bool:
    with Session(engine) as s:
        pending = s.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(col(OutboxEvent.published_at).is_(None))
        ).one()
        queued = s.exec(
            select(func.count())
            .select_from(SmsMessage)
            .where(col(SmsMessage.status).in_(("queued", "sending")))
        ).one()
        owed = scan(s, consumer_tables()).owed
    return pending == 0 and queued == 0 and not owed


@pytest.mark.timeout(1200)
def test_the_default_struck_twenty_times_loses_nothing_and_sends_nothing_twice(tmp_path, request):
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("the default runs on SQLite; this test makes its own and runs in that pass")
    rng = random.Random(int(os.environ.get("NUANLIU_DEFAULT_CRASH_SEED", "20140105")))
    laptop = Laptop(tmp_path)
    db_url = laptop.env["DATABASE_URL"]
    engine = create_engine(db_url)
    laptop.start()
    phones = Phones(laptop, db_url, rng)
    strikes: Counter[str] = Counter()
    stop_times: dict[str, list[float]] = {k: [] for k in STRIKE_KINDS}
    try:
        with Session(engine) as s:
            districts = [d.code for d in s.exec(select(District)).all()]
        http, auth = phones.http, {"Authorization": f"Bearer {TOKEN}"}
        r = http.put(
            "/api/playbooks/ice_storm", json=_playbook(SLOTS, len(districts)), headers=auth
        )
        assert r.status_code == 200, r.text
        storm = {
            "kind": "ice_storm",
            "level": "red",
            "districts": districts,
            "headline": "贵阳市气象台发布道路结冰红色预警",
        }
        r = http.post("/api/alerts", json=storm, headers=auth)
        assert r.status_code == 202, r.text
        phones.start()
        # the first strike lands while the alert is still on its way, as in the issue
        time.sleep(rng.uniform(0.2, 0.8))
        kinds = [STRIKE_KINDS[i % 3] for i in range(STRIKES)]
        rng.shuffle(kinds)
        for n, kind in enumerate(kinds, 1):
            stop_times[kind].append(laptop.strike(kind))
            strikes[kind] += 1
            print(f"strike {n}/{STRIKES}: {kind}", flush=True)
            laptop.start()
            time.sleep(rng.uniform(0.5, 4.0))

        # once the phones have nothing left to say and the laptop nothing left to do
        def settled() -> bool:
            return phones.idle and _quiet(engine)

        wait_for(settled, timeout=300, interval=1.0)
        time.sleep(2.0)
        wait_for(settled, timeout=60, interval=1.0)
        phones.stop()

        with Session(engine) as s:
            tasks = s.exec(select(Task)).all()
            holding = Counter(
                s.exec(select(Assignment.task_id).where(col(Assignment.status).in_(HOLDING))).all()
            )
            assignments = {a.id: a for a in s.exec(select(Assignment)).all()}
            sent = s.exec(
                select(SmsMessage.id, SmsMessage.assignment_id, SmsMessage.kind).where(
                    SmsMessage.direction == "outbound",
                    col(SmsMessage.status).in_(HANDED_OVER),
                )
            ).all()
            breaches = check(session=s, grace=timedelta(0))
        # every slot filled, offered or flagged unfillable
        assert tasks, "the alert planned no tasks"
        assert sum(t.slots for t in tasks) >= SLOTS * 0.9
        short = [t.id for t in tasks if holding[t.id] < t.slots and not t.unfillable]
        assert not short, f"tasks with a slot nobody holds and not flagged: {short}"
        # every acknowledged yes counted
        yes = {aid for aid, body in phones.acknowledged.items() if body.startswith("1 ")}
        lost = [aid for aid in yes if assignments[aid].status not in ("accepted", "completed")]
        why = Counter((assignments[aid].status, assignments[aid].closed_reason) for aid in lost)
        assert not lost, f"{len(lost)} acknowledged yes not counted: {lost[:10]} {why}"
        no = {aid for aid, body in phones.acknowledged.items() if body.startswith("2 ")}
        lost_no = [aid for aid in no if assignments[aid].status != "declined"]
        assert not lost_no, f"{len(lost_no)} acknowledged no not applied: {lost_no[:10]}"
        # nobody told an offer expired that never reached them, and no text sent twice
        texted = {aid for _, aid, tpl in sent if tpl == "offer"}
        phantom = [aid for _, aid, tpl in sent if tpl == "expired" and aid not in texted]
        assert not phantom, f"expiry texts for offers never texted: {phantom[:10]}"
        twice = Counter((aid, tpl) for _, aid, tpl in sent if aid is not None)
        doubled = {k: n for k, n in twice.items() if n > 1}
        assert not doubled, f"texts sent twice: {list(doubled.items())[:10]}"
        assert not breaches, report(breaches)
        assert not phones.errors or all(e.startswith("read:") for e in phones.errors), (
            phones.errors[:5]
        )
        offers = sum(1 for _, _, tpl in sent if tpl == "offer")
        print(
            f"\ndefault crash: {sum(strikes.values())} strikes {dict(strikes)}; "
            f"{sum(t.slots for t in tasks)} slots in {len(tasks)} tasks; {offers} offers texted; "
            f"{len(yes)} yes and {len(no)} no acknowledged, {phones.retries} replies retried; "
            "stop times (s): "
            + ", ".join(f"{k} max {max(v):.1f}" for k, v in stop_times.items() if v),
            flush=True,
        )
    finally:
        phones.stop() if phones._thread.is_alive() else None
        laptop.stop()
        engine.dispose()
