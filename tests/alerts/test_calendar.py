"""The travel-rush calendar (from the `holidays` package) and its daily job; the CAP feed
poller against a fake HTTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from sqlmodel import Session, col, select

from coordinator.alerts import calendar, cap, flows, jobs
from coordinator.dispatch.models import Incident, Task
from coordinator.geo.outlines import guiyang
from nuanliu.scheduler import recurring_jobs
from tests.conftest import wait_for


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


def _tasks_on(engine, day: str, incident_id: int | None = None) -> list[Task]:
    with Session(engine) as s:
        tasks = s.exec(select(Task)).all()
    return [t for t in tasks if f":{day}" in t.plan_key and incident_id in (None, t.incident_id)]


def test_daily_job_opens_once_plans_each_day_and_closes(engine, settings, demo, make_runtime):
    """The calendar opens, says each day began and closes; the dispatch consumer (the one
    path that plans, offers and sets timers) plans each day's station shifts."""
    make_runtime(consumers=("dispatch",))
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
    shifts = wait_for(lambda: _tasks_on(engine, "2026-02-03"), timeout=60)
    assert len({t.plan_key.split(":")[1] for t in shifts}) >= 2  # shifts at each station
    assert (
        jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 3, 14)) == "closed"
    )
    assert [i.status for i in _rush(engine)] == ["closed"]
    assert jobs.run_travel_rush(engine=engine, settings=settings, today=date(2026, 3, 15)) == "idle"


def _open_by_hand(engine, identifier="by-hand", *, starts_at=None, ends_at=None) -> int:
    """A dispatcher opens the travel rush themselves (the crash test does this in November)."""
    with Session(engine, expire_on_commit=False) as s:
        raised = flows.raise_alert(
            session=s,
            data=flows.AlertInput(
                sender="dispatcher",
                identifier=identifier,
                sent=datetime(2026, 11, 30, tzinfo=UTC),
                kind="travel_rush",
                level="yellow",
                districts=["520103", "520115"],
                headline="春运开始: 平安返乡服务站开放",
                starts_at=starts_at,
                ends_at=ends_at,
            ),
            actor="dispatcher",
        )
        s.commit()
    assert raised.incident_id is not None
    return raised.incident_id


def test_a_rush_opened_ahead_of_its_window_is_kept_and_used_when_the_window_opens(
    engine, settings, demo, make_runtime
):
    make_runtime(consumers=("dispatch",))
    # 2027: Lunar New Year on 6 February, the rush from 22 January to 2 March
    rush_id = _open_by_hand(engine, starts_at=datetime(2027, 1, 21, 16, tzinfo=UTC))
    run = lambda day: jobs.run_travel_rush(engine=engine, settings=settings, today=day)  # noqa: E731
    assert run(date(2026, 11, 30)) == "idle"
    assert [(i.id, i.status) for i in _rush(engine)] == [(rush_id, "open")]
    # the window opens: the calendar plans the day's shifts on that rush, no second incident
    assert run(date(2027, 1, 22)) == "planned"
    assert [(i.id, i.status) for i in _rush(engine)] == [(rush_id, "open")]
    wait_for(lambda: _tasks_on(engine, "2027-01-22", rush_id), timeout=60)
    assert run(date(2027, 3, 2)) == "planned"  # its last day
    assert run(date(2027, 3, 3)) == "closed"
    assert [(i.id, i.status) for i in _rush(engine)] == [(rush_id, "closed")]


def test_a_rush_opened_by_hand_closes_after_its_own_end_or_its_windows(engine, settings, demo):
    short = _open_by_hand(engine, "short", ends_at=datetime(2026, 12, 5, 15, tzinfo=UTC))
    undated = _open_by_hand(engine, "undated")  # belongs to the next rush's window
    run = lambda day: jobs.run_travel_rush(engine=engine, settings=settings, today=day)  # noqa: E731
    assert run(date(2026, 12, 5)) == "idle"  # 23:00 in Guiyang: its last day
    assert run(date(2026, 12, 6)) == "closed"
    assert {i.id: i.status for i in _rush(engine)} == {short: "closed", undated: "open"}


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
    assert jobs.poll(engine=engine, settings=feeds, client=client, outlines=guiyang()) == 1
    assert (
        jobs.poll(engine=engine, settings=feeds, client=client, outlines=guiyang()) == 0
    )  # same alert again
    with Session(engine) as s:
        incidents = s.exec(select(Incident).order_by(col(Incident.id))).all()
    assert [(i.kind, i.level) for i in incidents] == [("freezing_rain", "orange")]
