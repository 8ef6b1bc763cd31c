"""The crash test: every worker a separate process against the real broker and the test
database; an ice-storm alert with simulated phones; `kill -9` of a random worker at random
moments, at least 20 times, each restarted at once. At the end the checker is clean, every
slot is settled and no volunteer got any text twice.

Size: `CRASH_SLOTS` slots (default 150, to keep the run under two minutes on two shared
cores); the issue's 2,000 slots run with `NUANLIU_CRASH_SLOTS=2000` (and more time).

The phones answer only what they received: the console gateway's log lines in the workers'
output, so a text lost to a kill between claim and send is never answered, its offer expires
(the test plays the scheduler's expiry sweep) and the slot is offered again."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.check import check
from coordinator.config import Settings
from coordinator.dispatch import flows as dispatch_flows
from coordinator.dispatch.models import FILLED, Assignment, Task
from coordinator.sms.models import SmsMessage
from events.embedded import EmbeddedBroker
from events.outbox import OutboxEvent
from tests.conftest import bearer

pytestmark = [pytest.mark.fault, pytest.mark.integration]

WORKERS = ("dispatch", "notify", "provision", "inventory", "relay")
CRASH_SLOTS = int(os.environ.get("NUANLIU_CRASH_SLOTS", "150"))
KILLS = 20
DISTRICTS = ["云岩区", "南明区", "观山湖区"]
OFFER_TIMEOUT_S = 25
SENT_LINE = re.compile(r"SMS \(console\) to (\+\d+): (.*)$")
OFFER_CODE = re.compile(r"(?:编号|\(ref )([A-Z0-9]{2,8})[)）]")


class Workers:
    """The worker processes, each writing to its own log (appended across restarts)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()

    def start(self, name: str) -> None:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child owns it)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "worker", name],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def kill9(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills[name] += 1

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def texts(self) -> list[tuple[str, str]]:
        """(phone, body) of every text the console gateway sent, across all restarts."""
        out = []
        for path in self.logs.glob("*.log"):
            for line in path.read_text(errors="replace").splitlines():
                m = SENT_LINE.search(line)
                if m:
                    out.append((m.group(1), m.group(2)))
        return out


def _playbook(slots: int) -> dict[str, Any]:
    per = max(1, slots // len(DISTRICTS))
    return {
        "scale": {"blue": 1, "yellow": 1, "orange": 1, "red": 1},
        "tasks": [
            {
                "key": "deice",
                "kind": "de_icing",
                "title_zh": "路面除冰",
                "title_en": "Road de-icing",
                "per": "district",
                "slots": per,
                "hours": 4,
            }
        ],
    }


def _settled(engine: Engine) -> tuple[bool, str]:
    """Every task full or flagged unfillable, no offer open, nothing left to publish or send."""
    with Session(engine) as s:
        tasks = s.exec(select(Task)).all()
        filled = dict(
            s.exec(
                select(Assignment.task_id, func.count())
                .where(col(Assignment.status).in_(FILLED))
                .group_by(col(Assignment.task_id))
            ).all()
        )
        open_offers = s.exec(
            select(func.count()).select_from(Assignment).where(Assignment.status == "offered")
        ).one()
        pending = s.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(col(OutboxEvent.published_at).is_(None))
        ).one()
        queued = s.exec(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.status == "queued")
        ).one()
    short = [t.id for t in tasks if filled.get(t.id, 0) < t.slots and not t.unfillable]
    done = bool(tasks) and not short and not open_offers and not pending and not queued
    total = sum(filled.values())
    return done, (
        f"tasks={len(tasks)} filled={total} short_tasks={len(short)} open_offers={open_offers}"
        f" outbox_pending={pending} sms_queued={queued}"
    )


