"""`nuanliu run` as a newcomer types it: everything starts embedded, the demo data is there,
and Ctrl-C (SIGINT) or SIGTERM stops everything, the broker included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from events.embedded import free_port
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def embedded_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh laptop: SQLite in `tmp_path`, no broker configured."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/nuanliu.db",
        "NUANLIU_DATA_DIR": str(tmp_path),
        **extra,
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    """Until /healthz answers 200; fails with the process's output if it exits first."""

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            return False

    wait_for(healthy, timeout=120, interval=0.5)


def test_nuanliu_run_starts_embedded_with_demo_data_and_stops_cleanly(tmp_path):
    port = free_port()
    env = embedded_env(
        tmp_path,
        # a data folder that does not exist yet, as on a fresh machine
        NUANLIU_DATA_DIR=str(tmp_path / "data"),
        NUANLIU_ADMIN_TOKEN="nl_test_admin_token_for_run",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuanliu", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(proc, port)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("tansu" in " ".join(c.cmdline()) for c in children)
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/stations",
            headers={"Authorization": "Bearer nl_test_admin_token_for_run"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert any("金阳" in str(s) for s in r.json() if isinstance(s, dict)) or "金阳" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "http://127.0.0.1:" in out and "/board" in out
    time.sleep(0.5)
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child.cmdline()


def test_embedded_broker_dies_with_its_parent_even_on_kill_9(tmp_path):
    env = embedded_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuanliu", "worker", "relay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    parent = psutil.Process(proc.pid)

    def broker_child() -> psutil.Process | None:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        kids = [c for c in parent.children(recursive=True) if "tansu" in " ".join(c.cmdline())]
        return kids[0] if kids else None

    broker = wait_for(broker_child, timeout=60, interval=0.2)
    proc.kill()  # SIGKILL: no atexit, no finally
    proc.wait(10)
    wait_for(lambda: not broker.is_running() or broker.status() == psutil.STATUS_ZOMBIE, timeout=10)


def test_nuanliu_api_with_workers_serves_from_several_processes(tmp_path, broker, database_url):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "NUANLIU_TOPIC_PREFIX": f"apiw{port}.",
        "NUANLIU_DATA_DIR": str(tmp_path),
        "NUANLIU_ADMIN_TOKEN": "nl_test_admin_token_for_workers",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuanliu", "api", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(proc, port)

        def api_processes() -> list[psutil.Process]:
            kids = psutil.Process(proc.pid).children()
            return [c for c in kids if "spawn_main" in " ".join(c.cmdline())]

        workers = wait_for(lambda: len(api_processes()) >= 2 and api_processes(), timeout=30)
        assert len(workers) == 2
        # every process answers with the one database: a token made by the parent works
        for _ in range(6):
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/incidents",
                headers={"Authorization": "Bearer nl_test_admin_token_for_workers"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_api_workers_refuse_the_embedded_broker_in_one_line(tmp_path):
    env = embedded_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "nuanliu", "api", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers needs KAFKA_BOOTSTRAP_SERVERS" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _run(tmp_path: Path, port: int, **extra: str) -> subprocess.Popen[str]:
    env = embedded_env(tmp_path, NUANLIU_ADMIN_TOKEN="nl_test_admin_token_for_run", **extra)
    return subprocess.Popen(
        [sys.executable, "-m", "nuanliu", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_work_in_hand_finish_before_the_broker_stops(tmp_path, sig):
    """SIGTERM used to end the process before the runtime's shutdown (uvicorn re-raised it),
    and SIGINT stopped the broker with events nobody had applied: an alert posted just before
    the signal was never planned. Now the offers it makes are all texted before the exit."""
    from sqlalchemy import create_engine
    from sqlmodel import Session, col, func, select

    from consumers import consumer_tables
    from consumers.redrive import scan
    from coordinator.dispatch.models import Assignment
    from coordinator.sms.models import SmsMessage

    port = free_port()
    proc = _run(tmp_path, port, NUANLIU_SHUTDOWN_GRACE="120")
    try:
        wait_healthy(proc, port)
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/alerts",
            json={
                "kind": "ice_storm",
                "level": "orange",
                "districts": ["云岩区", "南明区"],
                "headline": "贵阳市道路结冰橙色预警",
            },
            headers={"Authorization": "Bearer nl_test_admin_token_for_run"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "stopping (again to force)" in out and "Traceback" not in out, out
    engine = create_engine(f"sqlite:///{tmp_path}/nuanliu.db")
    with Session(engine) as s:
        offers = s.exec(select(func.count()).select_from(Assignment)).one()
        texted = s.exec(
            select(func.count())
            .select_from(SmsMessage)
            # the kind: the template id of an English offer is "offer.en"
            .where(SmsMessage.kind == "offer", col(SmsMessage.status) == "sent")
        ).one()
        owed = scan(s, consumer_tables()).owed
    engine.dispose()
    assert offers > 0 and texted == offers, (offers, texted)
    assert owed == []


def test_a_second_signal_stops_at_once(tmp_path):
    port = free_port()
    proc = _run(tmp_path, port, NUANLIU_SHUTDOWN_GRACE="300")
    try:
        wait_healthy(proc, port)
        httpx.post(
            f"http://127.0.0.1:{port}/api/alerts",
            json={
                "kind": "ice_storm",
                "level": "red",
                "districts": ["云岩区", "南明区", "花溪区", "乌当区", "白云区", "观山湖区"],
                "headline": "贵阳市道路结冰红色预警",
            },
            headers={"Authorization": "Bearer nl_test_admin_token_for_run"},
            timeout=30,
        )
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert took < 20, f"a second SIGTERM took {took:.1f} s\n{out}"
    assert "Traceback" not in out, out
