"""The travel-rush calendar (from the `holidays` package) and its daily job; the CAP feed
poller against a fake HTTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from sqlmodel import Session, col, select

from coordinator.alerts import calendar, cap, jobs
from coordinator.dispatch.models import Incident, Task
from coordinator.scheduler import recurring_jobs


@pytest.mark.parametrize(
    ("year", "lny", "first", "last"),
    [
        (2023, date(2023, 1, 22), date(2023, 1, 7), date(2023, 2, 15)),
        (2024, date(2024, 2, 10), date(2024, 1, 26), date(2024, 3, 5)),
        (2025, date(2025, 1, 29), date(2025, 1, 14), date(2025, 2, 22)),
        (2026, date(2026, 2, 17), date(2026, 2, 2), date(2026, 3, 13)),
    ],
)
def test_official_windows(year, lny, first, last):
    assert calendar.lunar_new_year(year) == lny
    assert calendar.travel_rush_window(year, days_before=15, length_days=40) == (first, last)


def test_window_containing_looks_at_next_year_and_is_configurable():
    assert calendar.window_containing(date(2026, 2, 1), days_before=15, length_days=40) is None
    assert calendar.window_containing(date(2026, 2, 2), days_before=15, length_days=40) == (
        2026,
        date(2026, 2, 2),
        date(2026, 3, 13),
    )
    assert calendar.window_containing(date(2026, 3, 14), days_before=15, length_days=40) is None
    # a rush that starts in December belongs to the next year's New Year
    assert calendar.window_containing(date(2025, 12, 30), days_before=60, length_days=70)[0] == 2026
    with pytest.raises(ValueError):
        calendar.travel_rush_window(2026, days_before=15, length_days=0)


def _rush(engine) -> list[Incident]:
    with Session(engine) as s:
        return list(s.exec(select(Incident).where(Incident.kind == "travel_rush")).all())


def test_daily_job_opens_once_plans_each_day_and_closes(engine, settings, demo):
    assert jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 2, 1)) == "idle"
    assert _rush(engine) == []
    assert (
        jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 2, 2)) == "opened"
    )
    assert jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 2, 2)) in (
        "planned",
        "idle",
    )
    (incident,) = _rush(engine)
    assert incident.status == "open" and incident.level == "yellow"
    assert (
        jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 2, 3)) == "planned"
    )
    with Session(engine) as s:
        days = {t.plan_key.split(":")[2] for t in s.exec(select(Task)).all()}
        stations = {t.plan_key.split(":")[1] for t in s.exec(select(Task)).all()}
    assert "2026-02-03" in days and len(stations) >= 2  # shifts at each station
    assert (
        jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 3, 14)) == "closed"
    )
    assert [i.status for i in _rush(engine)] == ["closed"]
    assert jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 3, 15)) == "idle"


def test_recurring_jobs_list_the_calendar_and_feeds_only_when_configured(settings):
    assert "alerts-travel-rush" in {j[0] for j in recurring_jobs(settings)}
    assert "alerts-cap-feeds" not in {j[0] for j in recurring_jobs(settings)}
    with_feeds = settings.model_copy(update={"cap_feeds": ["http://feed.example/cap.xml"]})
    assert "alerts-cap-feeds" in {j[0] for j in recurring_jobs(with_feeds)}


def test_feed_poller_takes_our_alerts_and_survives_bad_feeds(engine, settings, demo):
    good = cap.build(
        identifier="FEED-1",
        sender="gz@cma",
        sent=datetime(2014, 1, 5, tzinfo=UTC),
        event="冻雨",
        headline="贵阳市冻雨橙色预警",
        severity="Severe",
        districts=[("520103", "云岩区")],
    ).encode()
    pages = {
        "http://feed.example/good.xml": httpx.Response(200, content=good),
        "http://feed.example/broken.xml": httpx.Response(200, content=b"<alert>"),
        "http://feed.example/down.xml": httpx.Response(503),
        "http://feed.example/huge.xml": httpx.Response(200, content=b"x" * (2 * 1024 * 1024)),
    }
    client = httpx.Client(transport=httpx.MockTransport(lambda r: pages[str(r.url)]))
    feeds = settings.model_copy(update={"cap_feeds": list(pages)})
    assert jobs.poll(engine=engine, settings=feeds, client=client) == 1
    assert jobs.poll(engine=engine, settings=feeds, client=client) == 0  # same alert again
    with Session(engine) as s:
        incidents = s.exec(select(Incident).order_by(col(Incident.id))).all()
    assert [(i.kind, i.level) for i in incidents] == [("freezing_rain", "orange")]
