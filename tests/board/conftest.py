"""Fixtures for the board's tests: people with passwords, an app without consumers for the
tests that only need HTTP, and for the browser tests one Chromium per module and the whole
system served on a loopback port (a module that needs another shape defines its own
`served`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts import people
from coordinator.logistics.models import Place

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, with the flags of `tests.board.browser`."""
    from playwright.sync_api import sync_playwright

    from tests.board.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(make_runtime: Callable[..., Any], users: Any) -> Iterator[Any]:
    """The whole system (relay and every consumer) behind a real HTTP server."""
    from bench.serving import serve
    from consumers import CONSUMERS

    s = serve(make_runtime(consumers=CONSUMERS))
    yield s
    s.stop()


@pytest.fixture
def stations(engine: Engine, demo: None) -> list[int]:
    with Session(engine) as s:
        rows = s.exec(select(Place).where(Place.kind == "station").order_by(col(Place.id))).all()
        return [p.id for p in rows if p.id is not None]


@pytest.fixture
def users(engine: Engine, stations: list[int]) -> dict[str, str]:
    """username → role: an admin, a dispatcher, and managers of the first two stations."""
    made = {
        "ada": ("admin", []),
        "dora": ("dispatcher", []),
        "mia": ("station_manager", [stations[0]]),
        "max": ("station_manager", [stations[1]]),
    }
    with Session(engine) as s:
        for name, (role, station_ids) in made.items():
            people.create_user(
                session=s, username=name, password=PASSWORD, role=role, station_ids=station_ids
            )
        s.commit()
    return {name: role for name, (role, _) in made.items()}


@pytest.fixture
def web(make_runtime: Callable[..., Any]) -> Iterator[Any]:
    """A TestClient on an app with no consumers (HTTP only)."""
    from fastapi.testclient import TestClient

    from nuanliu.app import create_app

    rt = make_runtime(relay=False, consumers=())
    with TestClient(create_app(runtime=rt), follow_redirects=False) as c:
        yield c


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log in through the form (with its double-submit CSRF token); returns the response."""
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def csrf_of(client: Any, path: str = "/board") -> str:
    page = client.get(path, headers={"Accept": "text/html"})
    return str(page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0])


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at minimum cost in tests (still argon2id through pwdlib): the production
    parameters cost ~0.3 s a hash on this machine, and these tests hash dozens of times."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    monkeypatch.setattr(
        people,
        "_HASHER",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)),
    )
    people._dummy_hash.cache_clear()