def test_kill_9_workers_at_random_and_nothing_is_lost_or_doubled(
    settings: Settings,
    engine: Engine,
    broker: EmbeddedBroker,
    tokens: dict[str, str],
    tmp_path: Path,
) -> None:
    from coordinator.main import create_app

    rng = random.Random(int(os.environ.get("NUANLIU_CRASH_SEED", "20140105")))
    settings = settings.model_copy(update={"offer_timeout": timedelta(seconds=OFFER_TIMEOUT_S)})
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "NUANLIU_TOPIC_PREFIX": settings.topic_prefix,
        "NUANLIU_SESSION_TIMEOUT_MS": "3000",
        "NUANLIU_HEARTBEAT_MS": "500",
        "NUANLIU_RELAY_IDLE": "0.05",
        "NUANLIU_RUN_SCHEDULER": "false",
        "NUANLIU_OFFER_TIMEOUT": f"PT{OFFER_TIMEOUT_S}S",
        "NUANLIU_SMS_GATEWAY": "console",
        "NUANLIU_DATA_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    workers = Workers(env, tmp_path)
    rt: Any = SimpleNamespace(settings=settings, engine=engine, bootstrap=broker.bootstrap)
    token = tokens["dispatcher"]
    answered: set[tuple[str, str]] = set()
    replies: Counter[str] = Counter()
    status = ""
    try:
        for name in WORKERS:
            workers.start(name)
        with TestClient(create_app(runtime=rt)) as api:
            r = api.put(
                "/api/playbooks/ice_storm", json=_playbook(CRASH_SLOTS), headers=bearer(token)
            )
            assert r.status_code == 200, r.text
            r = api.post(
                "/api/alerts",
                json={
                    "kind": "ice_storm",
                    "level": "orange",
                    "districts": DISTRICTS,
                    "headline": "贵阳市气象台发布道路结冰橙色预警",
                },
                headers=bearer(token),
            )
            assert r.status_code == 202, r.text

            deadline = time.monotonic() + 150
            next_kill = time.monotonic() + rng.uniform(1.0, 3.0)
            settled_since: float | None = None
            while time.monotonic() < deadline:
                now = time.monotonic()
                if sum(workers.kills.values()) < KILLS and now >= next_kill:
                    victim = rng.choice(WORKERS)
                    workers.kill9(victim)
                    workers.start(victim)
                    next_kill = now + rng.uniform(1.0, 4.0)
                # the phones: answer each offer text once, as it arrives
                for phone, body in workers.texts():
                    m = OFFER_CODE.search(body)
                    if not m or ("回复1接受" not in body and "Reply 1" not in body):
                        continue
                    if (phone, m.group(1)) in answered:
                        continue
                    answered.add((phone, m.group(1)))
                    choice = "2" if rng.random() < 0.15 else "1"
                    replies[choice] += 1
                    r = api.post(
                        "/api/sms/inbound",
                        json={"from": phone, "body": f"{choice} {m.group(1)}"},
                        headers=bearer(token),
                    )
                    assert r.status_code == 201, r.text
                # the scheduler's expiry sweep, so an offer whose text was lost is offered again
                with Session(engine) as s:
                    dispatch_flows.expire_overdue(session=s)
                    s.commit()
                done, status = _settled(engine)
                if done and sum(workers.kills.values()) >= KILLS:
                    settled_since = settled_since or now
                    if now - settled_since > 3:  # stays settled: nothing more in flight
                        break
                else:
                    settled_since = None
                time.sleep(0.3)
    finally:
        workers.stop()

    print(f"crash test: kills={dict(workers.kills)} replies={dict(replies)} {status}")
    assert sum(workers.kills.values()) >= KILLS
    assert settled_since is not None, f"not settled in time: {status}"

    with Session(engine) as s:
        breaches = check(session=s, grace=timedelta(0))
        doubled = s.exec(
            select(SmsMessage.assignment_id, SmsMessage.kind, func.count())
            .where(SmsMessage.direction == "outbound", col(SmsMessage.assignment_id).is_not(None))
            .group_by(col(SmsMessage.assignment_id), col(SmsMessage.kind))
            .having(func.count() > 1)
        ).all()
        lost = s.exec(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.status == "sending")
        ).one()
    print(f"crash test: texts claimed but never handed to the gateway (killed mid-send): {lost}")
    assert breaches == [], "\n".join(map(str, breaches))
    assert doubled == [], f"outbound texts queued twice: {doubled}"
    # texts naming an offer code are unique per offer; the others (expired, declined) read the
    # same for two offers of one task title, and are checked per assignment above
    sent = Counter(t for t in workers.texts() if OFFER_CODE.search(t[1]))
    twice = {k: n for k, n in sent.items() if n > 1}
    assert not twice, f"a volunteer's phone got the same text twice: {twice}"
    assert replies["1"] > 0 and replies["2"] > 0
