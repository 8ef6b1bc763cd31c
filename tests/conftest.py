"""Shared fixtures: one real broker per test session (topic prefix per test), a fresh database
per test (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set), and a started runtime."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, select

import nuanliu.schema  # noqa: F401
from coordinator.config import Settings
from coordinator.db import make_engine
from events.embedded import EmbeddedBroker
from nuanliu.schema import migrate

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ARTIFACTS = Path(__file__).parent / "artifacts"
#: Real CAP messages live in the shared folder beside the repository (read, never copied in)
SHARED_CAP = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2] / "shared" / "data" / "cap",
            Path("/work/shared/data/cap"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/data/cap"),
)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def wait_quiet(engine: Engine, *, hold: float = 1.0, timeout: float = 60.0) -> None:
    """Until nothing is left to publish or send, and it stays so for `hold` seconds: a consumer
    still applying a published event, or a text about to go out, stages more events (which the
    checker with grace 0 would report as unpublished)."""
    from sqlalchemy import func

    from coordinator.sms.models import SmsMessage
    from events.outbox import pending_count

    def quiet() -> bool:
        with Session(engine) as s:
            unsent = s.exec(
                select(func.count())
                .select_from(SmsMessage)
                .where(col(SmsMessage.status).in_(("queued", "sending")))
            ).one()
            return unsent == 0 and pending_count(s) == 0

    deadline = time.monotonic() + timeout
    while True:
        wait_for(quiet, timeout=max(0.1, deadline - time.monotonic()))
        time.sleep(hold)
        if quiet():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never quiet for {hold}s within {timeout}s")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker().start()
    yield b
    b.stop()


# -- databases ---------------------------------------------------------------------------------
# Each test gets a database of its own, copied from a template made once per session: one
# migrated and empty, one with the Guiyang demo data (loading 3,446 volunteers per test took
# seconds). SQLite copies the file; PostgreSQL uses CREATE DATABASE … TEMPLATE.
_TEMPLATES = ("empty", "demo")


def _fill(url: str, kind: str) -> None:
    engine = make_engine(Settings(DATABASE_URL=url))
    migrate(engine)
    if kind == "demo":
        from coordinator.demo import load_demo

        with Session(engine) as s:
            load_demo(s)
    engine.dispose()


def _pg_admin() -> Engine:
    assert TEST_DATABASE_URL
    return create_engine(
        make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Template name → SQLite file path or PostgreSQL database name."""
    if not TEST_DATABASE_URL:
        folder = tmp_path_factory.mktemp("templates")
        paths = {}
        for kind in _TEMPLATES:
            paths[kind] = str(folder / f"{kind}.db")
            _fill(f"sqlite:///{paths[kind]}", kind)
        yield paths
        return
    base = make_url(TEST_DATABASE_URL)
    admin = _pg_admin()
    names = {kind: f"nuanliu_tmpl_{os.getpid()}_{kind}" for kind in _TEMPLATES}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    for kind, name in names.items():
        _fill(base.set(database=name).render_as_string(hide_password=False), kind)
    yield names
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, _templates: dict[str, str], tmp_path: Path
) -> Iterator[str]:
    kind = "demo" if "_demo_template" in request.fixturenames else "empty"
    if not TEST_DATABASE_URL:
        path = tmp_path / "nuanliu.db"
        shutil.copy(_templates[kind], path)
        yield f"sqlite:///{path}"
        return
    name = f"nuanliu_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_templates[kind]}"'))
    yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        # FORCE: a worker process a test killed may still hold a connection
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def on_postgres(database_url: str) -> None:
    """Concurrency tests only mean something on PostgreSQL; `.ci/run` runs them there."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL (CI does)")


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        NUANLIU_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:10]}.",
        NUANLIU_SESSION_TIMEOUT_MS=3000,
        NUANLIU_HEARTBEAT_MS=500,
        NUANLIU_RELAY_IDLE=0.05,
        NUANLIU_RUN_SCHEDULER=False,
        NUANLIU_DATA_DIR=tmp_path,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def _demo_template() -> None:
    """Asked for (through `demo`), it makes `database_url` copy the demo template. A folder
    that overrides `demo` with lighter data of its own gets the empty template instead."""


@pytest.fixture
def demo(engine: Engine, _demo_template: None) -> None:
    """The Guiyang demo data (districts, roster, stations, items, warehouse…), copied from the
    session's template."""
    from coordinator.demo import is_loaded

    with Session(engine) as s:
        assert is_loaded(s), "the demo template was not used"


@pytest.fixture
def make_runtime(
    settings: Settings, engine: Engine, broker: EmbeddedBroker
) -> Iterator[Callable[..., Any]]:
    """Start a Runtime with the parts a test chooses; all are stopped after the test."""
    from nuanliu.runtime import Runtime

    started: list[Runtime] = []

    def start(**parts: Any) -> Runtime:
        parts.setdefault("relay", True)
        rt = Runtime(settings, engine=engine, bootstrap=broker.bootstrap, **parts).start()
        started.append(rt)
        return rt

    yield start
    for rt in reversed(started):
        rt.stop()


@pytest.fixture
def client(make_runtime: Callable[..., Any]) -> Iterator[Any]:
    """An HTTP client for an app whose runtime runs every consumer and the relay."""
    from fastapi.testclient import TestClient

    from consumers import CONSUMERS
    from nuanliu.app import create_app

    rt = make_runtime(consumers=CONSUMERS)
    with TestClient(create_app(runtime=rt)) as c:
        yield c


@pytest.fixture
def tokens(engine: Engine, demo: None) -> dict[str, str]:
    """Bearer tokens per role; `manager_a`/`manager_b` manage the first two stations."""
    from coordinator.accounts.service import create_token
    from coordinator.logistics.models import Place

    with Session(engine) as s:
        stations = s.exec(select(Place).where(Place.kind == "station").order_by(Place.id)).all()
        out = {
            "admin": create_token(session=s, role="admin", label="test-admin"),
            "dispatcher": create_token(session=s, role="dispatcher", label="test-dispatcher"),
            "manager_a": create_token(
                session=s, role="station_manager", station_ids=[stations[0].id], label="mgr-a"
            ),
            "manager_b": create_token(
                session=s, role="station_manager", station_ids=[stations[1].id], label="mgr-b"
            ),
        }
        s.commit()
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
