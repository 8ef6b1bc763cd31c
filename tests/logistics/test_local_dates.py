"""Dates are the people's (settings.timezone, Asia/Shanghai by default), never UTC's or the
server's: a plan made at 00:25 on 3 December in Guiyang, 16:25 UTC on the 2nd, is dated the
3rd."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from coordinator.common import local_date
from tests.conftest import bearer


def test_twenty_five_past_midnight_in_guiyang_is_the_next_day_in_utc() -> None:
    moment = datetime(2026, 12, 2, 16, 25, tzinfo=UTC)
    assert local_date("Asia/Shanghai", moment) == date(2026, 12, 3)
    assert local_date("UTC", moment) == date(2026, 12, 2)
    # an offset other than UTC's is converted, not read as a wall clock
    same = moment.astimezone(ZoneInfo("America/New_York"))
    assert local_date("Asia/Shanghai", same) == date(2026, 12, 3)


@pytest.fixture
def app_in(settings, engine, broker, tokens) -> Iterator[object]:
    """`app_in(zone)`: the app (requests only) with NUANLIU_TIMEZONE set to `zone`."""
    from coordinator.process import Services
    from nuanliu.app import create_app

    clients: list[TestClient] = []

    def make(zone: str) -> TestClient:
        zoned = settings.model_copy(update={"timezone": zone})
        rt = SimpleNamespace(
            settings=zoned,
            engine=engine,
            bootstrap=broker.bootstrap,
            services=Services(settings=zoned, engine=engine),
        )
        client = TestClient(create_app(runtime=rt))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_a_plan_without_a_date_is_dated_today_where_the_people_are(app_in, tokens) -> None:
    """Two zones 26 hours apart never share a date: each plan is dated in its own."""
    dated = {}
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # UTC+14 and UTC−12 (POSIX signs)
        before = datetime.now(ZoneInfo(zone)).date()
        r = app_in(zone).post(
            "/api/plans", json={"target_days": 3}, headers=bearer(tokens["dispatcher"])
        )
        after = datetime.now(ZoneInfo(zone)).date()
        assert r.status_code == 201, r.text
        as_of = date.fromisoformat(r.json()["as_of"])
        assert as_of in (before, after), (zone, as_of)
        dated[zone] = as_of
    assert dated["Etc/GMT-14"] > dated["Etc/GMT+12"]


def test_pages_carry_the_zone_times_are_shown_in(app_in) -> None:
    page = app_in("Asia/Shanghai").get("/login").text
    assert '<meta name="timezone" content="Asia/Shanghai">' in page
