"""Start-up, settings, health, metrics and the demo data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlmodel import Session, func, select

from coordinator.config import Settings
from coordinator.demo import ROSTER_SIZE
from coordinator.geo.models import District
from coordinator.logistics.models import Item, Place
from coordinator.volunteers.models import Volunteer
from coordinator.volunteers.service import normalise_phone
from events.embedded import free_port


def _nuanliu(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nuanliu", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "not a url at all"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "mysql://x@localhost/db"}, "must be sqlite:// or postgresql://"),
        ({"NUANLIU_OFFER_TIMEOUT": "ten minutes"}, "bad setting NUANLIU_OFFER_TIMEOUT"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(env, expected, tmp_path):
    result = _nuanliu("worker", "relay", env={"NUANLIU_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 2


def test_unreachable_broker_fails_with_one_clear_line(tmp_path):
    result = _nuanliu(
        "worker",
        "relay",
        env={
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "NUANLIU_BROKER_CONNECT_TIMEOUT": "2",
        },
    )
    assert result.returncode == 2
    assert "cannot reach the Kafka broker" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_fails_with_one_clear_line(tmp_path):
    result = _nuanliu(
        "worker",
        "relay",
        env={"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/none"},
    )
    assert result.returncode == 2
    assert "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_read_the_documented_environment_variables(monkeypatch):
    monkeypatch.setenv("NUANLIU_OFFER_TIMEOUT", "PT5M")
    monkeypatch.setenv("NUANLIU_CAP_FEEDS", "https://a.example/cap.xml, https://b.example/x")
    monkeypatch.setenv("NUANLIU_SMS_GATEWAY", "twilio")
    s = Settings()
    assert s.offer_timeout.total_seconds() == 300
    assert s.cap_feeds == ["https://a.example/cap.xml", "https://b.example/x"]
    assert s.sms_gateway == "twilio"
    assert Settings(DATABASE_URL="postgresql://u@h/db").sqlalchemy_url.startswith(
        "postgresql+psycopg://"
    )


def test_demo_data_is_guiyang_as_the_seed_describes(session: Session, demo):
    districts = {d.name_zh: d.code for d in session.exec(select(District)).all()}
    assert len(districts) == 10
    assert districts["云岩区"] == "520103" and districts["南明区"] == "520102"
    assert districts["观山湖区"] == "520115" and districts["息烽县"] == "520122"
    volunteers = session.exec(select(Volunteer)).all()
    assert len(volunteers) == ROSTER_SIZE == 3446
    assert len({v.phone for v in volunteers}) == ROSTER_SIZE
    for v in volunteers[:200]:
        assert normalise_phone(v.phone) == v.phone and v.phone.startswith("+861")
    by_code = {d.code: d for d in session.exec(select(District)).all()}
    from coordinator.geo.service import haversine_km

    for v in volunteers:
        d = by_code[v.district_code]
        assert haversine_km(v.lat, v.lon, d.lat, d.lon) <= d.radius_km + 0.01
    stations = {p.name_en for p in session.exec(select(Place).where(Place.kind == "station"))}
    assert {
        "Jinyang bus station",
        "Longdongbao bus station",
        "Guiyang railway station",
        "Guiyang North railway station",
    } <= stations
    assert len(stations) == 12
    items = {i.name_zh for i in session.exec(select(Item)).all()}
    assert {"方便面", "饼干", "蛋糕", "饮用水", "晕车药", "感冒药", "返乡车票"} <= items
    assert (
        session.exec(select(func.count()).select_from(Place).where(Place.kind == "warehouse")).one()
        == 1
    )


def test_healthz_reports_database_and_broker(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_down(make_runtime, settings, engine):
    from fastapi.testclient import TestClient

    from nuanliu.app import create_app

    rt = make_runtime(relay=False)
    rt.bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(create_app(runtime=rt)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["broker"] == "down" and r.json()["database"] == "ok"


def test_metrics_expose_the_pipeline_and_not_secrets(client, engine):
    from events.outbox import stage
    from events.payloads.incidents import IncidentClosed

    with Session(engine) as s:
        stage(s, IncidentClosed(incident_id=1, reason="x"))
        s.commit()
    body = client.get("/metrics").text
    for name in (
        "nuanliu_events_published_total",
        "nuanliu_events_consumed_total",
        "nuanliu_events_dead_lettered_total",
        "nuanliu_handler_seconds",
        "nuanliu_outbox_depth",
        "nuanliu_consumer_lag",
    ):
        assert name in body
    assert "postgres@" not in body and "sqlite:///" not in body


def test_metrics_refuse_non_loopback_clients(make_runtime):
    from fastapi.testclient import TestClient

    from nuanliu.app import create_app

    rt = make_runtime(relay=False)
    with TestClient(create_app(runtime=rt), client=("203.0.113.9", 5000)) as c:
        assert c.get("/metrics").status_code == 403


def test_oversized_bodies_are_refused_before_reading(client, tokens):
    r = client.post(
        "/api/tokens",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Authorization": f"Bearer {tokens['admin']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_no_database_connection_free_is_a_quick_503_not_a_stall(settings, engine, tokens):
    """More load than the database takes: a request that cannot have a connection within the
    pool timeout is told to come back (503, Retry-After) instead of waiting 30 s."""
    import time as clock

    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine

    from coordinator.process import Services
    from nuanliu.app import create_app

    tiny = create_engine(settings.sqlalchemy_url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    services = Services(settings=settings, engine=tiny)
    held = tiny.connect()  # everything the pool has
    try:
        with TestClient(create_app(services=services)) as c:
            started = clock.monotonic()
            r = c.get("/api/incidents", headers={"Authorization": f"Bearer {tokens['dispatcher']}"})
            took = clock.monotonic() - started
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert "busy" in r.json()["detail"] and took < 5
    finally:
        held.close()
        tiny.dispose()


def test_a_worker_started_while_the_broker_is_paused_waits_for_it(tmp_path):
    """A broker that listens but does not answer (paused by SIGSTOP, as in the crash test) is
    not a wrong address: the worker waits for it and starts when it answers again, instead
    of exiting on the first timed-out request."""
    import signal
    import time

    from events.embedded import EmbeddedBroker

    broker = EmbeddedBroker().start()
    broker.process.send_signal(signal.SIGSTOP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuanliu", "worker", "relay"],
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "NUANLIU_BROKER_CONNECT_TIMEOUT": "2",
            "NUANLIU_BROKER_STALL_TIMEOUT": "60",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(8)  # four times the connect timeout
        assert proc.poll() is None, proc.communicate()[1]
        broker.process.send_signal(signal.SIGCONT)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the worker says it runs
        assert "worker relay running" in line
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "listens but does not answer" in stderr
        assert "Traceback" not in stderr
    finally:
        broker.process.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
        broker.stop()
